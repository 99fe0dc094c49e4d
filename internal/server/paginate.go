package server

import (
	"encoding/base64"
	"strings"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// page is one page of a List* operation.
type page struct {
	objects   []*store.Object
	nextToken *string
}

// listPage walks the records under prefix in key order, keeps those keep
// accepts (nil keeps all), and stops after maxResults of them (defaultMax
// when unset). The token is the last key seen, opaque to clients; ECS's own
// tokens are opaque too, and only valid for the same call.
func (s *Server) listPage(prefix string, nextToken *string, maxResults *int32, defaultMax int, keep func(*store.Object) bool) (page, error) {
	limit := defaultMax
	if maxResults != nil {
		if *maxResults < 1 || int(*maxResults) > defaultMax {
			return page{}, errMaxResults(defaultMax)
		}
		limit = int(*maxResults)
	}
	after := ""
	if nextToken != nil && *nextToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*nextToken)
		if err != nil || !strings.HasPrefix(string(raw), prefix) {
			return page{}, errInvalidNextToken()
		}
		after = string(raw)
	}
	var out page
	// Read in batches so a filter that rejects most records still ends.
	for {
		batch := s.store.List(prefix, after, 256)
		for _, o := range batch {
			after = o.Key
			if keep != nil && !keep(o) {
				continue
			}
			if len(out.objects) == limit {
				// There is at least one more: the page ends at the previous key.
				last := out.objects[limit-1].Key
				out.nextToken = ecs.Ptr(base64.RawURLEncoding.EncodeToString([]byte(last)))
				return out, nil
			}
			out.objects = append(out.objects, o)
		}
		if len(batch) < 256 {
			return out, nil
		}
	}
}

// listPageDesc is listPage in reverse key order (for sort=DESC). It reads
// the whole prefix, which for the lists that sort (the revisions of task
// definitions) is bounded by what one account registers.
func (s *Server) listPageDesc(prefix string, nextToken *string, maxResults *int32, defaultMax int, keep func(*store.Object) bool) (page, error) {
	limit := defaultMax
	if maxResults != nil {
		if *maxResults < 1 || int(*maxResults) > defaultMax {
			return page{}, errMaxResults(defaultMax)
		}
		limit = int(*maxResults)
	}
	before := ""
	if nextToken != nil && *nextToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*nextToken)
		if err != nil || !strings.HasPrefix(string(raw), prefix) {
			return page{}, errInvalidNextToken()
		}
		before = string(raw)
	}
	all := s.store.List(prefix, "", 0)
	var out page
	for i := len(all) - 1; i >= 0; i-- {
		o := all[i]
		if before != "" && o.Key >= before {
			continue
		}
		if keep != nil && !keep(o) {
			continue
		}
		if len(out.objects) == limit {
			last := out.objects[limit-1].Key
			out.nextToken = ecs.Ptr(base64.RawURLEncoding.EncodeToString([]byte(last)))
			return out, nil
		}
		out.objects = append(out.objects, o)
	}
	return out, nil
}
