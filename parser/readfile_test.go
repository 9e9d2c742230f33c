package parser

import (
	stdctx "context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadRuleFileRefuses: devices, FIFOs (even one nobody writes: the
// open must not wait), directories and files over the limit are refused
// at once with a clear error, as files and as includes.
func TestReadRuleFileRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.nft")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(300 << 20); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	f.Close()
	cases := map[string]string{
		"/dev/zero": "not a regular file (a character device)",
		"/dev/null": "not a regular file (a character device)",
		fifo:        "not a regular file (a FIFO (named pipe))",
		dir:         "not a regular file (a directory)",
		huge:        "file is 314572800 bytes, larger than the limit of 67108864 bytes",
	}
	for path, want := range cases {
		start := time.Now()
		_, err := ReadRuleFile(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", path, err, want)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: refused after %v", path, d)
		}
		_, err = ParseFile(path)
		var el ErrorList
		if !errors.As(err, &el) || !strings.HasPrefix(el[0].Error(), path+": error: ") || !strings.Contains(el[0].Msg, want) {
			t.Errorf("ParseFile(%s): %v", path, err)
		}
		inc := filepath.Join(dir, "inc.nft")
		if err := os.WriteFile(inc, []byte("include \""+path+"\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = ParseFile(inc)
		if err == nil || !strings.Contains(err.Error(), inc+":1:9: error: cannot include") || !strings.Contains(err.Error(), want) {
			t.Errorf("include of %s: %v", path, err)
		}
	}
}

// TestReadRuleFileAtLimit: a file of exactly MaxFileSize bytes is read
// whole; one byte more is refused.
func TestReadRuleFileAtLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 128 MiB")
	}
	dir := t.TempDir()
	at := filepath.Join(dir, "at.nft")
	body := make([]byte, MaxFileSize)
	for i := range body {
		body[i] = '\n'
	}
	if err := os.WriteFile(at, body, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := ReadRuleFile(at)
	if err != nil || len(b) != MaxFileSize || cap(b) != MaxFileSize+1 {
		t.Fatalf("at the limit: len %d cap %d err %v", len(b), cap(b), err)
	}
	over := filepath.Join(dir, "over.nft")
	if err := os.WriteFile(over, append(body, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRuleFile(over); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Fatalf("one byte over: %v", err)
	}
}

// TestParseContextCancelled: a parse whose context has ended stops and
// says so instead of finishing the file.
func TestParseContextCancelled(t *testing.T) {
	src := strings.Repeat("table inet t { chain c { tcp dport 22 accept; }; }\n", 20000)
	ctx, cancel := stdctx.WithCancel(stdctx.Background())
	cancel()
	rs, err := ParseContext(ctx, "x.nft", []byte(src))
	if rs != nil || !errors.Is(err, stdctx.Canceled) {
		t.Fatalf("got %v, %v", rs, err)
	}
	if _, err := ParseContext(stdctx.Background(), "x.nft", []byte(src)); err != nil {
		t.Fatal(err)
	}
}
