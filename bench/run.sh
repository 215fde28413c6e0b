#!/usr/bin/env bash
# The benchmark suite in one command: builds release binaries, makes the data with
# ../shared/bench-data/gen-hosts.py (or $GEN_HOSTS), and measures ringmasq, dnsmasq 2.90,
# unbound and the echo ceiling in alternation. See bench/suite.py for what is measured.
# Results: bench/results/NAME.json and NAME.md.
#
# Usage: bench/run.sh [NAME] [--seconds S] [--rounds R] [--lines N]
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in dnsmasq unbound taskset python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed: apt-get install dnsmasq-base unbound" >&2; exit 1; }
done
cargo build --release --quiet -p ringmasq -p ringmasq-loadgen
exec python3 bench/suite.py "$@"
