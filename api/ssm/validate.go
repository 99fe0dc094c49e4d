package ssm

import "github.com/berth-project/berth/api/ecs"

// validator is the generated validation's collector: api/ecs's, whose
// problems SSM sends, in the same words, as one ValidationException.
type validator struct{ ecs.Validator }

func (v *validator) err() error { return v.Err(CodeValidationException) }

func checkEnum[T interface {
	~string
	Values() []T
}](v *validator, path, name string, value T) {
	ecs.CheckEnum(&v.Validator, path, name, value)
}

func join(path, name string) string           { return ecs.JoinPath(path, name) }
func element(path, name string, i int) string { return ecs.ElementPath(path, name, i) }
func limit(f float64) *float64                { return ecs.Limit(f) }
