package state

import "github.com/berth-project/berth/api/ecs"

// AccountSetting is one explicitly set value.
type AccountSetting struct {
	Schema    int    `json:"schema"`
	Name      string `json:"name"`
	Value     string `json:"value"`
	Principal string `json:"principal"` // an IAM ARN; the root's for account defaults
}

// LongARNFormat reports whether new resources of the kind the setting
// names (serviceLongArnFormat, taskLongArnFormat,
// containerInstanceLongArnFormat) get ECS's long ARN, which has the
// cluster in it: the account root's explicit value, else ECS's default,
// enabled. (Berth's callers act as the account root.)
func (s *State) LongARNFormat(sc Scope, setting ecs.SettingName) bool {
	o, found := s.store.Get(sc.SettingKey("arn:aws:iam::"+sc.Account+":root", setting))
	if !found {
		return true
	}
	rec, err := Decode[AccountSetting](s, o)
	return err != nil || rec.Value != "disabled"
}

// ResourceARN is the ARN of a resource of a cluster in ECS's long form
// (kind/cluster/id) or, for a resource created while its long ARN format
// was disabled, the short one (kind/id).
func (sc Scope) ResourceARN(kind, cluster, id string, long bool) string {
	if long {
		return sc.ARN(kind + "/" + cluster + "/" + id)
	}
	return sc.ARN(kind + "/" + id)
}
