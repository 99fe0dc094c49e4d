package state

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Subnets are the address ranges awsvpc tasks take their addresses from.
// On AWS a subnet is EC2's; here a subnet id named in an awsvpcConfiguration
// is given a range of its own the first time it is seen (a /24 of the
// pool, or the range an operator pinned it to), and keeps it. Addresses are
// not kept in the subnet's record: an address is in use while a task that
// holds it is not STOPPED (TasksBySubnet), so stopping a task, whoever
// records it (its agent, the instances controller), frees its address with
// no second write to forget, and a crash frees nothing twice.

// Subnet is a subnet's range, as stored. Key: subnets/<account>/<region>/<subnet id>.
type Subnet struct {
	Schema int    `json:"schema"`
	ID     string `json:"id"`
	CIDR   string `json:"cidr"` // its range, e.g. 10.224.5.0/24
	// Allocations counts the addresses ever handed out. Every allocation
	// rewrites the record, guarded by the revision it read, so two servers
	// allocating from one subnet at once conflict and the later one
	// retries on a view that holds the other's task.
	Allocations int64     `json:"allocations"`
	CreatedAt   time.Time `json:"createdAt"`
}

const SubnetSchema = 1

// SubnetRangeClaim names the subnet that holds a range. Key:
// subnet-ranges/<account>/<region>/<range, "/" as "-">. It is created with
// the subnet, so two subnets first seen at once on two servers never get
// the same range.
type SubnetRangeClaim struct {
	Subnet string `json:"subnet"`
}

// Prefix returns the subnet's range.
func (s *Subnet) Prefix() (netip.Prefix, error) { return netip.ParsePrefix(s.CIDR) }

// SubnetKey is where a subnet's record lives.
func (sc Scope) SubnetKey(id string) string { return sc.Key(KindSubnet, id) }

// RangeClaimKey is where the claim on a range lives.
func (sc Scope) RangeClaimKey(p netip.Prefix) string {
	return sc.Key(KindSubnetRange, strings.ReplaceAll(p.String(), "/", "-"))
}

// DefaultAwsvpcPool is where subnets' ranges come from unless configured:
// 10.224.0.0/12 is 4,096 /24s, far from Docker's default bridge
// (172.17.0.0/16) and its default address pools (172.17-31, 192.168).
var DefaultAwsvpcPool = netip.MustParsePrefix("10.224.0.0/12")

// AddressPool is how subnets get their ranges: a random free /24 of Pool,
// unless Pinned names the subnet's range.
type AddressPool struct {
	Pool   netip.Prefix
	Pinned map[string]netip.Prefix // subnet id -> its range
}

// Subnet ranges are a /24 of the pool; a pinned one may be /16 to /29 (it
// must hold an address past the four AWS reserves and before the last).
const (
	poolRangeBits = 24
	minRangeBits  = 16
	maxRangeBits  = 29
)

// WithDefaults fills in the default pool.
func (p AddressPool) WithDefaults() AddressPool {
	if !p.Pool.IsValid() {
		p.Pool = DefaultAwsvpcPool
	}
	return p
}

// Validate checks a configured pool: IPv4, large enough for a /24, pins of
// a usable size outside the pool and apart from each other (so no range
// handed out ever overlaps another).
func (p AddressPool) Validate() error {
	p = p.WithDefaults()
	if !p.Pool.Addr().Is4() || p.Pool.Bits() > poolRangeBits || p.Pool.Masked() != p.Pool {
		return fmt.Errorf("awsvpc pool %s: want an IPv4 network of /%d or larger, e.g. %s", p.Pool, poolRangeBits, DefaultAwsvpcPool)
	}
	ids := make([]string, 0, len(p.Pinned))
	for id := range p.Pinned {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for i, id := range ids {
		r := p.Pinned[id]
		if !r.Addr().Is4() || r.Bits() < minRangeBits || r.Bits() > maxRangeBits || r.Masked() != r {
			return fmt.Errorf("subnet %s: range %s: want an IPv4 network from /%d to /%d", id, r, minRangeBits, maxRangeBits)
		}
		if r.Overlaps(p.Pool) {
			return fmt.Errorf("subnet %s: range %s overlaps the awsvpc pool %s; pin ranges outside it", id, r, p.Pool)
		}
		for _, other := range ids[:i] {
			if r.Overlaps(p.Pinned[other]) {
				return fmt.Errorf("subnets %s and %s: ranges %s and %s overlap", other, id, p.Pinned[other], r)
			}
		}
	}
	return nil
}

// ParseSubnetPin reads an operator's pin, subnet-id=a.b.c.d/n.
func ParseSubnetPin(s string) (string, netip.Prefix, error) {
	id, cidr, ok := strings.Cut(s, "=")
	if !ok || id == "" {
		return "", netip.Prefix{}, fmt.Errorf("want subnet-id=CIDR, e.g. subnet-abc=10.0.1.0/24: %q", s)
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", netip.Prefix{}, err
	}
	return id, p, nil
}

// ErrPoolExhausted: every /24 of the pool has been given to a subnet.
var ErrPoolExhausted = errors.New("the awsvpc address pool has no free range left")

// randomTries bounds the random probes for a free /24 before PickRange
// scans: a pool that is mostly free answers at once, a full one still ends.
const randomTries = 32

// PickRange chooses a free /24 of pool at random: not the next in order,
// so two Berths sharing a Docker Engine (two projects, two CI jobs) almost
// never pick the same one. taken are the ranges already held.
func PickRange(pool netip.Prefix, taken []netip.Prefix, rng *rand.Rand) (netip.Prefix, error) {
	n := uint32(1) << (poolRangeBits - pool.Bits())
	base := addrToU32(pool.Masked().Addr())
	at := func(i uint32) netip.Prefix { return netip.PrefixFrom(u32ToAddr(base+i<<8), poolRangeBits) }
	free := func(c netip.Prefix) bool {
		for _, t := range taken {
			if t.Overlaps(c) {
				return false
			}
		}
		return true
	}
	for range randomTries {
		if c := at(rng.Uint32N(n)); free(c) {
			return c, nil
		}
	}
	start := rng.Uint32N(n)
	for i := range n {
		if c := at((start + i) % n); free(c) {
			return c, nil
		}
	}
	return netip.Prefix{}, ErrPoolExhausted
}

// FirstFreeAddress is the lowest address of r that is not in use, from the
// fifth (AWS reserves the network address, the router, DNS and one more)
// to the one before the broadcast address.
func FirstFreeAddress(r netip.Prefix, used map[netip.Addr]bool) (netip.Addr, bool) {
	first := addrToU32(r.Masked().Addr())
	last := first | (1<<(32-r.Bits()) - 1)
	for a := first + 4; a < last; a++ {
		if ip := u32ToAddr(a); !used[ip] {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// Gateway is the range's router address, its first after the network's,
// with the range's prefix length, as the ACS payload carries it
// (subnetGatewayIpv4Address, e.g. 10.224.5.1/24).
func Gateway(r netip.Prefix) string {
	return netip.PrefixFrom(u32ToAddr(addrToU32(r.Masked().Addr())+1), r.Bits()).String()
}

func addrToU32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func u32ToAddr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
