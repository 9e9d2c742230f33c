// Package sdnotify tells systemd about the daemon's state (sd_notify(3))
// when NOTIFY_SOCKET is set; otherwise it does nothing.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Notify sends state (such as "READY=1") to $NOTIFY_SOCKET. It reports
// whether a message was sent.
func Notify(state string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, err
	}
	return true, nil
}

// Extend asks systemd for d more before the current start, reload or
// stop times out (EXTEND_TIMEOUT_USEC, systemd 236).
func Extend(d time.Duration) (bool, error) {
	return Notify(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", d.Microseconds()))
}

// ExtendWhile sends Extend(by) at once and then every `every` until the
// returned stop is called (it may be called more than once). Without
// NOTIFY_SOCKET it does nothing.
func ExtendWhile(every, by time.Duration) (stop func()) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return func() {}
	}
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			_, _ = Extend(by)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

// Reloading is the RELOADING=1 message with the MONOTONIC_USEC systemd
// 253 wants for Type=notify-reload (older ones ignore the field).
func Reloading() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000)
}
