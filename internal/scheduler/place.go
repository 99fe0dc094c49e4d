package scheduler

import (
	"container/heap"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
)

// Placement is one task put on an instance.
type Placement struct {
	Candidate *Candidate
	GPUs      []string // the ids of the GPUs the task holds
}

// Failure is an instance that could not take a task, and why.
type Failure struct {
	ARN    string
	Reason string
}

// Result is what a placement pass decided.
type Result struct {
	Placed   []Placement
	Failures []Failure // set when not every task could be placed
}

// Place puts up to count tasks of d on the candidates in one pass: the
// static filters run once per instance, and each task then costs about
// O(log n) rather than a scan of the cluster (see selector). With no
// strategy the choice is random, as for ECS's RunTask; the last tie is
// broken at random too. Each placement takes its resources from the
// candidate at once, so the next task sees them gone.
func Place(cands []*Candidate, d *Demand, count int, rng *rand.Rand) Result {
	var res Result
	p := &pass{d: d, rng: rng}
	for _, c := range cands {
		if d.CapacityProvider == "" || c.CapacityProvider == d.CapacityProvider {
			p.pool = append(p.pool, c)
		}
	}
	p.reasons = make([]string, len(p.pool))
	var feasible []int
	for i, c := range p.pool {
		if p.reasons[i] = firstFailure(staticFilters, c, d); p.reasons[i] == "" {
			feasible = append(feasible, i)
		}
	}
	strategies := d.Strategies
	if i := slices.IndexFunc(strategies, func(s Strategy) bool { return s.Type == Random }); i >= 0 {
		strategies = strategies[:i] // later strategies would order instances already in random order
	}
	tiebreak := newRandomRanker(len(p.pool), rng)
	sel := p.selector(feasible, strategies, tiebreak)
	for len(res.Placed) < count {
		i := sel.pick()
		if i < 0 {
			for i, c := range p.pool {
				res.Failures = append(res.Failures, Failure{ARN: c.ARN, Reason: p.reasons[i]})
			}
			break
		}
		res.Placed = append(res.Placed, take(p.pool[i], d))
		sel.placed(i)
	}
	return res
}

// pass is the state of one Place call.
type pass struct {
	d       *Demand
	rng     *rand.Rand
	pool    []*Candidate
	reasons []string // why each instance was refused
}

// A selector holds the feasible instances in the strategies' order. pick
// takes out the best one that can take the next task, or returns -1;
// placed puts it back after the task has been placed on it. An instance
// that fails a resource filter is dropped for the rest of the pass: in a
// pass resources only shrink, so it could never pass again.
type selector interface {
	pick() int
	placed(i int)
}

// selector builds the selector for the strategies. A leading spread over an
// attribute splits the instances into one bucket per value, each ordered by
// the remaining strategies: the bucket with the fewest tasks of the group
// goes first. Everything else is a heap keyed by the strategies.
func (p *pass) selector(members []int, strategies []Strategy, tiebreak *randomRanker) selector {
	if len(strategies) > 0 && strategies[0].Type == Spread && strings.HasPrefix(strategies[0].Field, "attribute:") {
		// Every instance's tasks count, feasible or not.
		b := &buckets{spread: newSpreadAttributeRanker(p.pool, strings.TrimPrefix(strategies[0].Field, "attribute:"), p.d.Group)}
		groups := make([][]int, len(b.spread.counts))
		for _, i := range members {
			n := b.spread.bucket[i]
			groups[n] = append(groups[n], i)
		}
		for _, g := range groups {
			b.children = append(b.children, p.selector(g, strategies[1:], tiebreak))
		}
		return b
	}
	h := &ranked{p: p, q: queue{}}
	for _, s := range strategies {
		h.rankers = append(h.rankers, newRanker(s, p.pool, p.d.Group, p.rng))
	}
	h.rankers = append(h.rankers, tiebreak)
	h.q.n = len(h.rankers)
	for _, i := range members {
		h.q.items = append(h.q.items, entry{i: i, key: h.keyOf(i)})
	}
	heap.Init(&h.q)
	return h
}

// buckets is a spread over an attribute's values.
type buckets struct {
	spread   *spreadAttributeRanker // the buckets and their tasks of the group
	children []selector             // by bucket
	order    []int
}

func (b *buckets) pick() int {
	b.order = b.order[:0]
	counts := b.spread.counts
	for n := range counts {
		b.order = append(b.order, n)
	}
	sort.SliceStable(b.order, func(x, y int) bool { return counts[b.order[x]] < counts[b.order[y]] })
	for _, n := range b.order {
		if i := b.children[n].pick(); i >= 0 {
			return i
		}
	}
	return -1
}

func (b *buckets) placed(i int) {
	b.spread.placed(i)
	b.children[b.spread.bucket[i]].placed(i)
}

// ranked orders instances by their keys under the strategies, in a heap.
// Only the chosen instance's key changes when a task is placed, except for a
// spread over an attribute below the first strategy, which worsens every
// instance sharing the value: so a popped entry's key is checked, and a
// stale one goes back in line at its true place.
type ranked struct {
	p       *pass
	rankers []ranker
	q       queue
}

func (h *ranked) keyOf(i int) key {
	var k key
	for n, r := range h.rankers {
		k[n] = r.key(i, h.p.d)
	}
	return k
}

func (h *ranked) pick() int {
	for h.q.Len() > 0 {
		e := heap.Pop(&h.q).(entry)
		if h.p.reasons[e.i] = firstFailure(taskFilters, h.p.pool[e.i], h.p.d); h.p.reasons[e.i] != "" {
			continue
		}
		if k := h.keyOf(e.i); k != e.key {
			heap.Push(&h.q, entry{i: e.i, key: k})
			continue
		}
		return e.i
	}
	return -1
}

func (h *ranked) placed(i int) {
	for _, r := range h.rankers {
		r.placed(i)
	}
	heap.Push(&h.q, entry{i: i, key: h.keyOf(i)})
}

type key [MaxStrategies + 1]int64

type entry struct {
	i   int // index in the pool
	key key
}

// queue is a min-heap of instances by their keys, compared in strategy order.
type queue struct {
	items []entry
	n     int // how many of the keys are in use
}

func (q *queue) Len() int { return len(q.items) }
func (q *queue) Less(a, b int) bool {
	x, y := &q.items[a].key, &q.items[b].key
	for k := range q.n {
		if x[k] != y[k] {
			return x[k] < y[k]
		}
	}
	return false
}
func (q *queue) Swap(a, b int) { q.items[a], q.items[b] = q.items[b], q.items[a] }
func (q *queue) Push(x any)    { q.items = append(q.items, x.(entry)) }
func (q *queue) Pop() any {
	e := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return e
}

// take gives a task c's resources.
func take(c *Candidate, d *Demand) Placement {
	c.CPU -= d.CPU
	c.Memory -= d.Memory
	c.DynamicPortsFree -= d.DynamicPorts
	// Clipped: the slices may share an array with the stored record.
	c.UsedPorts = append(slices.Clip(c.UsedPorts), d.Ports...)
	c.UsedUDP = append(slices.Clip(c.UsedUDP), d.PortsUDP...)
	pl := Placement{Candidate: c}
	if d.GPUs > 0 {
		pl.GPUs = append([]string(nil), c.FreeGPUs[:d.GPUs]...)
		c.FreeGPUs = c.FreeGPUs[d.GPUs:]
	}
	if !c.ownsGroups {
		c.Groups, c.ownsGroups = maps.Clone(c.Groups), true
		if c.Groups == nil {
			c.Groups = map[string]int{}
		}
	}
	c.Groups[d.Group]++
	c.Placed++
	return pl
}
