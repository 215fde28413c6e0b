#!/usr/bin/env python3
"""Where a million hosts names cost their time, inside one server (issue 5): a ringmasq
built with the `batch-timing` feature (the cycle counter read around each UDP batch's
receive, answer and send) holds the LINES-line file and is asked, in turn, blocks of
3,200 queries from the file's names of one length (some 60,000, asked at random) and
from ten of them. Both kinds are timed in the same stretches of the machine's drift, so
their difference is what asking tens of thousands of distinct names costs over asking ten,
free of the run-to-run swings the suite's flat figures carry. Prints per query, for
each: cycles to receive, answer and send, their sum, and the ratio of the sums (ten over
many: the rate of many over the rate of ten, the server being the bottleneck). Same
pinning and data as bench/suite.py; nothing is written to bench/results.

Usage: python3 bench/flat_cycles.py [--seconds S] [--lines N] [--binary TIMING_BUILD]
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

BLOCK = 3200


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--binary", help="a ringmasq built with --features batch-timing")
    a = ap.parse_args()
    binary = a.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--features", "batch-timing",
                        "--target-dir", "target/timing", "--bin", "ringmasq"],
                       cwd=suite.ROOT, check=True)
        binary = os.path.join(suite.ROOT, "target/timing/release/ringmasq")
    work = tempfile.mkdtemp(prefix="ringmasq-cycles-")
    procs = []
    try:
        subprocess.run([sys.executable, suite.GEN_HOSTS, str(a.lines), f"{work}/hosts"],
                       check=True)
        suite.write_one_length_sets(f"{work}/hosts", f"{work}/hosts-one10", f"{work}/one10",
                                    f"{work}/one", 100000)
        many = open(f"{work}/one").read().splitlines()
        ten = open(f"{work}/one10").read().splitlines()
        with open(f"{work}/turns", "w") as f:
            for b in range(len(many) // BLOCK):
                f.write("\n".join(many[b * BLOCK:(b + 1) * BLOCK]) + "\n")
                f.write("\n".join(ten[b * BLOCK:(b + 1) * BLOCK]) + "\n")
        suite.write_configs(work, f"{work}/hosts")
        procs.append(suite.start_upstream())
        log = f"{work}/timing.log"
        os.environ["RINGMASQ_TIMING_NAMES"] = f"{work}/hosts-one10"
        os.environ["RINGMASQ_TIMING_LOG"] = log
        ours, suite.RINGMASQ = suite.RINGMASQ, binary
        try:
            procs.append(suite.start("ringmasq", work, "-hosts"))
        finally:
            suite.RINGMASQ = ours
        port = suite.PORTS["ringmasq"]
        suite.drive(port, ["-d", f"{work}/turns", "-q", "500", "-c", "10"], 2)
        open(log, "w").close()
        suite.drive(port, ["-d", f"{work}/turns", "-q", "500", "-c", "10"], a.seconds)
        rows = []
        for line in open(log):
            many_part, ten_part = line.split("|")
            rows.append((list(map(int, many_part.split())), list(map(int, ten_part.split()))))
    finally:
        for p in procs:
            suite.stop(p)
        shutil.rmtree(work, ignore_errors=True)
    if not rows:
        sys.exit("no timing lines: is the binary built with --features batch-timing?")

    def med(kind, part):
        return statistics.median(r[kind][part] for r in rows)
    print(f"{len(rows)} windows of 3,000 batches; cycles per query (median):")
    for name, kind in (("many names", 0), ("ten names", 1)):
        print(f"  {name:10}  receive {med(kind, 0):6.0f}  answer {med(kind, 1):6.0f}  "
              f"send {med(kind, 2):6.0f}  total {med(kind, 3):6.0f}")
    extra = [statistics.median(r[0][i] - r[1][i] for r in rows) for i in range(4)]
    print(f"  many - ten  receive {extra[0]:6.0f}  answer {extra[1]:6.0f}  "
          f"send {extra[2]:6.0f}  total {extra[3]:6.0f}")
    ratio = statistics.median(r[1][3] / r[0][3] for r in rows)
    print(f"rate with many names over rate with ten (ratio of cycles): {ratio:.3f}")


if __name__ == "__main__":
    main()
