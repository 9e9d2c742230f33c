package rules

// slab hands out small slices carved from larger blocks, so that a
// compile of 10^5 rules does not make one allocation per rule for each of
// them. Blocks grow from small (a reload compiling a few rules takes
// little, and reused rules keep their blocks alive) to slabMax.
type slab[T any] struct {
	buf  []T
	next int
}

const slabMax = 4096

// take returns an empty slice with room for n elements, sharing no
// element with any other slice take returned.
func (s *slab[T]) take(n int) []T {
	if cap(s.buf)-len(s.buf) < n {
		if n > slabMax/4 {
			return make([]T, 0, n)
		}
		s.next = min(max(2*s.next, 16), slabMax)
		s.buf = make([]T, 0, max(s.next, n))
	}
	l := len(s.buf)
	s.buf = s.buf[:l+n]
	return s.buf[l : l : l+n]
}
