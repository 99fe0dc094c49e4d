package server_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-project/berth/api/ecs"
)

// docs/compatibility.md lists every operation with its status. This test
// keeps it true: an operation is "implemented" exactly when *Server has its
// own method for it (the others fall through to ecs.UnimplementedHandler).
func TestCompatibilityTableIsTrue(t *testing.T) {
	implemented := map[string]bool{}
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 {
					continue
				}
				if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
					if id, ok := star.X.(*ast.Ident); ok && id.Name == "Server" {
						implemented[fn.Name.Name] = true
					}
				}
			}
		}
	}

	doc, err := os.ReadFile("../../docs/compatibility.md")
	if err != nil {
		t.Fatal(err)
	}
	// The other services' sections (SSM's, with operations of the same
	// names) come after ECS's and have tests of their own.
	ecsPart, _, _ := strings.Cut(string(doc), "\n## SSM Parameter Store\n")
	row := regexp.MustCompile("(?m)^\\| `([A-Za-z]+)` \\| ([a-z ]+) \\|")
	listed := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(ecsPart, -1) {
		listed[m[1]] = strings.TrimSpace(m[2])
	}
	for _, op := range ecs.Operations {
		status, ok := listed[op.Name]
		switch {
		case !ok:
			t.Errorf("%s is missing from docs/compatibility.md", op.Name)
		case implemented[op.Name] && status != "implemented":
			t.Errorf("%s is implemented but docs/compatibility.md says %q", op.Name, status)
		case !implemented[op.Name] && status != "not yet":
			t.Errorf("%s is not implemented but docs/compatibility.md says %q", op.Name, status)
		}
	}
	if len(listed) != len(ecs.Operations) {
		t.Errorf("docs/compatibility.md lists %d operations, the model has %d", len(listed), len(ecs.Operations))
	}
}
