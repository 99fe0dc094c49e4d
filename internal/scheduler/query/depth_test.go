package query

import (
	"errors"
	"strings"
	"testing"
)

// The parser is recursive: nesting is bounded so that an expression of
// parentheses or nots cannot take its stack (or memory) without limit.
func TestNestingIsBounded(t *testing.T) {
	const leaf = "attribute:stack == prod"
	nested := func(n int, open, close string) string {
		return strings.Repeat(open, n) + leaf + strings.Repeat(close, n)
	}
	for _, s := range []string{
		nested(MaxDepth, "(", ")"),
		nested(MaxDepth, "not ", ""),
		nested(MaxDepth/2, "!(", ")"),
	} {
		e, err := Parse(s)
		if err != nil {
			t.Fatalf("%d levels refused: %v", MaxDepth, err)
		}
		if !e.Match(small) { // an even number of nots
			t.Fatalf("%s evaluated wrongly", s)
		}
	}
	for _, s := range []string{
		nested(MaxDepth+1, "(", ")"),
		nested(MaxDepth+1, "not ", ""),
		nested(MaxDepth/2+1, "!(", ")"),
		strings.Repeat("(", 1_000_000),
	} {
		_, err := Parse(s)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(se.Msg, "nests more than 100 levels") {
			t.Fatalf("%.20s... (%d bytes): %v, want a nesting error", s, len(s), err)
		}
	}
}
