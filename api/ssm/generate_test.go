package ssm_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/berth-project/berth/internal/gen/ecsgen/gen"
)

// The generated files must be what the generator makes of the model now.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	files, err := gen.GenerateService("../../spec/ssm-2014-11-06/service-2.json", "spec/ssm-2014-11-06/service-2.json", "ssm", "SSM")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./api/ssm)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./api/ssm", name)
		}
	}
}
