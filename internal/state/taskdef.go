package state

import (
	"fmt"
	"time"

	"github.com/berth-project/berth/api/ecs"
)

// TaskDef is one revision of a task definition family as stored. The
// definition is kept in ECS's normal form (see checkTaskDefinition); its
// status lives beside it so that a status change never rewrites the body.
type TaskDef struct {
	Schema            int                `json:"schema"`
	Status            string             `json:"status"` // ACTIVE, INACTIVE or DELETE_IN_PROGRESS
	Tags              []ecs.Tag          `json:"tags,omitempty"`
	DeregisteredAt    *time.Time         `json:"deregisteredAt,omitempty"`
	DeleteRequestedAt *time.Time         `json:"deleteRequestedAt,omitempty"`
	Definition        ecs.TaskDefinition `json:"definition"`
}

// TaskDefFamily hands out revision numbers: revisions are never
// reused, even after a revision is deleted, as in ECS. Active counts the
// family's ACTIVE revisions, for ListTaskDefinitionFamilies; LatestActive
// is the revision a bare family name resolves to (0 when none), so that
// resolving it costs one read however many revisions the family has.
type TaskDefFamily struct {
	Schema       int    `json:"schema"`
	Family       string `json:"family"`
	LastRevision int    `json:"lastRevision"`
	Active       int    `json:"active"`
	LatestActive int    `json:"latestActive"`
}

const TaskDefSchema = 1

// RevisionKey is the key part of a revision: zero-padded, so that key order
// is revision order.
func RevisionKey(rev int) string { return fmt.Sprintf("%010d", rev) }
