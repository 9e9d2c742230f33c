package parser

import (
	stdctx "context"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestFieldsDescribe checks the field table against nft itself: for every
// named field, `nft describe FIELD` must name the same datatype, the same
// width in bits, and the same symbolic constants with the same values.
func TestFieldsDescribe(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed")
	}
	head := regexp.MustCompile(`datatype (\S+) .*?, (\d+) (bits|characters)`)
	sym := regexp.MustCompile(`^\s+(\S+)\s+(0x[0-9a-f]+|\d+)$`)
	// nfd's deliberate differences, each with its reason.
	skip := map[string]string{
		"iif": "nfd keeps iif/oif as names (iface_index by name); see README",
		"oif": "nfd keeps iif/oif as names (iface_index by name); see README",
	}
	checked := 0
	for _, f := range NamedFields() {
		fi := f.Info()
		if fi.Userspace || skip[fi.Name] != "" {
			continue
		}
		out, err := exec.Command("nft", "describe", fi.Name).CombinedOutput()
		if err != nil {
			t.Errorf("nft describe %s: %v: %s", fi.Name, err, out)
			continue
		}
		lines := strings.Split(string(out), "\n")
		m := head.FindStringSubmatch(lines[0])
		if m == nil {
			t.Errorf("%s: cannot read %q", fi.Name, lines[0])
			continue
		}
		checked++
		if name := fi.Type.Name; m[1] != name {
			t.Errorf("%s: nft datatype %s, nfd %s", fi.Name, m[1], name)
		}
		n, _ := strconv.Atoi(m[2])
		if m[3] == "characters" {
			n *= 8
		}
		if int(fi.Bits()) != n {
			t.Errorf("%s: nft says %d bits, nfd %d", fi.Name, n, fi.Bits())
		}
		if fi.Type == TypeService || fi.Type == TypeProto {
			continue // names from /etc/services, /etc/protocols (netdb_oracle_test.go)
		}
		var nftSyms []string
		for _, l := range lines[1:] {
			if s := sym.FindStringSubmatch(l); s != nil {
				v, _ := strconv.ParseUint(s[2], 0, 64)
				nftSyms = append(nftSyms, s[1]+"="+strconv.FormatUint(v, 10))
			}
		}
		var nfdSyms []string
		for _, s := range fi.Type.Symbols {
			nfdSyms = append(nfdSyms, s.Name+"="+strconv.FormatUint(s.Value, 10))
		}
		sort.Strings(nftSyms)
		sort.Strings(nfdSyms)
		if strings.Join(nftSyms, " ") != strings.Join(nfdSyms, " ") {
			t.Errorf("%s: symbols differ:\n nft %v\n nfd %v", fi.Name, nftSyms, nfdSyms)
		}
	}
	if checked < 100 {
		t.Errorf("only %d fields checked; the table should have well over 100", checked)
	}
	t.Logf("%d fields agree with nft describe", checked)
}

// parseSelector parses one field selector, as in a rule of a table of
// family fam.
func parseSelector(src string, fam Family) (Field, error) {
	p := &parser{ctx: stdctx.Background(), srcs: map[string]string{"x": src}, defines: map[string]*define{},
		rs: &Ruleset{}, active: map[string]bool{}, curTable: &Table{Family: fam}}
	p.lex = newLexer("x", []byte(src))
	f, ok := p.parseFieldName()
	if !ok || len(p.errs) > 0 {
		return 0, p.errs
	}
	return f, nil
}

// TestFieldsDescribeForms checks the selectors built while parsing
// (options, extension headers, conntrack directions, lookups) against
// `nft describe` the same way.
func TestFieldsDescribeForms(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed")
	}
	head := regexp.MustCompile(`datatype (\S+) .*?, (\d+) (bits|characters)`)
	forms := []string{
		"tcp option maxseg size", "tcp option maxseg length", "tcp option window count", "tcp option sack left",
		"tcp option sack0 right", "tcp option sack3 left", "tcp option timestamp tsval", "tcp option timestamp tsecr",
		"tcp option mptcp subtype", "tcp option sack-perm length",
		"ip option rr ptr", "ip option lsrr addr", "ip option ra value", "ip option ssrr type",
		"sctp chunk data tsn", "sctp chunk data stream", "sctp chunk init num-inbound-streams", "sctp chunk sack cum-tsn-ack",
		"sctp chunk forward-tsn new-cum-tsn", "sctp chunk init-ack initial-tsn", "sctp chunk cookie-ack length",
		"hbh nexthdr", "hbh hdrlength", "rt type", "rt seg-left", "rt0 addr[1]", "rt0 addr[2]", "srh sid[1]", "srh tag",
		"srh last-entry", "frag frag-off", "frag more-fragments", "frag id", "frag reserved2", "dst hdrlength",
		"mh type", "mh checksum", "mh reserved",
		"ct original ip saddr", "ct reply ip6 daddr", "ct original l3proto", "ct reply protocol", "ct original bytes",
		"ct reply zone", "ct original avgpkt",
		"fib saddr . iif oif", "fib daddr type", "fib daddr . oif type", "fib saddr . mark . iif oifname",
		"rt classid", "rt mtu", "rt ip nexthop", "rt ip6 nexthop", "socket transparent", "socket mark",
		"socket wildcard", "socket cgroupv2 level 1", "osf name", "osf ttl loose version",
		"ipsec in spi", "ipsec out reqid", "ipsec in spnum 1 ip saddr", "ipsec out ip6 daddr",
		"numgen inc mod 2", "numgen random mod 10 offset 5", "@nh,8,8", "@nh,4,20", "@th,40,16",
		// @th,16,16 nft types as inet_service (it matches the dport
		// template); nfd keeps raw payloads integers: same bytes.
	}
	for _, src := range forms {
		f, err := parseSelector(src, FamilyInet)
		if err != nil {
			t.Errorf("nfd refuses %q: %v", src, err)
			continue
		}
		out, err := exec.Command("nft", "describe", src).CombinedOutput()
		if err != nil {
			t.Errorf("nft describe %s: %v: %s", src, err, out)
			continue
		}
		m := head.FindStringSubmatch(strings.SplitN(string(out), "\n", 2)[0])
		if m == nil {
			t.Errorf("%s: cannot read %q", src, out)
			continue
		}
		fi := f.Info()
		if m[1] != fi.Type.Name {
			t.Errorf("%s: nft datatype %s, nfd %s", src, m[1], fi.Type.Name)
		}
		n, _ := strconv.Atoi(m[2])
		if m[3] == "characters" {
			n *= 8
		}
		if int(fi.Bits()) != n {
			t.Errorf("%s: nft says %d bits, nfd %d", src, n, fi.Bits())
		}
	}
}
