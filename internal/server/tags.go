package server

import (
	"strconv"
	"strings"

	"github.com/berth-project/berth/api/ecs"
)

// maxTags is ECS's limit of tags on one resource.
const maxTags = 50

// validateTags applies ECS's tag rules beyond what the model checks (count,
// lengths and characters): keys are unique and the aws: prefix is reserved.
func validateTags(tags []ecs.Tag) error {
	seen := map[string]bool{}
	for _, t := range tags {
		k := ecs.Val(t.Key)
		if t.Key == nil || k == "" {
			return ecs.NewInvalidParameterException("Tag keys must be between 1 and 128 characters.")
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return errReservedTagKey()
		}
		if seen[k] {
			return ecs.NewInvalidParameterException("Duplicate tag key %q. Tag keys must be unique.", k)
		}
		seen[k] = true
	}
	if len(tags) > maxTags {
		return errTooManyTags(maxTags)
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
