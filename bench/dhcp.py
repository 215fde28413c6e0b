#!/usr/bin/env python3
"""DHCPv4 new-lease rate: ringmasq against dnsmasq 2.90, driven by perfdhcp.

Two network namespaces joined by a veth pair: the server in one (pinned to CPU 0), and
perfdhcp in the other (pinned to CPU 1), acting as a relay (giaddr set), so replies come
back by unicast. Every exchange is a full DISCOVER-OFFER-REQUEST-ACK from a client never
seen before, and every ACK waits on the server's lease file write (both servers write
their lease file before they answer).

Measured:
- the sustained new-lease rate with zero drops: a ladder of offered rates, a fresh
  server and an empty lease file each time; the highest rate at which perfdhcp saw no
  request go unanswered, as ACKs received per second;
- the same with a lease file that already holds many leases (dnsmasq rewrites the whole
  file on every change, so it slows as the table grows);
- growth: one ringmasq, ten rounds of 10,000 new clients each at the zero-drop rate, so
  that the table goes from 0 to 100,000 leases; each round's rate and latency.

Needs root (namespaces), perfdhcp (apt-get install kea-admin) and dnsmasq-base. Raises
net.core.rmem_default for the run (perfdhcp reads replies slower than either server
sends them at these rates, and its socket takes the default) and puts it back after.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RINGMASQ = os.path.join(ROOT, "target", "release", "ringmasq")
SERVER_NS, CLIENT_NS = "rmqbench-srv", "rmqbench-cli"
SERVER_ADDR, CLIENT_ADDR, PREFIX = "10.80.0.1", "10.80.0.2", 12
RANGE = "10.80.1.0,10.95.255.254,255.240.0.0,12h"
RMEM_DEFAULT = 8 << 20
GROWTH_RATE = 10000
LADDER_MACS = "00:0c:01:00:00:00"


def sh(*argv, check=True, **kw):
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


def setup_namespaces():
    teardown_namespaces()
    sh("ip", "netns", "add", SERVER_NS)
    sh("ip", "netns", "add", CLIENT_NS)
    sh("ip", "link", "add", "rmqb0", "netns", SERVER_NS, "type", "veth",
       "peer", "name", "rmqb1", "netns", CLIENT_NS)
    for ns, dev, addr in ((SERVER_NS, "rmqb0", SERVER_ADDR), (CLIENT_NS, "rmqb1", CLIENT_ADDR)):
        sh("ip", "-n", ns, "addr", "add", f"{addr}/{PREFIX}", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    # The link up and the relay's address resolved before anything is measured.
    for _ in range(50):
        if sh("ip", "netns", "exec", CLIENT_NS, "ping", "-c1", "-W1", SERVER_ADDR,
              check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise SystemExit("the benchmark's veth pair did not come up")


def teardown_namespaces():
    for ns in (SERVER_NS, CLIENT_NS):
        sh("ip", "netns", "del", ns, check=False)


def mac_bytes(base, n):
    """The MAC perfdhcp gives its `n`th client when counting up from `base`."""
    v = int(base.replace(":", ""), 16) + n
    return v.to_bytes(6, "big")


def address_hash(mac):
    """dnsmasq's address pick: SDBM hash of the MAC, 0 made 1."""
    j = 0
    for b in mac:
        j = (b + (j << 6) + (j << 16) - j) & 0xFFFFFFFF
    return j or 1


def write_preload(path, count, avoid):
    """A dnsmasq-format lease file of `count` leases for clients perfdhcp never uses, on
    addresses none of perfdhcp's clients hashes to. perfdhcp's MACs count up, so their
    hashes are neighbours: a lease on one would send that client to the next address up,
    which the next client is being offered at the same moment, and one of the two would
    be NAKed (both servers pick alike). Real clients' MACs hash far apart."""
    first, last = (ip_int(a) for a in RANGE.split(",")[:2])
    expiry = int(time.time()) + 43200
    addr = first
    with open(path, "w") as f:
        for i in range(count):
            while addr - first in avoid:
                addr += 1
            mac = ":".join("%02x" % b for b in (0x02, 0, i >> 24 & 255, i >> 16 & 255, i >> 8 & 255, i & 255))
            ip = ".".join(str(addr >> s & 255) for s in (24, 16, 8, 0))
            f.write(f"{expiry} {mac} {ip} * 01:{mac}\n")
            addr += 1
            assert addr <= last


def ip_int(text):
    a, b, c, d = (int(x) for x in text.split("."))
    return a << 24 | b << 16 | c << 8 | d


def hashed_offsets(bases_and_counts):
    """The range offsets perfdhcp's clients hash to."""
    first, last = (ip_int(a) for a in RANGE.split(",")[:2])
    size = last - first + 1
    return {address_hash(mac_bytes(base, n)) % size
            for base, count in bases_and_counts for n in range(count)}


class Server:
    """One server in the server namespace, on a fresh (or preloaded) lease file."""

    def __init__(self, name, work, preload=0, avoid=frozenset()):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=work)
        self.leases = os.path.join(self.dir, "leases")
        if preload:
            write_preload(self.leases, preload, avoid)
        binary = RINGMASQ if name == "ringmasq" else shutil.which("dnsmasq")
        argv = [binary, "-d", "-p0", "--dhcp-range=" + RANGE,
                "--dhcp-lease-max=1000000", "--dhcp-leasefile=" + self.leases,
                "--no-ping", "--log-facility=" + os.path.join(self.dir, "log"),
                "--conf-file=/dev/null"]
        # A file, not a pipe: dnsmasq -d copies every log line to stderr, and would stall
        # on a full pipe.
        self.stderr = os.path.join(self.dir, "stderr")
        with open(self.stderr, "w") as err:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", SERVER_NS, "taskset", "-c", "0"] + argv,
                stdout=subprocess.DEVNULL, stderr=err)
        self.wait_ready()

    def wait_ready(self):
        deadline = time.time() + 60  # a preloaded dnsmasq reads its file first
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited: {open(self.stderr).read()}")
            out = sh("ip", "netns", "exec", SERVER_NS, "ss", "-uln", check=False).stdout
            if re.search(r":67\s", out):
                time.sleep(0.2)
                return
            time.sleep(0.05)
        raise SystemExit(f"{self.name} did not bind port 67")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def perfdhcp(rate, seconds, mac_base=None):
    """One perfdhcp run offering `rate` new clients a second for `seconds`, every
    client's MAC counting up from `mac_base`; returns its final statistics."""
    # Single-thread mode: on its one CPU it sends faster than with threads.
    argv = ["ip", "netns", "exec", CLIENT_NS, "taskset", "-c", "1", "perfdhcp", "-4",
            "-g", "single", "-l", CLIENT_ADDR, "-r", str(rate), "-R", "1000000",
            "-b", "mac=" + (mac_base or LADDER_MACS),
            "-p", str(seconds), "-W", "2000000", SERVER_ADDR]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds * 4 + 60).stdout
    stats = {}
    for stage, key in (("DISCOVER-OFFER", "do"), ("REQUEST-ACK", "ra")):
        block = out.split(f"Statistics for: {stage}")[1]
        for field in ("sent packets", "received packets", "drops"):
            stats[f"{key}_{field.split()[0]}"] = int(re.search(field + r": (\d+)", block).group(1))
        stats[f"{key}_avg_ms"] = float(re.search(r"avg delay: ([\d.]+) ms", block).group(1))
    stats["period_s"] = seconds
    stats["acks_per_s"] = stats["ra_received"] / seconds
    stats["zero_drops"] = stats["do_drops"] == 0 and stats["ra_drops"] == 0
    stats["offered"] = rate
    return stats


def ladder(name, work, rates, seconds, preload=0):
    """The highest of `rates` each run against a fresh server with zero drops."""
    best, runs = None, []
    avoid = hashed_offsets([(LADDER_MACS, rates[-1] * seconds)]) if preload else frozenset()
    for rate in rates:
        server = Server(name, work, preload, avoid)
        try:
            s = perfdhcp(rate, seconds=seconds)
        finally:
            server.stop()
        runs.append(s)
        print(f"  {name} preload {preload}: offered {rate}/s -> {s['acks_per_s']:.0f} acks/s, "
              f"drops {s['do_drops']}/{s['ra_drops']}, ack latency {s['ra_avg_ms']:.2f} ms",
              flush=True)
        if not s["zero_drops"]:
            break
        best = s
    return {"best": best, "runs": runs}


def growth(work, rate, rounds, per_round):
    """One ringmasq, `rounds` of `per_round` new clients each, the table growing."""
    server = Server("ringmasq", work)
    out = []
    try:
        for r in range(rounds):
            s = perfdhcp(rate, max(1, round(per_round / rate)), mac_base="00:0c:%02x:00:00:00" % (16 + r))
            s["leases_before"] = r * per_round
            out.append(s)
            print(f"  round {r}: {s['leases_before']} leases before, "
                  f"{s['acks_per_s']:.0f} acks/s, drops {s['do_drops']}/{s['ra_drops']}, "
                  f"ack latency {s['ra_avg_ms']:.2f} ms", flush=True)
        journal = os.path.getsize(server.leases + ".journal") if os.path.exists(server.leases + ".journal") else 0
        with open(server.leases) as f:
            compacted = sum(1 for _ in f)
        out.append({"lease_file_lines": compacted, "journal_bytes": journal})
    finally:
        server.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=5, help="length of each ladder step")
    ap.add_argument("--preload", type=int, default=20000,
                    help="leases already in the file for the second ladder")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--per-round", type=int, default=10000)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/dhcp.py needs root (network namespaces)")
    for tool in ("perfdhcp", "dnsmasq", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed: apt-get install kea-admin dnsmasq-base util-linux")
    rmem = open("/proc/sys/net/core/rmem_default").read().strip()
    work = tempfile.mkdtemp(prefix="rmq-dhcp-bench-")
    setup_namespaces()
    try:
        with open("/proc/sys/net/core/rmem_default", "w") as f:
            f.write(str(RMEM_DEFAULT))
        dnsmasq_rates = [10, 25, 50, 100, 150, 200, 250, 300, 400, 500, 600, 800, 1200]
        ringmasq_rates = [1000, 2000, 4000, 6000, 8000, 10000, 12000, 14000, 16000, 20000]
        result = {
            "command": "bench/dhcp.sh " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "dnsmasq": ladder("dnsmasq", work, dnsmasq_rates, a.seconds),
            "ringmasq": ladder("ringmasq", work, ringmasq_rates, a.seconds),
            "dnsmasq_preloaded": ladder("dnsmasq", work, dnsmasq_rates, a.seconds, a.preload),
            "ringmasq_preloaded": ladder("ringmasq", work, ringmasq_rates, a.seconds,
                                         a.rounds * a.per_round),
        }
        # Growth at a rate perfdhcp itself keeps up with (its replies queue otherwise,
        # which shows as latency that is the client's).
        rate = min(result["ringmasq"]["best"]["offered"], GROWTH_RATE)
        result["growth"] = growth(work, rate, a.rounds, a.per_round)
    finally:
        with open("/proc/sys/net/core/rmem_default", "w") as f:
            f.write(rmem)
        teardown_namespaces()
        shutil.rmtree(work, ignore_errors=True)
    out = os.path.join(ROOT, "bench", "results")
    with open(os.path.join(out, "dhcp.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(out, "dhcp.md"), "w") as f:
        f.write(report(result, a))
    print(report(result, a))


def report(r, a):
    def best(key):
        b = r[key]["best"]
        if b is None:  # even the lowest rate dropped: count it as that rate, generously
            b = dict(r[key]["runs"][0], acks_per_s=r[key]["runs"][0]["offered"], offered=0)
        return b
    d, q = best("dnsmasq"), best("ringmasq")
    dp, qp = best("dnsmasq_preloaded"), best("ringmasq_preloaded")
    rounds = [g for g in r["growth"] if "acks_per_s" in g]
    first, last = rounds[0], rounds[-1]
    files = r["growth"][-1]
    lines = [
        "# DHCPv4 new-lease rate",
        "",
        f"`{r['command']}`, {r['date']}. perfdhcp as a relay in one network namespace, "
        "the server in another, one CPU each; every exchange a full DORA from a new client.",
        "",
        "| | dnsmasq 2.90 | ringmasq | ratio |",
        "|---|---|---|---|",
        f"| sustained new leases/s, zero drops, empty lease file | {d['acks_per_s']:.0f} "
        f"| {q['acks_per_s']:.0f} | {q['acks_per_s'] / d['acks_per_s']:.1f}x |",
        f"| the same, lease file preloaded (dnsmasq {a.preload:,}, ringmasq "
        f"{a.rounds * a.per_round:,}) | {dp['acks_per_s']:.0f} | {qp['acks_per_s']:.0f} "
        f"| {qp['acks_per_s'] / dp['acks_per_s']:.1f}x |",
        "",
        f"Highest offered rate with zero drops: dnsmasq {d['offered']}/s "
        f"({dp['offered']}/s preloaded), ringmasq {q['offered']}/s ({qp['offered']}/s "
        "preloaded; 0 means even the lowest step dropped, and that step's rate is used "
        "above); the next step up dropped, or was the top of the ladder "
        "(perfdhcp itself, on one core, sends no faster than about 13,000 exchanges/s).",
        "",
        f"Growth, one ringmasq, {len(rounds)} rounds of {a.per_round:,} new clients "
        f"at {first['offered']}/s offered:",
        "",
        "| leases before | acks/s | drops (DO/RA) | ACK latency ms |",
        "|---|---|---|---|",
    ]
    for g in rounds:
        lines.append(f"| {g['leases_before']:,} | {g['acks_per_s']:.0f} "
                     f"| {g['do_drops']}/{g['ra_drops']} | {g['ra_avg_ms']:.2f} |")
    lines += [
        "",
        f"Last round against first: {last['acks_per_s'] / first['acks_per_s']:.2f} of the rate. "
        f"At the end the lease file held {files['lease_file_lines']:,} lines and the "
        f"journal {files['journal_bytes']:,} bytes (the leases since the last compaction, "
        "which comes once the journal holds more records than the table has leases, or "
        "has held changes for a second and a second more per 20,000 leases).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
