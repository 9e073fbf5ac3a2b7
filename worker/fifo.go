package worker

// This file owns fifo, the first-in, first-out ring the pool's lines are
// made of: the idle executors (executors.go) and the users waiting for an
// executor (dueusers.go). It is not safe for concurrent use; its owners
// guard it with their own mutex.

// fifo is a first-in, first-out queue in a ring that doubles when full
// and never shrinks (a pointer's 8 bytes a slot: 1 MB after a line of
// 100,000). A slot out of the queue holds the zero value, so that the
// ring keeps nothing alive that left it.
type fifo[T any] struct {
	buf     []T // a ring: n values from head on
	head, n int
}

// len returns how many values are queued.
func (q *fifo[T]) len() int { return q.n }

// front returns the value queued longest, which must exist.
func (q *fifo[T]) front() T { return q.buf[q.head] }

// push queues v last.
func (q *fifo[T]) push(v T) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = v
	q.n++
}

// pop takes out the value queued longest, which must exist.
func (q *fifo[T]) pop() T {
	var zero T
	v := q.buf[q.head]
	q.buf[q.head] = zero
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return v
}

// grow doubles the ring's room, its values first.
func (q *fifo[T]) grow() {
	buf := make([]T, max(2*len(q.buf), 64))
	for i := range q.n {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}
