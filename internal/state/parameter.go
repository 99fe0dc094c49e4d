package state

import (
	"strconv"
	"strings"
	"time"
)

// Parameter is an SSM Parameter Store parameter as stored: its name and its
// versions, oldest first. Values are never stored in the clear: Sealed is
// the value sealed by internal/seal under the context SealContext names.
type Parameter struct {
	Schema   int                `json:"schema"`
	Name     string             `json:"name"`
	Versions []ParameterVersion `json:"versions"`
}

// ParameterSchema is the version of the Parameter record layout.
const ParameterSchema = 1

// ParameterVersion is one version of a parameter, as PutParameter wrote it.
type ParameterVersion struct {
	Version          int64     `json:"version"`
	Type             string    `json:"type"` // String, StringList or SecureString
	Sealed           string    `json:"sealed"`
	Description      string    `json:"description,omitempty"`
	AllowedPattern   string    `json:"allowedPattern,omitempty"`
	DataType         string    `json:"dataType"`
	Tier             string    `json:"tier"`
	KeyID            string    `json:"keyId,omitempty"` // SecureString only
	LastModified     time.Time `json:"lastModified"`
	LastModifiedUser string    `json:"lastModifiedUser"`
}

// Latest is the parameter's current version.
func (p *Parameter) Latest() *ParameterVersion { return &p.Versions[len(p.Versions)-1] }

// ParameterKey is the key of parameter name in this scope.
func (sc Scope) ParameterKey(name string) string { return sc.Prefix(KindParameter) + name }

// ParameterARN is the ARN of parameter name: SSM drops the leading slash of
// a hierarchical name ("/a/b" is parameter/a/b).
func (sc Scope) ParameterARN(name string) string {
	return "arn:aws:ssm:" + sc.Region + ":" + sc.Account + ":parameter/" + strings.TrimPrefix(name, "/")
}

// SealContext is what a parameter version's value is sealed under: the
// scope, the name and the version, so that a sealed value copied to another
// record, account or version does not open.
func (sc Scope) SealContext(name string, version int64) string {
	return sc.ParameterKey(name) + "#" + strconv.FormatInt(version, 10)
}
