# nfd — the two commands of the README are `make demo` and `make test`.
GO      ?= go
FUZZTIME ?= 15s
BIN     := bin/nfd
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: all build deps test unit fuzz bench demo clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/nfd

# System tools the suite and the demo use (nft, ip, conntrack, iperf3, ...).
deps:
	@./scripts/install-deps.sh

# The whole suite: unit, integration (root, in namespaces), and every fuzz
# target for a bounded time.
test: deps build unit fuzz

unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race ./conntrack/... ./packet/... ./rules/...

fuzz:
	@./scripts/fuzz-all.sh $(FUZZTIME)

bench: build
	$(GO) test -run XXX -bench . -benchmem ./...

demo: deps build
	@./scripts/demo.sh

clean:
	rm -rf bin
