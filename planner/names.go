// Package planner decides where each rule runs (kernel, userspace or both)
// and translates the kernel's share into nftables expressions and sets; it
// is pure: no sockets, no system calls.
package planner

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nfdproject/nfd/parser"
)

// TablePrefix marks the tables nfd owns; it touches no other table.
const TablePrefix = "nfd_"

// KernelTableName is the name of nfd's table for a user table.
func KernelTableName(user string) string { return TablePrefix + user }

// TableFamily is the kernel family of a table family.
func TableFamily(f parser.Family) nftables.TableFamily {
	switch f {
	case parser.FamilyIP:
		return nftables.TableFamilyIPv4
	case parser.FamilyIP6:
		return nftables.TableFamilyIPv6
	}
	return nftables.TableFamilyINet
}

// TrackExprs load `ct state` and compare it with 0, which always holds (a
// packet without conntrack reads as invalid): the ct expression makes the
// kernel run connection tracking in this namespace and family, so nfd can
// take over connections it meets mid-way from the kernel's table.
func TrackExprs() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}
