package state

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestFirstFreeAddressSkipsWhatAWSReserves(t *testing.T) {
	r := netip.MustParsePrefix("10.224.5.0/24")
	used := map[netip.Addr]bool{}
	if a, _ := FirstFreeAddress(r, used); a.String() != "10.224.5.4" {
		t.Fatalf("first of an empty /24: %s", a)
	}
	used[netip.MustParseAddr("10.224.5.4")] = true
	if a, _ := FirstFreeAddress(r, used); a.String() != "10.224.5.5" {
		t.Fatalf("next: %s", a)
	}
	for i := 4; i <= 254; i++ {
		used[netip.AddrFrom4([4]byte{10, 224, 5, byte(i)})] = true
	}
	if a, ok := FirstFreeAddress(r, used); ok {
		t.Fatalf("a full /24 gave %s (the broadcast address is not a task's)", a)
	}
	if g := Gateway(r); g != "10.224.5.1/24" {
		t.Fatalf("gateway %s", g)
	}
}

func TestPickRangeChoosesAFreeRangeOfThePool(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pool := netip.MustParsePrefix("10.9.0.0/22") // four /24s
	taken := []netip.Prefix{netip.MustParsePrefix("10.9.0.0/24"), netip.MustParsePrefix("10.9.2.0/25")}
	seen := map[netip.Prefix]bool{}
	for range 50 {
		r, err := PickRange(pool, taken, rng)
		if err != nil {
			t.Fatal(err)
		}
		if r != netip.MustParsePrefix("10.9.1.0/24") && r != netip.MustParsePrefix("10.9.3.0/24") {
			t.Fatalf("picked %s, which is taken or outside %s", r, pool)
		}
		seen[r] = true
	}
	if len(seen) != 2 {
		t.Fatalf("never random: only %v", seen)
	}
	taken = append(taken, netip.MustParsePrefix("10.9.1.0/24"), netip.MustParsePrefix("10.9.3.0/24"))
	if r, err := PickRange(pool, taken, rng); err != ErrPoolExhausted {
		t.Fatalf("a full pool gave %s, %v", r, err)
	}
}

func TestAddressPoolValidation(t *testing.T) {
	pin := func(id, cidr string) map[string]netip.Prefix {
		return map[string]netip.Prefix{id: netip.MustParsePrefix(cidr)}
	}
	for _, tc := range []struct {
		name string
		pool AddressPool
		ok   bool
	}{
		{"the default", AddressPool{}, true},
		{"a pin outside the pool", AddressPool{Pinned: pin("subnet-a", "192.168.7.0/24")}, true},
		{"a pool smaller than a /24", AddressPool{Pool: netip.MustParsePrefix("10.0.0.0/25")}, false},
		{"a pool that is not a network address", AddressPool{Pool: netip.MustParsePrefix("10.0.0.1/16")}, false},
		{"an IPv6 pool", AddressPool{Pool: netip.MustParsePrefix("fd00::/64")}, false},
		{"a pin inside the pool", AddressPool{Pinned: pin("subnet-a", "10.224.9.0/24")}, false},
		{"a pin too small for a task", AddressPool{Pinned: pin("subnet-a", "192.168.7.0/30")}, false},
		{"overlapping pins", AddressPool{Pinned: map[string]netip.Prefix{"subnet-a": netip.MustParsePrefix("192.168.0.0/16"), "subnet-b": netip.MustParsePrefix("192.168.7.0/24")}}, false},
	} {
		if err := tc.pool.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
