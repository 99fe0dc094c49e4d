package server

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// Services. A service record holds what the user asked for (the service's
// settings), the deployments in progress, and the events the service
// scheduler wrote. What the service has (running and pending counts) is not
// stored: it is counted from its tasks at read time, so it never drifts.
// Key: services/<account>/<region>/<cluster>/<name>.

// serviceRecord is a service as stored.
type serviceRecord struct {
	Schema                        int                                `json:"schema"`
	ARN                           string                             `json:"arn"`
	Name                          string                             `json:"name"`
	Cluster                       string                             `json:"cluster"`
	ClusterARN                    string                             `json:"clusterArn"`
	Status                        string                             `json:"status"` // ACTIVE, DRAINING or INACTIVE
	DesiredCount                  int                                `json:"desiredCount"`
	SchedulingStrategy            string                             `json:"schedulingStrategy"`
	TaskDefinitionARN             string                             `json:"taskDefinitionArn,omitempty"`
	LaunchType                    string                             `json:"launchType,omitempty"`
	CapacityProviderStrategy      []ecs.CapacityProviderStrategyItem `json:"capacityProviderStrategy,omitempty"`
	PlatformVersion               string                             `json:"platformVersion,omitempty"`
	DeploymentConfiguration       ecs.DeploymentConfiguration        `json:"deploymentConfiguration"`
	DeploymentController          string                             `json:"deploymentController"`
	PlacementConstraints          []ecs.PlacementConstraint          `json:"placementConstraints,omitempty"`
	PlacementStrategy             []ecs.PlacementStrategy            `json:"placementStrategy,omitempty"`
	NetworkConfiguration          *ecs.NetworkConfiguration          `json:"networkConfiguration,omitempty"`
	LoadBalancers                 []ecs.LoadBalancer                 `json:"loadBalancers,omitempty"`
	ServiceRegistries             []ecs.ServiceRegistry              `json:"serviceRegistries,omitempty"`
	ServiceConnectConfiguration   *ecs.ServiceConnectConfiguration   `json:"serviceConnectConfiguration,omitempty"`
	HealthCheckGracePeriodSeconds *int32                             `json:"healthCheckGracePeriodSeconds,omitempty"`
	Tags                          []ecs.Tag                          `json:"tags,omitempty"`
	EnableECSManagedTags          bool                               `json:"enableECSManagedTags"`
	PropagateTags                 string                             `json:"propagateTags,omitempty"`
	EnableExecuteCommand          bool                               `json:"enableExecuteCommand"`
	AvailabilityZoneRebalancing   string                             `json:"availabilityZoneRebalancing,omitempty"`
	RoleARN                       string                             `json:"roleArn,omitempty"`
	CreatedBy                     string                             `json:"createdBy,omitempty"`
	CreatedAt                     time.Time                          `json:"createdAt"`
	ClientToken                   string                             `json:"clientToken,omitempty"`

	// Deployments in progress: the PRIMARY first, then ACTIVE ones that
	// still have tasks. Finished ones move to History.
	Deployments []deploymentRecord `json:"deployments"`
	TaskSets    []taskSetRecord    `json:"taskSets,omitempty"` // EXTERNAL deployment controller only (tasksets.go)
	History     []deploymentRecord `json:"history,omitempty"`  // newest first, bounded
	Events      []serviceEvent     `json:"events,omitempty"`   // newest first, bounded

	// The service scheduler's own bookkeeping.
	SteadyAt          *time.Time `json:"steadyAt,omitempty"`          // when it last reported a steady state
	LaunchFailures    int        `json:"launchFailures,omitempty"`    // tasks failed in a row: drives the back-off
	NextLaunchAt      *time.Time `json:"nextLaunchAt,omitempty"`      // no launches before this while backing off
	DeletedAt         *time.Time `json:"deletedAt,omitempty"`         // when DeleteService was called
	DaemonDesired     int        `json:"daemonDesired,omitempty"`     // DAEMON: the instances it should run on, as last counted
	RevisionCounter   int        `json:"revisionCounter,omitempty"`   // service revisions handed out
	DeploymentCounter int        `json:"deploymentCounter,omitempty"` // unused ids are never reused
}

const serviceSchema = 1

// deploymentRecord is one deployment of a service: a task definition and
// the settings it runs with, and how far its rollout has come.
type deploymentRecord struct {
	ID                       string                             `json:"id"`     // ecs-svc/<19 digits>
	Status                   string                             `json:"status"` // PRIMARY, ACTIVE or INACTIVE
	TaskDefinitionARN        string                             `json:"taskDefinitionArn"`
	DesiredCount             int                                `json:"desiredCount"`
	FailedTasks              int                                `json:"failedTasks"`
	LaunchType               string                             `json:"launchType,omitempty"`
	CapacityProviderStrategy []ecs.CapacityProviderStrategyItem `json:"capacityProviderStrategy,omitempty"`
	PlatformVersion          string                             `json:"platformVersion,omitempty"`
	NetworkConfiguration     *ecs.NetworkConfiguration          `json:"networkConfiguration,omitempty"`
	PlacementConstraints     []ecs.PlacementConstraint          `json:"placementConstraints,omitempty"`
	PlacementStrategy        []ecs.PlacementStrategy            `json:"placementStrategy,omitempty"`
	RolloutState             string                             `json:"rolloutState"` // IN_PROGRESS, COMPLETED or FAILED
	RolloutStateReason       string                             `json:"rolloutStateReason"`
	Rollback                 bool                               `json:"rollback,omitempty"`   // started to roll another back
	RollbackOf               string                             `json:"rollbackOf,omitempty"` // the deployment it rolls back
	Stopped                  bool                               `json:"stopped,omitempty"`    // StopServiceDeployment ended it
	StoppedAt                *time.Time                         `json:"stoppedAt,omitempty"`
	SourceRevisionARNs       []string                           `json:"sourceRevisionArns,omitempty"` // what ran when it began
	LoadBalancers            []ecs.LoadBalancer                 `json:"loadBalancers,omitempty"`
	ServiceRegistries        []ecs.ServiceRegistry              `json:"serviceRegistries,omitempty"`
	RevisionARN              string                             `json:"revisionArn"`
	CreatedAt                time.Time                          `json:"createdAt"`
	UpdatedAt                time.Time                          `json:"updatedAt"`
	FinishedAt               *time.Time                         `json:"finishedAt,omitempty"`
}

// serviceEvent is one entry of a service's events[].
type serviceEvent struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	Message   string    `json:"message"`
}

// ECS shows a service's 100 most recent events; Berth keeps as many.
const (
	maxServiceEvents  = 100
	maxServiceHistory = 20
)

const (
	schedulingReplica = string(ecs.SchedulingStrategyReplica)
	schedulingDaemon  = string(ecs.SchedulingStrategyDaemon)

	deploymentPrimary  = "PRIMARY"
	deploymentActive   = "ACTIVE"
	deploymentInactive = "INACTIVE"

	rolloutInProgress = string(ecs.DeploymentRolloutStateInProgress)
	rolloutCompleted  = string(ecs.DeploymentRolloutStateCompleted)
	rolloutFailed     = string(ecs.DeploymentRolloutStateFailed)
)

var serviceNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// newDeploymentID is an id in ECS's form: ecs-svc/ and 19 digits.
func newDeploymentID() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(9e18))
	s := n.String()
	return "ecs-svc/" + strings.Repeat("0", 19-len(s)) + s
}

// primary is the deployment new tasks belong to.
func (r *serviceRecord) primary() *deploymentRecord {
	for i := range r.Deployments {
		if r.Deployments[i].Status == deploymentPrimary {
			return &r.Deployments[i]
		}
	}
	return nil
}

func (r *serviceRecord) deployment(id string) *deploymentRecord {
	for i := range r.Deployments {
		if r.Deployments[i].ID == id {
			return &r.Deployments[i]
		}
	}
	return nil
}

// addEvent puts an event on top of the service's events, keeping ECS's 100.
func (r *serviceRecord) addEvent(now time.Time, format string, args ...any) {
	e := serviceEvent{ID: newEventID(), CreatedAt: now, Message: fmt.Sprintf(format, args...)}
	r.Events = append([]serviceEvent{e}, r.Events...)
	if len(r.Events) > maxServiceEvents {
		r.Events = r.Events[:maxServiceEvents]
	}
}

func newEventID() string { return uuid.NewString() }

// retire moves a deployment out of deployments[] into the history.
func (r *serviceRecord) retire(id string, now time.Time) {
	for i := range r.Deployments {
		if r.Deployments[i].ID != id {
			continue
		}
		d := r.Deployments[i]
		d.Status, d.UpdatedAt = deploymentInactive, now
		if d.FinishedAt == nil {
			d.FinishedAt = &now
		}
		r.Deployments = append(r.Deployments[:i:i], r.Deployments[i+1:]...)
		r.History = append([]deploymentRecord{d}, r.History...)
		if len(r.History) > maxServiceHistory {
			r.History = r.History[:maxServiceHistory]
		}
		return
	}
}

// serviceNameFrom returns the name a "service" parameter (a name or an ARN,
// long or short) refers to in cluster.
func serviceNameFrom(sc scope, cluster, ref string) (string, bool) {
	if !isARN(ref) {
		return ref, ref != "" && !strings.Contains(ref, "/")
	}
	a, ok := parseARN(ref)
	if !ok || a.kind != "service" || !a.inScope(sc) {
		return "", false
	}
	switch len(a.path) {
	case 1:
		return a.path[0], true
	case 2:
		return a.path[1], a.path[0] == cluster
	}
	return "", false
}

// findService looks a service up in a cluster; a nil record means none.
func (s *Server) findService(sc scope, cluster, ref string) (*store.Object, *serviceRecord, error) {
	name, ok := serviceNameFrom(sc, cluster, ref)
	if !ok {
		return nil, nil, nil
	}
	o, found := s.store.Get(sc.key(kindService, cluster, name))
	if !found {
		return nil, nil, nil
	}
	r, err := decode[serviceRecord](s, o)
	if err != nil {
		return nil, nil, err
	}
	return o, r, nil
}

// existingService finds a service a read names, in any status:
// ServiceNotFound for none.
func (s *Server) existingService(sc scope, clusterRef, serviceRef *string) (*serviceRecord, error) {
	_, cl, err := s.activeCluster(sc, clusterRef)
	if err != nil {
		return nil, err
	}
	_, r, err := s.findService(sc, cl.Name, ecs.Val(serviceRef))
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, ecs.NewServiceNotFoundException("Service not found.")
	}
	return r, nil
}

// activeService finds a service an update may change: ServiceNotFound for
// none, ServiceNotActive for one being deleted or deleted.
func (s *Server) activeService(sc scope, cluster, ref string) (*store.Object, *serviceRecord, error) {
	o, r, err := s.findService(sc, cluster, ref)
	if err != nil {
		return nil, nil, err
	}
	if r == nil {
		return nil, nil, ecs.NewServiceNotFoundException("Service not found.")
	}
	if r.Status != statusActive {
		return nil, nil, ecs.NewServiceNotActiveException("Service was not ACTIVE.")
	}
	return o, r, nil
}

// serviceGroup names a service in the index of tasks by service.
func serviceGroup(sc scope, cluster, name string) string {
	return sc.account + "/" + sc.region + "/" + cluster + "/" + name
}

// indexTasksByService keeps, for every service, its tasks that the service
// scheduler still has to look at: those not STOPPED, and STOPPED ones it
// has not yet counted.
func indexTasksByService(st *store.Store) *store.Index {
	prefix := keyRoot + kindTask + "/"
	return st.AddIndex(prefix, func(o *store.Object) string {
		t, err := store.Decode[taskRecord](o)
		if err != nil || t.ServiceName == "" || (t.LastStatus == "STOPPED" && t.ServiceSeen) {
			return ""
		}
		parts := strings.SplitN(strings.TrimPrefix(o.Key, prefix), "/", 3)
		if len(parts) < 3 {
			return ""
		}
		return parts[0] + "/" + parts[1] + "/" + t.Cluster + "/" + t.ServiceName
	})
}

// serviceTask is a task of a service with the object it was read from.
type serviceTask struct {
	obj *store.Object
	rec *taskRecord
}

// serviceTasks returns the service's tasks the scheduler looks at.
func (s *Server) serviceTasks(sc scope, cluster, name string) []serviceTask {
	objs := s.tasksByService.List(serviceGroup(sc, cluster, name))
	out := make([]serviceTask, 0, len(objs))
	for _, o := range objs {
		if t, err := decode[taskRecord](s, o); err == nil {
			out = append(out, serviceTask{obj: o, rec: t})
		}
	}
	return out
}

// live: the task's agent has not reported it STOPPED and nobody asked it to stop.
func (t *taskRecord) live() bool { return t.LastStatus != "STOPPED" && t.DesiredStatus != "STOPPED" }

func isPending(status string) bool {
	return status == "PROVISIONING" || status == "PENDING" || status == "ACTIVATING"
}

// serviceView is the service as DescribeServices shows it, with the counts
// of its tasks as they are now.
func (s *Server) serviceView(sc scope, r *serviceRecord, withTags bool) ecs.Service {
	byStarter := s.countTasksByStarter(sc, r)
	var all starterCounts
	for _, c := range byStarter {
		all.running += c.running
		all.pending += c.pending
	}
	desired := r.DesiredCount
	if r.SchedulingStrategy == schedulingDaemon && r.Status == statusActive {
		desired = r.DaemonDesired
	}
	dc := r.DeploymentConfiguration
	out := ecs.Service{
		ServiceArn: ecs.Ptr(r.ARN), ServiceName: ecs.Ptr(r.Name), ClusterArn: ecs.Ptr(r.ClusterARN),
		LoadBalancers: orEmpty(r.LoadBalancers), ServiceRegistries: orEmpty(r.ServiceRegistries), Status: ecs.Ptr(r.Status),
		DesiredCount: ecs.Ptr(int32(desired)), RunningCount: ecs.Ptr(int32(all.running)), PendingCount: ecs.Ptr(int32(all.pending)),
		LaunchType: ecs.LaunchType(r.LaunchType), CapacityProviderStrategy: r.CapacityProviderStrategy, PlatformVersion: strPtr(r.PlatformVersion),
		TaskDefinition: strPtr(r.TaskDefinitionARN), DeploymentConfiguration: &dc, Deployments: []ecs.Deployment{}, Events: []ecs.ServiceEvent{},
		RoleArn: strPtr(r.RoleARN), CreatedAt: ecs.NewTimestamp(r.CreatedAt), PlacementConstraints: orEmpty(r.PlacementConstraints),
		PlacementStrategy: orEmpty(r.PlacementStrategy), NetworkConfiguration: r.NetworkConfiguration,
		HealthCheckGracePeriodSeconds: r.HealthCheckGracePeriodSeconds, SchedulingStrategy: ecs.SchedulingStrategy(r.SchedulingStrategy),
		DeploymentController: &ecs.DeploymentController{Type: ecs.DeploymentControllerType(r.DeploymentController)},
		CreatedBy:            strPtr(r.CreatedBy), EnableECSManagedTags: ecs.Ptr(r.EnableECSManagedTags), PropagateTags: ecs.PropagateTags(r.PropagateTags),
		EnableExecuteCommand: ecs.Ptr(r.EnableExecuteCommand), AvailabilityZoneRebalancing: ecs.AvailabilityZoneRebalancing(r.AvailabilityZoneRebalancing),
	}
	if withTags {
		out.Tags = orEmpty(r.Tags)
	}
	for _, d := range r.Deployments {
		c := byStarter[d.ID]
		if c == nil {
			c = &starterCounts{}
		}
		want := d.DesiredCount
		if d.Status == deploymentPrimary {
			want = desired
		} else {
			want = c.live // an older deployment is drained down to nothing
		}
		out.Deployments = append(out.Deployments, ecs.Deployment{
			Id: ecs.Ptr(d.ID), Status: ecs.Ptr(d.Status), TaskDefinition: ecs.Ptr(d.TaskDefinitionARN),
			DesiredCount: ecs.Ptr(int32(want)), PendingCount: ecs.Ptr(int32(c.pending)), RunningCount: ecs.Ptr(int32(c.running)),
			FailedTasks: ecs.Ptr(int32(d.FailedTasks)), CreatedAt: ecs.NewTimestamp(d.CreatedAt), UpdatedAt: ecs.NewTimestamp(d.UpdatedAt),
			LaunchType: ecs.LaunchType(d.LaunchType), CapacityProviderStrategy: d.CapacityProviderStrategy, PlatformVersion: strPtr(d.PlatformVersion),
			NetworkConfiguration: d.NetworkConfiguration, RolloutState: ecs.DeploymentRolloutState(d.RolloutState), RolloutStateReason: ecs.Ptr(d.RolloutStateReason),
		})
		if d.Status == deploymentPrimary {
			out.CurrentServiceDeployment = ecs.Ptr(serviceDeploymentARN(sc, r, d.ID))
		}
	}
	for i := range r.TaskSets {
		out.TaskSets = append(out.TaskSets, taskSetView(r, &r.TaskSets[i], byStarter, withTags))
	}
	for _, e := range r.Events {
		out.Events = append(out.Events, ecs.ServiceEvent{Id: ecs.Ptr(e.ID), CreatedAt: ecs.NewTimestamp(e.CreatedAt), Message: ecs.Ptr(e.Message)})
	}
	return out
}

// serviceDeploymentARN names a deployment in the newer deployment APIs.
func serviceDeploymentARN(sc scope, r *serviceRecord, id string) string {
	return sc.arn("service-deployment/" + r.Cluster + "/" + r.Name + "/" + strings.TrimPrefix(id, "ecs-svc/"))
}
