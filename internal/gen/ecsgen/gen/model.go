// Package gen turns the botocore model of the ECS API into Go source: wire
// types, enums, the error table, the operation table with its Handler
// interface and dispatcher, and input validation. The same generator makes
// the wire layer of the other services Berth serves (SSM) from their models,
// and the agent protocols' message types.
package gen

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"unicode"
)

// model is the part of botocore's service-2.json that the generator reads.
type model struct {
	Metadata struct {
		TargetPrefix string `json:"targetPrefix"`
	} `json:"metadata"`
	Operations map[string]operation `json:"operations"`
	Shapes     map[string]*shape    `json:"shapes"`
}

type operation struct {
	Name   string     `json:"name"`
	Input  *shapeRef  `json:"input"`
	Output *shapeRef  `json:"output"`
	Errors []shapeRef `json:"errors"`
}

type shapeRef struct {
	Shape string `json:"shape"`
}

type shape struct {
	Type      string         `json:"type"`
	Members   orderedMembers `json:"members"`
	Required  []string       `json:"required"`
	Member    *shapeRef      `json:"member"`
	Key       *shapeRef      `json:"key"`
	Value     *shapeRef      `json:"value"`
	Enum      []string       `json:"enum"`
	Min       *float64       `json:"min"`
	Max       *float64       `json:"max"`
	Pattern   string         `json:"pattern"`
	Exception bool           `json:"exception"`
	Fault     bool           `json:"fault"`
	Document  bool           `json:"document"`
}

// member is one member of a structure, in model order.
type member struct {
	Name  string
	Shape string
}

// orderedMembers keeps the model's member order, which encoding/json's map
// decoding would lose; generated structs list fields in that order.
type orderedMembers []member

func (m *orderedMembers) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		var ref shapeRef
		if err := dec.Decode(&ref); err != nil {
			return err
		}
		*m = append(*m, member{Name: tok.(string), Shape: ref.Shape})
	}
	_, err := dec.Token() // }
	return err
}

func load(path string) (*model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

func (m *model) sortedShapeNames() []string {
	names := make([]string, 0, len(m.Shapes))
	for n := range m.Shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (m *model) sortedOperationNames() []string {
	names := make([]string, 0, len(m.Operations))
	for n := range m.Operations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *shape) required(name string) bool {
	for _, r := range s.Required {
		if r == name {
			return true
		}
	}
	return false
}

// reservedNames are identifiers the hand-written part of package ecs
// already uses. The model's Timestamp shape is a timestamp, which maps onto
// the hand-written Timestamp type, so no shape actually collides today.
var reservedNames = map[string]bool{"Error": true, "Ptr": true, "Val": true, "Handler": true,
	"UnimplementedHandler": true, "Dispatch": true, "OperationInfo": true, "Operations": true, "Empty": true}

func typeName(shapeName string) string {
	if reservedNames[shapeName] {
		return shapeName + "Shape"
	}
	return shapeName
}

func fieldName(memberName string) string {
	r := []rune(memberName)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// enumConstName makes an enum value into a Go identifier the way the AWS SDK
// for Go v2 does: words split on punctuation, ALL-CAPS words title-cased.
func enumConstName(typ, value string) string {
	var b strings.Builder
	b.WriteString(typ)
	for _, word := range strings.FieldsFunc(value, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if strings.ToUpper(word) == word {
			word = strings.ToLower(word)
		}
		r := []rune(word)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}
