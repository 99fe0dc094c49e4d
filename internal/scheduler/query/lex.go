// Package query is ECS's cluster query language: expressions such as
//
//	attribute:ecs.instance-type =~ t2.* and not(task:group == database)
//	attribute:ecs.availability-zone in [us-east-1a, us-east-1b]
//	runningTasksCount <= 2 || agentConnected == false
//
// used by memberOf placement constraints and by ListContainerInstances'
// filter. Parse turns an expression into a tree; Expr.Match evaluates it
// against one container instance. Syntax errors say where they are.
package query

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokenKind int

const (
	tokEOF    tokenKind = iota
	tokWord             // a subject, a value or a keyword
	tokString           // a quoted value
	tokOp               // ==, !=, >, >=, <, <=, =~, !~, &&, ||, !
	tokLParen
	tokRParen
	tokLBracket
	tokRBracket
	tokComma
)

type token struct {
	kind tokenKind
	text string
	pos  int // byte offset in the expression, for errors
}

// SyntaxError is a malformed expression; Pos is a byte offset.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s at position %d", e.Msg, e.Pos) }

// isWordByte: anything but ASCII space, the grammar's punctuation and
// operator characters. Bytes of multi-byte UTF-8 runes are word bytes.
func isWordByte(b byte) bool {
	if b >= utf8.RuneSelf {
		return true
	}
	return !unicode.IsSpace(rune(b)) && !strings.ContainsRune("()[],'\"=!<>&|~", rune(b))
}

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		r := rune(s[i])
		switch {
		case r < utf8.RuneSelf && unicode.IsSpace(r):
			i++
		case strings.ContainsRune("()[],", r):
			kind := map[rune]tokenKind{'(': tokLParen, ')': tokRParen, '[': tokLBracket, ']': tokRBracket, ',': tokComma}[r]
			out = append(out, token{kind, string(r), i})
			i++
		case r == '\'' || r == '"':
			end := strings.IndexRune(s[i+1:], r)
			if end < 0 {
				return nil, &SyntaxError{i, "unterminated quoted value"}
			}
			out = append(out, token{tokString, s[i+1 : i+1+end], i})
			i += end + 2
		case strings.ContainsRune("=!<>&|~", r):
			op := ""
			for _, cand := range []string{"==", "!=", ">=", "<=", "=~", "!~", "&&", "||", ">", "<", "!"} {
				if strings.HasPrefix(s[i:], cand) {
					op = cand
					break
				}
			}
			if op == "" {
				return nil, &SyntaxError{i, fmt.Sprintf("unknown operator %q", string(r))}
			}
			out = append(out, token{tokOp, op, i})
			i += len(op)
		default:
			start := i
			for i < len(s) && isWordByte(s[i]) {
				i++
			}
			if i == start { // an ASCII control or space character the cases above do not know
				return nil, &SyntaxError{i, "unexpected character"}
			}
			out = append(out, token{tokWord, s[start:i], start})
		}
	}
	return append(out, token{tokEOF, "", len(s)}), nil
}
