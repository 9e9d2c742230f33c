package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	ok := []string{
		`{"cmd":"status"}`,
		`{"cmd":"reload","args":{"file":"/etc/nfd/rules.nft"}}` + "\n",
		`{"cmd":"trace","args":{"filter":"tcp dport 22","count":"3"}} trailing`,
	}
	for _, s := range ok {
		if _, err := DecodeRequest(strings.NewReader(s)); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := map[string]string{
		``:                                 "EOF",
		`{`:                                "unexpected EOF",
		`[]`:                               "cannot unmarshal",
		`{"cmd":""}`:                       "no command",
		`{"cmd":"st atus"}`:                "malformed command",
		`{"cmd":"status","x":1}`:           "unknown field",
		`{"cmd":"status","args":{"":"x"}}`: "malformed argument",
		`{"cmd":"status","args":{"a":1}}`:  "cannot unmarshal",
		`{"cmd":"` + strings.Repeat("a", 65) + `"}`:                          "malformed command",
		`{"cmd":"x","args":{"f":"` + strings.Repeat("a", maxValue+1) + `"}}`: "longer than",
		`{"cmd":"x","args":{"f":"` + strings.Repeat("a", MaxRequest) + `"}}`: "larger than",
		strings.Repeat(" ", MaxRequest+1) + `{"cmd":"status"}`:               "larger than",
	}
	for in, want := range bad {
		_, err := DecodeRequest(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60q: got %v, want an error containing %q", in, err, want)
		}
	}
	many := Request{Cmd: "x", Args: map[string]string{}}
	for i := 0; i <= maxArgs; i++ {
		many.Args[strings.Repeat("k", i+1)] = "v"
	}
	b, _ := json.Marshal(many)
	if _, err := DecodeRequest(bytes.NewReader(b)); err == nil {
		t.Errorf("%d arguments accepted", len(many.Args))
	}
}

// FuzzDecodeRequest: any input either fails with an error or yields a
// request within every bound, read from at most MaxRequest bytes, that
// encodes and decodes back to itself.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"cmd":"status"}`))
	f.Add([]byte(`{"cmd":"reload","args":{"file":"/dev/zero"}}`))
	f.Add([]byte(`{"cmd":"trace","args":{"filter":"ip saddr 10.0.0.1","count":"5"}}`))
	f.Add([]byte(`{"cmd":"\u0000"}`))
	f.Add([]byte(`{"cmd":"x","args":null}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &countingReader{r: bytes.NewReader(in)}
		req, err := DecodeRequest(r)
		if r.n > MaxRequest {
			t.Fatalf("read %d bytes, more than %d", r.n, MaxRequest)
		}
		if err != nil {
			if req.Cmd != "" || req.Args != nil {
				t.Fatalf("error %v with a request %+v", err, req)
			}
			if len(in) > MaxRequest && errors.Is(err, ErrRequestTooLarge) && r.n != MaxRequest {
				t.Fatalf("too large after %d bytes", r.n)
			}
			return
		}
		if req.validate() != nil {
			t.Fatalf("decoded an invalid request %+v", req)
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeRequest(bytes.NewReader(b))
		if err != nil || back.Cmd != req.Cmd || len(back.Args) != len(req.Args) {
			t.Fatalf("round trip of %+v: %+v, %v", req, back, err)
		}
		for k, v := range req.Args {
			if back.Args[k] != v {
				t.Fatalf("round trip of %+v: arg %s = %q", req, k, back.Args[k])
			}
		}
	})
}

type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
