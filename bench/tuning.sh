#!/usr/bin/env bash
# The measurements behind tuning.md (see bench/tuning.py). Changes net.core.rmem_max for
# the receive-buffer runs and puts it back. Results: bench/results/tuning.{json,md}.
# Usage: bench/tuning.sh [--seconds S] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dnsmasq >/dev/null || { echo "dnsmasq is needed: apt-get install dnsmasq-base" >&2; exit 1; }
cargo build --release --quiet -p ringmasq -p ringmasq-loadgen
exec python3 bench/tuning.py "$@"
