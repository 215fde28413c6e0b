#!/usr/bin/env python3
"""Record the real dnsmasq's `--test` exit code for every case in cases.txt.

usage: tests/config_cases/record.py [--compare BINARY]   (run from the repository root)

Writes tests/config_cases/expected.txt ("<exit code>\t<case>\t<message>" per line, where
<message> is dnsmasq's last stderr line without "dnsmasq: ", the config path as <conf>). With --compare,
writes nothing and prints the cases where BINARY's exit code differs from dnsmasq's.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def cases():
    with open(os.path.join(HERE, "cases.txt")) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# One case per line"):
                continue
            yield line


def run(binary, case):
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write(case.replace(" ;; ", "\n") + "\n")
        path = conf.name
    try:
        p = subprocess.run([binary, "--test", "-C", path], capture_output=True, text=True, timeout=20)
        lines = p.stderr.strip().splitlines() or [""]
        return p.returncode, lines[-1].replace(path, "<conf>")
    finally:
        os.unlink(path)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--compare":
        bad = 0
        for case in cases():
            want, wmsg = run("dnsmasq", case)
            got, gmsg = run(sys.argv[2], case)
            if want != got:
                bad += 1
                print(f"{case!r}: dnsmasq {want} [{wmsg}] vs {got} [{gmsg}]")
        print(f"{bad} differences")
        return
    with open(os.path.join(HERE, "expected.txt"), "w") as out:
        for case in cases():
            rc, msg = run("dnsmasq", case)
            msg = msg.removeprefix("dnsmasq: ") if rc != 0 else ""
            out.write(f"{rc}\t{case}\t{msg}\n")


if __name__ == "__main__":
    main()
