package docker

import (
	"slices"
	"testing"

	"github.com/docker/go-connections/nat"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

func agentTask(mode string, c acsmsg.Container) *acsmsg.Task {
	return &acsmsg.Task{Arn: ecs.Ptr("arn:aws:ecs:us-east-1:123456789012:task/dev/abc"), Family: ecs.Ptr("web"), Version: ecs.Ptr("3"),
		NetworkMode: ecs.Ptr(mode), Containers: []acsmsg.Container{c}}
}

func TestBuildMapsEveryField(t *testing.T) {
	c := acsmsg.Container{
		Name: ecs.Ptr("app"), Image: ecs.Ptr("busybox"), Command: []string{"httpd"}, EntryPoint: []string{"/bin/busybox"},
		Cpu: ecs.Ptr(int32(256)), Memory: ecs.Ptr(int32(128)), Privileged: ecs.Ptr(true),
		Environment:      map[string]string{"B": "from-env", "A": "1"},
		EnvironmentFiles: []acsmsg.EnvironmentFile{{Value: ecs.Ptr("/etc/app.env")}},
		PortMappings:     []acsmsg.PortMapping{{ContainerPort: ecs.Ptr(int32(8080))}, {ContainerPort: ecs.Ptr(int32(53)), HostPort: ecs.Ptr(int32(5353)), Protocol: "udp"}, {ContainerPortRange: ecs.Ptr("9000-9001")}},
		MountPoints:      []acsmsg.MountPoint{{SourceVolume: ecs.Ptr("data"), ContainerPath: ecs.Ptr("/data"), ReadOnly: ecs.Ptr(true)}},
		VolumesFrom:      []acsmsg.VolumeFrom{{SourceContainer: ecs.Ptr("init")}},
		Links:            []string{"db:database"},
		LinuxParameters: &acsmsg.LinuxParameters{Capabilities: &acsmsg.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
			Devices:            []acsmsg.Device{{HostPath: ecs.Ptr("/dev/fuse"), ContainerPath: ecs.Ptr("/dev/fuse"), Permissions: []acsmsg.DeviceCgroupPermission{"read", "write"}}},
			InitProcessEnabled: ecs.Ptr(true), SharedMemorySize: ecs.Ptr(int32(64))},
		DockerConfig: &acsmsg.DockerConfig{
			Config:     ecs.Ptr(`{"User":"1000","WorkingDir":"/srv","Hostname":"web","Labels":{"team":"a","com.amazonaws.ecs.cluster":"spoofed","berth.container-instance-arn":"spoofed"},"Tty":true,"OpenStdin":true,"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":5000000000,"Timeout":2000000000,"StartPeriod":0,"Retries":3}}`),
			HostConfig: ecs.Ptr(`{"MemoryReservation":67108864,"LogConfig":{"Type":"awslogs","Config":{"awslogs-group":"g"}},"Dns":["10.0.0.2"],"DnsSearch":["lab"],"ExtraHosts":["db:10.0.0.3"],"Ulimits":[{"Name":"nofile","Soft":1024,"Hard":4096}],"ReadonlyRootfs":true,"Sysctls":{"net.core.somaxconn":"1024"},"Tmpfs":{"/tmp":"rw,size=64m"},"SecurityOpt":["no-new-privileges"]}`),
		},
	}
	cfg, host, err := Build(agentTask("bridge", c), &c, Placement{
		ClusterName: "dev", Instance: "arn:aws:ecs:us-east-1:123456789012:container-instance/dev/i1", Peers: map[string]string{"init": "ecs-web-3-init-abc", "db": "ecs-web-3-db-abc"},
		Volumes: map[string]string{"data": "/srv/data"}, EnvFiles: map[string]string{"/etc/app.env": "# comment\nB=from-file\nC=3\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Image != "busybox" || cfg.Cmd[0] != "httpd" || cfg.Entrypoint[0] != "/bin/busybox" || cfg.User != "1000" || cfg.WorkingDir != "/srv" || cfg.Hostname != "web" || !cfg.Tty || !cfg.OpenStdin {
		t.Fatalf("config %+v", cfg)
	}
	if want := []string{"A=1", "B=from-env", "C=3"}; !slices.Equal(cfg.Env, want) {
		t.Fatalf("env %v, want %v (environment wins over files)", cfg.Env, want)
	}
	if cfg.Healthcheck == nil || cfg.Healthcheck.Interval.Seconds() != 5 || cfg.Healthcheck.Retries != 3 {
		t.Fatalf("healthcheck %+v", cfg.Healthcheck)
	}
	wantLabels := map[string]string{"team": "a", LabelCluster: "dev", LabelInstance: "arn:aws:ecs:us-east-1:123456789012:container-instance/dev/i1", LabelTaskARN: "arn:aws:ecs:us-east-1:123456789012:task/dev/abc",
		LabelContainerName: "app", LabelTaskDefFamily: "web", LabelTaskDefVersion: "3", "berth.awslogs.awslogs-group": "g"}
	for k, v := range wantLabels {
		if cfg.Labels[k] != v {
			t.Fatalf("label %s = %q, want %q (labels %v)", k, cfg.Labels[k], v, cfg.Labels)
		}
	}
	if host.CPUShares != 256 || host.Memory != 128<<20 || host.MemoryReservation != 64<<20 || !host.Privileged || !host.ReadonlyRootfs {
		t.Fatalf("resources %+v", host.Resources)
	}
	if _, ok := cfg.ExposedPorts["8080/tcp"]; !ok || host.PortBindings["8080/tcp"][0].HostPort != "" || host.PortBindings["53/udp"][0].HostPort != "5353" || len(host.PortBindings[nat.Port("9001/tcp")]) != 1 {
		t.Fatalf("ports %v %v", cfg.ExposedPorts, host.PortBindings)
	}
	if host.NetworkMode != "bridge" || host.Binds[0] != "/srv/data:/data:ro" || host.VolumesFrom[0] != "ecs-web-3-init-abc" || host.Links[0] != "ecs-web-3-db-abc:database" {
		t.Fatalf("binds %v volumesFrom %v links %v", host.Binds, host.VolumesFrom, host.Links)
	}
	if host.CapAdd[0] != "NET_ADMIN" || host.CapDrop[0] != "MKNOD" || host.Devices[0].CgroupPermissions != "rw" || !*host.Init || host.ShmSize != 64<<20 {
		t.Fatalf("linux parameters %+v", host)
	}
	if host.LogConfig.Type != "json-file" || host.DNS[0] != "10.0.0.2" || host.DNSSearch[0] != "lab" || host.ExtraHosts[0] != "db:10.0.0.3" ||
		host.Ulimits[0].Hard != 4096 || host.Sysctls["net.core.somaxconn"] != "1024" || host.Tmpfs["/tmp"] != "rw,size=64m" || host.SecurityOpt[0] != "no-new-privileges" {
		t.Fatalf("host config %+v", host)
	}
}

func TestBuildNetworkModesAndDefaults(t *testing.T) {
	c := acsmsg.Container{Name: ecs.Ptr("app"), Image: ecs.Ptr("busybox"), PortMappings: []acsmsg.PortMapping{{ContainerPort: ecs.Ptr(int32(80)), HostPort: ecs.Ptr(int32(80))}}}
	for _, mode := range []string{"host", "none"} {
		_, host, err := Build(agentTask(mode, c), &c, Placement{})
		if err != nil || string(host.NetworkMode) != mode || len(host.PortBindings) != 0 {
			t.Fatalf("%s: %v %+v", mode, err, host)
		}
	}
	_, host, err := Build(agentTask("bridge", c), &c, Placement{})
	if err != nil || host.CPUShares != minCPUShares || host.Memory != 0 {
		t.Fatalf("cpu 0 should get Docker's minimum shares, no memory limit: %v %+v", err, host.Resources)
	}
	if _, _, err := Build(agentTask("awsvpc", c), &c, Placement{}); err == nil {
		t.Fatal("an awsvpc container must not be created before its task's pause container")
	}
	pm := c
	pm.PortMappings = []acsmsg.PortMapping{{ContainerPort: ecs.Ptr(int32(8080)), HostPort: ecs.Ptr(int32(8080))}}
	cfg, host, err := Build(agentTask("awsvpc", pm), &pm, Placement{Sandbox: "0123abcd"})
	if err != nil || host.NetworkMode != "container:0123abcd" || len(host.PortBindings) != 0 || len(cfg.ExposedPorts) != 0 {
		t.Fatalf("awsvpc: the container must join the pause container's network and publish nothing: %v %+v", err, host)
	}
	m := c
	m.MountPoints = []acsmsg.MountPoint{{SourceVolume: ecs.Ptr("nope"), ContainerPath: ecs.Ptr("/x")}}
	if _, _, err := Build(agentTask("bridge", m), &m, Placement{}); err == nil {
		t.Fatal("a mount of an undefined volume should fail")
	}
}

func TestTheAgentsVariablesDefaultOrWinAsECSSetsThem(t *testing.T) {
	c := acsmsg.Container{Name: ecs.Ptr("app"), Image: ecs.Ptr("busybox"),
		Environment: map[string]string{"AWS_REGION": "eu-west-1", "ECS_CONTAINER_METADATA_URI_V4": "http://spoofed"}}
	cfg, _, err := Build(agentTask("bridge", c), &c, Placement{ClusterName: "dev",
		AgentEnvironment:   map[string]string{"ECS_CONTAINER_METADATA_URI_V4": "http://172.17.0.1:1234/v4/id"},
		DefaultEnvironment: map[string]string{"AWS_REGION": "us-east-1", "AWS_EXECUTION_ENV": "AWS_ECS_EC2"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"AWS_EXECUTION_ENV=AWS_ECS_EC2", "AWS_REGION=eu-west-1", "ECS_CONTAINER_METADATA_URI_V4=http://172.17.0.1:1234/v4/id"}
	if !slices.Equal(cfg.Env, want) {
		t.Fatalf("Env = %q; want %q", cfg.Env, want)
	}
}
