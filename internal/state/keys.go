package state

import (
	"net/url"
	"strings"

	"github.com/berth-project/berth/api/ecs"
)

// Scope is the account and region a request acts in; every resource belongs
// to exactly one, and one account never sees another's.
type Scope struct {
	Account, Region string
}

// ARN builds an ECS ARN in this scope, e.g. ARN("cluster/default").
func (sc Scope) ARN(resource string) string {
	return "arn:aws:ecs:" + sc.Region + ":" + sc.Account + ":" + resource
}

// Key layout: /berth/v1/<kind>/<account>/<region>/<name...>. The kind comes
// first so a controller can watch one kind across every account; account and
// region next, so a request only ever lists keys of its own scope.
const Root = "/berth/v1/"

// The kinds of stored record.
const (
	KindCluster          = "clusters"          // <cluster name>
	KindTaskDef          = "taskdefs"          // <family>/<revision, 10 digits>
	KindTaskDefFamily    = "taskdef-families"  // <family>: the last revision number handed out
	KindInstance         = "instances"         // <cluster name>/<instance id>
	KindTask             = "tasks"             // <cluster name>/<task id>
	KindCapacityProvider = "capacityproviders" // <name>
	KindAccountSetting   = "accountsettings"   // <principal ARN or "account">/<setting name>
	KindService          = "services"          // <cluster name>/<service name>
	KindAgent            = "agents"            // <cluster name>/<instance id>: its agent's liveness, on a lease (liveness.go)
	KindQuotaGuard       = "quota-guards"      // <what is counted>: rewritten by each creation a scope-wide quota counts (quota.go)
	KindSubnet           = "subnets"           // <subnet id>: the address range awsvpc tasks there take addresses from (subnet.go)
	KindSubnetRange      = "subnet-ranges"     // <range>: the subnet holding it, so no range is given twice
	KindParameter        = "ssm-parameters"    // <SSM parameter name, "/" of a hierarchy included>: its versions, values sealed (parameter.go)
)

// Prefix is where every record of kind in this scope lives.
func (sc Scope) Prefix(kind string) string {
	return Root + kind + "/" + sc.Account + "/" + sc.Region + "/"
}

// Key is the key of one record of kind in this scope.
func (sc Scope) Key(kind string, parts ...string) string {
	return sc.Prefix(kind) + strings.Join(parts, "/")
}

// SettingKey is the key of an account setting of a principal.
func (sc Scope) SettingKey(principal string, name ecs.SettingName) string {
	return sc.Key(KindAccountSetting, url.PathEscape(principal), string(name))
}
