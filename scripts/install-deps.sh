#!/usr/bin/env bash
# Installs the system tools nfd's tests and demo use, when missing.
# Debian-like systems only; anything else gets told what to install.
set -euo pipefail
need=()
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
command -v conntrack >/dev/null || need+=(conntrack)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v ping >/dev/null || need+=(iputils-ping)
command -v nc >/dev/null || need+=(netcat-openbsd)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v promtool >/dev/null || need+=(prometheus)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base) # DNS server of the dns-names set tests
[ -x /usr/bin/time ] || need+=(time) # bench/scale.sh: nft -f's CPU seconds
# Service and protocol names (`tcp dport ssh`, `ip protocol ospf`) come
# from these files, for nft and nfd alike.
{ [ -e /etc/services ] && [ -e /etc/protocols ]; } || need+=(netbase)
command -v go >/dev/null || { echo "install-deps: Go is required (https://go.dev/dl)"; exit 1; }
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing ${need[*]}; run as root or install them (root-only tests will skip)"
	exit 0
fi
if ! command -v apt-get >/dev/null; then
	echo "install-deps: missing ${need[*]} and no apt-get; install them by hand"
	exit 0
fi
echo "install-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || echo "install-deps: apt-get update failed; trying the install anyway"
if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
	# One package that will not install must not cost the others: tests
	# that need a missing tool skip with a reason.
	for p in "${need[@]}"; do
		apt-get install -y -qq --no-install-recommends "$p" >/dev/null || echo "install-deps: could not install $p"
	done
fi
