package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/agent"
	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/daemon"
)

// runDev is the control plane and an agent for the local Docker Engine in
// one process, with a `default` cluster: ECS on this machine.
func runDev(args []string) error {
	fs := flag.NewFlagSet("berth dev", flag.ContinueOnError)
	listen := fs.String("listen", envDefault("BERTH_LISTEN", daemon.DefaultListen), "address to serve the ECS API on (BERTH_LISTEN)")
	dataDir := fs.String("data-dir", envDefault("BERTH_DATA_DIR", daemon.DefaultDataDir()), "state directory: etcd and the agent's registration (BERTH_DATA_DIR)")
	logFormat := fs.String("log-format", envDefault("BERTH_LOG_FORMAT", "text"), "log format: text or json (BERTH_LOG_FORMAT)")
	credentialsFile := fs.String("credentials-file", envDefault("BERTH_CREDENTIALS_FILE", ""), "more access keys, each mapped to an account (BERTH_CREDENTIALS_FILE); the key pair of BERTH_ACCESS_KEY_ID, BERTH_SECRET_ACCESS_KEY and BERTH_ACCOUNT_ID replaces the development key, and berth dev signs its own calls with it")
	emulate := fs.Bool("emulate", os.Getenv("BERTH_EMULATE") == "true", emulateUsage+"; berth dev registers one such instance in the default cluster and runs no containers")
	shared, err := addDaemonFlags(fs)
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(*logFormat)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The key berth dev signs its own calls (the default cluster, its agent)
	// with: the one its environment configures, which the server accepts.
	own := auth.EnvCredential(os.Getenv)
	etcdDir := filepath.Join(*dataDir, "etcd-dev")
	if *emulate && !dataDirGiven(fs) {
		etcdDir = "" // an emulator starts empty, in a temporary directory
	}
	cfg := daemon.Config{Listen: *listen, DataDir: etcdDir, CredentialsFile: *credentialsFile, Emulate: *emulate, Log: log}
	if err := shared.apply(&cfg); err != nil {
		return err
	}
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		return err
	}
	endpoint := "http://" + d.Addr()
	api := ecs.New(ecs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(own.AccessKeyID, own.SecretAccessKey, ""),
	})
	if _, err := api.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("default")}); err != nil {
		d.Stop(context.Background())
		return fmt.Errorf("create the default cluster: %w", err)
	}
	agentDone := make(chan error, 1)
	if *emulate {
		// No Docker: one instance, registered as a test would register it,
		// served by the emulator's simulated agent.
		out, err := api.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("default")})
		if err != nil {
			d.Stop(context.Background())
			return fmt.Errorf("register the emulated instance: %w", err)
		}
		// And Fargate capacity, so FARGATE tasks run with no setup.
		if _, err := api.RegisterContainerInstance(ctx, devFargateInstance()); err != nil {
			d.Stop(context.Background())
			return fmt.Errorf("register the emulated Fargate capacity: %w", err)
		}
		printHowTo(endpoint, aws.ToString(out.ContainerInstance.ContainerInstanceArn), own)
	} else {
		go runDevFargate(ctx, agentDone, agent.Config{
			Server: endpoint, Cluster: agent.AllClusters, Region: "us-east-1",
			Credentials: aws.Credentials{AccessKeyID: own.AccessKeyID, SecretAccessKey: own.SecretAccessKey},
			DataDir:     filepath.Join(*dataDir, "agent-dev-fargate"), ReservedMemory: 256, Log: log, Capacity: agent.CapacityFargate,
		})
		go run(ctx, agentDone, agent.Config{
			Server: endpoint, Cluster: "default", Region: "us-east-1",
			Credentials: aws.Credentials{AccessKeyID: own.AccessKeyID, SecretAccessKey: own.SecretAccessKey},
			DataDir:     filepath.Join(*dataDir, "agent-dev"), ReservedMemory: 256, Log: log,
			Ready: func(instance string) { printHowTo(endpoint, instance, own) },
		})
	}
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case err := <-agentDone:
		log.Error("agent stopped", "err", err)
	case err := <-d.Done():
		log.Error("server stopped", "err", err)
	}
	stop()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.Stop(shutdown)
}

// run runs the agent and says when it stops.
func run(ctx context.Context, done chan<- error, cfg agent.Config) { done <- agent.Run(ctx, cfg) }

func printHowTo(endpoint, instance string, own auth.Credential) {
	secret := own.SecretAccessKey
	if own.AccessKeyID != auth.DefaultAccessKeyID {
		secret = "<the value of BERTH_SECRET_ACCESS_KEY>" // the user's own secret is not printed
	}
	fmt.Printf(`
Berth is running: the ECS API at %[1]s, with this machine's Docker Engine
registered in the cluster "default" as %[2]s.

Use it from the AWS CLI:

    export AWS_ACCESS_KEY_ID=%[3]s
    export AWS_SECRET_ACCESS_KEY=%[4]s
    export AWS_DEFAULT_REGION=us-east-1
    aws --endpoint-url %[1]s ecs list-container-instances --cluster default

(AWS CLI 2.13 and later also take the endpoint from AWS_ENDPOINT_URL_ECS=%[1]s.)

Ctrl-C stops Berth; running containers keep running and are adopted again on the next start.

`, endpoint, instance, own.AccessKeyID, secret)
}
