package server

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/berth-project/berth/api/ecs"
)

// ECS answers an empty list as [] rather than leaving it out, and SDK code
// indexes such members directly (resp["tasks"] in boto3). emptyLists says,
// per wire shape, which list members ECS always answers; withEmptyLists
// makes every nil one of them [] in each answer, after the operation. A
// list that is not named here is left out when nil: ECS leaves it out too,
// or answers it only when asked (tags with include=TAGS, for services,
// task sets and DescribeTaskDefinition), which the handlers decide.
//
// Where each row comes from (docs/compatibility.md says more): the AWS
// CLI's documented ECS output (aws-cli awscli/examples/ecs/*.rst), the
// ECS API Reference's examples (botocore ecs/2014-11-13/examples-1.json),
// and answers people recorded in issues (ListTasks {taskArns: []} in
// convox/rack#1908; RunTask {tasks: [], failures: [...]} in
// apache/airflow#22255; DescribeServices {services: [], failures: MISSING}
// in aws/aws-cli#1455). Rows marked "Berth's choice" have no source either
// way; [] is what a client that indexes the member can rely on.
var emptyLists = map[reflect.Type][]string{
	// Every List operation: its list, [] when nothing matches.
	reflect.TypeFor[ecs.ListClustersResponse]():               {"clusterArns"},
	reflect.TypeFor[ecs.ListServicesResponse]():               {"serviceArns"},
	reflect.TypeFor[ecs.ListServicesByNamespaceResponse]():    {"serviceArns"},
	reflect.TypeFor[ecs.ListTasksResponse]():                  {"taskArns"},
	reflect.TypeFor[ecs.ListContainerInstancesResponse]():     {"containerInstanceArns"},
	reflect.TypeFor[ecs.ListTaskDefinitionsResponse]():        {"taskDefinitionArns"},
	reflect.TypeFor[ecs.ListTaskDefinitionFamiliesResponse](): {"families"},
	reflect.TypeFor[ecs.ListAttributesResponse]():             {"attributes"},
	reflect.TypeFor[ecs.ListAccountSettingsResponse]():        {"settings"},
	reflect.TypeFor[ecs.ListTagsForResourceResponse]():        {"tags"},
	reflect.TypeFor[ecs.ListServiceDeploymentsResponse]():     {"serviceDeployments"},

	// Every answer of resources and failures: both, each [] when empty
	// (the CLI's examples answer "failures": [] for every one of them).
	reflect.TypeFor[ecs.DescribeClustersResponse]():              {"clusters", "failures"},
	reflect.TypeFor[ecs.DescribeServicesResponse]():              {"services", "failures"},
	reflect.TypeFor[ecs.DescribeTasksResponse]():                 {"tasks", "failures"},
	reflect.TypeFor[ecs.DescribeContainerInstancesResponse]():    {"containerInstances", "failures"},
	reflect.TypeFor[ecs.DescribeCapacityProvidersResponse]():     {"capacityProviders", "failures"},
	reflect.TypeFor[ecs.DescribeTaskSetsResponse]():              {"taskSets", "failures"},
	reflect.TypeFor[ecs.DescribeServiceDeploymentsResponse]():    {"serviceDeployments", "failures"},
	reflect.TypeFor[ecs.DescribeServiceRevisionsResponse]():      {"serviceRevisions", "failures"},
	reflect.TypeFor[ecs.RunTaskResponse]():                       {"tasks", "failures"},
	reflect.TypeFor[ecs.StartTaskResponse]():                     {"tasks", "failures"},
	reflect.TypeFor[ecs.DeleteTaskDefinitionsResponse]():         {"taskDefinitions", "failures"},
	reflect.TypeFor[ecs.UpdateContainerInstancesStateResponse](): {"containerInstances", "failures"},
	// Berth's choice: RegisterTaskDefinition answers the new revision's tags.
	reflect.TypeFor[ecs.RegisterTaskDefinitionResponse](): {"tags"},

	// The resources. Clusters answer tags and settings without include
	// (describe-clusters with only ATTACHMENTS included answers both []);
	// attachments come only with include=ATTACHMENTS.
	reflect.TypeFor[ecs.Cluster](): {"statistics", "tags", "settings", "capacityProviders", "defaultCapacityProviderStrategy"},
	// taskSets: [] for EXTERNAL services only (serviceView); tags only
	// with include=TAGS.
	reflect.TypeFor[ecs.Service]():           {"loadBalancers", "serviceRegistries", "deployments", "events", "placementConstraints", "placementStrategy"},
	reflect.TypeFor[ecs.DeploymentAlarms]():  {"alarmNames"},
	reflect.TypeFor[ecs.TaskSet]():           {"loadBalancers", "serviceRegistries"},
	reflect.TypeFor[ecs.ServiceDeployment](): {"sourceServiceRevisions"},
	// Tasks answer tags [] without include (describe-tasks, run-task,
	// start-task, stop-task).
	reflect.TypeFor[ecs.Task]():         {"attachments", "containers", "tags"},
	reflect.TypeFor[ecs.TaskOverride](): {"containerOverrides", "inferenceAcceleratorOverrides"},
	// networkBindings: Berth's choice for a container not yet running (ECS
	// answers [] once it runs, and leaves it out in start-task's example).
	reflect.TypeFor[ecs.Container]():         {"networkBindings", "networkInterfaces"},
	reflect.TypeFor[ecs.ContainerInstance](): {"registeredResources", "remainingResources", "attributes", "attachments", "tags"},
	reflect.TypeFor[ecs.Attachment]():        {"details"},
	// Capacity providers answer tags [] without include.
	reflect.TypeFor[ecs.CapacityProvider](): {"tags"},
	// requiresAttributes: Berth's choice (a definition that needs none).
	reflect.TypeFor[ecs.TaskDefinition](): {"volumes", "placementConstraints", "requiresAttributes"},
	// systemControls: terraform-provider-aws#46132 and #40034 show ECS
	// answering it [] with mountPoints and volumesFrom.
	reflect.TypeFor[ecs.ContainerDefinition](): {"portMappings", "environment", "mountPoints", "volumesFrom", "systemControls"},
}

// maxFillDepth bounds the walk (values within values); ECS answers nest a
// listed member about eight deep at most (a service's alarm names).
const maxFillDepth = 24

// withEmptyLists returns the answer with every member of emptyLists that
// is nil made []. It never writes to the answer it is given: answers share
// slices and pointers with the store's records, which are read-only, so
// whatever it changes it copies first (the struct, the slice, or the
// struct a pointer points to), and an answer with nothing to fill is
// returned as it is.
func withEmptyLists(answer any) any {
	if answer == nil {
		return nil
	}
	if v, changed := fill(reflect.ValueOf(answer), 0); changed {
		return v.Interface()
	}
	return answer
}

func fill(v reflect.Value, depth int) (reflect.Value, bool) {
	if depth > maxFillDepth {
		return v, false
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v, false
		}
		e, changed := fill(v.Elem(), depth+1)
		if !changed {
			return v, false
		}
		p := reflect.New(e.Type())
		p.Elem().Set(e)
		return p, true
	case reflect.Slice:
		if v.Len() == 0 || !holdsListed(v.Type().Elem()) {
			return v, false
		}
		var out reflect.Value
		for i := range v.Len() {
			e, changed := fill(v.Index(i), depth+1)
			if !changed {
				continue
			}
			if !out.IsValid() {
				out = reflect.MakeSlice(v.Type(), v.Len(), v.Len())
				reflect.Copy(out, v)
			}
			out.Index(i).Set(e)
		}
		return out, out.IsValid()
	case reflect.Struct:
		var out reflect.Value
		for _, f := range planOf(v.Type()) {
			fv := v.Field(f.index)
			var nv reflect.Value
			changed := false
			if f.fill && fv.IsNil() {
				nv, changed = reflect.MakeSlice(fv.Type(), 0, 0), true
			} else if f.visit {
				nv, changed = fill(fv, depth+1)
			}
			if !changed {
				continue
			}
			if !out.IsValid() {
				out = reflect.New(v.Type()).Elem()
				out.Set(v)
			}
			out.Field(f.index).Set(nv)
		}
		return out, out.IsValid()
	}
	return v, false
}

// fieldPlan is what fill does with one field of a struct: make it [] when
// nil (fill), or look inside it (visit).
type fieldPlan struct {
	index       int
	fill, visit bool
}

var (
	plansMu sync.RWMutex
	plans   = map[reflect.Type][]fieldPlan{}
)

// planOf is the fields of struct type t that fill has anything to do with
// (none for most types), worked out once per type.
func planOf(t reflect.Type) []fieldPlan {
	plansMu.RLock()
	p, ok := plans[t]
	plansMu.RUnlock()
	if ok {
		return p
	}
	plansMu.Lock()
	defer plansMu.Unlock()
	return planLocked(t)
}

func planLocked(t reflect.Type) []fieldPlan {
	if p, ok := plans[t]; ok {
		return p
	}
	plans[t] = nil // a type within itself (the ECS model has none) is not looked into again
	listed := map[string]bool{}
	for _, name := range emptyLists[t] {
		listed[name] = true
	}
	var p []fieldPlan
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		fp := fieldPlan{index: i, fill: listed[jsonName(f)], visit: holdsLocked(f.Type)}
		if fp.fill || fp.visit {
			p = append(p, fp)
		}
	}
	plans[t] = p
	return p
}

// holdsListed: values of type t can hold a member of emptyLists.
func holdsListed(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && planOf(t) != nil
}

func holdsLocked(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && planLocked(t) != nil
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// The table names members by their wire names; a name that is not a list
// member of its shape is a mistake in the table, found at start.
func init() {
	for t, names := range emptyLists {
		for _, name := range names {
			if !hasListMember(t, name) {
				panic(fmt.Sprintf("server: emptyLists: %s has no list member %q", t.Name(), name))
			}
		}
	}
}

func hasListMember(t reflect.Type, name string) bool {
	for i := range t.NumField() {
		if f := t.Field(i); jsonName(f) == name {
			return f.Type.Kind() == reflect.Slice
		}
	}
	return false
}
