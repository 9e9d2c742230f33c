package parser_test

import (
	"flag"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/nfdproject/nfd/internal/netns"
	"github.com/nfdproject/nfd/parser"
)

var keywordsAll = flag.Bool("keywords.all", false, "TestKeywordNamesOracle: try every word of nft(8) (about 1,900; minutes), not a sample")

// identifierPositions are the places nft's grammar wants an identifier
// (or, for `counter name`, a string), each a file with W for the word.
var identifierPositions = map[string]string{
	"table":        "table inet W {\n}\n",
	"chain":        "table inet t {\n\tchain W {\n\t}\n}\n",
	"jump":         "table inet t {\n\tchain W {\n\t}\n\tchain c {\n\t\tjump W\n\t}\n}\n",
	"goto":         "table inet t {\n\tchain W {\n\t}\n\tchain c {\n\t\tgoto W\n\t}\n}\n",
	"set":          "table inet t {\n\tset W {\n\t\ttype ipv4_addr\n\t}\n}\n",
	"@set":         "table inet t {\n\tset W {\n\t\ttype ipv4_addr\n\t}\n\tchain c {\n\t\tip saddr @W\n\t}\n}\n",
	"map":          "table inet t {\n\tmap W {\n\t\ttype ipv4_addr : verdict\n\t}\n}\n",
	"vmap @map":    "table inet t {\n\tmap W {\n\t\ttype ipv4_addr : verdict\n\t}\n\tchain c {\n\t\tip saddr vmap @W\n\t}\n}\n",
	"define":       "define W = 22\ntable inet t {\n\tchain c {\n\t\ttcp dport $W\n\t}\n}\n",
	"counter":      "table inet t {\n\tcounter W {\n\t}\n\tchain c {\n\t\tcounter name W\n\t}\n}\n",
	"counter name": "table inet t {\n\tcounter x {\n\t}\n\tchain c {\n\t\tcounter name W\n\t}\n}\n",
	"quota":        "table inet t {\n\tquota W {\n\t\t100 bytes\n\t}\n\tchain c {\n\t\tquota name W\n\t}\n}\n",
	"meter":        "table ip t {\n\tchain c {\n\t\ttype filter hook input priority 0;\n\t\tmeter W { ip saddr limit rate 10/second }\n\t}\n}\n",
	"add chain":    "add table inet t\nadd chain inet t W\n",
	"add table":    "add table inet W\n",
	"add element":  "add table inet t\nadd set inet t W { type ipv4_addr; }\nadd element inet t W { 10.0.0.1 }\n",
}

// keywordWords are the words tried: nfd's keyword lists, the words of
// nft(8) with -keywords.all, and names close to keywords that are not.
func keywordWords(t *testing.T) []string {
	set := map[string]bool{}
	for _, m := range []map[string]bool{parser.NftNameKeywords, parser.AtKeywords, parser.CounterKeywords, parser.QuotaKeywords} {
		for w := range m {
			set[w] = true
		}
	}
	for _, w := range strings.Fields("x web forward input output prerouting fwd4 ll4 dport_x filter nat count name2 tcp_ports saddr daddr sport dport state level to") {
		set[w] = true
	}
	if *keywordsAll {
		out, err := exec.Command("sh", "-c", "MANWIDTH=200 man nft | col -b").Output()
		if err != nil {
			t.Fatalf("man nft: %v", err)
		}
		for _, w := range regexp.MustCompile(`\b[a-z][a-z0-9_.-]*[a-z0-9]\b`).FindAllString(string(out), -1) {
			set[w] = true
		}
	}
	var words []string
	for w := range set {
		words = append(words, w)
	}
	sort.Strings(words)
	return words
}

// TestKeywordNamesOracle: in every identifier position, nfd refuses
// exactly the words nft refuses (judged by nft -f in a namespace): the
// words nft's scanner reads as keywords there. The default run tries nfd's
// keyword lists and some names that are not keywords; -keywords.all tries
// every word of nft(8).
func TestKeywordNamesOracle(t *testing.T) {
	if !nftAvailable() {
		t.Skip("needs root, ip and nft")
	}
	words := keywordWords(t)
	var nss []*netns.NS
	for w := 0; w < 2; w++ {
		nss = append(nss, judgeNamespace(t))
	}
	var names []string
	for n := range identifierPositions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, pos := range names {
		texts := make([]string, len(words))
		for i, w := range words {
			texts[i] = strings.ReplaceAll(identifierPositions[pos], "W", w)
		}
		ok, msg := judge(t, nss, texts)
		refused := 0
		for i, w := range words {
			_, err := parser.Parse("k.nft", []byte(texts[i]))
			if !ok[i] {
				refused++
			}
			switch {
			case ok[i] && err != nil:
				t.Errorf("%s %q: nft accepts, nfd refuses: %v", pos, w, err)
			case !ok[i] && err == nil:
				t.Errorf("%s %q: nft refuses (%s), nfd accepts", pos, w, msg[i])
			}
		}
		t.Logf("%-12s %d words, nft refuses %d", pos, len(words), refused)
	}
}
