package hooks

import (
	"net"
	"sync"
)

// ifnames maps interface indexes (NFQA_IFINDEX_*) to names, caching them;
// a miss asks the kernel once. Safe for concurrent use.
type ifnames struct {
	mu sync.RWMutex // guards m
	m  map[uint32]string
}

func newIfnames() *ifnames { return &ifnames{m: map[uint32]string{}} }

func (c *ifnames) name(idx uint32) (string, bool) {
	c.mu.RLock()
	n, ok := c.m[idx]
	c.mu.RUnlock()
	if ok {
		return n, n != ""
	}
	ifc, err := net.InterfaceByIndex(int(idx))
	name := ""
	if err == nil {
		name = ifc.Name
	}
	c.mu.Lock()
	if len(c.m) > 4096 {
		c.m = map[uint32]string{}
	}
	c.m[idx] = name
	c.mu.Unlock()
	return name, name != ""
}

// forget drops the cache, for when interfaces come and go.
func (c *ifnames) forget() {
	c.mu.Lock()
	c.m = map[uint32]string{}
	c.mu.Unlock()
}
