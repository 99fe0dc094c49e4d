// Command ecsgen generates package api/ecs from the ECS API model.
//
//	go run ./internal/gen/ecsgen -model spec/ecs-2014-11-13/service-2.json -out api/ecs
package main

import (
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/berth-project/berth/internal/gen/ecsgen/gen"
)

func main() {
	model := flag.String("model", "spec/ecs-2014-11-13/service-2.json", "botocore service-2.json of the ECS API")
	out := flag.String("out", "api/ecs", "directory of the generated package")
	flag.Parse()
	files, err := gen.Generate(*model)
	if err != nil {
		log.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(*out, name), src, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
