package parser

import (
	"net"
	"sync"
)

// Interfaces names the network interfaces `iif` and `oif` refer to. nft's
// iface_index type is an interface index: nft resolves a name to its index
// when it loads the rules (datatype.c ifindex_type_parse, if_nametoindex)
// and refuses a name no interface has ("Interface does not exist"); the
// kernel then compares indexes (nft_meta_get_eval, NFT_META_IIF), so an
// interface deleted and created again under the same name is another
// interface. `nft list` prints an index as the name it has then.
type Interfaces interface {
	// Index returns the index of the interface named name.
	Index(name string) (uint32, bool)
	// Name returns the name of the interface with index i.
	Name(i uint32) (string, bool)
}

// SystemInterfaces asks the kernel, in the network namespace of the
// calling thread, as nft does.
type SystemInterfaces struct{}

// Index implements Interfaces.
func (SystemInterfaces) Index(name string) (uint32, bool) {
	ifc, err := net.InterfaceByName(name)
	if err != nil || ifc.Index <= 0 {
		return 0, false
	}
	return uint32(ifc.Index), true
}

// Name implements Interfaces.
func (SystemInterfaces) Name(i uint32) (string, bool) {
	ifc, err := net.InterfaceByIndex(int(i))
	if err != nil {
		return "", false
	}
	return ifc.Name, true
}

var (
	ifMu  sync.RWMutex
	ifCur Interfaces = SystemInterfaces{}
)

// SetInterfaces makes the parser resolve `iif`/`oif` names (and print
// indexes) with r, for tests that model another namespace; it returns a
// function that restores the previous resolver.
func SetInterfaces(r Interfaces) (restore func()) {
	ifMu.Lock()
	old := ifCur
	ifCur = r
	ifMu.Unlock()
	return func() {
		ifMu.Lock()
		ifCur = old
		ifMu.Unlock()
	}
}

func currentInterfaces() Interfaces {
	ifMu.RLock()
	defer ifMu.RUnlock()
	return ifCur
}

// StaticInterfaces is a fixed name → index table.
type StaticInterfaces map[string]uint32

// Index implements Interfaces.
func (s StaticInterfaces) Index(name string) (uint32, bool) {
	i, ok := s[name]
	return i, ok
}

// Name implements Interfaces.
func (s StaticInterfaces) Name(i uint32) (string, bool) {
	for n, x := range s {
		if x == i {
			return n, true
		}
	}
	return "", false
}

// WithAssumed resolves names as base does and, for the names in extra
// that base does not know, invents indexes above any real one: `nfd check
// --interface eth9` checks a file written for a machine that has eth9.
func WithAssumed(base Interfaces, extra []string) Interfaces {
	a := assumed{base: base, idx: map[string]uint32{}}
	for i, n := range extra {
		if _, ok := base.Index(n); !ok {
			a.idx[n] = 1<<30 + uint32(i)
		}
	}
	return a
}

type assumed struct {
	base Interfaces
	idx  map[string]uint32
}

func (a assumed) Index(name string) (uint32, bool) {
	if i, ok := a.base.Index(name); ok {
		return i, true
	}
	i, ok := a.idx[name]
	return i, ok
}

func (a assumed) Name(i uint32) (string, bool) {
	for n, x := range a.idx {
		if x == i {
			return n, true
		}
	}
	return a.base.Name(i)
}
