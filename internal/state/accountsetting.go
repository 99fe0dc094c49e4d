package state

// AccountSetting is one explicitly set value.
type AccountSetting struct {
	Schema    int    `json:"schema"`
	Name      string `json:"name"`
	Value     string `json:"value"`
	Principal string `json:"principal"` // an IAM ARN; the root's for account defaults
}
