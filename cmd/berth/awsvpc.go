package main

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"

	"github.com/berth-project/berth/internal/state"
)

// subnetPins is --subnet, repeatable: subnet-id=CIDR.
type subnetPins map[string]netip.Prefix

func (p subnetPins) String() string {
	var parts []string
	for id, r := range p {
		parts = append(parts, id+"="+r.String())
	}
	return strings.Join(parts, ",")
}

func (p subnetPins) Set(s string) error {
	id, r, err := state.ParseSubnetPin(s)
	if err != nil {
		return err
	}
	if _, dup := p[id]; dup {
		return fmt.Errorf("subnet %s is pinned twice", id)
	}
	p[id] = r
	return nil
}

// awsvpcFlags adds --awsvpc-cidr and --subnet to fs; the function it
// returns reads them, once fs is parsed, as the address pool.
func awsvpcFlags(fs *flag.FlagSet) func() (state.AddressPool, error) {
	cidr := fs.String("awsvpc-cidr", envDefault("BERTH_AWSVPC_CIDR", state.DefaultAwsvpcPool.String()),
		"the pool awsvpc subnets get their address ranges from, a /24 each, chosen at random (BERTH_AWSVPC_CIDR)")
	pins := subnetPins{}
	fs.Var(pins, "subnet", "pin an awsvpc subnet to a range outside the pool, as subnet-id=CIDR (/16 to /29; repeatable); it applies when the subnet is first used")
	return func() (state.AddressPool, error) {
		pool, err := netip.ParsePrefix(*cidr)
		if err != nil {
			return state.AddressPool{}, fmt.Errorf("--awsvpc-cidr: %v", err)
		}
		p := state.AddressPool{Pool: pool, Pinned: pins}
		if err := p.Validate(); err != nil {
			return state.AddressPool{}, err
		}
		return p, nil
	}
}
