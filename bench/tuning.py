#!/usr/bin/env python3
"""The measurements behind tuning.md: what each operator setting does to ringmasq here.

  receive buffer  a burst of 3,000 queries at once (closed loop, 3,000 outstanding) with
                  net.core.rmem_max at the kernel default (208 KiB, which caps the 4 MiB
                  ringmasq asks for) and at 4 MiB: queries lost, answers a second
  shards          one shard pinned to CPU 0 against one shard per CPU (here two, sharing
                  CPU 1 with the load generator): cache-hit answers a second
  forward max     every query a cache miss, 500 outstanding, with --dns-forward-max 150
                  (the default) and 1,000: answers a second, queries lost
  cache size      20,000 names asked over and over with --cache-size 150 (the default),
                  10,000 and 40,000: answers a second and server CPU per answer

Each setting is measured in alternation with the others (A B A B), medians of the rounds.
The upstream and load generator run on CPU 1, as in bench/suite.py. Results:
bench/results/tuning.json and tuning.md.

Usage: bench/tuning.sh [--seconds S] [--rounds R]
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402

RMEM_MAX = "/proc/sys/net/core/rmem_max"
PORT = suite.PORTS["ringmasq"]


def config(work, name, extra):
    path = f"{work}/{name}.conf"
    with open(path, "w") as f:
        f.write(f"port={PORT}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
                f"server=127.0.0.1#{suite.UPSTREAM_PORT}\npid-file=\n"
                f"user=root\nkeep-in-foreground\nlog-facility=/dev/null\n{extra}")
    return path


def run_ringmasq(conf, cpus, load_args, seconds, warm=None):
    proc = suite.pinned(cpus, [suite.RINGMASQ, "-C", conf])
    try:
        while not suite.replies(PORT):
            if proc.poll() is not None:
                raise RuntimeError("ringmasq did not start")
        if warm:
            suite.drive(PORT, warm, 2)
        before = suite.cpu_ticks(proc.pid)
        out = suite.drive(PORT, load_args, seconds)
        out["us_per_answer"] = (suite.cpu_ticks(proc.pid) - before) * suite.TICK_US / max(
            out["queries_completed"], 1)
        return out
    finally:
        suite.stop(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ringmasq-tuning-")
    upstream = None
    old_rmem = open(RMEM_MAX).read().strip()
    results = {}
    try:
        with open(f"{work}/hits", "w") as f:
            f.writelines(f"hit{i}.bench.test A\n" for i in range(1000))
        with open(f"{work}/wide", "w") as f:
            f.writelines(f"w{i}.bench.test A\n" for i in range(20000))
        upstream = suite.start_upstream()
        plain = config(work, "plain", "cache-size=10000\ndns-forward-max=5000\n")
        one = config(work, "one", "cache-size=10000\ndns-forward-max=5000\nshards=1\n")
        hits = ["-d", f"{work}/hits", "-c", "10"]
        experiments = {
            "receive_buffer": [
                ("rmem_max 208 KiB", "212992", plain, "0", hits + ["-q", "3000"]),
                ("rmem_max 4 MiB", "4194304", plain, "0", hits + ["-q", "3000"]),
            ],
            "shards": [
                ("1 shard on CPU 0", None, one, "0", hits + ["-q", "500"]),
                ("2 shards on CPUs 0-1", None, plain, "0,1", hits + ["-q", "500"]),
            ],
            "forward_max": [
                (f"dns-forward-max={n}", None,
                 config(work, f"fwd{n}", f"cache-size=10000\ndns-forward-max={n}\n"), "0",
                 ["--random", "bench.test", "-c", "10", "-q", "500", "-t", "2"])
                for n in (150, 1000)
            ],
            "cache_size": [
                (f"cache-size={n}", None, config(work, f"cache{n}", f"cache-size={n}\n"), "0",
                 ["-d", f"{work}/wide", "-c", "10", "-q", "500", "-t", "2"])
                for n in (150, 10000, 40000)
            ],
        }
        for name, settings in experiments.items():
            rows = {label: [] for label, *_ in settings}
            for r in range(a.rounds):
                for label, rmem, conf, cpus, load in settings:
                    if rmem:
                        try:
                            with open(RMEM_MAX, "w") as f:
                                f.write(rmem)
                        except OSError as e:
                            print(f"{name}: cannot set rmem_max ({e}); skipped")
                            break
                    warm = None if name in ("receive_buffer", "forward_max") else load[:2] + [
                        "-q", "100"]
                    out = run_ringmasq(conf, cpus, load, a.seconds, warm)
                    rows[label].append(out)
                    print(f"round {r + 1} {name} {label}: {out['qps']:.0f} qps, "
                          f"lost {out['queries_lost']}, {out['us_per_answer']:.2f} us/answer",
                          flush=True)
            results[name] = {
                label: {"qps": statistics.median(o["qps"] for o in outs),
                        "lost": statistics.median(o["queries_lost"] for o in outs),
                        "us_per_answer": statistics.median(o["us_per_answer"] for o in outs)}
                for label, outs in rows.items() if outs}
    finally:
        with open(RMEM_MAX, "w") as f:
            f.write(old_rmem)
        if upstream:
            suite.stop(upstream)
        shutil.rmtree(work, ignore_errors=True)
    command = f"bench/tuning.sh --seconds {a.seconds} --rounds {a.rounds}"
    doc = {"date": datetime.date.today().isoformat(), "command": command, "results": results}
    out = os.path.join(suite.ROOT, "bench", "results")
    with open(f"{out}/tuning.json", "w") as f:
        json.dump(doc, f, indent=2)
    md = [f"Measured {doc['date']} with `{command}` (medians of {a.rounds} alternating rounds).",
          "", "| experiment | setting | answers/s | lost | server CPU µs/answer |",
          "|---|---|---|---|---|"]
    for name, by_label in results.items():
        for label, v in by_label.items():
            md.append(f"| {name.replace('_', ' ')} | {label} | {v['qps']:,.0f} | "
                      f"{v['lost']:.0f} | {v['us_per_answer']:.2f} |")
    with open(f"{out}/tuning.md", "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
