package parser

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// ReadRuleFile reads a rule file (or an include) the way the daemon and
// `nfd check` both must: only a regular file of at most MaxFileSize bytes.
//
// The file is opened with O_NONBLOCK so that opening a FIFO nobody writes
// does not wait, and the kind and size are taken from the opened
// descriptor (fstat), not from the path, so the file cannot be swapped
// between the check and the read. Devices, FIFOs, sockets and directories
// are refused at once. The read is bounded by MaxFileSize+1 bytes even if
// the file grows meanwhile, and its buffer is sized from fstat, so memory
// stays proportionate to the file.
func ReadRuleFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("not a regular file (%s); rule files and includes must be regular files", fileKind(st.Mode))
	}
	if st.Size > MaxFileSize {
		return nil, fmt.Errorf("file is %d bytes, larger than the limit of %d bytes (64 MiB)", st.Size, MaxFileSize)
	}
	lr := io.LimitReader(f, MaxFileSize+1)
	buf := make([]byte, 0, st.Size+1) // +1: reading EOF needs no growth
	for {
		if len(buf) == cap(buf) { // the file grew after fstat
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
	}
	if len(buf) > MaxFileSize {
		return nil, fmt.Errorf("file is larger than the limit of %d bytes (64 MiB)", MaxFileSize)
	}
	return buf, nil
}

// fileKind names a stat mode's file type for an error message.
func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFIFO:
		return "a FIFO (named pipe)"
	case unix.S_IFSOCK:
		return "a socket"
	}
	return fmt.Sprintf("of type %#o", mode&unix.S_IFMT)
}
