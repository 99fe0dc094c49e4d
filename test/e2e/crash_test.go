package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/api/auth"
)

func sdkClient(endpoint string) *ecs.Client {
	return ecs.New(ecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(auth.DefaultAccessKeyID, auth.DefaultSecretAccessKey, ""),
		Retryer:      aws.NopRetryer{},
	})
}

// Writers create clusters as fast as they can while the server is killed
// with SIGKILL; after a restart every cluster whose creation was answered
// with success must be there.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	s := &server{t: t, bin: buildBerth(t), dataDir: t.TempDir()}
	s.start()
	t.Cleanup(s.kill)
	c := sdkClient(s.endpoint)

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("crash-%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)})
				cancel()
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	s.kill()
	close(stop)
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d writes before the kill; the test proves nothing", len(acked))
	}

	s.start()
	// The check only reads, and its answers are large (100 clusters): it
	// retries the SDK's own closed-connection race (docs/compatibility.md),
	// as the writers above, whose every answer counts, do not.
	c = sdk(s.endpoint)
	for i := 0; i < len(acked); i += 100 {
		batch := acked[i:min(i+100, len(acked))]
		out, err := c.DescribeClusters(context.Background(), &ecs.DescribeClustersInput{Clusters: batch})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Failures) > 0 {
			t.Fatalf("%d of %d acknowledged clusters lost, e.g. %s", len(out.Failures), len(acked), aws.ToString(out.Failures[0].Arn))
		}
	}
	t.Logf("%d acknowledged creations, all present after kill -9", len(acked))
}
