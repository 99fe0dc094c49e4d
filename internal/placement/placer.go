package placement

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/scheduler"
	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// maxBatchTasks bounds a batch so its transaction (a write per task and per
// instance) stays within etcd's default limit of 128 operations.
const maxBatchTasks = 60

// placeRequest is one RunTask or StartTask waiting for placement.
type Request struct {
	Scope  state.Scope
	Launch *Launch
	Parts  []Part
	Only   []*Instance  // StartTask: one task on each of these, by id
	Count  int          // tasks asked for, over all parts
	Write  *RecordWrite // the service scheduler's record, written with the tasks

	// The outcome, set by the placer.
	Tasks    []*state.Task
	Failures []ecs.Failure
	Err      error
	done     chan struct{}
}

// recordWrite is a record written in the same transaction as a request's
// tasks, guarded by the revision the request was decided on: the service
// scheduler's service record, with the events about the tasks it started.
// When that record has changed meanwhile, the request fails with errStale
// and places nothing: its decision was made on a state that is gone.
type RecordWrite struct {
	Key    string
	Rev    int64
	Record func(tasks []*state.Task, failures []ecs.Failure) any // called on every attempt; must not change shared state
}

// ErrNoInstances: the cluster has no container instances at all, so
// nothing could be tried. Its text is ECS's message for it.
var ErrNoInstances = errors.New("No Container Instances were found in your cluster.")

// ErrStale: the state a service scheduler decision was made on has changed.
var ErrStale = errors.New("service changed since the decision")

// Placer places the tasks of every cluster: one queue per cluster, each
// placing its calls in batches. The ECS API (RunTask, StartTask) and the
// service scheduler place through the same Placer, so their tasks are
// batched together and never overcommit an instance.
type Placer struct {
	state   *state.State
	now     func() time.Time
	pool    state.AddressPool // where awsvpc subnets get their ranges
	placers sync.Map          // account/region/cluster -> *placer
}

// New returns a placer on st; now is the clock tasks are stamped with
// (time.Now when nil).
func New(st *state.State, now func() time.Time) *Placer {
	if now == nil {
		now = time.Now
	}
	return &Placer{state: st, now: now, pool: state.AddressPool{}.WithDefaults()}
}

// WithAddressPool sets where awsvpc subnets get their ranges (the default
// pool when pool has none); call it before placing.
func (pl *Placer) WithAddressPool(pool state.AddressPool) *Placer {
	pl.pool = pool.WithDefaults()
	return pl
}

type placer struct {
	pl      *Placer
	cluster string
	// Only the batch goroutine (one at a time) uses these.
	rng   *rand.Rand
	cache map[string]*cachedCandidate // by instance key
	pass  uint64
	addrs *addresses // the awsvpc addresses of the attempt under way

	mu      sync.Mutex
	pending []*Request
	running bool
}

// run places batches until no call is waiting.
func (p *placer) run() {
	for {
		p.mu.Lock()
		n, tasks := 0, 0
		for n < len(p.pending) && (n == 0 || tasks+p.pending[n].Count <= maxBatchTasks) {
			tasks += p.pending[n].Count
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

func (p *placer) placeBatch(batch []*Request) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pl := p.pl
	sc := batch[0].Scope
	_, err := pl.state.Store().Update(ctx, func() ([]store.Op, error) {
		insts, err := p.candidates(sc)
		if err != nil {
			return nil, err
		}
		byID := map[string]*Instance{}
		for _, pi := range insts {
			byID[pi.Rec.ID] = pi
		}
		var ops []store.Op
		p.addrs = p.newAddresses(sc)
		for _, r := range batch {
			r.Tasks, r.Failures, r.Err = nil, nil, nil
			if r.Write != nil {
				if o, ok := pl.state.Store().Get(r.Write.Key); !ok || o.Rev != r.Write.Rev {
					r.Err = ErrStale
					continue
				}
			}
			if r.Only == nil && noCapacity(r, insts) {
				r.Err = ErrNoInstances
			}
		}
		for _, g := range groupRequests(batch) {
			if err := p.placeGroup(sc, g, insts, byID); err != nil {
				return nil, err
			}
		}
		ops = append(ops, p.addrs.ops()...)
		for _, r := range batch {
			for _, t := range r.Tasks {
				ops = append(ops, store.Create(sc.Key(state.KindTask, t.Cluster, t.ID), t))
			}
			if r.Write != nil && r.Err == nil {
				ops = append(ops, store.Put(r.Write.Key, r.Write.Record(r.Tasks, r.Failures), r.Write.Rev))
			}
		}
		for _, pi := range insts {
			if pi.cand.Placed > 0 {
				ops = append(ops, store.Put(pi.Obj.Key, pi.Rec, pi.Obj.Rev))
			}
		}
		return ops, nil
	})
	for _, r := range batch {
		if err != nil {
			r.Tasks, r.Failures, r.Err = nil, nil, err
		}
	}
}

// requestGroup is the parts of a batch that ask for the same kind of task:
// one scheduler pass places them all, in the order they arrived.
type requestGroup struct {
	demand *scheduler.Demand
	part   Part    // what its parts share: launch type and capacity provider
	launch *Launch // the first request's launch (the same task definition for all)
	items  []groupItem
}

type groupItem struct {
	req  *Request
	part Part
}

// groupRequests gathers a batch's parts by what they ask for (task
// definition, overrides, group, rules, capacity provider). StartTask
// requests are placed on their own.
func groupRequests(batch []*Request) []*requestGroup {
	var out []*requestGroup
	bySig := map[string]*requestGroup{}
	for _, r := range batch {
		if r.Err != nil {
			continue
		}
		if r.Only != nil {
			out = append(out, &requestGroup{demand: r.Launch.Demand(""), items: []groupItem{{req: r}}})
			continue
		}
		for _, part := range r.Parts {
			sig := r.Launch.signature(part)
			g := bySig[sig]
			if g == nil {
				g = newGroup(r.Launch, part)
				bySig[sig] = g
				out = append(out, g)
			}
			g.items = append(g.items, groupItem{req: r, part: part})
		}
	}
	return out
}

// placeGroup places one group's tasks and hands them out to its requests
// in order; the requests left short get the pass's failures.
func (p *placer) placeGroup(sc state.Scope, g *requestGroup, insts []*Instance, byID map[string]*Instance) error {
	if first := g.items[0].req; first.Only != nil {
		for _, pi := range first.Only {
			cur := byID[pi.Rec.ID]
			if cur == nil {
				first.Failures = append(first.Failures, ecs.Failure{Arn: ecs.Ptr(pi.Rec.ARN), Reason: ecs.Ptr("MISSING")})
				continue
			}
			res := scheduler.Place([]*scheduler.Candidate{cur.cand}, g.demand, 1, p.rng)
			if err := p.record(sc, first, Part{LaunchType: first.Launch.LaunchType}, res, byID); err != nil {
				return err
			}
		}
		return nil
	}
	cands := make([]*scheduler.Candidate, 0, len(insts))
	for _, pi := range insts {
		// Each launch type lands on its own kind of capacity (launchtypes.go).
		if g.takes(pi.Rec) {
			cands = append(cands, pi.cand)
		}
	}
	total := 0
	for _, it := range g.items {
		total += it.part.Count
	}
	res := scheduler.Place(cands, g.demand, total, p.rng)
	for _, it := range g.items {
		n := min(it.part.Count, len(res.Placed))
		share := scheduler.Result{Placed: res.Placed[:n]}
		res.Placed = res.Placed[n:]
		if n < it.part.Count {
			share.Failures = g.failures(res)
		}
		if err := p.record(sc, it.req, it.part, share, byID); err != nil {
			return err
		}
	}
	return nil
}

// record turns a request's share of a pass into tasks, and takes their
// resources from the instances' records. An awsvpc task with no free
// address on its subnets is not placed: its request gets a failure.
func (p *placer) record(sc state.Scope, r *Request, part Part, res scheduler.Result, byID map[string]*Instance) error {
	for _, pl := range res.Placed {
		pi := byID[pl.Candidate.ID]
		t := p.pl.newTask(sc, r.Launch, pi.Rec)
		stampLaunch(t, r.Launch, part)
		if r.Launch.Network != nil {
			var none errNoAddress
			err := p.addrs.allocate(t, r.Launch.Network)
			if errors.As(err, &none) {
				if !slices.ContainsFunc(r.Failures, func(f ecs.Failure) bool { return ecs.Val(f.Arn) == pi.Rec.ARN }) {
					r.Failures = append(r.Failures, ecs.Failure{Arn: ecs.Ptr(pi.Rec.ARN), Reason: ecs.Ptr(ReasonNoAddress), Detail: ecs.Ptr(none.detail)})
				}
				continue
			}
			if err != nil {
				return err
			}
		}
		t.AssignGPUs(pl.GPUs)
		if !pi.copied {
			cp := *pi.Rec // a private copy: the view's record is shared
			pi.Rec, pi.copied = &cp, true
		}
		pi.Rec.RemainingResources = state.Adjusted(pi.Rec.RemainingResources, t.Needs, 1)
		pi.Rec.Version++
		r.Tasks = append(r.Tasks, t)
	}
	seen := map[string]bool{}
	for _, f := range r.Failures {
		seen[ecs.Val(f.Arn)] = true
	}
	for _, f := range res.Failures {
		if !seen[f.ARN] {
			seen[f.ARN] = true
			r.Failures = append(r.Failures, ecs.Failure{Arn: strOrNil(f.ARN), Reason: ecs.Ptr(f.Reason)})
		}
	}
	return nil
}

// ReasonNoAddress is the failure reason of an awsvpc task that found no
// free address on its subnets: ECS's reason for an instance without a free
// network interface, the nearest it has.
const ReasonNoAddress = "RESOURCE:ENI"

// Place queues req with the cluster's placer and waits for its outcome.
func (pl *Placer) Place(ctx context.Context, req *Request) error {
	key := req.Scope.Account + "/" + req.Scope.Region + "/" + req.Launch.Cluster.Name
	v, _ := pl.placers.LoadOrStore(key, &placer{pl: pl, cluster: req.Launch.Cluster.Name, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))})
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
		return req.Err
	case <-ctx.Done():
		// The batch may still commit: the tasks then exist, as they would
		// had the reply been lost on the way back.
		return ctx.Err()
	}
}

// strOrNil: nil for "", as a failure that names no resource shows no arn.
func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
