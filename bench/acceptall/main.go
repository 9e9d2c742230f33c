// Command acceptall is the benchmark baseline a naive daemon gets: one
// go-nfqueue queue with its default receive path, accepting every packet
// with one verdict each. It programs a forward chain queueing to it (in the
// current network namespace, through nfd's own hooks package) and removes
// it on SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/google/nftables"

	"github.com/nfdproject/nfd/kernel"
	"github.com/nfdproject/nfd/parser"
)

func main() {
	num := flag.Int("queue", 900, "queue number")
	total := flag.Int("queues", 1, "queues (one goroutine each)")
	gso := flag.Bool("gso", false, "set NFQA_CFG_F_GSO (the kernel queues TCP super-packets whole) and copy 128 bytes, not the whole packet")
	flag.Parse()
	newConn := func() (*nftables.Conn, error) { return nftables.New() }
	mode, err := kernel.ProbeQueue(newConn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	for q := 0; q < *total; q++ {
		cfg := &nfqueue.Config{NfQueue: uint16(*num + q), MaxPacketLen: 0xffff, MaxQueueLen: 4096, Copymode: nfqueue.NfQnlCopyPacket}
		if *gso {
			cfg.Flags, cfg.MaxPacketLen = nfqueue.NfQaCfgFlagGSO, 128
		}
		nf, err := nfqueue.Open(cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := nf.RegisterWithErrorFunc(ctx, func(a nfqueue.Attribute) int {
			_ = nf.SetVerdict(*a.PacketID, nfqueue.NfAccept)
			return 0
		}, func(error) int { return 0 }); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	c, _ := newConn()
	err = kernel.Program(c, mode, []kernel.KernelChain{{Family: parser.FamilyInet, Table: "acceptall", Chain: "forward",
		Hook: parser.HookForward, Policy: parser.VerdictAccept, QueueNum: uint16(*num), QueueTotal: uint16(*total)}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	cancel()
	c, _ = newConn()
	_ = kernel.Remove(c)
}
