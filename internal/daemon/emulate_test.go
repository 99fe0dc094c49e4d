package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/daemon"
	"github.com/berth-project/berth/internal/server"
)

// emulated starts an emulator with the throttling its flags gave: the zero
// value is what `berth server --emulate` gets without --throttle.
func emulated(th server.Throttling) berthtest.Option {
	return func(c *daemon.Config) { c.Emulate, c.Throttling = true, th }
}

// The emulator does not throttle unless asked: a test suite creates more
// clusters than ECS's burst of 20 at once. `--throttle ecs` gives ECS's
// rates there too.
func TestTheEmulatorThrottlesOnlyWhenAsked(t *testing.T) {
	ecsRates := server.Throttling{}
	if err := ecsRates.Set("ecs"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		th        server.Throttling
		throttled bool
	}{
		{"by default", server.Throttling{}, false},
		{"with --throttle ecs", ecsRates, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := berthtest.Start(t, emulated(tc.th)).Client()
			throttled := 0
			for i := range 30 { // ECS's cluster-modify burst is 20
				_, err := c.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String(fmt.Sprint("c", i))})
				var api smithy.APIError
				switch {
				case errors.As(err, &api) && api.ErrorCode() == "ThrottlingException":
					throttled++
				case err != nil:
					t.Fatal(err)
				}
			}
			if (throttled > 0) != tc.throttled {
				t.Fatalf("%d of 30 CreateCluster calls throttled; want throttling %v", throttled, tc.throttled)
			}
		})
	}
}
