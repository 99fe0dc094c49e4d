package state

import (
	"strings"

	"github.com/berth-project/berth/internal/store"
)

// Agent liveness. An instance record's AgentConnected says what the last
// server to hear of its agent wrote; a server that crashes writes nothing
// more, so that alone would show a dead agent connected for ever. The
// server holding an agent's ACS session therefore also keeps a liveness
// key for the instance, written in the same transaction that marks it
// connected and attached to an etcd lease that server keeps alive: when
// the server dies, etcd deletes the key within the lease's TTL, and the
// instances controller marks the instance disconnected.
//
// Key: agents/<account>/<region>/<cluster>/<instance id>. Both the key
// and the record name the session, so a key (or a record) written for one
// session is never taken as proof of another.

// AgentLiveness is the value of an instance's liveness key.
type AgentLiveness struct {
	Session string `json:"session"`          // the ACS session, as the instance's AgentSession
	Server  string `json:"server,omitempty"` // which server holds it, for whoever reads etcd
}

// AgentKey is the liveness key of an instance's agent.
func (sc Scope) AgentKey(cluster, instanceID string) string {
	return sc.Key(KindAgent, cluster, instanceID)
}

// AgentLive reads an instance's liveness key: the key's object (nil when
// absent) and whether it vouches for the session the record names. Read
// the instance record first and this after: a key newer than the record
// then never makes an older record look dead by mistake.
func (s *State) AgentLive(sc Scope, inst *Instance) (*store.Object, bool) {
	o, found := s.store.Get(sc.AgentKey(inst.Cluster, inst.ID))
	if !found {
		return nil, false
	}
	l, err := Decode[AgentLiveness](s, o)
	return o, err == nil && inst.AgentSession != "" && l.Session == inst.AgentSession
}

// InstanceKeyParts reads the scope, cluster and instance id out of an
// instance record's key, or of a TasksByInstance group name.
func InstanceKeyParts(key string) (sc Scope, cluster, id string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(key, Root+KindInstance+"/"), "/")
	if len(parts) != 4 {
		return Scope{}, "", "", false
	}
	return Scope{Account: parts[0], Region: parts[1]}, parts[2], parts[3], true
}
