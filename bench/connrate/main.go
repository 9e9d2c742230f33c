// Command connrate measures new TCP connections per second: -serve
// accepts and closes connections; otherwise it dials -addr in a loop for
// -secs seconds with -workers goroutines and prints the rate.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	serve := flag.String("serve", "", "listen address (server mode)")
	addr := flag.String("addr", "", "address to dial (client mode)")
	secs := flag.Int("secs", 4, "how long to dial")
	workers := flag.Int("workers", 8, "dialling goroutines")
	flag.Parse()
	if *serve != "" {
		l, err := net.Listen("tcp", *serve)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for {
			c, err := l.Accept()
			if err != nil {
				continue
			}
			c.Close()
		}
	}
	var ok, failed atomic.Int64
	end := time.Now().Add(time.Duration(*secs) * time.Second)
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				c, err := net.DialTimeout("tcp", *addr, time.Second)
				if err != nil {
					failed.Add(1)
					continue
				}
				c.Close()
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%d %d\n", ok.Load()/int64(*secs), failed.Load())
}
