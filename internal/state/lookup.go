package state

import (
	"strings"

	"github.com/berth-project/berth/internal/store"
)

// Cluster looks a cluster up by name or ARN; a nil record means none.
func (s *State) Cluster(sc Scope, ref string) (*store.Object, *Cluster, error) {
	name, ok := ClusterNameFrom(sc, ref)
	if !ok {
		return nil, nil, nil
	}
	o, found := s.store.Get(sc.Key(KindCluster, name))
	if !found {
		return nil, nil, nil
	}
	c, err := Decode[Cluster](s, o)
	if err != nil {
		return nil, nil, err
	}
	return o, c, nil
}

// Instance looks a container instance up in a cluster; nil means none.
func (s *State) Instance(sc Scope, cluster, ref string) (*store.Object, *Instance, error) {
	id, ok := InstanceIDFrom(sc, cluster, ref)
	if !ok {
		return nil, nil, nil
	}
	o, found := s.store.Get(sc.Key(KindInstance, cluster, id))
	if !found {
		return nil, nil, nil
	}
	r, err := Decode[Instance](s, o)
	if err != nil {
		return nil, nil, err
	}
	return o, r, nil
}

// Task looks a task up in a cluster; a nil record means none.
func (s *State) Task(sc Scope, cluster, ref string) (*store.Object, *Task, error) {
	id, ok := TaskIDFrom(sc, cluster, ref)
	if !ok {
		return nil, nil, nil
	}
	o, found := s.store.Get(sc.Key(KindTask, cluster, id))
	if !found {
		return nil, nil, nil
	}
	t, err := Decode[Task](s, o)
	return o, t, err
}

// ClusterTasks lists the tasks of a cluster that keep accepts (nil: all).
func (s *State) ClusterTasks(sc Scope, cluster string, keep func(*Task) bool) []*Task {
	var out []*Task
	for _, o := range s.store.List(sc.Prefix(KindTask)+cluster+"/", "", 0) {
		t, err := Decode[Task](s, o)
		if err == nil && (keep == nil || keep(t)) {
			out = append(out, t)
		}
	}
	return out
}

// Service looks a service up in a cluster; a nil record means none.
func (s *State) Service(sc Scope, cluster, ref string) (*store.Object, *Service, error) {
	name, ok := ServiceNameFrom(sc, cluster, ref)
	if !ok {
		return nil, nil, nil
	}
	o, found := s.store.Get(sc.Key(KindService, cluster, name))
	if !found {
		return nil, nil, nil
	}
	r, err := Decode[Service](s, o)
	if err != nil {
		return nil, nil, err
	}
	return o, r, nil
}

// ServiceTasks returns the service's tasks the scheduler looks at.
func (s *State) ServiceTasks(sc Scope, cluster, name string) []ServiceTask {
	objs := s.TasksByService.List(ServiceGroup(sc, cluster, name))
	out := make([]ServiceTask, 0, len(objs))
	for _, o := range objs {
		if t, err := Decode[Task](s, o); err == nil {
			out = append(out, ServiceTask{Obj: o, Rec: t})
		}
	}
	return out
}

// indexTasksByService keeps, for every service, its tasks that the service
// scheduler still has to look at: those not STOPPED, and STOPPED ones it
// has not yet counted.
func indexTasksByService(st *store.Store) *store.Index {
	prefix := Root + KindTask + "/"
	return st.AddIndex(prefix, func(o *store.Object) string {
		t, err := store.Decode[Task](o)
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

// TaskDef resolves a reference to a stored revision; nil when there is
// none. A bare family resolves to its latest ACTIVE revision.
func (s *State) TaskDef(sc Scope, ref string) (*store.Object, *TaskDef, error) {
	r, ok := ParseTaskDefRef(sc, ref)
	if !ok {
		return nil, nil, nil
	}
	if r.Revision > 0 {
		o, found := s.store.Get(sc.Key(KindTaskDef, r.Family, RevisionKey(r.Revision)))
		if !found {
			return nil, nil, nil
		}
		td, err := Decode[TaskDef](s, o)
		return o, td, err
	}
	fo, found := s.store.Get(sc.Key(KindTaskDefFamily, r.Family))
	if !found {
		return nil, nil, nil
	}
	fam, err := Decode[TaskDefFamily](s, fo)
	if err != nil || fam.LatestActive == 0 {
		return nil, nil, err
	}
	o, found := s.store.Get(sc.Key(KindTaskDef, r.Family, RevisionKey(fam.LatestActive)))
	if !found {
		return nil, nil, nil
	}
	td, err := Decode[TaskDef](s, o)
	return o, td, err
}

func (s *State) Provider(sc Scope, name string) (*store.Object, *CapacityProvider, error) {
	o, found := s.store.Get(sc.Key(KindCapacityProvider, name))
	if !found {
		return nil, nil, nil
	}
	p, err := Decode[CapacityProvider](s, o)
	return o, p, err
}

// TasksOn returns the tasks on an instance not yet reported STOPPED.
func (s *State) TasksOn(sc Scope, cluster, instanceID string) []*Task {
	objs := s.TasksByInstance.List(InstanceGroup(sc, cluster, instanceID))
	out := make([]*Task, 0, len(objs))
	for _, o := range objs {
		if t, err := Decode[Task](s, o); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// InstanceGroup names an instance in the index of tasks by instance.
func InstanceGroup(sc Scope, cluster, instanceID string) string {
	return sc.Account + "/" + sc.Region + "/" + cluster + "/" + instanceID
}

// indexTasksByInstance keeps, for every instance, the tasks on it that its
// agent has not yet reported STOPPED: what the agent must be told of, and
// what placement counts.
func indexTasksByInstance(st *store.Store) *store.Index {
	prefix := Root + KindTask + "/"
	return st.AddIndex(prefix, func(o *store.Object) string {
		t, err := store.Decode[Task](o)
		if err != nil || t.LastStatus == "STOPPED" {
			return ""
		}
		// The key holds the scope: tasks/<account>/<region>/<cluster>/<id>.
		parts := strings.SplitN(strings.TrimPrefix(o.Key, prefix), "/", 3)
		if len(parts) < 3 {
			return ""
		}
		return parts[0] + "/" + parts[1] + "/" + t.Cluster + "/" + t.InstanceID
	})
}
