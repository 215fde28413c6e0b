#!/usr/bin/env bash
# ringmasq-loadgen against dnsperf on the same echo reflector (see bench/drivers.py).
# Results: bench/results/drivers.{json,md}. Usage: bench/drivers.sh [--seconds S] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dnsperf >/dev/null || { echo "dnsperf is needed: apt-get install dnsperf" >&2; exit 1; }
cargo build --release --quiet -p ringmasq-loadgen
exec python3 bench/drivers.py "$@"
