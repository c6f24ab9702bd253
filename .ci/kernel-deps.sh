#!/bin/sh
# kernel-deps.sh installs the system tools the kernel lab tests need (the
# TCP differential test, nat/kernel_diff_test.go, and QUIC through Linux
# NAT, harness/internal/quiclab): iproute2 for network namespaces and veth pairs,
# nftables (or iptables as the fallback) for masquerade, ethtool to turn
# off checksum offloads, and conntrack, which the QUIC test uses to watch
# and delete the NAT box's entries (and which helps debug a difference).
#
# It installs only what is missing and runs apt-get update at most once,
# and only when something must be installed. It needs root (or sudo).
# Usage: .ci/kernel-deps.sh
set -eu

# command:package pairs; a package is needed when its command is missing.
needs="ip:iproute2 nft:nftables iptables:iptables ethtool:ethtool conntrack:conntrack"

missing=""
for pair in $needs; do
	cmd=${pair%%:*}
	pkg=${pair#*:}
	if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/sbin/$cmd" ]; then
		missing="$missing $pkg"
	fi
done

if [ -z "$missing" ]; then
	echo "kernel-deps: all present (iproute2 nftables iptables ethtool conntrack)"
	exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "kernel-deps: need root to install:$missing" >&2
		exit 1
	fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "kernel-deps: apt-get not found; install by hand:$missing" >&2
	exit 1
fi

echo "kernel-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
$sudo apt-get install -y -qq --no-install-recommends $missing
