// Package pcapio reads pcap and pcapng captures (pure Go, via
// gopacket/pcapgo) and hands back IP packets, the link layer removed.
package pcapio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Packet is one captured IP packet.
type Packet struct {
	Data    []byte // starts at the IP header
	WireLen int    // the IP packet's length on the wire
	Time    time.Time
}

// ReadFile reads every IP packet of a pcap or pcapng file. Frames that are
// not IPv4 or IPv6 are skipped.
func ReadFile(path string) ([]Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f)
}

type source interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Read reads a capture from r, detecting the format from its magic number.
func Read(r io.Reader) ([]Packet, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("not a capture file: %w", err)
	}
	var src source
	var link layers.LinkType
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
		src, link = ng, ng.LinkType()
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("pcap: %w", err)
		}
		src, link = pr, pr.LinkType()
	}
	var out []Packet
	for {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF || err == io.ErrUnexpectedEOF && len(out) > 0 {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("packet %d: %w", len(out)+1, err)
		}
		ip, cut, ok := stripLink(link, data)
		if !ok {
			continue
		}
		wire := ci.Length - cut
		if wire < len(ip) {
			wire = len(ip)
		}
		out = append(out, Packet{Data: append([]byte(nil), ip...), WireLen: wire, Time: ci.Timestamp})
	}
}

// stripLink returns the IP packet inside a frame and how many bytes of link
// header were removed.
func stripLink(link layers.LinkType, b []byte) ([]byte, int, bool) {
	isIP := func(b []byte) bool { return len(b) > 0 && (b[0]>>4 == 4 || b[0]>>4 == 6) }
	switch link {
	case layers.LinkTypeEthernet:
		off := 14
		if len(b) < off {
			return nil, 0, false
		}
		et := binary.BigEndian.Uint16(b[12:])
		for (et == 0x8100 || et == 0x88a8) && len(b) >= off+4 {
			et = binary.BigEndian.Uint16(b[off+2:])
			off += 4
		}
		if et != 0x0800 && et != 0x86dd {
			return nil, 0, false
		}
		return b[off:], off, true
	case layers.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return nil, 0, false
		}
		if et := binary.BigEndian.Uint16(b[14:]); et != 0x0800 && et != 0x86dd {
			return nil, 0, false
		}
		return b[16:], 16, true
	case 276: // LINUX_SLL2
		if len(b) < 20 {
			return nil, 0, false
		}
		if et := binary.BigEndian.Uint16(b[0:]); et != 0x0800 && et != 0x86dd {
			return nil, 0, false
		}
		return b[20:], 20, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(b) < 4 {
			return nil, 0, false
		}
		return b[4:], 4, isIP(b[4:])
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12:
		return b, 0, isIP(b)
	}
	return nil, 0, false
}

// Write writes packets as a pcap file with raw IP link type, for tests.
func Write(w io.Writer, pkts [][]byte) error {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		return err
	}
	t := time.Unix(1700000000, 0)
	for i, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: t.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(p), Length: len(p)}
		if err := pw.WritePacket(ci, p); err != nil {
			return err
		}
	}
	return nil
}
