package server

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// latestActiveBelow is the highest ACTIVE revision of a family below rev
// (0 when none): what the family resolves to once rev is deregistered.
func (s *Server) latestActiveBelow(sc state.Scope, family string, rev int) (int, error) {
	revs := s.store.List(sc.Prefix(state.KindTaskDef)+family+"/", "", 0)
	for i := len(revs) - 1; i >= 0; i-- {
		td, err := decode[state.TaskDef](s, revs[i])
		if err != nil {
			return 0, err
		}
		if n := int(ecs.Val(td.Definition.Revision)); n < rev && td.Status == state.StatusActive {
			return n, nil
		}
	}
	return 0, nil
}

// taskDefView is the definition as the API shows it, with its status.
func taskDefView(r *state.TaskDef) *ecs.TaskDefinition {
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
	return &ecs.RegisterTaskDefinitionResponse{TaskDefinition: taskDefView(result), Tags: result.Tags}, nil
}

func (s *Server) DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionRequest) (*ecs.DescribeTaskDefinitionResponse, error) {
	sc := scopeOf(ctx)
	_, td, err := s.state.TaskDef(sc, ecs.Val(in.TaskDefinition))
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
		status = state.StatusActive
	}
	prefix := sc.Prefix(state.KindTaskDef)
	if in.FamilyPrefix != nil {
		// Despite its name, ECS matches familyPrefix against whole family names here.
		if !familyPattern.MatchString(*in.FamilyPrefix) {
			return &ecs.ListTaskDefinitionsResponse{TaskDefinitionArns: []string{}}, nil
		}
		prefix += *in.FamilyPrefix + "/"
	}
	keep := func(o *store.Object) bool {
		td, err := decode[state.TaskDef](s, o)
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
		td, err := decode[state.TaskDef](s, o)
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
	prefix := sc.Prefix(state.KindTaskDefFamily) + ecs.Val(in.FamilyPrefix)
	keep := func(o *store.Object) bool {
		f, err := decode[state.TaskDefFamily](s, o)
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
		f, err := decode[state.TaskDefFamily](s, o)
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
	r, ok := state.ParseTaskDefRef(sc, ref)
	if ok && r.Revision == 0 {
		return nil, ecs.NewClientException("Invalid revision number. A revision must be specified to deregister a task definition: %s", ref)
	}
	var result *state.TaskDef
	err := s.update(ctx, func() ([]store.Op, error) {
		o, td, err := s.state.TaskDef(sc, ref)
		if err != nil {
			return nil, err
		}
		if td == nil {
			return nil, ecs.NewClientException("The specified task definition does not exist.")
		}
		if td.Status != state.StatusActive {
			result = td // already deregistered: ECS answers it as it is
			return nil, nil
		}
		changed, err := decodeCopy[state.TaskDef](s, o)
		if err != nil {
			return nil, err
		}
		now := s.now()
		changed.Status = state.StatusInactive
		changed.DeregisteredAt = &now
		result = changed

		familyKey := sc.Key(state.KindTaskDefFamily, r.Family)
		fo, found := s.store.Get(familyKey)
		if !found {
			return nil, fmt.Errorf("family record %s missing", familyKey)
		}
		fam, err := decodeCopy[state.TaskDefFamily](s, fo)
		if err != nil {
			return nil, err
		}
		fam.Active--
		if rev := int(ecs.Val(td.Definition.Revision)); fam.LatestActive == rev {
			if fam.LatestActive, err = s.latestActiveBelow(sc, r.Family, rev); err != nil {
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
		if r, ok := state.ParseTaskDefRef(sc, ref); ok && r.Revision == 0 {
			fail("The specified task definition identifier is invalid. Specify a valid name or ARN with a revision.")
			continue
		}
		var result *state.TaskDef
		var reason string
		err := s.update(ctx, func() ([]store.Op, error) {
			reason = ""
			o, td, err := s.state.TaskDef(sc, ref)
			if err != nil {
				return nil, err
			}
			switch {
			case td == nil:
				reason = "The specified task definition does not exist."
				return nil, nil
			case td.Status == state.StatusActive:
				reason = "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
				return nil, nil
			case td.Status == string(ecs.TaskDefinitionStatusDeleteInProgress):
				result = td
				return nil, nil
			}
			changed, err := decodeCopy[state.TaskDef](s, o)
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
func taskDefARNFor(sc state.Scope, ref string) string {
	if state.IsARN(ref) {
		return ref
	}
	return sc.ARN("task-definition/" + ref)
}
