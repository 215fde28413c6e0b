#!/usr/bin/env bash
# DHCPv4 new-lease rate, ringmasq against dnsmasq 2.90 (bench/dhcp.py says what is measured).
# Needs root. Results: bench/results/dhcp.json and dhcp.md.
#
# Usage: bench/dhcp.sh [--seconds S] [--preload N] [--rounds R] [--per-round N]
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in dnsmasq perfdhcp ping taskset python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed: apt-get install dnsmasq-base kea-admin iputils-ping" >&2; exit 1; }
done
cargo build --release --quiet -p ringmasq
exec python3 bench/dhcp.py "$@"
