package ecs

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// validator collects every constraint a request breaks, so the client hears
// of all of them at once, in the words of AWS's request validation:
//
//	2 validation errors detected: Value null at 'cluster' failed to satisfy
//	constraint: Member must not be null; Value '70000' at ...
type validator struct {
	problems []string
}

func (v *validator) err() error {
	switch len(v.problems) {
	case 0:
		return nil
	case 1:
		return NewInvalidParameterException("1 validation error detected: %s", v.problems[0])
	}
	return NewInvalidParameterException("%d validation errors detected: %s", len(v.problems), strings.Join(v.problems, "; "))
}

func (v *validator) add(value, path, name, constraint string) {
	v.problems = append(v.problems, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: Member must %s", value, join(path, name), constraint))
}

func (v *validator) missing(path, name string) {
	v.add("null", path, name, "not be null")
}

// checkEnum reports value unless it is one of its enum's values.
func checkEnum[T interface {
	~string
	Values() []T
}](v *validator, path, name string, value T) {
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

func (v *validator) length(path, name, value string, min, max *float64) {
	n := float64(utf8.RuneCountInString(value))
	if min != nil && n < *min {
		v.add(quote(value), path, name, "have length greater than or equal to "+num(*min))
	}
	if max != nil && n > *max {
		v.add(quote(value), path, name, "have length less than or equal to "+num(*max))
	}
}

func (v *validator) count(path, name string, n int, min, max *float64) {
	value := "with " + strconv.Itoa(n) + " elements"
	if min != nil && float64(n) < *min {
		v.add(value, path, name, "have length greater than or equal to "+num(*min))
	}
	if max != nil && float64(n) > *max {
		v.add(value, path, name, "have length less than or equal to "+num(*max))
	}
}

func (v *validator) rangeOf(path, name string, value float64, min, max *float64) {
	if min != nil && value < *min {
		v.add(quote(num(value)), path, name, "have value greater than or equal to "+num(*min))
	}
	if max != nil && value > *max {
		v.add(quote(num(value)), path, name, "have value less than or equal to "+num(*max))
	}
}

func (v *validator) pattern(path, name, value string, re *regexp.Regexp) {
	if !re.MatchString(value) {
		// Show the model's pattern, without the anchors added to compile it.
		p := strings.TrimSuffix(strings.TrimPrefix(re.String(), "^(?:"), ")$")
		v.add(quote(value), path, name, "satisfy regular expression pattern: "+p)
	}
}

func limit(f float64) *float64 { return &f }

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
