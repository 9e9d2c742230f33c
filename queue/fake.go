package queue

// Fake is a Reader for tests: it hands out Batches one per Receive, then
// returns ErrClosed, and records what it was told.
type Fake struct {
	Batches [][]Packet
	// Answers are the verdicts given, in order, with their packet ids.
	Answers []Answer
	Flushes int
	Closed  bool
}

// Answer is one verdict a Fake received.
type Answer struct {
	ID uint32
	Verdict
}

func (f *Fake) Receive(fn func(p *Packet)) error {
	if len(f.Batches) == 0 {
		return ErrClosed
	}
	b := f.Batches[0]
	f.Batches = f.Batches[1:]
	for i := range b {
		fn(&b[i])
	}
	return nil
}

func (f *Fake) Verdict(id uint32, v Verdict) error {
	f.Answers = append(f.Answers, Answer{id, v})
	return nil
}

func (f *Fake) Flush() error { f.Flushes++; return nil }

func (f *Fake) Close() { f.Closed = true }
