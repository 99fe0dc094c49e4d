package server

import "strings"

// Key layout: /berth/v1/<kind>/<account>/<region>/<name...>. The kind comes
// first so a controller can watch one kind across every account; account and
// region next, so a request only ever lists keys of its own scope.
const keyRoot = "/berth/v1/"

// The kinds of stored record.
const (
	kindCluster          = "clusters"          // <cluster name>
	kindTaskDef          = "taskdefs"          // <family>/<revision, 10 digits>
	kindTaskDefFamily    = "taskdef-families"  // <family>: the last revision number handed out
	kindInstance         = "instances"         // <cluster name>/<instance id>
	kindTask             = "tasks"             // <cluster name>/<task id>
	kindCapacityProvider = "capacityproviders" // <name>
	kindAccountSetting   = "accountsettings"   // <principal ARN or "account">/<setting name>
	kindService          = "services"          // <cluster name>/<service name>
)

// prefix is where every record of kind in this scope lives.
func (sc scope) prefix(kind string) string {
	return keyRoot + kind + "/" + sc.account + "/" + sc.region + "/"
}

// key is the key of one record of kind in this scope.
func (sc scope) key(kind string, parts ...string) string {
	return sc.prefix(kind) + strings.Join(parts, "/")
}
