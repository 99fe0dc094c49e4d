package ecs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/berth-project/berth/api/ecs"
)

// FuzzDispatch feeds arbitrary bodies to every operation: decoding and
// validation must never panic, and every failure must be an API error a
// client can be sent.
func FuzzDispatch(f *testing.F) {
	f.Add(uint8(0), []byte(`{"family":"web","containerDefinitions":[{"name":"a","image":"busybox","memory":64,"portMappings":[{"containerPort":80}]}]}`))
	f.Add(uint8(1), []byte(`{"clusterName":"x","tags":[{"key":"k","value":"v"}]}`))
	f.Add(uint8(2), []byte(`{"clusterName":5}`))
	f.Add(uint8(3), []byte(`[]`))
	f.Add(uint8(4), []byte(`{"a":{"b":{"c":[[[[[]]]]]}}}`))
	f.Fuzz(func(t *testing.T, opIndex uint8, body []byte) {
		op := ecs.Operations[int(opIndex)%len(ecs.Operations)].Name
		_, err := ecs.Dispatch(context.Background(), clusterOnly{}, op, body)
		if err == nil {
			return
		}
		var e *ecs.Error
		if !errors.As(err, &e) || e.Code == "" || e.Status < 400 || e.Status > 599 {
			t.Fatalf("%s: error that is not an API error: %v", op, err)
		}
	})
}
