#!/usr/bin/env python3
"""Flat lookup cost inside one process (issue 5), without the difference between two
server processes that the suite's flat figures carry: one ringmasq with the full hosts
file is driven in alternating slices with random names of one length from the whole
file ("big-one") and with ten of those names ("big-one10"), and a ringmasq with only
those ten entries ("small-one10") alongside, with a twin of it ("twin-one10", the same
configuration: how far two identical servers differ here is the noise floor for the
others). Prints each slice's qps and CPU per answer, the medians and the medians of the
slice-by-slice ratios. With --other BUILD, a million-name server of another ringmasq
binary ("other-one") joins the rotation, for an A/B of a change to the lookup: its
slice-by-slice ratio to "big-one" is printed too. Same pinning and data as
bench/suite.py (which it imports); nothing is written to bench/results.

Usage: python3 bench/flat_within.py [SLICES] [--lines N] [--seconds S] [--other BUILD]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("slices", nargs="?", type=int, default=10)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--other", help="another ringmasq binary to run with the full file")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ringmasq-flat-")
    procs = []
    try:
        subprocess.run([sys.executable, suite.GEN_HOSTS, str(a.lines), f"{work}/hosts"],
                       check=True)
        with open(f"{work}/hits", "w") as f:
            f.writelines(f"hit{i}.bench.test A\n" for i in range(1000))
        suite.write_one_length_sets(f"{work}/hosts", f"{work}/hosts-one10", f"{work}/one10",
                                    f"{work}/one", 100000)
        suite.write_configs(work, f"{work}/hosts")
        suite.write_configs(work, f"{work}/hosts-one10", "-one10")
        big_port, small_port = suite.PORTS["ringmasq"], suite.PORTS["ringmasq"] + 10
        with open(f"{work}/ringmasq-one10.conf") as f:
            conf = f.read().replace(f"port={big_port}\n", f"port={small_port}\n")
        with open(f"{work}/ringmasq-small.conf", "w") as f:
            f.write(conf)
        twin_port = small_port + 1
        with open(f"{work}/ringmasq-twin.conf", "w") as f:
            f.write(conf.replace(f"port={small_port}\n", f"port={twin_port}\n"))
        procs.append(suite.start_upstream())
        big = suite.start("ringmasq", work, "-hosts")
        small = suite.start("ringmasq", work, "-small", port=small_port)
        twin = suite.start("ringmasq", work, "-twin", port=twin_port)
        procs += [big, small, twin]
        runs = [("big-one", big, big_port, "one"), ("big-one10", big, big_port, "one10"),
                ("small-one10", small, small_port, "one10"),
                ("twin-one10", twin, twin_port, "one10")]
        if a.other:
            other_port = twin_port + 1
            with open(f"{work}/ringmasq-hosts.conf") as f:
                other_conf = f.read().replace(f"port={big_port}\n", f"port={other_port}\n")
            with open(f"{work}/ringmasq-other.conf", "w") as f:
                f.write(other_conf)
            ours, suite.RINGMASQ = suite.RINGMASQ, a.other
            try:
                other = suite.start("ringmasq", work, "-other", port=other_port)
            finally:
                suite.RINGMASQ = ours
            procs.append(other)
            runs.insert(1, ("other-one", other, other_port, "one"))
        for _, _, port, _ in runs:
            suite.drive(port, ["-d", f"{work}/hits", "-q", "100", "-c", "10"], 1)
        seen = {}
        for k in range(a.slices):
            for label, proc, port, data in (runs if k % 2 == 0 else runs[::-1]):
                before = suite.cpu_ticks(proc.pid)
                r = suite.drive(port, ["-d", f"{work}/{data}", "-q", "500", "-c", "10"],
                                a.seconds)
                us = (suite.cpu_ticks(proc.pid) - before) * suite.TICK_US / max(
                    r["queries_completed"], 1)
                seen.setdefault(f"{label} qps", []).append(r["qps"])
                seen.setdefault(f"{label} us", []).append(us)
    finally:
        for p in procs:
            suite.stop(p)
        shutil.rmtree(work, ignore_errors=True)
    for k, v in seen.items():
        print(f"{k}: median {statistics.median(v):,.2f} (" +
              " ".join(f"{x:.2f}" for x in v) + ")")

    def paired(x, y):
        return statistics.median(p / q for p, q in zip(seen[x], seen[y]))
    print(f"paired medians: big-one/big-one10 {paired('big-one qps', 'big-one10 qps'):.3f}, "
          f"big-one/small-one10 {paired('big-one qps', 'small-one10 qps'):.3f}, "
          f"big-one10/small-one10 {paired('big-one10 qps', 'small-one10 qps'):.3f}, "
          f"CPU per answer big-one/small-one10 {paired('big-one us', 'small-one10 us'):.3f}; "
          f"noise floor twin-one10/small-one10 {paired('twin-one10 qps', 'small-one10 qps'):.3f}")
    if a.other:
        print(f"other build over this one, million names: "
              f"{paired('other-one qps', 'big-one qps'):.3f}")


if __name__ == "__main__":
    main()
