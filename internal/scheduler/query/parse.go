package query

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Expr is a parsed expression.
type Expr interface {
	Match(Instance) bool
	String() string
}

type and struct{ l, r Expr }
type or struct{ l, r Expr }
type not struct{ e Expr }

// comparison is "subject operator [argument]".
type comparison struct {
	subject string // as written: attribute:NAME, task:group, runningTasksCount, ...
	op      string // canonical: ==, !=, >, >=, <, <=, exists, !exists, in, !in, =~, !~
	args    []string
	re      *regexp.Regexp // for =~ and !~
}

func (e and) Match(i Instance) bool { return e.l.Match(i) && e.r.Match(i) }
func (e or) Match(i Instance) bool  { return e.l.Match(i) || e.r.Match(i) }
func (e not) Match(i Instance) bool { return !e.e.Match(i) }
func (e and) String() string        { return "(" + e.l.String() + " and " + e.r.String() + ")" }
func (e or) String() string         { return "(" + e.l.String() + " or " + e.r.String() + ")" }
func (e not) String() string        { return "not(" + e.e.String() + ")" }
func (c *comparison) String() string {
	switch c.op {
	case "exists", "!exists":
		return c.subject + " " + c.op
	case "in", "!in":
		quoted := make([]string, len(c.args))
		for i, a := range c.args {
			quoted[i] = quote(a)
		}
		return c.subject + " " + c.op + " [" + strings.Join(quoted, ", ") + "]"
	}
	return c.subject + " " + c.op + " " + quote(c.args[0])
}

// quote writes a value so that it reads back as the same value.
func quote(v string) string {
	bare := v != ""
	for i := 0; i < len(v); i++ {
		bare = bare && isWordByte(v[i])
	}
	switch {
	case bare:
		return v
	case !strings.Contains(v, "'"):
		return "'" + v + "'"
	}
	return `"` + v + `"`
}

// The operators, by every name the language gives them.
var operators = map[string]string{
	"==": "==", "equals": "==", "!=": "!=", "not_equals": "!=",
	">": ">", "greater_than": ">", ">=": ">=", "greater_than_equal": ">=",
	"<": "<", "less_than": "<", "<=": "<=", "less_than_equal": "<=",
	"exists": "exists", "!exists": "!exists", "not_exists": "!exists",
	"in": "in", "!in": "!in", "not_in": "!in",
	"=~": "=~", "matches": "=~", "!~": "!~", "not_matches": "!~",
}

// The subjects and the operators each accepts, as ECS documents them.
var (
	equality = []string{"==", "!=", "in", "!in", "=~", "!~"}
	ordered  = []string{"==", "!=", ">", ">=", "<", "<="}
	subjects = map[string][]string{
		"agentConnected":    equality,
		"agentVersion":      ordered,
		"ec2InstanceId":     equality,
		"registeredAt":      ordered,
		"runningTasksCount": ordered,
		"task:group":        equality,
	}
	attributeOps = []string{"==", "!=", ">", ">=", "<", "<=", "exists", "!exists", "in", "!in", "=~", "!~"}
)

// Parse parses an expression. Errors are *SyntaxError.
func Parse(s string) (Expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errorf(t, "unexpected %q", t.text)
	}
	return e, nil
}

type parser struct {
	toks  []token
	i     int
	depth int // parentheses and nots open around the current token
}

// MaxDepth is how deeply parentheses and "not" may nest. The parser is
// recursive, so this bounds its stack; real expressions nest a few levels.
const MaxDepth = 100

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) errorf(t token, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if t.kind == tokEOF {
		msg = strings.Replace(msg, `unexpected ""`, "unexpected end of expression", 1)
	}
	return &SyntaxError{Pos: t.pos, Msg: msg}
}

func isKeyword(t token, words ...string) bool {
	if t.kind == tokWord {
		for _, w := range words {
			if strings.EqualFold(t.text, w) {
				return true
			}
		}
	}
	return false
}

func (p *parser) or() (Expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); isKeyword(t, "or") || (t.kind == tokOp && t.text == "||"); t = p.peek() {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = or{l, r}
	}
	return l, nil
}

func (p *parser) and() (Expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); isKeyword(t, "and") || (t.kind == tokOp && t.text == "&&"); t = p.peek() {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = and{l, r}
	}
	return l, nil
}

func (p *parser) unary() (Expr, error) {
	t := p.peek()
	nests := isKeyword(t, "not") || (t.kind == tokOp && t.text == "!") || t.kind == tokLParen
	if nests {
		if p.depth >= MaxDepth {
			return nil, p.errorf(t, "the expression nests more than %d levels of parentheses and not", MaxDepth)
		}
		p.depth++
		defer func() { p.depth-- }()
	}
	switch {
	case isKeyword(t, "not") || (t.kind == tokOp && t.text == "!"):
		p.next()
		e, err := p.unary()
		if err != nil {
			return nil, err
		}
		return not{e}, nil
	case t.kind == tokLParen:
		p.next()
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, p.errorf(c, "expected ')' but found %q", c.text)
		}
		return e, nil
	}
	return p.comparison()
}

func (p *parser) comparison() (Expr, error) {
	st := p.next()
	if st.kind != tokWord {
		return nil, p.errorf(st, "expected a subject (attribute:NAME, task:group, ...) but found %q", st.text)
	}
	allowed, known := subjects[st.text]
	if strings.HasPrefix(st.text, "attribute:") && len(st.text) > len("attribute:") {
		allowed, known = attributeOps, true
	}
	if !known {
		return nil, p.errorf(st, "unknown subject %q", st.text)
	}
	opTok := p.next()
	spelled := opTok.text
	if opTok.kind == tokOp && opTok.text == "!" { // !in, !exists
		w := p.next()
		spelled = "!" + w.text
	}
	op, ok := operators[strings.ToLower(spelled)]
	if !ok || (opTok.kind != tokOp && opTok.kind != tokWord) {
		return nil, p.errorf(opTok, "expected an operator after %q but found %q", st.text, spelled)
	}
	if !contains(allowed, op) {
		return nil, p.errorf(opTok, "operator %q cannot be used with %q", spelled, st.text)
	}
	c := &comparison{subject: st.text, op: op}
	switch op {
	case "exists", "!exists":
		return c, nil
	case "in", "!in":
		args, err := p.list()
		if err != nil {
			return nil, err
		}
		c.args = args
	default:
		v := p.next()
		if v.kind != tokWord && v.kind != tokString {
			return nil, p.errorf(v, "expected a value after %q but found %q", spelled, v.text)
		}
		c.args = []string{v.text}
	}
	if err := checkArgs(c, opTok); err != nil {
		return nil, err
	}
	if op == "=~" || op == "!~" {
		re, err := regexp.Compile("^(?:" + c.args[0] + ")$")
		if err != nil {
			return nil, &SyntaxError{Pos: opTok.pos, Msg: fmt.Sprintf("invalid regular expression %q", c.args[0])}
		}
		c.re = re
	}
	return c, nil
}

// list is "[v, v, ...]" (parentheses are accepted too).
func (p *parser) list() ([]string, error) {
	open := p.next()
	if open.kind != tokLBracket && open.kind != tokLParen {
		return nil, p.errorf(open, "expected '[' to start a list but found %q", open.text)
	}
	closing := tokRBracket
	if open.kind == tokLParen {
		closing = tokRParen
	}
	var out []string
	for {
		v := p.next()
		if v.kind != tokWord && v.kind != tokString {
			return nil, p.errorf(v, "expected a value in the list but found %q", v.text)
		}
		out = append(out, v.text)
		sep := p.next()
		if sep.kind == closing {
			return out, nil
		}
		if sep.kind != tokComma {
			return nil, p.errorf(sep, "expected ',' or the end of the list but found %q", sep.text)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkArgs refuses values a subject can never have.
func checkArgs(c *comparison, at token) error {
	for _, a := range c.args {
		switch c.subject {
		case "registeredAt":
			ok := false
			for _, l := range timeLayouts {
				if _, err := time.Parse(l, a); err == nil {
					ok = true
				}
			}
			if !ok {
				return &SyntaxError{Pos: at.pos, Msg: fmt.Sprintf("%q is not a date (2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18)", a)}
			}
		case "runningTasksCount":
			if _, err := strconv.Atoi(a); err != nil {
				return &SyntaxError{Pos: at.pos, Msg: fmt.Sprintf("%q is not a number of tasks", a)}
			}
		case "agentConnected":
			if !strings.EqualFold(a, "true") && !strings.EqualFold(a, "false") && c.op != "=~" && c.op != "!~" {
				return &SyntaxError{Pos: at.pos, Msg: fmt.Sprintf("%q is not true or false", a)}
			}
		}
	}
	return nil
}
