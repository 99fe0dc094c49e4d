package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// taskDefRecord is one revision of a task definition family as stored. The
// definition is kept in ECS's normal form (see checkTaskDefinition); its
// status lives beside it so that a status change never rewrites the body.
type taskDefRecord struct {
	Schema            int                `json:"schema"`
	Status            string             `json:"status"` // ACTIVE, INACTIVE or DELETE_IN_PROGRESS
	Tags              []ecs.Tag          `json:"tags,omitempty"`
	DeregisteredAt    *time.Time         `json:"deregisteredAt,omitempty"`
	DeleteRequestedAt *time.Time         `json:"deleteRequestedAt,omitempty"`
	Definition        ecs.TaskDefinition `json:"definition"`
}

// taskDefFamilyRecord hands out revision numbers: revisions are never
// reused, even after a revision is deleted, as in ECS. Active counts the
// family's ACTIVE revisions, for ListTaskDefinitionFamilies; LatestActive
// is the revision a bare family name resolves to (0 when none), so that
// resolving it costs one read however many revisions the family has.
type taskDefFamilyRecord struct {
	Schema       int    `json:"schema"`
	Family       string `json:"family"`
	LastRevision int    `json:"lastRevision"`
	Active       int    `json:"active"`
	LatestActive int    `json:"latestActive"`
}

const taskDefSchema = 1

// revisionKey is the key part of a revision: zero-padded, so that key order
// is revision order.
func revisionKey(rev int) string { return fmt.Sprintf("%010d", rev) }

// taskDefRef is a parsed taskDefinition parameter: "family",
// "family:revision" or a full ARN. Revision 0 means the latest ACTIVE one.
type taskDefRef struct {
	family   string
	revision int
}

func parseTaskDefRef(sc scope, ref string) (taskDefRef, bool) {
	if isARN(ref) {
		a, ok := parseARN(ref)
		if !ok || a.kind != "task-definition" || len(a.path) != 1 || !a.inScope(sc) {
			return taskDefRef{}, false
		}
		ref = a.path[0]
	}
	family, rev, hasRev := strings.Cut(ref, ":")
	if !familyPattern.MatchString(family) {
		return taskDefRef{}, false
	}
	if !hasRev {
		return taskDefRef{family: family}, true
	}
	n, err := strconv.Atoi(rev)
	if err != nil || n < 1 {
		return taskDefRef{}, false
	}
	return taskDefRef{family: family, revision: n}, true
}

// findTaskDef resolves a reference to a stored revision; nil when there is
// none. A bare family resolves to its latest ACTIVE revision.
func (s *Server) findTaskDef(sc scope, ref string) (*store.Object, *taskDefRecord, error) {
	r, ok := parseTaskDefRef(sc, ref)
	if !ok {
		return nil, nil, nil
	}
	if r.revision > 0 {
		o, found := s.store.Get(sc.key(kindTaskDef, r.family, revisionKey(r.revision)))
		if !found {
			return nil, nil, nil
		}
		td, err := decode[taskDefRecord](s, o)
		return o, td, err
	}
	fo, found := s.store.Get(sc.key(kindTaskDefFamily, r.family))
	if !found {
		return nil, nil, nil
	}
	fam, err := decode[taskDefFamilyRecord](s, fo)
	if err != nil || fam.LatestActive == 0 {
		return nil, nil, err
	}
	o, found := s.store.Get(sc.key(kindTaskDef, r.family, revisionKey(fam.LatestActive)))
	if !found {
		return nil, nil, nil
	}
	td, err := decode[taskDefRecord](s, o)
	return o, td, err
}

// latestActiveBelow is the highest ACTIVE revision of a family below rev
// (0 when none): what the family resolves to once rev is deregistered.
func (s *Server) latestActiveBelow(sc scope, family string, rev int) (int, error) {
	revs := s.store.List(sc.prefix(kindTaskDef)+family+"/", "", 0)
	for i := len(revs) - 1; i >= 0; i-- {
		td, err := decode[taskDefRecord](s, revs[i])
		if err != nil {
			return 0, err
		}
		if n := int(ecs.Val(td.Definition.Revision)); n < rev && td.Status == statusActive {
			return n, nil
		}
	}
	return 0, nil
}

// taskDefView is the definition as the API shows it, with its status.
func taskDefView(r *taskDefRecord) *ecs.TaskDefinition {
	td := r.Definition // a shallow copy: the record itself is shared
	td.Status = ecs.TaskDefinitionStatus(r.Status)
	if r.DeregisteredAt != nil {
		td.DeregisteredAt = ecs.NewTimestamp(*r.DeregisteredAt)
	}
	if r.DeleteRequestedAt != nil {
		td.DeleteRequestedAt = ecs.NewTimestamp(*r.DeleteRequestedAt)
	}
	return &td
}

func (s *Server) RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionRequest) (*ecs.RegisterTaskDefinitionResponse, error) {
	sc := scopeOf(ctx)
	if raw, err := json.Marshal(in); err == nil && len(raw) > maxTaskDefBytes {
		return nil, ecs.NewClientException("Actual length: '%d'. Max allowed length is '%d' bytes.", len(raw), maxTaskDefBytes)
	}
	def, err := checkTaskDefinition(in)
	if err != nil {
		return nil, err
	}
	reg := &registration{def: def, tags: in.Tags, done: make(chan struct{})}
	s.registrations.submit(ctx, s, sc, reg)
	if reg.err != nil {
		return nil, reg.err
	}
	result := reg.result
	return &ecs.RegisterTaskDefinitionResponse{TaskDefinition: taskDefView(result), Tags: orEmpty(result.Tags)}, nil
}

func (s *Server) DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionRequest) (*ecs.DescribeTaskDefinitionResponse, error) {
	sc := scopeOf(ctx)
	_, td, err := s.findTaskDef(sc, ecs.Val(in.TaskDefinition))
	if err != nil {
		return nil, err
	}
	if td == nil {
		return nil, ecs.NewClientException("Unable to describe task definition.")
	}
	out := &ecs.DescribeTaskDefinitionResponse{TaskDefinition: taskDefView(td)}
	for _, f := range in.Include {
		if f == ecs.TaskDefinitionFieldTags {
			out.Tags = orEmpty(td.Tags)
		}
	}
	return out, nil
}

func (s *Server) ListTaskDefinitions(ctx context.Context, in *ecs.ListTaskDefinitionsRequest) (*ecs.ListTaskDefinitionsResponse, error) {
	sc := scopeOf(ctx)
	status := string(in.Status)
	if status == "" {
		status = statusActive
	}
	prefix := sc.prefix(kindTaskDef)
	if in.FamilyPrefix != nil {
		// Despite its name, ECS matches familyPrefix against whole family names here.
		if !familyPattern.MatchString(*in.FamilyPrefix) {
			return &ecs.ListTaskDefinitionsResponse{TaskDefinitionArns: []string{}}, nil
		}
		prefix += *in.FamilyPrefix + "/"
	}
	keep := func(o *store.Object) bool {
		td, err := decode[taskDefRecord](s, o)
		return err == nil && td.Status == status
	}
	var p page
	var err error
	if in.Sort == ecs.SortOrderDesc {
		p, err = s.listPageDesc(prefix, in.NextToken, in.MaxResults, 100, keep)
	} else {
		p, err = s.listPage(prefix, in.NextToken, in.MaxResults, 100, keep)
	}
	if err != nil {
		return nil, err
	}
	out := &ecs.ListTaskDefinitionsResponse{TaskDefinitionArns: []string{}, NextToken: p.nextToken}
	for _, o := range p.objects {
		td, err := decode[taskDefRecord](s, o)
		if err != nil {
			return nil, err
		}
		out.TaskDefinitionArns = append(out.TaskDefinitionArns, ecs.Val(td.Definition.TaskDefinitionArn))
	}
	return out, nil
}

func (s *Server) ListTaskDefinitionFamilies(ctx context.Context, in *ecs.ListTaskDefinitionFamiliesRequest) (*ecs.ListTaskDefinitionFamiliesResponse, error) {
	sc := scopeOf(ctx)
	// The family prefix narrows the key range; families are keyed by name.
	prefix := sc.prefix(kindTaskDefFamily) + ecs.Val(in.FamilyPrefix)
	keep := func(o *store.Object) bool {
		f, err := decode[taskDefFamilyRecord](s, o)
		if err != nil {
			return false
		}
		switch in.Status {
		case ecs.TaskDefinitionFamilyStatusActive:
			return f.Active > 0
		case ecs.TaskDefinitionFamilyStatusInactive:
			return f.Active == 0
		}
		return true // ALL, the default
	}
	p, err := s.listPage(prefix, in.NextToken, in.MaxResults, 100, keep)
	if err != nil {
		return nil, err
	}
	out := &ecs.ListTaskDefinitionFamiliesResponse{Families: []string{}, NextToken: p.nextToken}
	for _, o := range p.objects {
		f, err := decode[taskDefFamilyRecord](s, o)
		if err != nil {
			return nil, err
		}
		out.Families = append(out.Families, f.Family)
	}
	return out, nil
}

func (s *Server) DeregisterTaskDefinition(ctx context.Context, in *ecs.DeregisterTaskDefinitionRequest) (*ecs.DeregisterTaskDefinitionResponse, error) {
	sc := scopeOf(ctx)
	ref := ecs.Val(in.TaskDefinition)
	r, ok := parseTaskDefRef(sc, ref)
	if ok && r.revision == 0 {
		return nil, ecs.NewClientException("Invalid revision number. A revision must be specified to deregister a task definition: %s", ref)
	}
	var result *taskDefRecord
	err := s.update(ctx, func() ([]store.Op, error) {
		o, td, err := s.findTaskDef(sc, ref)
		if err != nil {
			return nil, err
		}
		if td == nil {
			return nil, ecs.NewClientException("The specified task definition does not exist.")
		}
		if td.Status != statusActive {
			result = td // already deregistered: ECS answers it as it is
			return nil, nil
		}
		changed, err := decodeCopy[taskDefRecord](s, o)
		if err != nil {
			return nil, err
		}
		now := s.now()
		changed.Status = statusInactive
		changed.DeregisteredAt = &now
		result = changed

		familyKey := sc.key(kindTaskDefFamily, r.family)
		fo, found := s.store.Get(familyKey)
		if !found {
			return nil, fmt.Errorf("family record %s missing", familyKey)
		}
		fam, err := decodeCopy[taskDefFamilyRecord](s, fo)
		if err != nil {
			return nil, err
		}
		fam.Active--
		if rev := int(ecs.Val(td.Definition.Revision)); fam.LatestActive == rev {
			if fam.LatestActive, err = s.latestActiveBelow(sc, r.family, rev); err != nil {
				return nil, err
			}
		}
		return []store.Op{store.Put(o.Key, changed, o.Rev), store.Put(familyKey, fam, fo.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.DeregisterTaskDefinitionResponse{TaskDefinition: taskDefView(result)}, nil
}

// DeleteTaskDefinitions marks INACTIVE revisions DELETE_IN_PROGRESS. ECS
// removes such a revision once no task or service uses it; Berth keeps it
// describable in that state (see docs/compatibility.md).
func (s *Server) DeleteTaskDefinitions(ctx context.Context, in *ecs.DeleteTaskDefinitionsRequest) (*ecs.DeleteTaskDefinitionsResponse, error) {
	sc := scopeOf(ctx)
	if len(in.TaskDefinitions) > 10 {
		return nil, ecs.NewInvalidParameterException("taskDefinitions can have at most 10 items.")
	}
	out := &ecs.DeleteTaskDefinitionsResponse{TaskDefinitions: []ecs.TaskDefinition{}, Failures: []ecs.Failure{}}
	for _, ref := range in.TaskDefinitions {
		fail := func(reason string) {
			out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(taskDefARNFor(sc, ref)), Reason: ecs.Ptr(reason)})
		}
		if r, ok := parseTaskDefRef(sc, ref); ok && r.revision == 0 {
			fail("The specified task definition identifier is invalid. Specify a valid name or ARN with a revision.")
			continue
		}
		var result *taskDefRecord
		var reason string
		err := s.update(ctx, func() ([]store.Op, error) {
			reason = ""
			o, td, err := s.findTaskDef(sc, ref)
			if err != nil {
				return nil, err
			}
			switch {
			case td == nil:
				reason = "The specified task definition does not exist."
				return nil, nil
			case td.Status == statusActive:
				reason = "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
				return nil, nil
			case td.Status == string(ecs.TaskDefinitionStatusDeleteInProgress):
				result = td
				return nil, nil
			}
			changed, err := decodeCopy[taskDefRecord](s, o)
			if err != nil {
				return nil, err
			}
			now := s.now()
			changed.Status = string(ecs.TaskDefinitionStatusDeleteInProgress)
			changed.DeleteRequestedAt = &now
			result = changed
			return []store.Op{store.Put(o.Key, changed, o.Rev)}, nil
		})
		if err != nil {
			return nil, err
		}
		if reason != "" {
			fail(reason)
			continue
		}
		out.TaskDefinitions = append(out.TaskDefinitions, *taskDefView(result))
	}
	return out, nil
}

// taskDefARNFor is the ARN a failure reports for a reference.
func taskDefARNFor(sc scope, ref string) string {
	if isARN(ref) {
		return ref
	}
	return sc.arn("task-definition/" + ref)
}
