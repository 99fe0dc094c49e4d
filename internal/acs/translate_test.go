package acs

import (
	"encoding/json"
	"testing"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

func richDefinition() *ecs.TaskDefinition {
	return &ecs.TaskDefinition{
		Family: ecs.Ptr("web"), Revision: ecs.Ptr(int32(7)), NetworkMode: ecs.NetworkModeBridge, Cpu: ecs.Ptr("256"), Memory: ecs.Ptr("512"),
		Volumes: []ecs.Volume{
			{Name: ecs.Ptr("scratch")},
			{Name: ecs.Ptr("logs"), Host: &ecs.HostVolumeProperties{SourcePath: ecs.Ptr("/var/log/web")}},
			{Name: ecs.Ptr("cache"), DockerVolumeConfiguration: &ecs.DockerVolumeConfiguration{Scope: ecs.ScopeShared, Autoprovision: ecs.Ptr(true), Driver: ecs.Ptr("local")}},
		},
		ContainerDefinitions: []ecs.ContainerDefinition{{
			Name: ecs.Ptr("app"), Image: ecs.Ptr("busybox"), Cpu: ecs.Ptr(int32(128)), Memory: ecs.Ptr(int32(256)), MemoryReservation: ecs.Ptr(int32(128)),
			Essential: ecs.Ptr(true), Command: []string{"httpd", "-f"}, EntryPoint: []string{"/bin/busybox"},
			Environment:  []ecs.KeyValuePair{{Name: ecs.Ptr("A"), Value: ecs.Ptr("1")}, {Name: ecs.Ptr("B"), Value: ecs.Ptr("2")}},
			PortMappings: []ecs.PortMapping{{ContainerPort: ecs.Ptr(int32(8080)), HostPort: ecs.Ptr(int32(0)), Protocol: ecs.TransportProtocolTcp, Name: ecs.Ptr("http")}},
			MountPoints:  []ecs.MountPoint{{SourceVolume: ecs.Ptr("scratch"), ContainerPath: ecs.Ptr("/scratch")}},
			HealthCheck:  &ecs.HealthCheck{Command: []string{"CMD-SHELL", "wget -q -O- localhost:8080"}, Interval: ecs.Ptr(int32(10))},
			User:         ecs.Ptr("1000"), WorkingDirectory: ecs.Ptr("/srv"), Hostname: ecs.Ptr("web"),
			DockerLabels: map[string]string{"team": "a"}, DnsServers: []string{"10.0.0.2"}, ExtraHosts: []ecs.HostEntry{{Hostname: ecs.Ptr("db"), IpAddress: ecs.Ptr("10.0.0.3")}},
			Ulimits:          []ecs.Ulimit{{Name: ecs.UlimitNameNofile, SoftLimit: ecs.Ptr(int32(1024)), HardLimit: ecs.Ptr(int32(4096))}},
			SystemControls:   []ecs.SystemControl{{Namespace: ecs.Ptr("net.core.somaxconn"), Value: ecs.Ptr("1024")}},
			LinuxParameters:  &ecs.LinuxParameters{InitProcessEnabled: ecs.Ptr(true), Tmpfs: []ecs.Tmpfs{{ContainerPath: ecs.Ptr("/tmp"), Size: ecs.Ptr(int32(64)), MountOptions: []string{"rw"}}}},
			LogConfiguration: &ecs.LogConfiguration{LogDriver: ecs.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "g", "awslogs-region": "us-east-1"}},
			DependsOn:        []ecs.ContainerDependency{{ContainerName: ecs.Ptr("init"), Condition: ecs.ContainerConditionSuccess}},
			StopTimeout:      ecs.Ptr(int32(5)),
		}, {
			Name: ecs.Ptr("init"), Image: ecs.Ptr("busybox"), MemoryReservation: ecs.Ptr(int32(16)), Essential: ecs.Ptr(false),
		}},
	}
}

func TestTranslateCarriesEveryField(t *testing.T) {
	task, err := Translate(TaskInput{TaskARN: "arn:aws:ecs:us-east-1:123456789012:task/c/abc", ClusterARN: "arn:aws:ecs:us-east-1:123456789012:cluster/c",
		Definition: richDefinition(), DesiredStatus: "RUNNING", LaunchType: "EC2", Group: "family:web",
		ContainerARNs: map[string]string{"app": "arn:aws:ecs:us-east-1:123456789012:container/c/abc/1"}})
	if err != nil {
		t.Fatal(err)
	}
	if ecs.Val(task.Version) != "7" || ecs.Val(task.Cpu) != 0.25 || ecs.Val(task.Memory) != 512 || ecs.Val(task.Overrides) != "{}" || ecs.Val(task.NetworkMode) != "bridge" {
		t.Fatalf("task fields: version %q cpu %v memory %v overrides %q", ecs.Val(task.Version), ecs.Val(task.Cpu), ecs.Val(task.Memory), ecs.Val(task.Overrides))
	}
	if v := task.Volumes; len(v) != 3 || v[0].Type != "host" || ecs.Val(v[0].Host.SourcePath) != "" || ecs.Val(v[1].Host.SourcePath) != "/var/log/web" || v[2].Type != "docker" || ecs.Val(v[2].DockerVolumeConfiguration.Driver) != "local" {
		t.Fatalf("volumes %+v", v)
	}
	app := task.Containers[0]
	if ecs.Val(app.ContainerArn) == "" || ecs.Val(app.Memory) != 256 || app.Environment["A"] != "1" || len(app.Environment) != 2 || app.HealthCheckType != acsmsg.HealthCheckTypeDocker ||
		ecs.Val(app.PortMappings[0].ContainerPort) != 8080 || ecs.Val(app.StopTimeout) != 5 || !ecs.Val(app.LinuxParameters.InitProcessEnabled) || ecs.Val(app.MountPoints[0].SourceVolume) != "scratch" {
		t.Fatalf("container %+v", app)
	}
	if task.Containers[1].Memory != nil {
		t.Fatalf("a reservation-only container got a hard limit: %d", ecs.Val(task.Containers[1].Memory))
	}

	var cfg map[string]any
	if err := json.Unmarshal([]byte(ecs.Val(app.DockerConfig.Config)), &cfg); err != nil {
		t.Fatal(err)
	}
	hc := cfg["Healthcheck"].(map[string]any)
	if cfg["User"] != "1000" || cfg["WorkingDir"] != "/srv" || cfg["Hostname"] != "web" || hc["Interval"] != float64(10e9) || hc["Timeout"] != float64(5e9) || hc["Retries"] != float64(3) {
		t.Fatalf("config %v", cfg)
	}
	var host map[string]any
	if err := json.Unmarshal([]byte(ecs.Val(app.DockerConfig.HostConfig)), &host); err != nil {
		t.Fatal(err)
	}
	if host["MemoryReservation"] != float64(128<<20) || host["Tmpfs"].(map[string]any)["/tmp"] != "rw,size=64m" ||
		host["ExtraHosts"].([]any)[0] != "db:10.0.0.3" || host["Sysctls"].(map[string]any)["net.core.somaxconn"] != "1024" ||
		host["LogConfig"].(map[string]any)["Type"] != "awslogs" || host["Ulimits"].([]any)[0].(map[string]any)["Hard"] != float64(4096) {
		t.Fatalf("hostConfig %v", host)
	}
	if ecs.Val(task.Containers[1].DockerConfig.Config) != "{}" {
		t.Fatalf("an empty config should be {}, got %s", ecs.Val(task.Containers[1].DockerConfig.Config))
	}
}

func TestTranslateAppliesOverrides(t *testing.T) {
	ov := &ecs.TaskOverride{Cpu: ecs.Ptr("512"), Memory: ecs.Ptr("1024"), ContainerOverrides: []ecs.ContainerOverride{{
		Name: ecs.Ptr("app"), Command: []string{"sleep", "1"}, Environment: []ecs.KeyValuePair{{Name: ecs.Ptr("B"), Value: ecs.Ptr("two")}, {Name: ecs.Ptr("C"), Value: ecs.Ptr("3")}},
		Cpu: ecs.Ptr(int32(64)), Memory: ecs.Ptr(int32(300)), MemoryReservation: ecs.Ptr(int32(200)),
		EnvironmentFiles: []ecs.EnvironmentFile{{Value: ecs.Ptr("/etc/web.env"), Type: ecs.EnvironmentFileTypeS3}},
	}}}
	task, err := Translate(TaskInput{TaskARN: "t", ClusterARN: "c", Definition: richDefinition(), Overrides: ov, DesiredStatus: "RUNNING"})
	if err != nil {
		t.Fatal(err)
	}
	app := task.Containers[0]
	if app.Command[0] != "sleep" || app.Environment["A"] != "1" || app.Environment["B"] != "two" || app.Environment["C"] != "3" ||
		ecs.Val(app.Cpu) != 64 || ecs.Val(app.Memory) != 300 || ecs.Val(task.Cpu) != 0.5 || ecs.Val(task.Memory) != 1024 || ecs.Val(app.EnvironmentFiles[0].Value) != "/etc/web.env" {
		t.Fatalf("overridden container %+v", app)
	}
	var host map[string]any
	json.Unmarshal([]byte(ecs.Val(app.DockerConfig.HostConfig)), &host)
	if host["MemoryReservation"] != float64(200<<20) {
		t.Fatalf("memoryReservation override: %v", host["MemoryReservation"])
	}
	var back ecs.TaskOverride
	if err := json.Unmarshal([]byte(ecs.Val(task.Overrides)), &back); err != nil || ecs.Val(back.Cpu) != "512" {
		t.Fatalf("overrides string %q", ecs.Val(task.Overrides))
	}

	_, err = Translate(TaskInput{TaskARN: "t", Definition: richDefinition(), Overrides: &ecs.TaskOverride{ContainerOverrides: []ecs.ContainerOverride{{Name: ecs.Ptr("db")}}}})
	if e, ok := err.(*ecs.Error); !ok || e.Code != ecs.CodeInvalidParameterException {
		t.Fatalf("override of an unknown container: %v", err)
	}
}

func TestTranslateSendsGPUsAsAssociations(t *testing.T) {
	task, err := Translate(TaskInput{TaskARN: "t", ClusterARN: "c", Definition: richDefinition(), DesiredStatus: "RUNNING",
		GPUs: map[string][]string{"app": {"GPU-a", "GPU-b"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Associations) != 2 {
		t.Fatalf("associations %+v", task.Associations)
	}
	for i, want := range []string{"GPU-a", "GPU-b"} {
		a := task.Associations[i]
		if a.Type != acsmsg.AssociationTypeGpu || ecs.Val(a.Name) != want || len(a.Containers) != 1 || a.Containers[0] != "app" {
			t.Fatalf("association %d: %+v", i, a)
		}
	}
}

// An awsvpc task's interface reaches its agent as the contract between the
// control plane and the agent says (docs/design-notes.md, "awsvpc"): one
// primary interface, its address, MAC and gateway with the prefix length.
func TestTranslateCarriesTheTaskInterface(t *testing.T) {
	td := richDefinition()
	td.NetworkMode = ecs.NetworkModeAwsvpc
	task, err := Translate(TaskInput{TaskARN: "arn:aws:ecs:us-east-1:1:task/c/t", ClusterARN: "arn:aws:ecs:us-east-1:1:cluster/c", Definition: td, DesiredStatus: "RUNNING",
		ENI: &NetworkInterface{AttachmentARN: "arn:aws:ecs:us-east-1:1:attachment/a1", ID: "eni-0123456789abcdef0", MAC: "02:aa:bb:cc:dd:ee",
			IPv4: "10.224.5.4", Gateway: "10.224.5.1/24", PrivateDNSName: "ip-10-224-5-4.ec2.internal"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(task.ElasticNetworkInterfaces)
	want := `[{"macAddress":"02:aa:bb:cc:dd:ee","attachmentArn":"arn:aws:ecs:us-east-1:1:attachment/a1","ec2Id":"eni-0123456789abcdef0","index":0,` +
		`"interfaceAssociationProtocol":"default","ipv4Addresses":[{"privateAddress":"10.224.5.4","primary":true}],` +
		`"privateDnsName":"ip-10-224-5-4.ec2.internal","subnetGatewayIpv4Address":"10.224.5.1/24"}]`
	if string(got) != want {
		t.Fatalf("elasticNetworkInterfaces\n got %s\nwant %s", got, want)
	}
	if ecs.Val(task.NetworkMode) != "awsvpc" {
		t.Fatalf("networkMode %q", ecs.Val(task.NetworkMode))
	}
	td.NetworkMode = ecs.NetworkModeBridge
	if plain, _ := Translate(TaskInput{TaskARN: "t", ClusterARN: "c", Definition: td, DesiredStatus: "RUNNING"}); plain.ElasticNetworkInterfaces != nil {
		t.Fatalf("a bridge task has interfaces: %+v", plain.ElasticNetworkInterfaces)
	}
}
