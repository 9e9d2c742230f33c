package parser

// Keyword lists for parser_test's nft oracle (keywords_oracle_test.go).
var (
	NftNameKeywords = nftNameKeywords
	AtKeywords      = atKeywords
	CounterKeywords = counterKeywords
	QuotaKeywords   = quotaKeywords
)
