package ecs

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Validator collects every constraint a request breaks, so the client hears
// of all of them at once, in the words of AWS's request validation:
//
//	2 validation errors detected: Value null at 'cluster' failed to satisfy
//	constraint: Member must not be null; Value '70000' at ...
//
// It is exported for the other services' generated validation (api/ssm),
// which sends the same words under its own exception.
type Validator struct {
	problems []string
}

// validator is ECS's: its problems are one InvalidParameterException.
type validator struct{ Validator }

func (v *validator) err() error { return v.Err(CodeInvalidParameterException) }

// Err is nil when nothing was broken, else one error of exception code
// listing every problem.
func (v *Validator) Err(code string) error {
	switch len(v.problems) {
	case 0:
		return nil
	case 1:
		return newError(code, ErrorCodes[CodeInvalidParameterException], "1 validation error detected: %s", []any{v.problems[0]})
	}
	return newError(code, ErrorCodes[CodeInvalidParameterException], "%d validation errors detected: %s", []any{len(v.problems), strings.Join(v.problems, "; ")})
}

func (v *Validator) add(value, path, name, constraint string) {
	v.problems = append(v.problems, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: Member must %s", value, join(path, name), constraint))
}

// Missing reports a required member left out.
func (v *Validator) Missing(path, name string) {
	v.add("null", path, name, "not be null")
}

// CheckEnum reports value unless it is one of its enum's values.
func CheckEnum[T interface {
	~string
	Values() []T
}](v *Validator, path, name string, value T) {
	allowed := value.Values()
	if slices.Contains(allowed, value) {
		return
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	v.add(quote(string(value)), path, name, "satisfy enum value set: ["+strings.Join(names, ", ")+"]")
}

func checkEnum[T interface {
	~string
	Values() []T
}](v *validator, path, name string, value T) {
	CheckEnum(&v.Validator, path, name, value)
}

// Length reports a string shorter than min or longer than max characters.
func (v *Validator) Length(path, name, value string, min, max *float64) {
	n := float64(utf8.RuneCountInString(value))
	if min != nil && n < *min {
		v.add(quote(value), path, name, "have length greater than or equal to "+num(*min))
	}
	if max != nil && n > *max {
		v.add(quote(value), path, name, "have length less than or equal to "+num(*max))
	}
}

// Count reports a list of fewer than min or more than max elements.
func (v *Validator) Count(path, name string, n int, min, max *float64) {
	value := "with " + strconv.Itoa(n) + " elements"
	if min != nil && float64(n) < *min {
		v.add(value, path, name, "have length greater than or equal to "+num(*min))
	}
	if max != nil && float64(n) > *max {
		v.add(value, path, name, "have length less than or equal to "+num(*max))
	}
}

// RangeOf reports a number below min or above max.
func (v *Validator) RangeOf(path, name string, value float64, min, max *float64) {
	if min != nil && value < *min {
		v.add(quote(num(value)), path, name, "have value greater than or equal to "+num(*min))
	}
	if max != nil && value > *max {
		v.add(quote(num(value)), path, name, "have value less than or equal to "+num(*max))
	}
}

// Pattern reports a string re does not match.
func (v *Validator) Pattern(path, name, value string, re *regexp.Regexp) {
	if !re.MatchString(value) {
		// Show the model's pattern, without the anchors added to compile it.
		p := strings.TrimSuffix(strings.TrimPrefix(re.String(), "^(?:"), ")$")
		v.add(quote(value), path, name, "satisfy regular expression pattern: "+p)
	}
}

func limit(f float64) *float64 { return &f }

// Limit, JoinPath and ElementPath are limit, join and element for the other
// services' generated validation.
func Limit(f float64) *float64 { return limit(f) }

// JoinPath extends a dotted member path (join).
func JoinPath(path, name string) string { return join(path, name) }

// ElementPath is the path of the i-th element of list name (element).
func ElementPath(path, name string, i int) string { return element(path, name, i) }

// join extends a dotted member path, as AWS reports nested members.
func join(path, name string) string {
	switch {
	case path == "":
		return name
	case name == "":
		return path
	}
	return path + "." + name
}

// element is the path of the i-th element of list name: AWS counts from 1
// and adds ".member" (tags.2.member.key).
func element(path, name string, i int) string {
	return join(path, name) + "." + strconv.Itoa(i+1) + ".member"
}

func quote(s string) string { return "'" + s + "'" }

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
