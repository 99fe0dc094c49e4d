package server

import (
	"encoding/json"
	"reflect"
	"sync"
	"testing"

	"github.com/berth-project/berth/api/ecs"
)

// withEmptyLists fills in an answer whose parts are shared with a record of
// the view: the answer it returns has the lists, the record is untouched.
func TestWithEmptyListsCopiesWhatItFillsIn(t *testing.T) {
	record := &ecs.TaskDefinition{
		Family:               ecs.Ptr("web"),
		ContainerDefinitions: []ecs.ContainerDefinition{{Name: ecs.Ptr("a")}, {Name: ecs.Ptr("b"), Environment: []ecs.KeyValuePair{{Name: ecs.Ptr("K")}}}},
	}
	answer := &ecs.DescribeTaskDefinitionResponse{TaskDefinition: record}
	out := withEmptyLists(answer).(*ecs.DescribeTaskDefinitionResponse)

	raw, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"taskDefinition":{"containerDefinitions":[` +
		`{"name":"a","portMappings":[],"environment":[],"mountPoints":[],"volumesFrom":[],"systemControls":[]},` +
		`{"name":"b","portMappings":[],"environment":[{"name":"K"}],"mountPoints":[],"volumesFrom":[],"systemControls":[]}],` +
		`"family":"web","volumes":[],"requiresAttributes":[],"placementConstraints":[]}}`
	if string(raw) != want {
		t.Errorf("answer\n got %s\nwant %s", raw, want)
	}
	// tags come with include=TAGS only: the table leaves them to the handler.
	if out.Tags != nil {
		t.Errorf("tags filled in: %v", out.Tags)
	}
	if answer.TaskDefinition != record || record.Volumes != nil || record.ContainerDefinitions[0].PortMappings != nil {
		t.Errorf("the record shared with the answer was written to: %+v", record)
	}
}

func TestWithEmptyListsReturnsACompleteAnswerAsItIs(t *testing.T) {
	answer := &ecs.ListTasksResponse{TaskArns: []string{"arn:aws:ecs:us-east-1:123456789012:task/c/1"}}
	if out := withEmptyLists(answer); out != any(answer) {
		t.Errorf("a complete answer was copied: %#v", out)
	}
	// Nothing of an answer without listed members is looked into.
	empty := &ecs.SubmitTaskStateChangeResponse{Acknowledgment: ecs.Ptr("ACK")}
	if out := withEmptyLists(empty); out != any(empty) {
		t.Errorf("an answer without lists was copied: %#v", out)
	}
	if withEmptyLists(nil) != nil {
		t.Error("nil answer")
	}
}

func TestWithEmptyListsLeavesUnlistedMembersOut(t *testing.T) {
	out := withEmptyLists(&ecs.DescribeServicesResponse{Services: []ecs.Service{{ServiceName: ecs.Ptr("s")}}}).(*ecs.DescribeServicesResponse)
	s := out.Services[0]
	if s.Tags != nil || s.TaskSets != nil || s.CapacityProviderStrategy != nil {
		t.Errorf("unlisted members filled in: tags %v taskSets %v capacityProviderStrategy %v", s.Tags, s.TaskSets, s.CapacityProviderStrategy)
	}
	if s.Events == nil || s.LoadBalancers == nil || out.Failures == nil {
		t.Errorf("listed members left out: %+v", out)
	}
}

// Many answers built on the same record at once (as concurrent
// DescribeTasks calls are) write nothing to it: go test -race checks.
func TestWithEmptyListsOnASharedRecordConcurrently(t *testing.T) {
	shared := []ecs.Container{{Name: ecs.Ptr("app")}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			out := withEmptyLists(&ecs.DescribeTasksResponse{Tasks: []ecs.Task{{Containers: shared}}}).(*ecs.DescribeTasksResponse)
			if out.Tasks[0].Containers[0].NetworkBindings == nil {
				t.Error("networkBindings not filled in")
			}
		})
	}
	wg.Wait()
	if shared[0].NetworkBindings != nil {
		t.Error("the shared containers were written to")
	}
}

func TestFillIsBoundedInDepth(t *testing.T) {
	if _, changed := fill(reflect.ValueOf(&ecs.ListTasksResponse{}), maxFillDepth+1); changed {
		t.Error("fill went on past maxFillDepth")
	}
}

// Every row of the table names list members of its shape (init panics
// otherwise); this is the check init relies on.
func TestHasListMember(t *testing.T) {
	cluster := reflect.TypeFor[ecs.Cluster]()
	for name, want := range map[string]bool{"statistics": true, "clusterName": false, "nope": false} {
		if got := hasListMember(cluster, name); got != want {
			t.Errorf("hasListMember(Cluster, %q) = %v", name, got)
		}
	}
}
