package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
)

func taskDefARN(familyRev string) string {
	return "arn:aws:ecs:us-east-1:" + account + ":task-definition/" + familyRev
}

// webTaskDef is a small valid EC2 task definition of family.
func webTaskDef(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:         aws.String("web"),
			Image:        aws.String("busybox:latest"),
			Memory:       aws.Int32(128),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}},
		}},
	}
}

func TestTaskDefinitions(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()

	register := func(t *testing.T, in *ecs.RegisterTaskDefinitionInput) *types.TaskDefinition {
		t.Helper()
		out, err := c.RegisterTaskDefinition(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out.TaskDefinition
	}

	t.Run("RegisterTaskDefinition numbers revisions and fills in ECS's defaults", func(t *testing.T) {
		td := register(t, webTaskDef("web"))
		if aws.ToString(td.TaskDefinitionArn) != taskDefARN("web:1") || td.Revision != 1 || td.Status != types.TaskDefinitionStatusActive {
			t.Fatalf("first revision: %s rev %d %s", aws.ToString(td.TaskDefinitionArn), td.Revision, td.Status)
		}
		if td.NetworkMode != types.NetworkModeBridge {
			t.Fatalf("network mode %q, want bridge", td.NetworkMode)
		}
		cd := td.ContainerDefinitions[0]
		if !aws.ToBool(cd.Essential) || cd.Cpu != 0 {
			t.Fatalf("container defaults: essential %v cpu %d", aws.ToBool(cd.Essential), cd.Cpu)
		}
		pm := cd.PortMappings[0]
		if pm.Protocol != types.TransportProtocolTcp || aws.ToInt32(pm.HostPort) != 0 {
			t.Fatalf("port mapping %+v", pm)
		}
		if td.RegisteredAt == nil || aws.ToString(td.RegisteredBy) != "arn:aws:iam::"+account+":root" {
			t.Fatalf("registeredAt %v registeredBy %q", td.RegisteredAt, aws.ToString(td.RegisteredBy))
		}
		if len(td.Compatibilities) == 0 || td.Compatibilities[0] != types.CompatibilityEc2 {
			t.Fatalf("compatibilities %v", td.Compatibilities)
		}
		if td2 := register(t, webTaskDef("web")); td2.Revision != 2 {
			t.Fatalf("second revision %d", td2.Revision)
		}
	})

	t.Run("awsvpc fills hostPort with the container port; Fargate sizes are normalised", func(t *testing.T) {
		in := webTaskDef("fargate-web")
		in.NetworkMode = types.NetworkModeAwsvpc
		in.RequiresCompatibilities = []types.Compatibility{types.CompatibilityFargate}
		in.Cpu = aws.String("0.5 vCPU")
		in.Memory = aws.String("1 GB")
		in.ContainerDefinitions[0].Memory = nil
		td := register(t, in)
		if aws.ToString(td.Cpu) != "512" || aws.ToString(td.Memory) != "1024" {
			t.Fatalf("cpu %q memory %q", aws.ToString(td.Cpu), aws.ToString(td.Memory))
		}
		if hp := aws.ToInt32(td.ContainerDefinitions[0].PortMappings[0].HostPort); hp != 8080 {
			t.Fatalf("hostPort %d, want 8080", hp)
		}
		found := false
		for _, cpt := range td.Compatibilities {
			found = found || cpt == types.CompatibilityFargate
		}
		if !found {
			t.Fatalf("compatibilities %v lack FARGATE", td.Compatibilities)
		}
		hasENI := false
		for _, a := range td.RequiresAttributes {
			hasENI = hasENI || aws.ToString(a.Name) == "ecs.capability.task-eni"
		}
		if !hasENI {
			t.Fatalf("requiresAttributes %v lack ecs.capability.task-eni", td.RequiresAttributes)
		}
	})

	t.Run("DescribeTaskDefinition by family, family:revision and ARN, with tags", func(t *testing.T) {
		in := webTaskDef("tagged")
		in.Tags = []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}
		register(t, in)
		for ref, rev := range map[string]int32{"web": 2, "web:1": 1, taskDefARN("web:2"): 2} {
			out, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref)})
			if err != nil {
				t.Fatalf("%s: %v", ref, err)
			}
			if out.TaskDefinition.Revision != rev {
				t.Fatalf("%s: revision %d, want %d", ref, out.TaskDefinition.Revision, rev)
			}
		}
		out, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
			TaskDefinition: aws.String("tagged"), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "team" {
			t.Fatalf("tags %+v", out.Tags)
		}
		for _, ref := range []string{"nope", "web:9", "web:x", taskDefARN("web:1") + "x", "arn:aws:ecs:eu-west-1:" + account + ":task-definition/web:1"} {
			_, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref)})
			wantAPIError(t, err, "ClientException", "Unable to describe task definition.")
		}
	})

	t.Run("DeregisterTaskDefinition makes a revision INACTIVE and the family resolves to the latest ACTIVE one", func(t *testing.T) {
		out, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:2")})
		if err != nil {
			t.Fatal(err)
		}
		if out.TaskDefinition.Status != types.TaskDefinitionStatusInactive || out.TaskDefinition.DeregisteredAt == nil {
			t.Fatalf("status %s deregisteredAt %v", out.TaskDefinition.Status, out.TaskDefinition.DeregisteredAt)
		}
		d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")})
		if err != nil || d.TaskDefinition.Revision != 1 {
			t.Fatalf("family now resolves to %v, %v; want revision 1", d, err)
		}
		inactive, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:2")})
		if err != nil || inactive.TaskDefinition.Status != types.TaskDefinitionStatusInactive {
			t.Fatalf("INACTIVE revision not describable: %v", err)
		}
		_, err = c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:7")})
		wantAPIError(t, err, "ClientException", "The specified task definition does not exist.")
		_, err = c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web")})
		wantAPIError(t, err, "ClientException", "")
	})

	t.Run("ListTaskDefinitions filters by family and status, sorts and pages", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			register(t, webTaskDef("paged"))
		}
		var got []string
		p := ecs.NewListTaskDefinitionsPaginator(c, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("paged"), Sort: types.SortOrderDesc, MaxResults: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out.TaskDefinitionArns...)
		}
		want := []string{taskDefARN("paged:3"), taskDefARN("paged:2"), taskDefARN("paged:1")}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("DESC pages:\n got %v\nwant %v", got, want)
		}
		inactive, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{Status: types.TaskDefinitionStatusInactive})
		if err != nil {
			t.Fatal(err)
		}
		if len(inactive.TaskDefinitionArns) != 1 || inactive.TaskDefinitionArns[0] != taskDefARN("web:2") {
			t.Fatalf("INACTIVE: %v", inactive.TaskDefinitionArns)
		}
		all, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all.TaskDefinitionArns) != 6 { // fargate-web:1 paged:1-3 tagged:1 web:1
			t.Fatalf("ACTIVE: %v", all.TaskDefinitionArns)
		}
		_, err = c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{NextToken: aws.String("garbage!")})
		wantAPIError(t, err, "InvalidParameterException", "")
	})

	t.Run("ListTaskDefinitionFamilies by prefix and status", func(t *testing.T) {
		_, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("tagged:1")})
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			in   ecs.ListTaskDefinitionFamiliesInput
			want string
		}{
			{ecs.ListTaskDefinitionFamiliesInput{}, "fargate-web paged tagged web"},
			{ecs.ListTaskDefinitionFamiliesInput{Status: types.TaskDefinitionFamilyStatusActive}, "fargate-web paged web"},
			{ecs.ListTaskDefinitionFamiliesInput{Status: types.TaskDefinitionFamilyStatusInactive}, "tagged"},
			{ecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String("pa")}, "paged"},
		}
		for _, tc := range cases {
			out, err := c.ListTaskDefinitionFamilies(ctx, &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(out.Families, " "); got != tc.want {
				t.Fatalf("%+v: got %q want %q", tc.in, got, tc.want)
			}
		}
	})

	t.Run("DeleteTaskDefinitions deletes INACTIVE revisions only", func(t *testing.T) {
		out, err := c.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"web:2", "web:1", "web:99"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.TaskDefinitions) != 1 || out.TaskDefinitions[0].Status != types.TaskDefinitionStatusDeleteInProgress || out.TaskDefinitions[0].DeleteRequestedAt == nil {
			t.Fatalf("deleted %+v", out.TaskDefinitions)
		}
		if len(out.Failures) != 2 {
			t.Fatalf("failures %+v", out.Failures)
		}
		if r := aws.ToString(out.Failures[0].Reason); !strings.Contains(r, "ACTIVE") || aws.ToString(out.Failures[0].Arn) != taskDefARN("web:1") {
			t.Fatalf("failure for an ACTIVE revision: %+v", out.Failures[0])
		}
		d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:2")})
		if err != nil || d.TaskDefinition.Status != types.TaskDefinitionStatusDeleteInProgress {
			t.Fatalf("web:2 after delete: %v %v", d, err)
		}
	})

	t.Run("revisions survive a restart and numbering continues", func(t *testing.T) {
		srv.Restart()
		c = srv.Client()
		td := register(t, webTaskDef("web"))
		if td.Revision != 3 {
			t.Fatalf("revision after restart %d, want 3", td.Revision)
		}
	})
}

func TestRegisterTaskDefinitionRejectsWhatECSRejects(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()

	type mutate func(in *ecs.RegisterTaskDefinitionInput)
	container := func(f func(cd *types.ContainerDefinition)) mutate {
		return func(in *ecs.RegisterTaskDefinitionInput) { f(&in.ContainerDefinitions[0]) }
	}
	sidecar := func(f func(cd *types.ContainerDefinition)) mutate {
		return func(in *ecs.RegisterTaskDefinitionInput) {
			cd := types.ContainerDefinition{Name: aws.String("sidecar"), Image: aws.String("busybox"), Memory: aws.Int32(32)}
			f(&cd)
			in.ContainerDefinitions = append(in.ContainerDefinitions, cd)
		}
	}
	fargate := func(cpu, memory string) mutate {
		return func(in *ecs.RegisterTaskDefinitionInput) {
			in.RequiresCompatibilities = []types.Compatibility{types.CompatibilityFargate}
			in.NetworkMode = types.NetworkModeAwsvpc
			if cpu != "" {
				in.Cpu = aws.String(cpu)
			}
			if memory != "" {
				in.Memory = aws.String(memory)
			}
		}
	}
	cases := []struct {
		name      string
		change    mutate
		code, msg string
	}{
		{"family with a space", func(in *ecs.RegisterTaskDefinitionInput) { in.Family = aws.String("my app") },
			"ClientException", "Family contains invalid characters or is too long. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed."},
		{"no containers", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions = []types.ContainerDefinition{} },
			"ClientException", "Container list cannot be empty."},
		{"container without a name", container(func(cd *types.ContainerDefinition) { cd.Name = nil }),
			"ClientException", "Container.name should not be null or empty."},
		{"container without an image", container(func(cd *types.ContainerDefinition) { cd.Image = aws.String("") }),
			"ClientException", "Container.image should not be null or empty."},
		{"no memory anywhere", container(func(cd *types.ContainerDefinition) { cd.Memory = nil }),
			"ClientException", "Invalid setting for container 'web'. At least one of 'memory' or 'memoryReservation' must be specified."},
		{"reservation above the limit", container(func(cd *types.ContainerDefinition) { cd.MemoryReservation = aws.Int32(256) }),
			"ClientException", "Invalid 'memory' setting for container 'web'. 'memory' must be greater than or equal to 'memoryReservation'."},
		{"container memory above the task's", func(in *ecs.RegisterTaskDefinitionInput) { in.Memory = aws.String("64") },
			"ClientException", "The 'memory' setting for container 'web' is greater than for the task."},
		{"container cpu above the task's", func(in *ecs.RegisterTaskDefinitionInput) {
			in.Cpu = aws.String("256")
			in.ContainerDefinitions[0].Cpu = 512
		}, "ClientException", "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."},
		{"unparseable task cpu", func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu = aws.String("lots") },
			"ClientException", "Invalid 'cpu' setting for task."},
		{"duplicate container names", sidecar(func(cd *types.ContainerDefinition) { cd.Name = aws.String("web") }),
			"ClientException", "Container names must be unique within a task definition: 'web' is used more than once."},
		{"awsvpc with a different host port", func(in *ecs.RegisterTaskDefinitionInput) {
			in.NetworkMode = types.NetworkModeAwsvpc
			in.ContainerDefinitions[0].PortMappings[0].HostPort = aws.Int32(80)
		}, "ClientException", "When networkMode=awsvpc, the host ports and container ports in port mappings must match."},
		{"a host port mapped twice", sidecar(func(cd *types.ContainerDefinition) {
			cd.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080)}}
		}), "ClientException", "ok-if-first-has-no-host-port"},
		{"container port out of range", container(func(cd *types.ContainerDefinition) { cd.PortMappings[0].ContainerPort = aws.Int32(70000) }),
			"ClientException", "Invalid 'containerPort' setting for container 'web'."},
		{"dependsOn an unknown container", container(func(cd *types.ContainerDefinition) {
			cd.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("db"), Condition: types.ContainerConditionStart}}
		}), "ClientException", "Invalid 'dependsOn' setting for container 'web'. Container 'db' is not defined in the task definition."},
		{"SUCCESS on an essential container", sidecar(func(cd *types.ContainerDefinition) {
			cd.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("web"), Condition: types.ContainerConditionSuccess}}
		}), "ClientException", "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"},
		{"no essential container", container(func(cd *types.ContainerDefinition) { cd.Essential = aws.Bool(false) }),
			"ClientException", "A task definition must have at least one essential container."},
		{"awslogs without its options", container(func(cd *types.ContainerDefinition) {
			cd.LogConfiguration = &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "g"}}
		}), "ClientException", "Log driver awslogs requires options: awslogs-region"},
		{"mount of an undefined volume", container(func(cd *types.ContainerDefinition) {
			cd.MountPoints = []types.MountPoint{{SourceVolume: aws.String("data"), ContainerPath: aws.String("/data")}}
		}), "ClientException", "Invalid 'mountPoints' setting for container 'web'. Volume 'data' is not defined in the task definition."},
		{"Fargate with bridge networking", func(in *ecs.RegisterTaskDefinitionInput) {
			fargate("256", "512")(in)
			in.NetworkMode = types.NetworkModeBridge
		}, "ClientException", "Fargate only supports network mode 'awsvpc'."},
		{"Fargate without task cpu", fargate("", "512"),
			"ClientException", "Fargate requires that 'cpu' be defined at the task level."},
		{"Fargate with an invalid size", fargate("256", "4096"),
			"ClientException", "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation for the valid values."},
		{"reserved tag prefix", func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []types.Tag{{Key: aws.String("aws:owner"), Value: aws.String("x")}}
		}, "InvalidParameterException", "Tag keys beginning with 'aws:' are reserved for system use and cannot be added, edited or deleted."},
		{"too large", container(func(cd *types.ContainerDefinition) {
			for i := 0; i < 80; i++ {
				cd.Environment = append(cd.Environment, types.KeyValuePair{Name: aws.String("V" + strings.Repeat("x", 10) + string(rune('a'+i%26))), Value: aws.String(strings.Repeat("v", 1000))})
			}
		}), "ClientException", ""},
		{"unknown network mode (model enum)", func(in *ecs.RegisterTaskDefinitionInput) { in.NetworkMode = "nat" },
			"InvalidParameterException", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := webTaskDef("bad")
			tc.change(in)
			_, err := c.RegisterTaskDefinition(ctx, in)
			if tc.msg == "ok-if-first-has-no-host-port" {
				// The first container's hostPort is dynamic (0), so 8080 is used once: accepted.
				if err != nil {
					t.Fatalf("a dynamic and a static port must not clash: %v", err)
				}
				in.ContainerDefinitions[0].PortMappings[0].HostPort = aws.Int32(8080)
				_, err = c.RegisterTaskDefinition(ctx, in)
				wantAPIError(t, err, "ClientException", "TCP host port '8080' is mapped multiple times in task.")
				return
			}
			wantAPIError(t, err, tc.code, tc.msg)
		})
	}

	// Nothing was stored by the refusals: "bad" has only the one revision the
	// port-clash case registered on purpose.
	out, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("bad")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TaskDefinitionArns) != 1 {
		t.Fatalf("refused registrations left revisions behind: %v", out.TaskDefinitionArns)
	}
}

// Concurrent registrations of one family are batched into shared
// transactions; every caller must still get its own, distinct revision, and
// every revision must be stored.
func TestConcurrentRegistrationsGetDistinctRevisions(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	const n = 60
	revs := make(chan int32, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			out, err := c.RegisterTaskDefinition(ctx, webTaskDef("busy"))
			if err != nil {
				errs <- err
				return
			}
			revs <- out.TaskDefinition.Revision
		}()
	}
	seen := map[int32]bool{}
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			t.Fatal(err)
		case r := <-revs:
			if seen[r] {
				t.Fatalf("revision %d handed out twice", r)
			}
			seen[r] = true
		}
	}
	for r := int32(1); r <= n; r++ {
		if !seen[r] {
			t.Fatalf("revision %d missing from the answers", r)
		}
	}
	var stored []string
	p := ecs.NewListTaskDefinitionsPaginator(c, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("busy")})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, out.TaskDefinitionArns...)
	}
	if len(stored) != n {
		t.Fatalf("%d revisions stored, want %d", len(stored), n)
	}
	d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("busy")})
	if err != nil || d.TaskDefinition.Revision != n {
		t.Fatalf("family resolves to %v (%v), want revision %d", d, err, n)
	}
}
