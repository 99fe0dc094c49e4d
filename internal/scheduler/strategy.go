package scheduler

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// StrategyType names a placement strategy.
type StrategyType string

const (
	Binpack StrategyType = "binpack"
	Spread  StrategyType = "spread"
	Random  StrategyType = "random"
)

// Strategy is one placement strategy: best effort, applied in order, each
// breaking the ties of the one before.
type Strategy struct {
	Type  StrategyType
	Field string
}

// MaxStrategies is ECS's limit of strategies on one call.
const MaxStrategies = 5

// CheckStrategy says what is wrong with a strategy, as ECS's
// InvalidParameterException would, or returns nil.
func CheckStrategy(s Strategy) error {
	switch s.Type {
	case Binpack:
		if f := strings.ToLower(s.Field); f != "cpu" && f != "memory" {
			return fmt.Errorf("Invalid field for binpack strategy: %q. Valid fields are cpu and memory.", s.Field)
		}
	case Spread:
		if s.Field == "" {
			return fmt.Errorf("The field is required for the spread placement strategy.")
		}
		if s.Field != "instanceId" && s.Field != "host" && !strings.HasPrefix(s.Field, "attribute:") {
			return fmt.Errorf("Invalid field for spread strategy: %q. Valid fields are instanceId, host and attribute:<name>.", s.Field)
		}
	case Random:
	default:
		return fmt.Errorf("Invalid placement strategy type: %q.", s.Type)
	}
	return nil
}

// A ranker orders the feasible instances for one strategy: the lower the
// key, the better the instance. It is told of each placement, for the
// strategies that count. A placement may only raise (worsen) the keys of
// the instances that did not take the task: Place relies on it.
type ranker interface {
	key(i int, d *Demand) int64
	placed(i int)
}

func newRanker(s Strategy, pool []*Candidate, group string, rng *rand.Rand) ranker {
	switch s.Type {
	case Binpack:
		return binpackRanker{pool: pool, memory: strings.EqualFold(s.Field, "memory")}
	case Spread:
		if s.Field == "instanceId" || s.Field == "host" {
			return spreadInstanceRanker{pool: pool, group: group}
		}
		return newSpreadAttributeRanker(pool, strings.TrimPrefix(s.Field, "attribute:"), group)
	}
	return newRandomRanker(len(pool), rng)
}

// binpackRanker prefers the instance left with the least of the resource
// after the task: the fullest one that still fits.
type binpackRanker struct {
	pool   []*Candidate
	memory bool
}

func (b binpackRanker) key(i int, d *Demand) int64 {
	if b.memory {
		return b.pool[i].Memory - d.Memory
	}
	return b.pool[i].CPU - d.CPU
}
func (binpackRanker) placed(int) {}

// spreadInstanceRanker prefers the instance with the fewest tasks of the group.
type spreadInstanceRanker struct {
	pool  []*Candidate
	group string
}

func (s spreadInstanceRanker) key(i int, _ *Demand) int64 { return int64(s.pool[i].Groups[s.group]) }
func (spreadInstanceRanker) placed(int)                   {}

// spreadAttributeRanker prefers instances whose value of the attribute has
// the fewest tasks of the group across the cluster. Instances without the
// attribute share one bucket.
type spreadAttributeRanker struct {
	bucket []int   // by pool index
	counts []int64 // tasks of the group, by bucket
}

func newSpreadAttributeRanker(pool []*Candidate, name, group string) *spreadAttributeRanker {
	r := &spreadAttributeRanker{bucket: make([]int, len(pool))}
	index := map[string]int{}
	for i, c := range pool {
		v := c.Attributes[name]
		b, ok := index[v]
		if !ok {
			b = len(r.counts)
			index[v] = b
			r.counts = append(r.counts, 0)
		}
		r.bucket[i] = b
		if len(c.Groups) > 0 {
			r.counts[b] += int64(c.Groups[group])
		}
	}
	return r
}

func (s *spreadAttributeRanker) key(i int, _ *Demand) int64 { return s.counts[s.bucket[i]] }
func (s *spreadAttributeRanker) placed(i int)               { s.counts[s.bucket[i]]++ }

// randomRanker gives every instance a random rank, drawn again for an
// instance each time it takes a task.
type randomRanker struct {
	rng  *rand.Rand
	rank []int64
}

func newRandomRanker(n int, rng *rand.Rand) *randomRanker {
	r := &randomRanker{rng: rng, rank: make([]int64, n)}
	for i := range r.rank {
		r.rank[i] = rng.Int64()
	}
	return r
}

func (r *randomRanker) key(i int, _ *Demand) int64 { return r.rank[i] }
func (r *randomRanker) placed(i int)               { r.rank[i] = r.rng.Int64() }
