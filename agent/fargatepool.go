package agent

import (
	"context"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// AllClusters, as Config.Cluster of Fargate capacity, offers the host to
// every cluster of the account (RunFargate).
const AllClusters = "*"

// fargatePollEvery is how often the Fargate pool looks for new clusters.
const fargatePollEvery = time.Second

// RunFargate offers the host as Fargate capacity until ctx ends. In ECS
// every cluster can run Fargate tasks; an instance belongs to one cluster,
// so with Cluster AllClusters the host registers one (hidden) capacity
// instance in each ACTIVE cluster of the account, following clusters as
// they are created and deleted, each served by an agent of its own (its
// registration kept under DataDir/<cluster>). With a named cluster it is
// Run with Capacity FARGATE.
func RunFargate(ctx context.Context, cfg Config) error {
	cfg.Capacity = CapacityFargate
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Cluster != AllClusters {
		return Run(ctx, cfg)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	api := ecs.New(ecs.Options{Region: cfg.Region, BaseEndpoint: aws.String(cfg.Server),
		Credentials: credentials.StaticCredentialsProvider{Value: cfg.Credentials}})
	var wg sync.WaitGroup
	defer wg.Wait()
	running := map[string]context.CancelFunc{}
	defer func() {
		for _, stop := range running {
			stop()
		}
	}()
	ready := cfg.Ready
	for {
		names, err := activeClusters(ctx, api)
		if err != nil && ctx.Err() == nil {
			cfg.Log.Warn("Fargate capacity: could not list clusters; retrying", "err", err)
		}
		if err == nil {
			seen := map[string]bool{}
			for _, name := range names {
				seen[name] = true
				if running[name] != nil {
					continue
				}
				one := cfg
				one.Cluster = name
				one.DataDir = filepath.Join(cfg.DataDir, url.PathEscape(name))
				one.MetadataPort = 0 // each cluster's agent keeps a port of its own
				one.Ready = nil
				if name == "default" {
					one.Ready, ready = ready, nil
				}
				c, stop := context.WithCancel(ctx)
				running[name] = stop
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := Run(c, one); err != nil && c.Err() == nil {
						cfg.Log.Error("Fargate capacity agent stopped", "cluster", name, "err", err)
					}
				}()
			}
			for name, stop := range running {
				if !seen[name] { // deleted: its capacity goes with it
					stop()
					delete(running, name)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(fargatePollEvery):
		}
	}
}

// activeClusters lists the names of the account's ACTIVE clusters.
func activeClusters(ctx context.Context, api *ecs.Client) ([]string, error) {
	var arns []string
	p := ecs.NewListClustersPaginator(api, &ecs.ListClustersInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		arns = append(arns, out.ClusterArns...)
	}
	var names []string
	for i := 0; i < len(arns); i += 100 {
		out, err := api.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: arns[i:min(i+100, len(arns))]})
		if err != nil {
			return nil, err
		}
		for _, c := range out.Clusters {
			if aws.ToString(c.Status) == "ACTIVE" {
				names = append(names, aws.ToString(c.ClusterName))
			}
		}
	}
	return names, nil
}
