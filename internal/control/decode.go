package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Bounds on one request. A request is a command name and a few short
// arguments (a file path, a trace filter), so these leave ample room.
const (
	// MaxRequest bounds the bytes of one request's JSON.
	MaxRequest = 64 << 10
	// RequestTimeout bounds how long a peer may take to send its request.
	RequestTimeout = 5 * time.Second
	// MaxConns bounds the connections served at once; more are told the
	// daemon is busy and closed.
	MaxConns = 256

	maxCmd   = 64
	maxArgs  = 16
	maxKey   = 64
	maxValue = 16 << 10
)

// ErrRequestTooLarge is returned for a request over MaxRequest bytes.
var ErrRequestTooLarge = fmt.Errorf("request larger than %d bytes", MaxRequest)

// capped reads at most MaxRequest bytes and then fails with
// ErrRequestTooLarge, so that the JSON decoder's buffer stays bounded.
type capped struct {
	r io.Reader
	n int
}

func (c *capped) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, ErrRequestTooLarge
	}
	if len(p) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

// DecodeRequest reads one request: a single JSON object with a known
// shape, within MaxRequest bytes. Anything else is an error, and nothing
// is done for it.
func DecodeRequest(r io.Reader) (Request, error) {
	var req Request
	dec := json.NewDecoder(&capped{r: r, n: MaxRequest})
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, ErrRequestTooLarge) {
			return Request{}, ErrRequestTooLarge
		}
		return Request{}, err
	}
	if err := req.validate(); err != nil {
		return Request{}, err
	}
	return req, nil
}

func (req *Request) validate() error {
	if req.Cmd == "" {
		return errors.New("no command")
	}
	if len(req.Cmd) > maxCmd || !printable(req.Cmd) {
		return errors.New("malformed command name")
	}
	if len(req.Args) > maxArgs {
		return fmt.Errorf("more than %d arguments", maxArgs)
	}
	for k, v := range req.Args {
		if k == "" || len(k) > maxKey || !printable(k) {
			return errors.New("malformed argument name")
		}
		if len(v) > maxValue {
			return fmt.Errorf("argument %s longer than %d bytes", k, maxValue)
		}
	}
	return nil
}

// printable reports whether s is non-control ASCII: command and argument
// names are plain words.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
