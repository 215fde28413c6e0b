#!/usr/bin/env bash
# Flamegraphs of ringmasq's cache-hit and forwarding paths under load: ringmasq pinned to
# CPU 0, ringmasq-loadgen driving from CPU 1 (closed loop), `perf record -e cpu-clock -g`
# on the server for a few seconds, folded and drawn with inferno. Kernel frames are
# included (the UDP path is most of the time). Writes flamegraphs/cache-hit.svg and
# flamegraphs/forwarded.svg.
#
# Needs perf (apt-get install linux-perf) and inferno (cargo install inferno).
# Usage: bench/flamegraphs.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
for tool in perf inferno-collapse-perf inferno-flamegraph dnsmasq; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (linux-perf, cargo install inferno, dnsmasq-base)" >&2; exit 1; }
done
cargo build --release --quiet -p ringmasq -p ringmasq-loadgen
LOADGEN=$PWD/target/release/ringmasq-loadgen
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
UPSTREAM_PORT=5499 PORT=5302
for i in $(seq 0 999); do echo "hit$i.bench.test A"; done > "$WORK/hits"
. bench/common.sh
start_upstream
bench_conf $PORT > "$WORK/ringmasq.conf"

profile() { # name loadgen-args...
  local name=$1; shift
  taskset -c 0 target/release/ringmasq -C "$WORK/ringmasq.conf" &
  local pid=$!
  sleep 1
  taskset -c 1 "$LOADGEN" --quiet --cpus 1 -p $PORT -d "$WORK/hits" -l 1 >/dev/null  # warm up
  taskset -c 1 "$LOADGEN" --quiet --cpus 1 -p $PORT -l $((SECS + 2)) -q 500 -c 10 "$@" >/dev/null &
  local driver=$!
  sleep 1
  perf record -q -e cpu-clock -F 2999 -g -p $pid -o "$WORK/$name.data" -- sleep "$SECS" 2>/dev/null
  wait $driver
  kill $pid; wait $pid 2>/dev/null || true
  perf script -i "$WORK/$name.data" 2>/dev/null | inferno-collapse-perf > "$WORK/$name.folded"
  inferno-flamegraph --title "ringmasq $name, $(date +%F), bench/flamegraphs.sh $SECS" \
    < "$WORK/$name.folded" > "flamegraphs/$name.svg"
  echo "flamegraphs/$name.svg: $(wc -l < "$WORK/$name.folded") stacks"
}

profile cache-hit -d "$WORK/hits"
profile forwarded --random bench.test -t 2
