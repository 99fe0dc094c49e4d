package gen

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// validation writes a Validate method for every structure an operation's
// input can reach. Constraints come from the model: required members, enums,
// string and list lengths, numeric ranges and patterns.
func (g *generator) validation(b *bytes.Buffer) {
	fmt.Fprintf(b, "package %s\n\nimport \"regexp\"\n\n", g.pkg)
	reach := map[string]bool{}
	for _, op := range g.m.sortedOperationNames() {
		if in := g.m.Operations[op].Input; in != nil {
			g.reach(in.Shape, reach)
		}
	}
	// Patterns are compiled once, anchored: the model's patterns describe the
	// whole value. A few of SSM's use what Go's RE2 syntax lacks (lookahead:
	// "^(?!\\s*$).+"); those are left unchecked rather than approximated.
	patterns := map[string]string{}
	b.WriteString("var (\n")
	for _, name := range g.m.sortedShapeNames() {
		if s := g.m.Shapes[name]; s.Pattern != "" && reach[name] && compiles(s.Pattern) {
			patterns[name] = "pattern" + name
			fmt.Fprintf(b, "\tpattern%s = regexp.MustCompile(%q)\n", name, "^(?:"+s.Pattern+")$")
		}
	}
	b.WriteString(")\n\n")
	for _, name := range g.m.sortedShapeNames() {
		s := g.m.Shapes[name]
		if !reach[name] || s.Type != "structure" || s.Document {
			continue
		}
		t := typeName(name)
		fmt.Fprintf(b, "// Validate checks s against the constraints of the model.\nfunc (s *%s) Validate() error {\n\tif s == nil {\n\t\treturn nil\n\t}\n\tvar v validator\n\ts.validate(&v, \"\")\n\treturn v.err()\n}\n\n", t)
		fmt.Fprintf(b, "func (s *%s) validate(v *validator, path string) {\n", t)
		for _, mem := range s.Members {
			g.memberChecks(b, s, mem, patterns)
		}
		b.WriteString("}\n\n")
	}
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func compiles(pattern string) bool {
	_, err := regexp.Compile("^(?:" + pattern + ")$")
	return err == nil
}

func (g *generator) reach(name string, seen map[string]bool) {
	if seen[name] {
		return
	}
	seen[name] = true
	s := g.m.Shapes[name]
	switch s.Type {
	case "structure":
		for _, mem := range s.Members {
			g.reach(mem.Shape, seen)
		}
	case "list":
		g.reach(s.Member.Shape, seen)
	case "map":
		g.reach(s.Key.Shape, seen)
		g.reach(s.Value.Shape, seen)
	}
}

// needsCheck reports whether a value of shape name can ever violate a
// constraint, so that structures and lists without any are not walked.
func (g *generator) needsCheck(name string, visiting map[string]bool) bool {
	if visiting[name] {
		return false
	}
	visiting[name] = true
	defer delete(visiting, name)
	s := g.m.Shapes[name]
	switch s.Type {
	case "string":
		return len(s.Enum) > 0 || s.Min != nil || s.Max != nil || s.Pattern != ""
	case "integer", "long", "double", "float":
		return s.Min != nil || s.Max != nil
	case "list":
		return s.Min != nil || s.Max != nil || g.needsCheck(s.Member.Shape, visiting)
	case "map":
		// Map entries are not checked (memberChecks): ECS's maps hold plain
		// strings; SSM's constrained ones (document parameters, target
		// maps) belong to operations Berth does not serve.
		return false
	case "structure":
		if s.Document {
			return false
		}
		if len(s.Required) > 0 {
			return true
		}
		for _, mem := range s.Members {
			if g.needsCheck(mem.Shape, visiting) {
				return true
			}
		}
	}
	return false
}

func (g *generator) memberChecks(b *bytes.Buffer, parent *shape, mem member, patterns map[string]string) {
	s := g.m.Shapes[mem.Shape]
	f := "s." + fieldName(mem.Name)
	// Messages name members as AWS's validation does, first letter lower
	// case ('maxResults' for SSM's MaxResults; ECS's are so already).
	name := strconv.Quote(lowerFirst(mem.Name))
	enum := s.Type == "string" && len(s.Enum) > 0
	if parent.required(mem.Name) {
		if enum {
			fmt.Fprintf(b, "\tif %s == \"\" {\n\t\tv.Missing(path, %s)\n\t}\n", f, name)
		} else {
			fmt.Fprintf(b, "\tif %s == nil {\n\t\tv.Missing(path, %s)\n\t}\n", f, name)
		}
	}
	if !g.needsCheck(mem.Shape, map[string]bool{}) {
		return
	}
	switch s.Type {
	case "string", "integer", "long", "double", "float":
		if enum {
			fmt.Fprintf(b, "\tif %s != \"\" {\n", f)
			g.scalarChecks(b, mem.Shape, f, "path, "+name, patterns)
		} else {
			fmt.Fprintf(b, "\tif %s != nil {\n", f)
			g.scalarChecks(b, mem.Shape, "*"+f, "path, "+name, patterns)
		}
		b.WriteString("\t}\n")
	case "structure":
		fmt.Fprintf(b, "\tif %s != nil {\n\t\t%s.validate(v, join(path, %s))\n\t}\n", f, f, name)
	case "list":
		if s.Min != nil || s.Max != nil {
			fmt.Fprintf(b, "\tif %s != nil {\n\t\tv.Count(path, %s, len(%s), %s, %s)\n\t}\n", f, name, f, bound(s.Min), bound(s.Max))
		}
		elem := s.Member.Shape
		if !g.needsCheck(elem, map[string]bool{}) {
			return
		}
		fmt.Fprintf(b, "\tfor i := range %s {\n", f)
		switch g.m.Shapes[elem].Type {
		case "structure":
			fmt.Fprintf(b, "\t\t%s[i].validate(v, element(path, %s, i))\n", f, name)
		default:
			g.scalarChecks(b, elem, f+"[i]", "element(path, "+name+", i), \"\"", patterns)
		}
		b.WriteString("\t}\n")
	case "map":
		// The model's maps hold plain strings; nothing to check in them.
	}
}

// scalarChecks writes the checks of one scalar value expr of shape name;
// at is the (path, name) pair the violation is reported at.
func (g *generator) scalarChecks(b *bytes.Buffer, name, expr, at string, patterns map[string]string) {
	s := g.m.Shapes[name]
	switch {
	case s.Type == "string" && len(s.Enum) > 0:
		fmt.Fprintf(b, "\t\tcheckEnum(v, %s, %s)\n", at, expr)
	case s.Type == "string":
		if s.Min != nil || s.Max != nil {
			fmt.Fprintf(b, "\t\tv.Length(%s, %s, %s, %s)\n", at, expr, bound(s.Min), bound(s.Max))
		}
		if p, ok := patterns[name]; ok {
			fmt.Fprintf(b, "\t\tv.Pattern(%s, %s, %s)\n", at, expr, p)
		}
	default:
		fmt.Fprintf(b, "\t\tv.RangeOf(%s, float64(%s), %s, %s)\n", at, expr, bound(s.Min), bound(s.Max))
	}
}

// bound renders an optional limit as a *float64 expression.
func bound(f *float64) string {
	if f == nil {
		return "nil"
	}
	return "limit(" + strconv.FormatFloat(*f, 'f', -1, 64) + ")"
}
