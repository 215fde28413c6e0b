#!/usr/bin/env python3
"""The benchmark suite: ringmasq against dnsmasq 2.90, unbound and the echo reflector.

Every server runs pinned to CPU 0, one at a time, in alternation (A B C D, A B C D, ...);
ringmasq-loadgen drives from CPU 1, and the fast local upstream (a dnsmasq answering every
name under bench.test itself) also lives on CPU 1. Measured per server and round:

  hit        cache-hit qps, closed loop (500 outstanding over 10 sockets), 1,000 names
             asked over and over after a warm-up pass; server CPU microseconds per answer
  forwarded  answers (NOERROR) a second with every query a cache miss (random names),
             forwarded upstream; other response codes are counted apart
  latency    p50 and p99 at 50% of the server's own cache-hit maximum (open loop)
  hosts      with a gen-hosts.py file of LINES lines: time from process start until the
             file's last name is answered, and resident memory then (ringmasq and dnsmasq,
             both free to use every CPU)
  rules      the same for LINES domain rules (address=/d/0.0.0.0, address=/d/#,
             address=/d/, local=/d/, server=/d/# over the file's names) in a config file
  reload     the hosts file's names asked at a steady RELOAD_QPS (open loop) for S*2
             seconds, once quietly and once with a SIGHUP (full reload) every S/2 seconds:
             queries lost and p99 latency (ringmasq and dnsmasq, pinned to CPU 0)
  flat       ringmasq's cache-hit and hosts-name (blocked) qps and CPU per answer with 10
             hosts entries and with the LINES-line file, the two asked in turns of 100 ms
             within each run (ratios are medians of the runs'). Blocked names are asked in three mixes:
             names of one length (100,000 queries drawn from the file's names of its
             commonest length: some 60,000 distinct names, too many for the CPU caches),
             the file's own mix of lengths, and the small server's ten names asked of both
             (what the table's size alone costs). Replies of equal size to one client go out packed (UDP_SEGMENT), so a
             mix of lengths costs the kernel more per reply the more lengths it has, and ten
             names have fewer lengths than a hundred thousand: with one length both sides
             send alike and only the lookup differs.

The echo reflector (ringmasq-loadgen --echo) answers in the same run: the machine's ceiling
for UDP request and response. Results: bench/results/NAME.json and NAME.md. Loopback only;
everything stops by itself.

Usage: bench/run.sh [NAME] [--seconds S] [--rounds R] [--lines N]
"""
import argparse
import datetime
import json
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RINGMASQ = os.path.join(ROOT, "target/release/ringmasq")
LOADGEN = os.path.join(ROOT, "target/release/ringmasq-loadgen")
GEN_HOSTS = os.environ.get(
    "GEN_HOSTS", os.path.join(ROOT, "..", "shared", "bench-data", "gen-hosts.py"))
SERVER_CPU, DRIVER_CPU = "0", "1"
UPSTREAM_PORT = 5499
PORTS = {"echo": 5300, "ringmasq": 5302, "dnsmasq": 5301, "unbound": 5303}
RELOAD_QPS = 20000
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")


def query(name, qtype=1, qid=None):
    qid = random.randrange(65536) if qid is None else qid
    wire = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + struct.pack(">HH", qtype, 1)


def answers(port, name, qtype=1, wait=0.2):
    """Whether the server on `port` gives `name` an answer with at least one record. The
    socket is connected, so a port nobody listens on is refused at once rather than
    waited for: start-up times are measured to a few milliseconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(wait)
        q = query(name, qtype)
        try:
            s.connect(("127.0.0.1", port))
            s.send(q)
            r = s.recv(4096)
        except OSError:
            return False
        return r[:2] == q[:2] and r[3] & 0x0F == 0 and struct.unpack(">H", r[6:8])[0] > 0


def replies(port, wait=0.2):
    """Whether anything on `port` replies to a query at all."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(wait)
        try:
            s.sendto(query("hit0.bench.test"), ("127.0.0.1", port))
            s.recvfrom(4096)
            return True
        except OSError:
            return False


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def memory_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pinned(cpu, argv, **kw):
    return subprocess.Popen(["taskset", "-c", cpu, *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, **kw)


def start_upstream():
    """The fast local upstream: a dnsmasq on the driver CPU answering every name under
    bench.test itself (192.0.2.1), caching nothing."""
    return pinned(DRIVER_CPU, [
        "dnsmasq", "-k", f"--port={UPSTREAM_PORT}", "--listen-address=127.0.0.1",
        "--bind-interfaces", "--no-resolv", "--no-hosts", "--address=/bench.test/192.0.2.1",
        "--local-ttl=3600", "--cache-size=0", "--pid-file=", "--user=root",
        "--log-facility=/dev/null"])


def stop(proc):
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def drive(port, args, seconds):
    """Run the load generator on the driver CPU (against `port`, unless `args` name the
    servers: --turns); returns its JSON figures."""
    target = ["-p", str(port)] if port else []
    out = subprocess.run(
        ["taskset", "-c", DRIVER_CPU, LOADGEN, "--quiet", "--cpus", DRIVER_CPU, "--json",
         "-s", "127.0.0.1", *target, "-l", str(seconds), *args],
        capture_output=True, text=True, timeout=seconds + 30)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_configs(work, hosts_file=None, suffix=None, extra=""):
    """Configuration files for every server; with `hosts_file`, ones that load it."""
    common = (f"listen-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
              f"server=127.0.0.1#{UPSTREAM_PORT}\ncache-size=10000\ndns-forward-max=1000\n"
              f"pid-file=\nuser=root\nkeep-in-foreground\nlog-facility=/dev/null\n")
    if hosts_file:
        common += f"addn-hosts={hosts_file}\n"
    common += extra
    if suffix is None:
        suffix = "-hosts" if hosts_file else ""
    for name in ("dnsmasq", "ringmasq"):
        with open(f"{work}/{name}{suffix}.conf", "w") as f:
            f.write(f"port={PORTS[name]}\n{common}")
    with open(f"{work}/unbound.conf", "w") as f:
        f.write(f"""server:
  interface: 127.0.0.1
  port: {PORTS['unbound']}
  do-daemonize: no
  num-threads: 1
  chroot: ""
  username: ""
  pidfile: ""
  directory: "{work}"
  use-syslog: no
  logfile: ""
  verbosity: 0
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
  # unbound serves test. itself (RFC 6761) unless told not to.
  local-zone: "test." nodefault
  msg-cache-size: 64m
  rrset-cache-size: 128m
  prefetch: no
remote-control:
  control-enable: no
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@{UPSTREAM_PORT}
""")


def start(name, work, suffix="", port=None):
    port = port or PORTS[name]
    if name == "echo":
        argv = [LOADGEN, "--echo", "-s", "127.0.0.1", "-p", str(port), "-l", "600", "--cpus",
                SERVER_CPU]
    elif name == "ringmasq":
        argv = [RINGMASQ, "-C", f"{work}/ringmasq{suffix}.conf"]
    elif name == "dnsmasq":
        argv = ["dnsmasq", "-C", f"{work}/dnsmasq{suffix}.conf"]
    else:
        argv = ["unbound", "-d", "-c", f"{work}/unbound.conf"]
    proc = pinned(SERVER_CPU, argv)
    deadline = time.time() + 20
    while not replies(port):
        if proc.poll() is not None or time.time() > deadline:
            stop(proc)
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.05)
    return proc


def measure_server(name, work, seconds):
    port = PORTS[name]
    proc = start(name, work)
    row = {}
    try:
        drive(port, ["-d", f"{work}/hits", "-q", "100", "-c", "10"], 1)  # warm the cache
        before = cpu_ticks(proc.pid)
        hit = drive(port, ["-d", f"{work}/hits", "-q", "500", "-c", "10"], seconds)
        row["hit_qps"] = hit["qps"]
        row["hit_other_rcodes"] = sum(n for c, n in hit["rcodes"].items() if c != "NOERROR")
        row["hit_lost"] = hit["queries_lost"]
        row["hit_us_per_query"] = (cpu_ticks(proc.pid) - before) * TICK_US / max(
            hit["queries_completed"], 1)
        half = max(int(hit["qps"] / 2), 1000)
        lat = drive(port, ["-d", f"{work}/hits", "-Q", str(half), "-c", "10"], seconds)
        row["latency_at_qps"] = half
        row["p50_ms"] = lat["latency_s"]["p50"] * 1e3
        row["p99_ms"] = lat["latency_s"]["p99"] * 1e3
        row["latency_lost"] = lat["queries_lost"]
        if name != "echo":
            before = cpu_ticks(proc.pid)
            fwd = drive(port, ["--random", "bench.test", "-q", "500", "-c", "10", "-t", "2"],
                        seconds)
            # Only real answers count: a server that gives up (SERVFAIL) is not forwarding.
            row["forwarded_qps"] = fwd["rcodes"].get("NOERROR", 0) / seconds
            row["forwarded_other_rcodes"] = sum(
                n for code, n in fwd["rcodes"].items() if code != "NOERROR")
            row["forwarded_lost"] = fwd["queries_lost"]
            row["forwarded_us_per_query"] = (cpu_ticks(proc.pid) - before) * TICK_US / max(
                fwd["queries_completed"], 1)
    finally:
        stop(proc)
    return row


def measure_hosts(name, work, last_name, suffix="-hosts"):
    """Seconds from start until the hosts file's last name is answered, and memory."""
    port = PORTS[name]
    t0 = time.monotonic()
    argv = [RINGMASQ if name == "ringmasq" else "dnsmasq", "-C", f"{work}/{name}{suffix}.conf"]
    # Both may use every CPU here: loading is what is measured (dnsmasq uses one anyway).
    proc = pinned(f"{SERVER_CPU},{DRIVER_CPU}", argv)
    try:
        while not answers(port, last_name, wait=0.02):
            if proc.poll() is not None or time.monotonic() - t0 > 120:
                raise RuntimeError(f"{name} never answered {last_name}")
            time.sleep(0.002)
        ready = time.monotonic() - t0
        return {"load_s": ready, "rss_mib": memory_kib(proc.pid, "VmRSS") / 1024,
                "peak_rss_mib": memory_kib(proc.pid, "VmHWM") / 1024}
    finally:
        stop(proc)


def measure_reload(name, work, seconds):
    """Steady load of hosts-file names, without and with SIGHUPs: loss and p99."""
    port = PORTS[name]
    proc = start(name, work, "-hosts")
    row = {}
    try:
        args = ["-d", f"{work}/blocked", "-Q", str(RELOAD_QPS), "-c", "10", "-t", "2"]
        quiet = drive(port, args, seconds * 2)
        row["quiet_p99_ms"] = quiet["latency_s"]["p99"] * 1e3
        row["quiet_lost"] = quiet["queries_lost"]
        driver = subprocess.Popen(
            ["taskset", "-c", DRIVER_CPU, LOADGEN, "--quiet", "--cpus", DRIVER_CPU, "--json",
             "-s", "127.0.0.1", "-p", str(port), "-l", str(seconds * 2), *args],
            stdout=subprocess.PIPE, text=True)
        for _ in range(3):
            time.sleep(seconds / 2)
            proc.send_signal(1)  # SIGHUP
        out, _ = driver.communicate(timeout=seconds * 2 + 30)
        loaded = json.loads(out.strip().splitlines()[-1])
        row["reload_p99_ms"] = loaded["latency_s"]["p99"] * 1e3
        row["reload_lost"] = loaded["queries_lost"]
        row["reload_sent"] = loaded["queries_sent"]
        row["reloads"] = 3
    finally:
        stop(proc)
    return row


def measure_flat(work, seconds, slices=8):
    """ringmasq with 10 and with LINES hosts entries: hit and blocked qps, CPU/answer.
    The servers run at once (on the same CPU; idle ones cost nothing) and the load
    generator asks them in turns (`--turns`: 100 ms of one, its replies waited for, then
    100 ms of the other, round and round), so that both see the same drift of the machine
    (other tenants), which moves separate runs of seconds apart by several per cent. Each
    measure is `slices` such runs of `seconds`; its ratio is the median of the runs'
    ratios. Blocked names in three mixes (see the module comment): `blocked` of one
    length, `blocked_mixed` the file's own, and `blocked_same` the ten names of one length
    the small server has, asked of both (what the table's size alone costs, the names
    asked being the same)."""
    procs = {}
    try:
        ports = {}
        for size, suffix, offset in (("10", "-one10", 10), ("10mixed", "-hosts10", 11)):
            port = PORTS["ringmasq"] + offset
            with open(f"{work}/ringmasq{suffix}.conf") as f:
                conf = f.read().replace(f"port={PORTS['ringmasq']}\n", f"port={port}\n")
            with open(f"{work}/ringmasq-flat{size}.conf", "w") as f:
                f.write(conf)
            procs[size] = start("ringmasq", work, f"-flat{size}", port=port)
            ports[size] = port
        procs["all"] = start("ringmasq", work, "-hosts")
        ports["all"] = PORTS["ringmasq"]
        # measure: (server, queries) with 10 entries, and with all of them
        runs = {"hit": (("10", "hits"), ("all", "hits")),
                "blocked": (("10", "one10"), ("all", "one")),
                "blocked_mixed": (("10mixed", "blocked10"), ("all", "blocked")),
                "blocked_same": (("10", "one10"), ("all", "one10"))}
        for port in ports.values():
            drive(port, ["-d", f"{work}/hits", "-q", "100", "-c", "10"], 1)
        seen = {}
        for k in range(slices):
            for kind, pair in runs.items():
                sides = list(zip(("10", "all"), pair))
                if k % 2:
                    sides.reverse()
                turns = ",".join(f"{ports[server]}:{work}/{data}" for _, (server, data) in sides)
                before = {size: cpu_ticks(procs[server].pid) for size, (server, _) in sides}
                r = drive(None, ["--turns", turns, "-q", "500", "-c", "10"], seconds)
                qps = {}
                for (size, (server, _)), figures in zip(sides, r["turns"]):
                    us = (cpu_ticks(procs[server].pid) - before[size]) * TICK_US / max(
                        figures["queries_completed"], 1)
                    qps[size] = figures["qps"]
                    seen.setdefault(f"{kind}_qps_{size}", []).append(figures["qps"])
                    seen.setdefault(f"{kind}_us_{size}", []).append(us)
                seen.setdefault(f"{kind}_ratio", []).append(qps["all"] / qps["10"])
        return {k: statistics.median(v) for k, v in seen.items()}
    finally:
        for proc in procs.values():
            stop(proc)


def write_rules(hosts, path, count):
    """`count` domain rules of every form over the names in `hosts`; the last one answers
    its name with 0.0.0.0. Returns that name."""
    rng = random.Random(20261201)
    forms = ["address=/{}/0.0.0.0"] * 6 + ["address=/{}/#", "address=/{}/", "local=/{}/",
                                           "server=/{}/#"]
    names = []
    with open(hosts) as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            names += [n.lower() for n in fields[1:] if "localhost" not in n]
            if len(names) >= count:
                break
    names = names[:count]
    with open(path, "w") as f:
        for n in names[:-1]:
            f.write(rng.choice(forms).format(n) + "\n")
        f.write(f"address=/{names[-1]}/0.0.0.0\n")
    return names[-1]


def hosts_names(hosts, limit=None):
    """(name, query type) for the names of `hosts` (its first `limit`), each with the
    address family its line gives."""
    names = []
    with open(hosts) as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            qtype = "AAAA" if fields and ":" in fields[0] else "A"
            names += [(n, qtype) for n in fields[1:]]
            if limit and len(names) >= limit:
                break
    return names


def write_queries(names, path, count):
    """`count` queries drawn at random from `names`."""
    rng = random.Random(7)
    with open(path, "w") as f:
        for _ in range(count):
            f.write("%s %s\n" % rng.choice(names))


def write_blocked_queries(hosts, path, count, limit=None):
    """`count` queries for names of `hosts` (its first `limit` names), each for the
    address family its line gives (the other family is forwarded, as dnsmasq does)."""
    write_queries(hosts_names(hosts, limit), path, count)


def write_one_length_sets(hosts, small_hosts, small_queries, queries, count):
    """The one-length mix: the commonest length of the IPv4 names of `hosts`; 10 of them
    as a hosts file `small_hosts`, and `count` queries for those 10 (`small_queries`)
    and for all of them (`queries`)."""
    names = [n for n, qtype in hosts_names(hosts) if qtype == "A"]
    length = statistics.mode(len(n) for n in names)
    same = sorted(set(n for n in names if len(n) == length))
    ten = random.Random(7).sample(same, 10)
    with open(small_hosts, "w") as f:
        f.writelines(f"0.0.0.0 {n}\n" for n in ten)
    write_queries([(n, "A") for n in ten], small_queries, count)
    write_queries([(n, "A") for n in same], queries, count)


def last_hosts_name(path):
    last = None
    with open(path) as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 2 and ":" not in fields[0]:
                last = fields[-1]
    return last


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", nargs="?", default="suite")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--only", choices=["flat", "reload", "load"],
                    help="measure only this part (printed, not written to bench/results)")
    a = ap.parse_args()
    for tool in ("dnsmasq", "unbound", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (apt-get install dnsmasq-base unbound util-linux)")
    if not os.path.exists(GEN_HOSTS):
        sys.exit(f"no {GEN_HOSTS}: set GEN_HOSTS to gen-hosts.py")
    work = tempfile.mkdtemp(prefix="ringmasq-bench-")
    upstream = None
    try:
        with open(f"{work}/hits", "w") as f:
            f.writelines(f"hit{i}.bench.test A\n" for i in range(1000))
        subprocess.run([sys.executable, GEN_HOSTS, str(a.lines), f"{work}/hosts"], check=True)
        last = last_hosts_name(f"{work}/hosts")
        with open(f"{work}/hosts") as full, open(f"{work}/hosts10", "w") as small:
            small.writelines(l for _, l in zip(range(14), full))
        write_blocked_queries(f"{work}/hosts", f"{work}/blocked", 100000)
        write_blocked_queries(f"{work}/hosts10", f"{work}/blocked10", 100000)
        write_one_length_sets(f"{work}/hosts", f"{work}/hosts-one10", f"{work}/one10",
                              f"{work}/one", 100000)
        last_rule = write_rules(f"{work}/hosts", f"{work}/rules.conf", a.lines)
        write_configs(work)
        write_configs(work, f"{work}/hosts")
        write_configs(work, f"{work}/hosts10", "-hosts10")
        write_configs(work, f"{work}/hosts-one10", "-one10")
        write_configs(work, None, "-rules", f"conf-file={work}/rules.conf\n")
        upstream = start_upstream()
        servers = ["echo", "ringmasq", "dnsmasq", "unbound"]
        rows = {s: [] for s in servers}
        hosts = {s: [] for s in ("ringmasq", "dnsmasq")}
        rules = {s: [] for s in ("ringmasq", "dnsmasq")}
        reload = {s: [] for s in ("ringmasq", "dnsmasq")}
        flat = []
        if a.only:
            loads = {}
            for r in range(a.rounds):
                if a.only == "flat":
                    figures = measure_flat(work, a.seconds)
                elif a.only == "reload":
                    figures = measure_reload("ringmasq", work, a.seconds)
                else:
                    figures = {}
                    for s in ("ringmasq", "dnsmasq"):
                        for what, name, suffix in (("hosts", last, "-hosts"),
                                                   ("rules", last_rule, "-rules")):
                            h = measure_hosts(s, work, name, suffix)
                            loads.setdefault((what, s), []).append(h["load_s"])
                            figures[f"{s} {what}"] = (f"{h['load_s']:.3f} s, "
                                                      f"{h['rss_mib']:.0f} MiB")
                print(f"round {r + 1} {a.only}: {figures}", flush=True)
            for what in ("hosts", "rules") if loads else ():
                ours = statistics.median(loads[(what, "ringmasq")])
                theirs = statistics.median(loads[(what, "dnsmasq")])
                print(f"{what} load time, medians: ringmasq {ours:.3f} s, dnsmasq "
                      f"{theirs:.3f} s, ratio {ours / theirs:.3f}")
            return
        for r in range(a.rounds):
            for s in servers:
                row = measure_server(s, work, a.seconds)
                rows[s].append(row)
                print(f"round {r + 1} {s}: " + ", ".join(
                    f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in row.items()), flush=True)
            for s in hosts:
                h = measure_hosts(s, work, last)
                hosts[s].append(h)
                print(f"round {r + 1} {s} hosts: load {h['load_s']:.2f} s, "
                      f"rss {h['rss_mib']:.1f} MiB", flush=True)
                h = measure_hosts(s, work, last_rule, "-rules")
                rules[s].append(h)
                print(f"round {r + 1} {s} rules: load {h['load_s']:.2f} s, "
                      f"rss {h['rss_mib']:.1f} MiB", flush=True)
                h = measure_reload(s, work, a.seconds)
                reload[s].append(h)
                print(f"round {r + 1} {s} reload: {h}", flush=True)
            f = measure_flat(work, a.seconds)
            flat.append(f)
            print(f"round {r + 1} ringmasq flat: {f}", flush=True)
    finally:
        if upstream:
            stop(upstream)
        shutil.rmtree(work, ignore_errors=True)
    report(a, rows, hosts, rules, reload, flat)


def median(rows, key):
    values = [r[key] for r in rows if key in r]
    return statistics.median(values) if values else None


def report(a, rows, hosts, rules, reload, flat):
    summary = {s: {k: median(v, k) for k in v[0]} for s, v in rows.items()}
    load = {s: {k: median(v, k) for k in v[0]} for s, v in hosts.items()}
    rule_load = {s: {k: median(v, k) for k in v[0]} for s, v in rules.items()}
    reloads = {s: {k: median(v, k) for k in v[0]} for s, v in reload.items()}
    flat_med = {k: median(flat, k) for k in flat[0]}
    r, d, e = summary["ringmasq"], summary["dnsmasq"], summary["echo"]
    ratios = {
        "hit_qps_ringmasq_over_dnsmasq": r["hit_qps"] / d["hit_qps"],
        "hit_qps_ringmasq_over_echo": r["hit_qps"] / e["hit_qps"],
        "hit_cpu_ringmasq_over_dnsmasq": r["hit_us_per_query"] / d["hit_us_per_query"],
        "forwarded_qps_ringmasq_over_dnsmasq": r["forwarded_qps"] / d["forwarded_qps"],
        "load_time_ringmasq_over_dnsmasq": load["ringmasq"]["load_s"] / load["dnsmasq"]["load_s"],
        "rss_ringmasq_over_dnsmasq": load["ringmasq"]["rss_mib"] / load["dnsmasq"]["rss_mib"],
        "rules_load_time_ringmasq_over_dnsmasq":
            rule_load["ringmasq"]["load_s"] / rule_load["dnsmasq"]["load_s"],
        "rules_rss_ringmasq_over_dnsmasq":
            rule_load["ringmasq"]["rss_mib"] / rule_load["dnsmasq"]["rss_mib"],
        "reload_p99_over_quiet_p99_ringmasq":
            reloads["ringmasq"]["reload_p99_ms"] / reloads["ringmasq"]["quiet_p99_ms"],
        "hit_qps_all_over_10_entries": flat_med["hit_ratio"],
        "blocked_qps_all_over_10_entries": flat_med["blocked_ratio"],
        "blocked_mixed_lengths_qps_all_over_10_entries": flat_med["blocked_mixed_ratio"],
        "blocked_same_names_qps_all_over_10_entries": flat_med["blocked_same_ratio"],
    }
    command = f"bench/run.sh {a.name} --seconds {a.seconds} --rounds {a.rounds} --lines {a.lines}"
    doc = {"date": datetime.date.today().isoformat(), "command": command,
           "cpus": os.cpu_count(), "server_cpu": SERVER_CPU, "driver_cpu": DRIVER_CPU,
           "medians": summary, "hosts_file": {"lines": a.lines, **load},
           "rules_file": {"lines": a.lines, **rule_load}, "reload": reloads, "flat": flat_med,
           "ratios": ratios, "rounds": rows, "hosts_rounds": hosts, "rules_rounds": rules,
           "reload_rounds": reload, "flat_rounds": flat}
    out = os.path.join(ROOT, "bench", "results")
    with open(f"{out}/{a.name}.json", "w") as f:
        json.dump(doc, f, indent=2)
    fmt = lambda v, spec=",.0f": "-" if v is None else format(v, spec)
    md = [f"Measured {doc['date']} with `{command}`: each server pinned to CPU {SERVER_CPU}, "
          f"ringmasq-loadgen on CPU {DRIVER_CPU}, {a.rounds} alternating rounds of "
          f"{a.seconds} s runs, medians.", "",
          "| server | cache-hit qps | CPU µs/answer (hit) | forwarded qps | CPU µs/answer (fwd) "
          "| p50 / p99 ms at 50% load |", "|---|---|---|---|---|---|"]
    for s in ("echo", "ringmasq", "dnsmasq", "unbound"):
        v = summary[s]
        md.append(f"| {s if s != 'echo' else 'echo ceiling'} | {fmt(v['hit_qps'])} | "
                  f"{fmt(v['hit_us_per_query'], '.2f')} | {fmt(v.get('forwarded_qps'))} | "
                  f"{fmt(v.get('forwarded_us_per_query'), '.2f')} | "
                  f"{fmt(v['p50_ms'], '.3f')} / {fmt(v['p99_ms'], '.3f')} "
                  f"(at {fmt(v['latency_at_qps'])} qps) |")
    md += ["", f"Hosts file of {a.lines:,} lines (gen-hosts.py): time from start until its last "
           "name is answered, and resident memory then.", "",
           "| server | load s | RSS MiB | peak RSS MiB |", "|---|---|---|---|"]
    for s in ("ringmasq", "dnsmasq"):
        v = load[s]
        md.append(f"| {s} | {v['load_s']:.2f} | {v['rss_mib']:.0f} | {v['peak_rss_mib']:.0f} |")
    md += ["", f"{a.lines:,} domain rules (address=, local=, server= over the same names) in a "
           "config file: time from start until the last rule's name is answered, and resident "
           "memory then.", "", "| server | load s | RSS MiB | peak RSS MiB |", "|---|---|---|---|"]
    for s in ("ringmasq", "dnsmasq"):
        v = rule_load[s]
        md.append(f"| {s} | {v['load_s']:.2f} | {v['rss_mib']:.0f} | {v['peak_rss_mib']:.0f} |")
    md += ["", f"Reloading the hosts file under a steady {RELOAD_QPS:,} queries/s of its names "
           f"({a.seconds * 2} s runs; 3 SIGHUPs in the second):", "",
           "| server | lost (quiet) | p99 ms (quiet) | lost (reloading) | p99 ms (reloading) |",
           "|---|---|---|---|---|"]
    for s in ("ringmasq", "dnsmasq"):
        v = reloads[s]
        md.append(f"| {s} | {v['quiet_lost']:.0f} | {v['quiet_p99_ms']:.3f} | "
                  f"{v['reload_lost']:.0f} of {v['reload_sent']:,.0f} | {v['reload_p99_ms']:.3f} |")
    md += ["", "ringmasq with 10 hosts entries and with the full file (closed loop, 500 "
           "outstanding; the two servers asked in turns of 100 ms in each run, and the ratios "
           "below are medians of the runs' ratios). Hosts names of one length (some 60,000 distinct ones, "
           "asked at random), in the file's own mix of lengths (which "
           "packs fewer replies together the more lengths it has, see bench/suite.py), and "
           "the small server's ten names asked of both:",
           "", "| hosts entries | cache-hit qps | µs/answer | hosts-name qps | µs/answer "
           "| hosts-name qps, mixed lengths | µs/answer | hosts-name qps, the ten names "
           "| µs/answer |", "|---|---|---|---|---|---|---|---|---|"]
    for size, label in (("10", "10"), ("all", f"{a.lines:,} lines")):
        md.append("| " + " | ".join(
            [label] + [f"{flat_med[f'{kind}_qps_{size}']:,.0f} | "
                       f"{flat_med[f'{kind}_us_{size}']:.2f}"
                       for kind in ("hit", "blocked", "blocked_mixed", "blocked_same")]) + " |")
    md += ["", "| ratio | value |", "|---|---|"]
    md += [f"| {k.replace('_', ' ')} | {v:.2f} |" for k, v in ratios.items()]
    with open(f"{out}/{a.name}.md", "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
