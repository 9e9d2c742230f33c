package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNotify plays systemd: a datagram socket at NOTIFY_SOCKET.
func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v %v", sent, err)
	}
	path := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if sent, err := Notify("READY=1\nSTATUS=running"); !sent || err != nil {
		t.Fatalf("notify: %v %v", sent, err)
	}
	buf := make([]byte, 128)
	_ = l.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := l.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1\nSTATUS=running" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}

// TestExtendWhile: EXTEND_TIMEOUT_USEC at once and then every period
// until stop, and nothing after it.
func TestExtendWhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	stop := ExtendWhile(20*time.Millisecond, 3*time.Second)
	buf := make([]byte, 128)
	for i := 0; i < 3; i++ {
		_ = l.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := l.Read(buf)
		if err != nil || string(buf[:n]) != "EXTEND_TIMEOUT_USEC=3000000" {
			t.Fatalf("message %d: %q, %v", i, buf[:n], err)
		}
	}
	stop()
	stop()
	// Drain what raced the stop, then expect silence.
	for {
		_ = l.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := l.Read(buf); err != nil {
			break
		}
	}
	_ = l.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := l.Read(buf); err == nil {
		t.Fatalf("after stop: %q", buf[:n])
	}
}

func TestReloadingMonotonic(t *testing.T) {
	m := Reloading()
	if !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") || len(m) <= len("RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("%q", m)
	}
}
