#!/usr/bin/env python3
"""ringmasq-loadgen against dnsperf, both driving the same echo reflector.

The echo reflector (ringmasq-loadgen --echo) runs pinned to CPU 0; each driver in turn runs
pinned to CPU 1 in closed loop (500 outstanding over 10 sockets, 1,000 names) for S
seconds, alternating over R rounds. Recorded per driver: queries/s achieved, the driver's
own CPU time, and queries/s per CPU-second of the driver (the rate it could sustain on a
whole core: when the reflector's core is the limit, the faster driver is left idle part of
the time). Results: bench/results/drivers.json and drivers.md.

Usage: bench/drivers.sh [--seconds S] [--rounds R]
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402

PORT = suite.PORTS["echo"]


def run_driver(argv, seconds):
    """Run a driver pinned to the driver CPU; returns (qps, its CPU seconds)."""
    before = os.times()
    out = subprocess.run(["taskset", "-c", suite.DRIVER_CPU, *argv], capture_output=True,
                         text=True, timeout=seconds + 30)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system)
    m = re.search(r"Queries per second:\s+([\d.]+)", out.stdout)
    if not m:
        raise RuntimeError(f"no rate in the output of {argv[0]}:\n{out.stdout}{out.stderr}")
    return float(m.group(1)), cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    if not shutil.which("dnsperf"):
        sys.exit("dnsperf is needed: apt-get install dnsperf")
    work = tempfile.mkdtemp(prefix="ringmasq-drivers-")
    data = f"{work}/hits"
    with open(data, "w") as f:
        f.writelines(f"hit{i}.bench.test A\n" for i in range(1000))
    common = ["-s", "127.0.0.1", "-p", str(PORT), "-d", data, "-l", str(a.seconds), "-c", "10",
              "-q", "500"]
    drivers = {
        "dnsperf": ["dnsperf", *common],
        "ringmasq-loadgen": [suite.LOADGEN, "--quiet", "--cpus", suite.DRIVER_CPU, *common],
    }
    rows = {d: [] for d in drivers}
    echo = suite.start("echo", work)
    try:
        for r in range(a.rounds):
            for name, argv in drivers.items():
                qps, cpu = run_driver(argv, a.seconds)
                row = {"qps": qps, "cpu_s": cpu, "qps_per_cpu_s": qps * a.seconds / cpu}
                rows[name].append(row)
                print(f"round {r + 1} {name}: {qps:,.0f} q/s, {cpu:.2f} CPU s, "
                      f"{row['qps_per_cpu_s']:,.0f} q per CPU-second", flush=True)
    finally:
        suite.stop(echo)
        shutil.rmtree(work, ignore_errors=True)
    med = {d: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for d, rs in rows.items()}
    ratio_qps = med["ringmasq-loadgen"]["qps"] / med["dnsperf"]["qps"]
    ratio_cpu = med["ringmasq-loadgen"]["qps_per_cpu_s"] / med["dnsperf"]["qps_per_cpu_s"]
    command = f"bench/drivers.sh --seconds {a.seconds} --rounds {a.rounds}"
    doc = {"date": datetime.date.today().isoformat(), "command": command, "medians": med,
           "rounds": rows, "loadgen_over_dnsperf_qps": ratio_qps,
           "loadgen_over_dnsperf_qps_per_cpu_second": ratio_cpu}
    out = os.path.join(suite.ROOT, "bench", "results")
    with open(f"{out}/drivers.json", "w") as f:
        json.dump(doc, f, indent=2)
    md = [f"Measured {doc['date']} with `{command}`: echo reflector on CPU 0, each driver on "
          f"CPU 1, closed loop, medians of {a.rounds} alternating rounds.", "",
          "| driver | queries/s | driver CPU s | queries per driver CPU-second |",
          "|---|---|---|---|"]
    for d, v in med.items():
        md.append(f"| {d} | {v['qps']:,.0f} | {v['cpu_s']:.2f} | {v['qps_per_cpu_s']:,.0f} |")
    md += ["", f"ringmasq-loadgen / dnsperf: {ratio_qps:.2f}x the rate, "
           f"{ratio_cpu:.2f}x the rate per CPU-second."]
    with open(f"{out}/drivers.md", "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
