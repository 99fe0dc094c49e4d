package placement

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// awsvpc tasks get their address when they are placed, in the transaction
// that creates them (docs/design-notes.md, "awsvpc"). An address is in use
// while a task holding it is not STOPPED; what keeps two placements (two
// clusters, two servers) from handing out one address is the subnet's
// record, which every allocation rewrites guarded by the revision it read.

// errNoAddress: none of a task's subnets has a free address (or a range
// could not be found for a new one). The task is not placed; the request
// gets a failure saying so.
type errNoAddress struct{ detail string }

func (e errNoAddress) Error() string { return e.detail }

// addresses is one placement attempt's allocation: the subnets it has read
// and what it has handed out of them.
type addresses struct {
	p       *placer
	sc      state.Scope
	subnets map[string]*subnetUse
}

type subnetUse struct {
	id        string
	obj       *store.Object // nil: first seen by this attempt, and created with its tasks
	rec       state.Subnet
	cidr      netip.Prefix
	used      map[netip.Addr]bool
	groups    map[string]int // tasks of each group holding an address here
	allocated bool
}

func (p *placer) newAddresses(sc state.Scope) *addresses {
	return &addresses{p: p, sc: sc, subnets: map[string]*subnetUse{}}
}

// allocate gives t an address on one of cfg's subnets: the one holding the
// fewest tasks of t's group (so a service spreads over its subnets as ECS
// spreads it over availability zones), the first listed among equals, and
// there the lowest free address.
func (a *addresses) allocate(t *state.Task, cfg *ecs.AwsVpcConfiguration) error {
	var best *subnetUse
	var addr netip.Addr
	var seen []string
	for _, id := range cfg.Subnets {
		if slices.Contains(seen, id) {
			continue
		}
		seen = append(seen, id)
		u, err := a.use(id)
		if err != nil {
			return err
		}
		if u == nil {
			continue
		}
		free, ok := state.FirstFreeAddress(u.cidr, u.used)
		if ok && (best == nil || u.groups[t.Group] < best.groups[t.Group]) {
			best, addr = u, free
		}
	}
	if best == nil {
		return errNoAddress{fmt.Sprintf("No free IPv4 address in subnets %s.", strings.Join(seen, ", "))}
	}
	best.used[addr] = true
	best.groups[t.Group]++
	best.allocated = true
	best.rec.Allocations++
	t.ENI = state.NewTaskENI(a.sc, best.id, best.cidr, addr, cfg.SecurityGroups)
	return nil
}

// use reads a subnet for this attempt: its record, then the addresses its
// live tasks hold. In that order: an allocation committed after the record
// was read rewrote it, so this attempt's write of it fails and is retried;
// one committed before is among the tasks read after. nil: the subnet is
// new and no range is left for it.
func (a *addresses) use(id string) (*subnetUse, error) {
	if u, ok := a.subnets[id]; ok {
		return u, nil
	}
	st := a.p.pl.state
	u := &subnetUse{id: id, used: map[netip.Addr]bool{}, groups: map[string]int{}}
	if o, ok := st.Store().Get(a.sc.SubnetKey(id)); ok {
		rec, err := state.Decode[state.Subnet](st, o)
		if err != nil {
			return nil, err
		}
		if u.cidr, err = rec.Prefix(); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", state.ErrCorrupt, o.Key, err)
		}
		u.obj, u.rec = o, *rec
	} else {
		r, err := a.newRange(id)
		if errors.Is(err, state.ErrPoolExhausted) {
			a.subnets[id] = nil
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		u.cidr = r
		u.rec = state.Subnet{Schema: state.SubnetSchema, ID: id, CIDR: r.String(), CreatedAt: a.p.pl.now().UTC()}
	}
	for _, o := range st.TasksBySubnet.ListUnordered(state.SubnetGroup(a.sc, id)) {
		t, err := state.Decode[state.Task](st, o)
		if err != nil {
			return nil, err
		}
		if ip, err := netip.ParseAddr(t.ENI.PrivateIPv4); err == nil {
			u.used[ip] = true
		}
		u.groups[t.Group]++
	}
	a.subnets[id] = u
	return u, nil
}

// newRange is the range a subnet seen for the first time gets: its pin, or
// a random /24 of the pool that no subnet of the scope holds.
func (a *addresses) newRange(id string) (netip.Prefix, error) {
	pool := a.p.pl.pool
	if r, ok := pool.Pinned[id]; ok {
		return r, nil
	}
	var taken []netip.Prefix
	for _, o := range a.p.pl.state.Store().List(a.sc.Prefix(state.KindSubnet), "", 0) {
		rec, err := state.Decode[state.Subnet](a.p.pl.state, o)
		if err != nil {
			return netip.Prefix{}, err
		}
		if r, err := rec.Prefix(); err == nil {
			taken = append(taken, r)
		}
	}
	for _, r := range pool.Pinned {
		taken = append(taken, r)
	}
	for _, u := range a.subnets {
		if u != nil && u.obj == nil {
			taken = append(taken, u.cidr)
		}
	}
	return state.PickRange(pool.Pool, taken, a.p.rng)
}

// ops are the attempt's subnet writes: a new subnet's record and the claim
// on its range, created (so a subnet or range taken meanwhile fails the
// attempt, which is retried), and every other subnet allocated from
// rewritten at the revision it was read.
func (a *addresses) ops() []store.Op {
	ids := make([]string, 0, len(a.subnets))
	for id, u := range a.subnets {
		if u != nil && u.allocated {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var ops []store.Op
	for _, id := range ids {
		u := a.subnets[id]
		if u.obj == nil {
			ops = append(ops, store.Create(a.sc.SubnetKey(id), &u.rec), store.Create(a.sc.RangeClaimKey(u.cidr), &state.SubnetRangeClaim{Subnet: id}))
			continue
		}
		ops = append(ops, store.Put(u.obj.Key, &u.rec, u.obj.Rev))
	}
	return ops
}
