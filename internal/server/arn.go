package server

import "strings"

// resourceARN is a parsed ECS ARN: arn:aws:ecs:REGION:ACCOUNT:TYPE/ID...
type resourceARN struct {
	region, account string
	kind            string   // "cluster", "task-definition", "container-instance", ...
	path            []string // the parts after the kind, split on "/"
}

// parseARN splits an ECS ARN; ok is false for anything that is not one.
func parseARN(s string) (resourceARN, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "ecs" || parts[3] == "" || parts[4] == "" {
		return resourceARN{}, false
	}
	kind, rest, found := strings.Cut(parts[5], "/")
	if !found || kind == "" || rest == "" {
		return resourceARN{}, false
	}
	return resourceARN{region: parts[3], account: parts[4], kind: kind, path: strings.Split(rest, "/")}, true
}

// inScope reports whether the ARN names a resource of this account and region.
func (a resourceARN) inScope(sc scope) bool {
	return a.account == sc.account && a.region == sc.region
}

func isARN(s string) bool { return strings.HasPrefix(s, "arn:") }
