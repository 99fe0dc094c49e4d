// Command ecsgen generates Go packages from the models in spec/: the ECS API
// (package api/ecs: types, enums, errors, operations, validation) and the
// agent protocols' message models (packages api/acs and api/tcs: types and
// enums).
//
//	go run ./internal/gen/ecsgen -model spec/ecs-2014-11-13/service-2.json -out api/ecs
//	go run ./internal/gen/ecsgen -messages acs -label ACS -model spec/ecs-agent-acs/api-2.json -out api/acs
//	go run ./internal/gen/ecsgen -service ssm -label SSM -model spec/ssm-2014-11-06/service-2.json -out api/ssm
//
// With -service it generates another service's wire layer (package api/ssm:
// types, enums, errors, operations).
package main

import (
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/berth-project/berth/internal/gen/ecsgen/gen"
)

func main() {
	model := flag.String("model", "spec/ecs-2014-11-13/service-2.json", "botocore-style model (service-2.json or api-2.json)")
	out := flag.String("out", "api/ecs", "directory of the generated package")
	messages := flag.String("messages", "", "generate only the types and enums of a message model, as this Go package")
	service := flag.String("service", "", "generate the wire layer (without validation) of another service's model, as this Go package")
	label := flag.String("label", "", "the model's name in comments (with -messages or -service)")
	flag.Parse()

	var files map[string][]byte
	var err error
	switch {
	case *service != "":
		files, err = gen.GenerateService(*model, sourceName(*model), *service, *label)
	case *messages != "":
		files, err = gen.GenerateMessages(*model, sourceName(*model), *messages, *label)
	default:
		files, err = gen.Generate(*model)
	}
	if err != nil {
		log.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(*out, name), src, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// sourceName is the model's path from the repository root, for the header
// of generated files (go generate runs in the package's directory).
func sourceName(model string) string {
	for p := filepath.ToSlash(model); len(p) > 3 && p[:3] == "../"; {
		p = p[3:]
		model = p
	}
	return filepath.ToSlash(model)
}
