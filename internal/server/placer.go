package server

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/scheduler"
	"github.com/berth-project/berth/internal/store"
)

// The placer runs the placements of one cluster one batch at a time. Calls
// that arrive while a batch is being placed wait and go together in the
// next: one read of the cluster, one scheduler pass per kind of task, one
// transaction. Instances are written back guarded by their revisions, so a
// batch placed at the same time by another server sharing the store
// conflicts and is placed again on fresh state: no instance is ever
// overcommitted.

// maxBatchTasks bounds a batch so its transaction (a write per task and per
// instance) stays within etcd's default limit of 128 operations.
const maxBatchTasks = 60

// placeRequest is one RunTask or StartTask waiting for placement.
type placeRequest struct {
	sc     state.Scope
	launch *taskLaunch
	parts  []launchPart
	only   []*placementInstance // StartTask: one task on each of these, by id
	count  int                  // tasks asked for, over all parts
	write  *recordWrite         // the service scheduler's record, written with the tasks

	// The outcome, set by the placer.
	tasks    []*state.Task
	failures []ecs.Failure
	err      error
	done     chan struct{}
}

// recordWrite is a record written in the same transaction as a request's
// tasks, guarded by the revision the request was decided on: the service
// scheduler's service record, with the events about the tasks it started.
// When that record has changed meanwhile, the request fails with errStale
// and places nothing: its decision was made on a state that is gone.
type recordWrite struct {
	key    string
	rev    int64
	record func(tasks []*state.Task, failures []ecs.Failure) any // called on every attempt; must not change shared state
}

// errStale: the state a service scheduler decision was made on has changed.
var errStale = errors.New("service changed since the decision")

// launchPart is a share of a RunTask's tasks: on one capacity provider, or
// with a launch type.
type launchPart struct {
	capacityProvider string // "" for a launch type
	launchType       string
	count            int
}

type placer struct {
	s       *Server
	cluster string
	// Only the batch goroutine (one at a time) uses these.
	rng   *rand.Rand
	cache map[string]*cachedCandidate // by instance key
	pass  uint64

	mu      sync.Mutex
	pending []*placeRequest
	running bool
}

// place queues req with the cluster's placer and waits for its outcome.
func (s *Server) place(ctx context.Context, req *placeRequest) error {
	key := req.sc.Account + "/" + req.sc.Region + "/" + req.launch.cluster.Name
	v, _ := s.placers.LoadOrStore(key, &placer{s: s, cluster: req.launch.cluster.Name, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))})
	p := v.(*placer)
	req.done = make(chan struct{})
	p.mu.Lock()
	p.pending = append(p.pending, req)
	if !p.running {
		p.running = true
		go p.run()
	}
	p.mu.Unlock()
	select {
	case <-req.done:
		return req.err
	case <-ctx.Done():
		// The batch may still commit: the tasks then exist, as they would
		// had the reply been lost on the way back.
		return ctx.Err()
	}
}

// run places batches until no call is waiting.
func (p *placer) run() {
	for {
		p.mu.Lock()
		n, tasks := 0, 0
		for n < len(p.pending) && (n == 0 || tasks+p.pending[n].count <= maxBatchTasks) {
			tasks += p.pending[n].count
			n++
		}
		batch := p.pending[:n:n]
		p.pending = p.pending[n:]
		if n == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		p.placeBatch(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

func (p *placer) placeBatch(batch []*placeRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := p.s
	sc := batch[0].sc
	err := s.update(ctx, func() ([]store.Op, error) {
		insts, err := p.candidates(sc)
		if err != nil {
			return nil, err
		}
		byID := map[string]*placementInstance{}
		for _, pi := range insts {
			byID[pi.rec.ID] = pi
		}
		var ops []store.Op
		for _, r := range batch {
			r.tasks, r.failures, r.err = nil, nil, nil
			if r.write != nil {
				if o, ok := s.store.Get(r.write.key); !ok || o.Rev != r.write.rev {
					r.err = errStale
					continue
				}
			}
			if r.only == nil && len(insts) == 0 {
				r.err = ecs.NewInvalidParameterException("No Container Instances were found in your cluster.")
			}
		}
		for _, g := range groupRequests(batch) {
			p.placeGroup(sc, g, insts, byID)
		}
		for _, r := range batch {
			for _, t := range r.tasks {
				ops = append(ops, store.Create(sc.Key(state.KindTask, t.Cluster, t.ID), t))
			}
			if r.write != nil && r.err == nil {
				ops = append(ops, store.Put(r.write.key, r.write.record(r.tasks, r.failures), r.write.rev))
			}
		}
		for _, pi := range insts {
			if pi.cand.Placed > 0 {
				ops = append(ops, store.Put(pi.obj.Key, pi.rec, pi.obj.Rev))
			}
		}
		return ops, nil
	})
	for _, r := range batch {
		if err != nil {
			r.tasks, r.failures, r.err = nil, nil, err
		}
	}
}

// requestGroup is the parts of a batch that ask for the same kind of task:
// one scheduler pass places them all, in the order they arrived.
type requestGroup struct {
	demand *scheduler.Demand
	items  []groupItem
}

type groupItem struct {
	req  *placeRequest
	part launchPart
}

// groupRequests gathers a batch's parts by what they ask for (task
// definition, overrides, group, rules, capacity provider). StartTask
// requests are placed on their own.
func groupRequests(batch []*placeRequest) []*requestGroup {
	var out []*requestGroup
	bySig := map[string]*requestGroup{}
	for _, r := range batch {
		if r.err != nil {
			continue
		}
		if r.only != nil {
			out = append(out, &requestGroup{demand: r.launch.demand(""), items: []groupItem{{req: r}}})
			continue
		}
		for _, part := range r.parts {
			sig := r.launch.signature(part)
			g := bySig[sig]
			if g == nil {
				g = &requestGroup{demand: r.launch.demand(part.capacityProvider)}
				bySig[sig] = g
				out = append(out, g)
			}
			g.items = append(g.items, groupItem{req: r, part: part})
		}
	}
	return out
}

// signature identifies the kind of task a part asks for.
func (l *taskLaunch) signature(part launchPart) string {
	b, _ := json.Marshal([]any{ecs.Val(l.def.TaskDefinitionArn), l.overrides, l.group, l.rules, part.capacityProvider, part.launchType})
	return string(b)
}

// placeGroup places one group's tasks and hands them out to its requests
// in order; the requests left short get the pass's failures.
func (p *placer) placeGroup(sc state.Scope, g *requestGroup, insts []*placementInstance, byID map[string]*placementInstance) {
	if first := g.items[0].req; first.only != nil {
		for _, pi := range first.only {
			cur := byID[pi.rec.ID]
			if cur == nil {
				first.failures = append(first.failures, ecs.Failure{Arn: ecs.Ptr(pi.rec.ARN), Reason: ecs.Ptr("MISSING")})
				continue
			}
			res := scheduler.Place([]*scheduler.Candidate{cur.cand}, g.demand, 1, p.rng)
			p.record(sc, first, launchPart{launchType: first.launch.launchType}, res, byID)
		}
		return
	}
	cands := make([]*scheduler.Candidate, 0, len(insts))
	for _, pi := range insts {
		// Capacity designated for Fargate takes only Fargate's tasks.
		if g.demand.CapacityProvider != "" || !state.IsBuiltInProvider(pi.rec.CapacityProviderName) {
			cands = append(cands, pi.cand)
		}
	}
	total := 0
	for _, it := range g.items {
		total += it.part.count
	}
	res := scheduler.Place(cands, g.demand, total, p.rng)
	for _, it := range g.items {
		n := min(it.part.count, len(res.Placed))
		share := scheduler.Result{Placed: res.Placed[:n]}
		res.Placed = res.Placed[n:]
		if n < it.part.count {
			share.Failures = res.Failures
		}
		p.record(sc, it.req, it.part, share, byID)
	}
}

// record turns a request's share of a pass into tasks, and takes their
// resources from the instances' records.
func (p *placer) record(sc state.Scope, r *placeRequest, part launchPart, res scheduler.Result, byID map[string]*placementInstance) {
	for _, pl := range res.Placed {
		pi := byID[pl.Candidate.ID]
		t := p.s.newTask(sc, r.launch, pi.rec)
		t.LaunchType = part.launchType
		t.CapacityProviderName = part.capacityProvider
		t.AssignGPUs(pl.GPUs)
		if !pi.copied {
			cp := *pi.rec // a private copy: the view's record is shared
			pi.rec, pi.copied = &cp, true
		}
		pi.rec.RemainingResources = state.Adjusted(pi.rec.RemainingResources, t.Needs, 1)
		pi.rec.Version++
		r.tasks = append(r.tasks, t)
	}
	seen := map[string]bool{}
	for _, f := range r.failures {
		seen[ecs.Val(f.Arn)] = true
	}
	for _, f := range res.Failures {
		if !seen[f.ARN] {
			seen[f.ARN] = true
			r.failures = append(r.failures, ecs.Failure{Arn: ecs.Ptr(f.ARN), Reason: ecs.Ptr(f.Reason)})
		}
	}
}
