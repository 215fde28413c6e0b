#!/usr/bin/env bash
# Server CPU time per answered query, ringmasq against dnsmasq 2.90, each pinned to CPU 0,
# driven by dnsperf from CPU 1, alternating A B A B. By default dnsperf runs closed-loop
# with 500 queries outstanding (as fast as each server answers); a rate in qps instead
# sends at that fixed rate. Two workloads:
#   cache-hit:  1,000 names asked over and over after one warm-up pass;
#   forwarded:  unique names, every one a cache miss sent to a fast local upstream
#               (a dnsmasq on CPU 1 answering every name under bench.test itself).
# Everything runs on loopback and stops by itself. Results: bench/results/cpu_per_query.{json,md}
#
# DRIVER=loadgen drives with ringmasq-loadgen (same flags) instead of dnsperf; results then
# go to cpu_per_query_loadgen.{json,md}.
#
# Usage: [DRIVER=dnsperf|loadgen] bench/cpu_per_query.sh [seconds-per-run] [rounds] [qps, 0 for closed loop]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-8}
ROUNDS=${2:-2}
QPS=${3:-0}
DRIVER=${DRIVER:-dnsperf}
OUT=bench/results
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v dnsperf >/dev/null || { echo "dnsperf is needed: apt-get install dnsperf" >&2; exit 1; }
command -v dnsmasq >/dev/null || { echo "dnsmasq is needed: apt-get install dnsmasq-base" >&2; exit 1; }
cargo build --release --quiet
RINGMASQ=$PWD/target/release/ringmasq
case "$DRIVER" in
  dnsperf) DRIVE=(dnsperf); WARM=(-n 1); NAME=cpu_per_query ;;
  loadgen) DRIVE=("$PWD/target/release/ringmasq-loadgen" --quiet --cpus 1); WARM=(-l 1); NAME=cpu_per_query_loadgen ;;
  *) echo "DRIVER is dnsperf or loadgen" >&2; exit 1 ;;
esac

UPSTREAM_PORT=5499
for i in $(seq 0 999); do echo "hit$i.bench.test A"; done > "$WORK/hits"
python3 -c "
for i in range(2_000_000): print(f'miss{i}.bench.test A')" > "$WORK/misses"

. bench/common.sh
start_upstream
bench_conf 5301 > "$WORK/dnsmasq.conf"
bench_conf 5302 > "$WORK/ringmasq.conf"

cpu_ticks() { # pid -> utime+stime of all threads, in clock ticks
  awk '{print $14 + $15}' /proc/$1/stat
}

run() { # name program port workload
  local name=$1 prog=$2 port=$3 workload=$4
  taskset -c 0 "$prog" -C "$WORK/$name.conf" &
  local pid=$!
  sleep 1
  if [ "$workload" = hit ]; then
    taskset -c 1 "${DRIVE[@]}" -s 127.0.0.1 -p "$port" -d "$WORK/hits" "${WARM[@]}" -c 10 >/dev/null
    data="$WORK/hits"
  else
    data="$WORK/misses"
  fi
  local before; before=$(cpu_ticks $pid)
  local rate=(-q 500)
  [ "$QPS" -gt 0 ] && rate=(-Q "$QPS")
  taskset -c 1 "${DRIVE[@]}" -s 127.0.0.1 -p "$port" -d "$data" -l "$SECS" "${rate[@]}" -c 10 > "$WORK/out" 2>&1
  local after; after=$(cpu_ticks $pid)
  kill $pid; wait $pid 2>/dev/null || true
  local done_q; done_q=$(awk '/Queries completed:/ {print $3}' "$WORK/out")
  local lost; lost=$(awk '/Queries lost:/ {print $3}' "$WORK/out")
  local qps; qps=$(awk '/Queries per second:/ {print $4}' "$WORK/out")
  echo "$name $workload $(( after - before )) $done_q $lost $qps" | tee -a "$WORK/rows"
}

for r in $(seq 1 "$ROUNDS"); do
  for w in hit forwarded; do
    run dnsmasq dnsmasq 5301 $w
    run ringmasq "$RINGMASQ" 5302 $w
  done
done

python3 - "$WORK/rows" "$OUT" "$NAME" "$DRIVER" "$SECS" "$ROUNDS" "$QPS" <<'PY'
import json, os, sys, datetime
rows, out, result_name, driver, secs, rounds, qps = *sys.argv[1:5], *map(int, sys.argv[5:])
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
acc = {}
for line in open(rows):
    name, w, ticks, done, lost, rate = line.split()
    a = acc.setdefault((name, w), [0, 0, 0, 0.0, 0])
    a[0] += int(ticks); a[1] += int(done); a[2] += int(lost); a[3] += float(rate); a[4] += 1
res = {"date": datetime.date.today().isoformat(), "seconds_per_run": secs, "rounds": rounds,
       "rate_qps": qps, "driver": driver,
       "command": f"DRIVER={driver} bench/cpu_per_query.sh {secs} {rounds} {qps}", "results": {}}
lines = ["| workload | dnsmasq µs/query | ringmasq µs/query | ringmasq / dnsmasq | dnsmasq qps | ringmasq qps | lost (d / r) |",
         "|---|---|---|---|---|---|---|"]
for w in ["hit", "forwarded"]:
    d, r = acc[("dnsmasq", w)], acc[("ringmasq", w)]
    du, ru = d[0] * tick_us / max(d[1], 1), r[0] * tick_us / max(r[1], 1)
    res["results"][w] = {"dnsmasq_us_per_query": round(du, 2), "ringmasq_us_per_query": round(ru, 2),
                         "ratio": round(ru / du, 3), "dnsmasq_completed": d[1], "ringmasq_completed": r[1],
                         "dnsmasq_lost": d[2], "ringmasq_lost": r[2],
                         "dnsmasq_qps": round(d[3] / d[4]), "ringmasq_qps": round(r[3] / r[4])}
    lines.append(f"| {'cache hit' if w == 'hit' else 'forwarded (miss)'} | {du:.2f} | {ru:.2f} | {ru/du:.2f} | {d[3]/d[4]:.0f} | {r[3]/r[4]:.0f} | {d[2]} / {r[2]} |")
json.dump(res, open(f"{out}/{result_name}.json", "w"), indent=2)
load = f"{qps} qps" if qps else "closed loop, 500 outstanding"
md = "\n".join(lines) + f"\n\n{rounds} rounds of {secs} s per server and workload ({load}), each server pinned to CPU 0, {driver} on CPU 1 (`{res['command']}`, {res['date']}). CPU is the server's user+system time over the run; qps is {driver}'s.\n"
open(f"{out}/{result_name}.md", "w").write(md)
print(md)
PY
