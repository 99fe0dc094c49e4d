package acs

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/api/ecs"
)

// The part of a container definition that travels to the agent as Docker
// Engine API JSON (dockerConfig.config and dockerConfig.hostConfig), which
// the agent lays over the configuration it computes itself. The structs
// carry Docker's member names; empty members are left out.

type dockerContainerConfig struct {
	User        string             `json:"User,omitempty"`
	WorkingDir  string             `json:"WorkingDir,omitempty"`
	Hostname    string             `json:"Hostname,omitempty"`
	Labels      map[string]string  `json:"Labels,omitempty"`
	Tty         bool               `json:"Tty,omitempty"`
	OpenStdin   bool               `json:"OpenStdin,omitempty"`
	Healthcheck *dockerHealthcheck `json:"Healthcheck,omitempty"`
}

type dockerHealthcheck struct {
	Test        []string      `json:"Test"`
	Interval    time.Duration `json:"Interval"` // nanoseconds, as Docker's API counts
	Timeout     time.Duration `json:"Timeout"`
	StartPeriod time.Duration `json:"StartPeriod"`
	Retries     int           `json:"Retries"`
}

type dockerHostConfig struct {
	MemoryReservation int64             `json:"MemoryReservation,omitempty"` // bytes
	LogConfig         *dockerLogConfig  `json:"LogConfig,omitempty"`
	DNS               []string          `json:"Dns,omitempty"`
	DNSSearch         []string          `json:"DnsSearch,omitempty"`
	ExtraHosts        []string          `json:"ExtraHosts,omitempty"`
	Ulimits           []dockerUlimit    `json:"Ulimits,omitempty"`
	ReadonlyRootfs    bool              `json:"ReadonlyRootfs,omitempty"`
	Sysctls           map[string]string `json:"Sysctls,omitempty"`
	Tmpfs             map[string]string `json:"Tmpfs,omitempty"`
	SecurityOpt       []string          `json:"SecurityOpt,omitempty"`
}

type dockerLogConfig struct {
	Type   string            `json:"Type"`
	Config map[string]string `json:"Config,omitempty"`
}

type dockerUlimit struct {
	Name string `json:"Name"`
	Soft int64  `json:"Soft"`
	Hard int64  `json:"Hard"`
}

// ECS's health check defaults, in seconds (retries a count).
const (
	defaultHealthInterval = 30
	defaultHealthTimeout  = 5
	defaultHealthRetries  = 3
)

func seconds(v *int32, def int32) time.Duration {
	if v == nil {
		return time.Duration(def) * time.Second
	}
	return time.Duration(*v) * time.Second
}

func dockerConfig(c ecs.ContainerDefinition, reservation *int32) (config, hostConfig string, err error) {
	cfg := dockerContainerConfig{
		User:       ecs.Val(c.User),
		WorkingDir: ecs.Val(c.WorkingDirectory),
		Hostname:   ecs.Val(c.Hostname),
		Labels:     c.DockerLabels,
		Tty:        ecs.Val(c.PseudoTerminal),
		OpenStdin:  ecs.Val(c.Interactive),
	}
	if h := c.HealthCheck; h != nil {
		cfg.Healthcheck = &dockerHealthcheck{
			Test:        h.Command,
			Interval:    seconds(h.Interval, defaultHealthInterval),
			Timeout:     seconds(h.Timeout, defaultHealthTimeout),
			StartPeriod: seconds(h.StartPeriod, 0),
			Retries:     int(ecs.Val(h.Retries)),
		}
		if h.Retries == nil {
			cfg.Healthcheck.Retries = defaultHealthRetries
		}
	}
	host := dockerHostConfig{
		DNS:            c.DnsServers,
		DNSSearch:      c.DnsSearchDomains,
		ReadonlyRootfs: ecs.Val(c.ReadonlyRootFilesystem),
		SecurityOpt:    c.DockerSecurityOptions,
	}
	if reservation != nil {
		host.MemoryReservation = int64(*reservation) << 20
	}
	if lc := c.LogConfiguration; lc != nil {
		host.LogConfig = &dockerLogConfig{Type: string(lc.LogDriver), Config: lc.Options}
	}
	for _, e := range c.ExtraHosts {
		host.ExtraHosts = append(host.ExtraHosts, ecs.Val(e.Hostname)+":"+ecs.Val(e.IpAddress))
	}
	for _, u := range c.Ulimits {
		host.Ulimits = append(host.Ulimits, dockerUlimit{Name: string(u.Name), Soft: int64(ecs.Val(u.SoftLimit)), Hard: int64(ecs.Val(u.HardLimit))})
	}
	for _, sc := range c.SystemControls {
		if host.Sysctls == nil {
			host.Sysctls = map[string]string{}
		}
		host.Sysctls[ecs.Val(sc.Namespace)] = ecs.Val(sc.Value)
	}
	if lp := c.LinuxParameters; lp != nil {
		for _, t := range lp.Tmpfs {
			if host.Tmpfs == nil {
				host.Tmpfs = map[string]string{}
			}
			opts := append(append([]string(nil), t.MountOptions...), "size="+strconv.Itoa(int(ecs.Val(t.Size)))+"m")
			host.Tmpfs[ecs.Val(t.ContainerPath)] = strings.Join(opts, ",")
		}
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return "", "", err
	}
	hostJSON, err := json.Marshal(host)
	if err != nil {
		return "", "", err
	}
	return string(cfgJSON), string(hostJSON), nil
}
