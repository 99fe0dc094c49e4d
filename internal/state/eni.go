package state

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/berth-project/berth/internal/store"
)

// An awsvpc task's elastic network interface, as ECS shows it: an
// attachment of type ElasticNetworkInterface, made (PRECREATED) when the
// task is placed, ATTACHED once its agent has built the task's network,
// DETACHED once the agent has taken it down (or the task was recorded
// STOPPED without its agent: a lost instance).

// The attachment statuses Berth uses, ECS's names.
const (
	AttachmentPrecreated = "PRECREATED"
	AttachmentAttached   = "ATTACHED"
	AttachmentDetached   = "DETACHED"
)

// AttachmentTypeENI is the type of a task's network interface attachment.
const AttachmentTypeENI = "ElasticNetworkInterface"

// TaskENI is an awsvpc task's network interface, as stored on the task.
type TaskENI struct {
	AttachmentID   string   `json:"attachmentId"` // a UUID, the last part of the attachment's ARN
	Status         string   `json:"status"`
	SubnetID       string   `json:"subnetId"`
	SubnetCIDR     string   `json:"subnetCidr"` // the subnet's range: the agent's bridge, the gateway's prefix length
	ID             string   `json:"id"`         // eni-<17 hex digits>
	MAC            string   `json:"mac"`
	PrivateDNSName string   `json:"privateDnsName"`
	PrivateIPv4    string   `json:"privateIpv4"`
	SecurityGroups []string `json:"securityGroups,omitempty"` // kept and shown, not enforced
}

// NewTaskENI makes the interface of a task given addr on subnet.
func NewTaskENI(sc Scope, subnet string, r netip.Prefix, addr netip.Addr, securityGroups []string) *TaskENI {
	return &TaskENI{
		AttachmentID: uuid.NewString(), Status: AttachmentPrecreated,
		SubnetID: subnet, SubnetCIDR: r.String(),
		ID: "eni-" + randomHex(9)[:17], MAC: newMAC(),
		PrivateDNSName: PrivateDNSName(sc.Region, addr), PrivateIPv4: addr.String(),
		SecurityGroups: securityGroups,
	}
}

// AttachmentARN is the ARN of the interface's attachment, which agents
// report its state by.
func (sc Scope) AttachmentARN(id string) string { return sc.ARN("attachment/" + id) }

// PrivateDNSName is EC2's name for a private address: ip-10-0-1-5.ec2.internal
// in us-east-1, ip-10-0-1-5.<region>.compute.internal elsewhere.
func PrivateDNSName(region string, addr netip.Addr) string {
	host := "ip-" + strings.ReplaceAll(addr.String(), ".", "-")
	if region == "us-east-1" {
		return host + ".ec2.internal"
	}
	return host + "." + region + ".compute.internal"
}

// newMAC is a random unicast, locally administered address (02:…), as EC2
// gives its interfaces, so it never collides with a vendor's.
func newMAC() string {
	b := make([]byte, 5)
	rand.Read(b)
	parts := []string{"02"}
	for _, x := range b {
		parts = append(parts, fmt.Sprintf("%02x", x))
	}
	return strings.Join(parts, ":")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ApplyAttachmentChange records what a task's agent reports of its
// interface: ATTACHED moves a PROVISIONING task to PENDING, DETACHED ends a
// DEPROVISIONING task STOPPED (giving its address and resources back). A
// report that moves nothing forward changes nothing.
func ApplyAttachmentChange(t *Task, status string, now time.Time, ic *InstanceChange) bool {
	e := t.ENI
	if e == nil {
		return false
	}
	switch status {
	case AttachmentAttached:
		if e.Status != AttachmentPrecreated {
			return false
		}
		e.Status = AttachmentAttached
		if t.LastStatus == "PROVISIONING" {
			AdvanceTask(t, "PENDING", "", now, ic)
		}
		return true
	case AttachmentDetached:
		if e.Status == AttachmentDetached {
			return false
		}
		e.Status = AttachmentDetached
		if t.LastStatus == "DEPROVISIONING" {
			AdvanceTask(t, "STOPPED", t.StoppedReason, now, ic)
		}
		return true
	}
	return false
}

// ReportedStatus is the status an agent's report of status moves the task
// to: STOPPED while its interface is still attached is DEPROVISIONING, its
// containers stopped and its network still to be taken down; the agent's
// DETACHED ends it.
func ReportedStatus(t *Task, status string) string {
	if status == "STOPPED" && t.ENI != nil && t.ENI.Status == AttachmentAttached {
		return "DEPROVISIONING"
	}
	return status
}

// indexTasksBySubnet keeps, for every subnet, the tasks that hold one of
// its addresses: every task with an interface there that is not STOPPED.
// Group: <account>/<region>/<subnet id>.
func indexTasksBySubnet(st *store.Store) *store.Index {
	return indexLiveENIs(st, func(e *TaskENI) string { return e.SubnetID })
}

// indexTasksByAttachment finds a task by its attachment, which is all an
// agent's SubmitAttachmentStateChanges names. Group: <account>/<region>/<attachment id>.
func indexTasksByAttachment(st *store.Store) *store.Index {
	return indexLiveENIs(st, func(e *TaskENI) string { return e.AttachmentID })
}

func indexLiveENIs(st *store.Store, by func(*TaskENI) string) *store.Index {
	prefix := Root + KindTask + "/"
	return st.AddIndex(prefix, func(o *store.Object) string {
		t, err := store.Decode[Task](o)
		if err != nil || t.ENI == nil || t.LastStatus == "STOPPED" {
			return ""
		}
		parts := strings.SplitN(strings.TrimPrefix(o.Key, prefix), "/", 3)
		if len(parts) < 3 {
			return ""
		}
		return parts[0] + "/" + parts[1] + "/" + by(t.ENI)
	})
}

// SubnetGroup names a subnet in the TasksBySubnet index.
func SubnetGroup(sc Scope, subnet string) string { return sc.Account + "/" + sc.Region + "/" + subnet }

// TaskByAttachment finds the live task whose interface's attachment has
// the ARN (or bare id) ref, in the cluster; nil for none.
func (s *State) TaskByAttachment(sc Scope, cluster, ref string) (*store.Object, *Task, error) {
	id := ref
	if i := strings.LastIndex(ref, "attachment/"); i >= 0 {
		if ref != sc.AttachmentARN(ref[i+len("attachment/"):]) {
			return nil, nil, nil // another account's or region's
		}
		id = ref[i+len("attachment/"):]
	}
	for _, o := range s.TasksByAttachment.ListUnordered(sc.Account + "/" + sc.Region + "/" + id) {
		t, err := Decode[Task](s, o)
		if err != nil {
			return nil, nil, err
		}
		if t.Cluster == cluster {
			return o, t, nil
		}
	}
	return nil, nil, nil
}
