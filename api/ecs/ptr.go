package ecs

// Ptr returns a pointer to v: the wire types use pointers for optional scalars
// so that "absent" and "zero" stay different, as they are on the wire.
func Ptr[T any](v T) *T { return &v }

// Val returns *p, or the zero value when p is nil.
func Val[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
