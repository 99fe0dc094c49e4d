package server

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// Every taggable record keeps its tags under the JSON member "tags", so the
// tagging operations can change them without knowing the record's type:
// they rewrite that one member and leave the rest of the record as it is.

// taggedResource locates the record an ARN names. The error is the one ECS
// gives when the ARN is malformed or names nothing.
func taggedResource(sc state.Scope, arn string) (string, error) {
	a, ok := state.ParseARN(arn)
	if !ok {
		return "", errInvalidARN()
	}
	if !a.InScope(sc) {
		return "", errInvalidARN()
	}
	switch {
	case a.Kind == "cluster" && len(a.Path) == 1:
		return sc.Key(state.KindCluster, a.Path[0]), nil
	case a.Kind == "task-definition" && len(a.Path) == 1:
		r, ok := state.ParseTaskDefRef(sc, a.Path[0])
		if !ok || r.Revision == 0 {
			return "", errInvalidARN()
		}
		return sc.Key(state.KindTaskDef, r.Family, state.RevisionKey(r.Revision)), nil
	case a.Kind == "container-instance" && len(a.Path) == 2:
		return sc.Key(state.KindInstance, a.Path[0], a.Path[1]), nil
	case a.Kind == "service" && len(a.Path) == 2:
		return sc.Key(state.KindService, a.Path[0], a.Path[1]), nil
	case a.Kind == "task" && len(a.Path) == 2:
		return sc.Key(state.KindTask, a.Path[0], a.Path[1]), nil
	case a.Kind == "capacity-provider" && len(a.Path) == 1:
		return sc.Key(state.KindCapacityProvider, a.Path[0]), nil
	case a.Kind == "container-instance" || a.Kind == "service" || a.Kind == "task":
		// A short ARN (kind/id, from an account with the long format
		// disabled) cannot be tagged in ECS either.
		if len(a.Path) == 1 {
			return "", ecs.NewInvalidParameterException("Long arn format must be used for tagging operations")
		}
	}
	return "", errInvalidARN()
}

// taggable reads the record behind an ARN as raw JSON members.
func (s *Server) taggable(sc state.Scope, arn string) (*store.Object, map[string]json.RawMessage, error) {
	key, err := taggedResource(sc, arn)
	if err != nil {
		return nil, nil, err
	}
	notFound := func() error {
		if strings.HasPrefix(key, sc.Prefix(state.KindCluster)) {
			return state.ErrClusterNotFound
		}
		return ecs.NewResourceNotFoundException("The specified resource could not be found.")
	}
	o, found := s.store.Get(key)
	if !found {
		return nil, nil, notFound()
	}
	rec, err := decodeCopy[map[string]json.RawMessage](s, o)
	if err != nil {
		return nil, nil, err
	}
	var status string
	_ = json.Unmarshal((*rec)["status"], &status)
	if status == state.StatusInactive && strings.HasPrefix(key, sc.Prefix(state.KindCluster)) {
		return nil, nil, notFound()
	}
	return o, *rec, nil
}

func recordTags(rec map[string]json.RawMessage) ([]ecs.Tag, error) {
	var tags []ecs.Tag
	if raw, ok := rec["tags"]; ok {
		if err := json.Unmarshal(raw, &tags); err != nil {
			return nil, err
		}
	}
	return tags, nil
}

// changeTags rewrites the tags of the record an ARN names.
func (s *Server) changeTags(ctx context.Context, arn string, change func([]ecs.Tag) ([]ecs.Tag, error)) error {
	sc := scopeOf(ctx)
	return s.update(ctx, func() ([]store.Op, error) {
		o, rec, err := s.taggable(sc, arn)
		if err != nil {
			return nil, err
		}
		tags, err := recordTags(rec)
		if err != nil {
			return nil, err
		}
		tags, err = change(tags)
		if err != nil {
			return nil, err
		}
		if len(tags) == 0 {
			delete(rec, "tags")
		} else {
			raw, err := json.Marshal(tags)
			if err != nil {
				return nil, err
			}
			rec["tags"] = raw
		}
		return []store.Op{store.Put(o.Key, rec, o.Rev)}, nil
	})
}

func (s *Server) TagResource(ctx context.Context, in *ecs.TagResourceRequest) (*ecs.TagResourceResponse, error) {
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	err := s.changeTags(ctx, ecs.Val(in.ResourceArn), func(tags []ecs.Tag) ([]ecs.Tag, error) {
		for _, t := range in.Tags {
			replaced := false
			for i := range tags {
				if ecs.Val(tags[i].Key) == ecs.Val(t.Key) {
					tags[i] = t
					replaced = true
				}
			}
			if !replaced {
				tags = append(tags, t)
			}
		}
		if len(tags) > maxTags {
			return nil, errTooManyTags(maxTags)
		}
		return tags, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.TagResourceResponse{}, nil
}

func (s *Server) UntagResource(ctx context.Context, in *ecs.UntagResourceRequest) (*ecs.UntagResourceResponse, error) {
	remove := map[string]bool{}
	for _, k := range in.TagKeys {
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, errReservedTagKey()
		}
		remove[k] = true
	}
	err := s.changeTags(ctx, ecs.Val(in.ResourceArn), func(tags []ecs.Tag) ([]ecs.Tag, error) {
		kept := tags[:0]
		for _, t := range tags {
			if !remove[ecs.Val(t.Key)] {
				kept = append(kept, t)
			}
		}
		return kept, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.UntagResourceResponse{}, nil
}

func (s *Server) ListTagsForResource(ctx context.Context, in *ecs.ListTagsForResourceRequest) (*ecs.ListTagsForResourceResponse, error) {
	_, rec, err := s.taggable(scopeOf(ctx), ecs.Val(in.ResourceArn))
	if err != nil {
		return nil, err
	}
	tags, err := recordTags(rec)
	if err != nil {
		s.log.Error("corrupt tags in store", "arn", ecs.Val(in.ResourceArn), "err", err)
		return nil, errServiceUnavailable()
	}
	return &ecs.ListTagsForResourceResponse{Tags: tags}, nil
}
