// Package sdnotify tells systemd about the daemon's state (sd_notify(3))
// when NOTIFY_SOCKET is set; otherwise it does nothing.
package sdnotify

import (
	"net"
	"os"
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
