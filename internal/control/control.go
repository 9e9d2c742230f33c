// Package control is the daemon's local control socket: one JSON request
// per connection, one JSON response (or, for streams, a line per event).
// The socket is created mode 0600 and every peer's credentials are checked:
// only root (or the daemon's own user) may talk to it.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultSocket is where nfd listens unless told otherwise.
const DefaultSocket = "/run/nfd/nfd.sock"

// Request is a command to the daemon.
type Request struct {
	Cmd  string            `json:"cmd"`
	Args map[string]string `json:"args,omitempty"`
}

// Response is the daemon's answer.
type Response struct {
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Handler answers one request. For a stream, it writes lines to w until
// ctx ends or the peer goes away, and returns nil data.
type Handler func(ctx context.Context, req Request, w *json.Encoder) (any, error)

// Listen opens the socket at path (its directory is created) with mode
// 0600, removing a stale socket left by a crashed daemon.
func Listen(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("another nfd is already listening on %s", path)
	}
	_ = os.Remove(path)
	old := unix.Umask(0o177)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Serve answers connections on l until ctx ends. Each connection gets a
// goroutine of its own, which ends with its peer or with ctx.
func Serve(ctx context.Context, l *net.UnixListener, h Handler, log *slog.Logger) {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	var active atomic.Int32
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("control socket accept", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if active.Add(1) > MaxConns {
			active.Add(-1)
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			_ = json.NewEncoder(conn).Encode(Response{Error: "busy: too many control connections at once"})
			conn.Close()
			continue
		}
		go func() {
			defer active.Add(-1)
			serveConn(ctx, conn, h, log)
		}()
	}
}

func peerAllowed(conn *net.UnixConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("uid %d may not use the control socket", cred.Uid)
	}
	return nil
}

func serveConn(ctx context.Context, conn *net.UnixConn, h Handler, log *slog.Logger) {
	defer conn.Close()
	enc := json.NewEncoder(conn)
	if err := peerAllowed(conn); err != nil {
		log.Warn("control socket peer refused", "err", err)
		_ = enc.Encode(Response{Error: "permission denied: " + err.Error()})
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(RequestTimeout))
	req, err := DecodeRequest(bufio.NewReader(conn))
	if err != nil {
		_ = enc.Encode(Response{Error: "bad request: " + err.Error()})
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// The peer closing its end ends a stream.
		buf := make([]byte, 1)
		_, _ = conn.Read(buf)
		cancel()
	}()
	data, err := h(cctx, req, enc)
	if err != nil {
		_ = enc.Encode(Response{Error: err.Error()})
		return
	}
	if data == nil {
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		_ = enc.Encode(Response{Error: err.Error()})
		return
	}
	_ = enc.Encode(Response{OK: true, Data: b})
}

// ErrNoDaemon means nobody answers on the socket.
var ErrNoDaemon = errors.New("no nfd daemon answers")

// Call sends req and decodes the response's data into out.
func Call(path string, req Request, out any) error {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return fmt.Errorf("%w on %s (is `nfd run` running? %v)", ErrNoDaemon, path, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return err
	}
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return fmt.Errorf("reading the daemon's answer: %w", err)
	}
	if !resp.OK {
		return &RemoteError{Msg: resp.Error}
	}
	if out != nil {
		return json.Unmarshal(resp.Data, out)
	}
	return nil
}

// RemoteError is an error the daemon reported.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// Stream sends req and calls fn for every line the daemon writes, until
// ctx ends or the daemon closes the stream.
func Stream(ctx context.Context, path string, req Request, fn func(json.RawMessage) error) error {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return fmt.Errorf("%w on %s: %v", ErrNoDaemon, path, err)
	}
	defer conn.Close()
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return err
	}
	dec := json.NewDecoder(conn)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var resp Response
		if json.Unmarshal(raw, &resp) == nil && resp.Error != "" {
			return &RemoteError{Msg: resp.Error}
		}
		if err := fn(raw); err != nil {
			return err
		}
	}
}
