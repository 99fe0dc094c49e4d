package ssm_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"

	api "github.com/berth-project/berth/api/ssm"
)

// docs/compatibility.md's "SSM Parameter Store" table lists an operation as
// implemented exactly when *Service has its own method for it (the others
// fall through to ssm.UnimplementedHandler), and names only SSM operations.
func TestSSMCompatibilityTableIsTrue(t *testing.T) {
	implemented := map[string]bool{}
	pkgs, err := parser.ParseDir(token.NewFileSet(), ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv != nil && len(fn.Recv.List) == 1 {
					if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
						if id, ok := star.X.(*ast.Ident); ok && id.Name == "Service" {
							implemented[fn.Name.Name] = true
						}
					}
				}
			}
		}
	}
	doc, err := os.ReadFile("../../docs/compatibility.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## SSM Parameter Store\n")
	if !ok {
		t.Fatal(`docs/compatibility.md has no "## SSM Parameter Store" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	operations := map[string]bool{}
	for _, op := range api.Operations {
		operations[op.Name] = true
	}
	listed := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Za-z]+)` \\| ([a-z ]+) \\|").FindAllStringSubmatch(section, -1) {
		listed[m[1]] = strings.TrimSpace(m[2])
		if !operations[m[1]] {
			t.Errorf("%s is listed but is not an SSM operation", m[1])
		}
	}
	for op := range operations {
		status, ok := listed[op]
		switch {
		case implemented[op] && status != "implemented":
			t.Errorf("%s is implemented but docs/compatibility.md says %q", op, status)
		case !implemented[op] && ok && status != "not yet":
			t.Errorf("%s is not implemented but docs/compatibility.md says %q", op, status)
		}
	}
}
