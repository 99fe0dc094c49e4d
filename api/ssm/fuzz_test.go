package ssm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/berth-project/berth/api/ssm"
)

// FuzzSSMDispatch feeds arbitrary bodies to every SSM operation: decoding
// must never panic, and every failure must be an API error a client can be
// sent.
func FuzzSSMDispatch(f *testing.F) {
	f.Add(uint8(0), []byte(`{"Name":"/a/b","Value":"v","Type":"SecureString","Overwrite":true}`))
	f.Add(uint8(1), []byte(`{"Names":["a","b"],"WithDecryption":"yes"}`))
	f.Add(uint8(2), []byte(`{"ParameterFilters":[{"Key":"Name","Values":[1]}]}`))
	f.Add(uint8(3), []byte(`[]`))
	f.Add(uint8(4), []byte(`{"Content":"AAAA","Blob":"not base64"}`))
	f.Fuzz(func(t *testing.T, opIndex uint8, body []byte) {
		op := ssm.Operations[int(opIndex)%len(ssm.Operations)].Name
		_, err := ssm.Dispatch(context.Background(), ssm.UnimplementedHandler{}, op, body)
		var e *ssm.Error
		if err == nil || !errors.As(err, &e) || e.Code == "" || e.Status < 400 || e.Status > 599 {
			t.Fatalf("%s: want an API error, got %v", op, err)
		}
	})
}
