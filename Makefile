# nfd — the two commands of the README are `make demo` and `make test`.
# Go 1.26.10: the first 1.26 release without the standard-library
# vulnerabilities govulncheck reports for 1.26.8 (net/http, crypto/tls,
# crypto/x509). The machines default to GOTOOLCHAIN=local, so it is named
# here; the go command fetches it from the module proxy once.
export GOTOOLCHAIN ?= go1.26.10
GO      ?= go
FUZZTIME ?= 15s
BIN     := bin/nfd
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

PREFIX  ?= /usr/local
DESTDIR ?=

.PHONY: all build deps test unit fuzz vulncheck bench demo install clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/nfd

# System tools the suite and the demo use (nft, ip, conntrack, iperf3, ...).
deps:
	@./scripts/install-deps.sh

# The whole suite: unit, integration (root, in namespaces), every fuzz
# target for a bounded time, and govulncheck.
test: deps build unit fuzz vulncheck

unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race ./conntrack/... ./packet/... ./rules/...

fuzz:
	@./scripts/fuzz-all.sh $(FUZZTIME)

vulncheck:
	@./scripts/vulncheck.sh

bench: build
	$(GO) test -run XXX -bench . -benchmem ./...

demo: deps build
	@./scripts/demo.sh

# Installs the binary, the unit and an example rule file (never over an
# existing one). Enables nothing: `systemctl enable --now nfd` does that.
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/nfd
	install -D -m 0644 deploy/systemd/nfd.service $(DESTDIR)/etc/systemd/system/nfd.service
	install -d -m 0755 $(DESTDIR)/etc/nfd
	@if [ -e $(DESTDIR)/etc/nfd/rules.nft ]; then \
		echo "keeping existing $(DESTDIR)/etc/nfd/rules.nft"; \
	else \
		install -m 0644 deploy/examples/workstation.nft $(DESTDIR)/etc/nfd/rules.nft; \
	fi
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/nfd/README.md
	@echo "installed; run: systemctl daemon-reload && systemctl enable --now nfd"

clean:
	rm -rf bin
	rm -f nfd acceptall connrate *.test *.prof
