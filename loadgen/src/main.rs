//! The command line: dnsperf's common flags mean the same here.

use ringmasq_loadgen::run::{self, Job, Progress, Queries};
use ringmasq_loadgen::stats::Stats;
use ringmasq_loadgen::{echo, plot, queries};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "\
ringmasq-loadgen: DNS load generator

Usage: ringmasq-loadgen [options]
  -s ADDR          server address (default 127.0.0.1)
  -p PORT          server port (default 53)
  -d FILE          queries in dnsperf's format: `name TYPE` per line
  --hosts FILE     ask for every name of a hosts file
  --random DOMAIN  random first label under DOMAIN: every query a cache miss
  -l SECONDS       run this long (default 10)
  -c CLIENTS       sockets (source ports) in all (default: 8 per thread)
  -T THREADS       threads, each pinned to its own CPU (default 1)
  -q N, --outstanding N
                   closed loop: queries kept outstanding in all (default 100)
  -Q QPS, --rate QPS
                   open loop: send QPS queries a second in all, on schedule; latency
                   counts from when each query was due
  -t SECONDS       a query not answered in this long is lost (default 5)
  -e               add an EDNS0 OPT record (1232 bytes)
  --tcp            ask over TCP: each client one connection, queries pipelined
  --check          check that every reply answers its query's question
  --svg FILE       plot the latency distribution and queries/s over time as SVG
  --cpus LIST      CPUs to pin threads to, comma-separated (default 0,1,2...)
  --json           print the results as JSON after the summary
  --quiet          no progress line each second
  --echo           be an echo reflector on -s/-p (UDP and TCP) for -l seconds instead
  --turns LIST     ask several servers on -s in turn instead, closed loop on one thread:
                   LIST is PORT:FILE,PORT:FILE,... (FILE in -d's format); each gets
                   --turn-ms of sending, then its replies are waited for, round and
                   round for -l seconds; figures per server, over its own turns' time
  --turn-ms MS     length of a turn's sending (default 100)
  -h, --help       this text
";

struct Options {
    server: IpAddr,
    port: u16,
    datafile: Option<String>,
    hosts: Option<String>,
    random: Option<String>,
    seconds: f64,
    clients: Option<usize>,
    threads: usize,
    outstanding: usize,
    rate: Option<f64>,
    timeout: f64,
    edns: bool,
    cpus: Option<Vec<usize>>,
    json: bool,
    quiet: bool,
    echo: bool,
    tcp: bool,
    check: bool,
    svg: Option<String>,
    turns: Vec<(u16, String)>,
    turn_ms: f64,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        server: IpAddr::from([127, 0, 0, 1]),
        port: 53,
        datafile: None,
        hosts: None,
        random: None,
        seconds: 10.0,
        clients: None,
        threads: 1,
        outstanding: 100,
        rate: None,
        timeout: 5.0,
        edns: false,
        cpus: None,
        json: false,
        quiet: false,
        echo: false,
        tcp: false,
        check: false,
        svg: None,
        turns: Vec::new(),
        turn_ms: 100.0,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<String, String> {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let number = |name: &str, v: String| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n > 0.0)
                .ok_or_else(|| format!("{name}: not a positive number: {v}"))
        };
        match a.as_str() {
            "-s" => o.server = value("-s")?.parse().map_err(|e| format!("-s: {e}"))?,
            "-p" => o.port = value("-p")?.parse().map_err(|e| format!("-p: {e}"))?,
            "-d" => o.datafile = Some(value("-d")?),
            "--hosts" => o.hosts = Some(value("--hosts")?),
            "--random" => o.random = Some(value("--random")?),
            "-l" => o.seconds = number("-l", value("-l")?)?,
            "-c" => o.clients = Some(number("-c", value("-c")?)? as usize),
            "-T" => o.threads = number("-T", value("-T")?)? as usize,
            "-q" | "--outstanding" => o.outstanding = number(a, value(a)?)? as usize,
            "-Q" | "--rate" => o.rate = Some(number(a, value(a)?)?),
            "-t" => o.timeout = number("-t", value("-t")?)?,
            "-e" => o.edns = true,
            "--cpus" => {
                let list = value("--cpus")?;
                let cpus: Result<Vec<usize>, _> =
                    list.split(',').map(|c| c.trim().parse()).collect();
                o.cpus = Some(cpus.map_err(|_| format!("--cpus: not a list of CPUs: {list}"))?);
            }
            "--json" => o.json = true,
            "--quiet" => o.quiet = true,
            "--echo" => o.echo = true,
            "--tcp" => o.tcp = true,
            "--check" => o.check = true,
            "--svg" => o.svg = Some(value("--svg")?),
            "--turns" => o.turns = turn_targets(&value("--turns")?)?,
            "--turn-ms" => o.turn_ms = number("--turn-ms", value("--turn-ms")?)?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

impl Options {
    /// The EDNS0 size queries carry, with `-e`.
    fn edns(&self) -> Option<u16> {
        self.edns.then_some(1232)
    }

    /// The job of one thread asking `server` for `queries`, as the options say (`-T`
    /// shares the sockets, the outstanding queries and the rate out among threads).
    fn job(&self, server: SocketAddr, queries: Queries) -> Job {
        Job {
            server,
            sockets: self.clients.unwrap_or(8).max(1),
            outstanding: self.outstanding,
            rate: self.rate,
            run_for: Duration::from_secs_f64(self.seconds),
            timeout: Duration::from_secs_f64(self.timeout),
            queries,
            edns: self.edns(),
            offset: 0,
            cpu: Some(cpu_for(self, 0)),
            tcp: self.tcp,
            check: self.check,
        }
    }
}

/// `--turns`' list: PORT:FILE,PORT:FILE,...
fn turn_targets(list: &str) -> Result<Vec<(u16, String)>, String> {
    list.split(',')
        .map(|t| {
            let (port, file) = t
                .split_once(':')
                .ok_or_else(|| format!("--turns: not PORT:FILE: {t}"))?;
            let port = port
                .parse()
                .map_err(|_| format!("--turns: not a port: {port}"))?;
            Ok((port, file.to_string()))
        })
        .collect()
}

/// How a query file is read: its queries, and its bad lines.
type Parser = fn(&str, Option<u16>) -> (Vec<Vec<u8>>, Vec<queries::BadLine>);

/// The queries `parse` finds in the file at `path`, its bad lines told (the first 10).
fn query_file(path: &str, edns: Option<u16>, parse: Parser) -> Result<Vec<Vec<u8>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let (list, bad) = parse(&text, edns);
    for b in bad.iter().take(10) {
        eprintln!("{path}: {b}");
    }
    if list.is_empty() {
        return Err(format!("{path}: no queries"));
    }
    Ok(list)
}

fn load_queries(o: &Options) -> Result<Queries, String> {
    let edns = o.edns();
    let list = if let Some(path) = &o.datafile {
        query_file(path, edns, queries::from_dnsperf)?
    } else if let Some(path) = &o.hosts {
        query_file(path, edns, queries::from_hosts)?
    } else if let Some(domain) = &o.random {
        return Ok(Queries::Random {
            domain: domain.clone(),
            qtype: 1,
        });
    } else {
        return Err("give queries with -d, --hosts or --random".into());
    };
    Ok(Queries::List(Arc::new(list)))
}

fn cpu_for(o: &Options, thread: usize) -> usize {
    match &o.cpus {
        Some(list) if !list.is_empty() => list[thread % list.len()],
        _ => thread,
    }
}

fn run_echo(o: &Options) -> Result<(), String> {
    let addr = SocketAddr::new(o.server, o.port);
    let run_for = Duration::from_secs_f64(o.seconds);
    let stop = AtomicBool::new(false);
    let count = AtomicU64::new(0);
    let sockets: Vec<_> = (0..o.threads.max(1))
        .map(|_| echo::reuseport_socket(addr))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot bind {addr}: {e}"))?;
    eprintln!(
        "echo reflector on {addr}, {} threads, {} s",
        sockets.len(),
        o.seconds
    );
    let listener =
        std::net::TcpListener::bind(addr).map_err(|e| format!("cannot bind TCP {addr}: {e}"))?;
    let total: u64 = std::thread::scope(|s| {
        let stop_tcp = &stop;
        s.spawn(move || echo::reflect_tcp(listener, run_for, stop_tcp));
        let handles: Vec<_> = sockets
            .iter()
            .enumerate()
            .map(|(i, sock)| {
                let (stop, count) = (&stop, &count);
                let cpu = Some(cpu_for(o, i));
                s.spawn(move || echo::reflect(sock, run_for, stop, cpu, count))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    println!("Datagrams echoed: {total}");
    Ok(())
}

/// `--turns`: the servers asked in turn, and each one's figures.
fn run_in_turns(o: &Options) -> Result<(), String> {
    if o.rate.is_some() || o.threads > 1 {
        return Err("--turns runs closed loop on one thread (no -Q, no -T)".into());
    }
    let jobs = o
        .turns
        .iter()
        .map(|(port, file)| {
            let list = query_file(file, o.edns(), queries::from_dnsperf)?;
            let server = SocketAddr::new(o.server, *port);
            Ok(o.job(server, Queries::List(Arc::new(list))))
        })
        .collect::<Result<Vec<_>, String>>()?;
    println!(
        "[Status] Asking {} servers in turns of {} ms, closed loop, {} outstanding",
        jobs.len(),
        o.turn_ms,
        o.outstanding
    );
    let turn = Duration::from_secs_f64(o.turn_ms / 1e3);
    let results = run::run_turns(&jobs, turn, Instant::now(), &Progress::default())
        .map_err(|e| e.to_string())?;
    let mut json = Vec::new();
    for ((port, file), r) in o.turns.iter().zip(&results) {
        println!("[Status] Port {port}, {file}: {:.3} s of turns", r.seconds);
        print!("{}", r.stats.report(r.seconds));
        let figures = r.stats.json(r.seconds);
        json.push(format!("{{\"port\": {port}, {}", &figures[1..]));
    }
    if o.json {
        println!("{{\"turns\": [{}]}}", json.join(", "));
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("ringmasq-loadgen: {e}\n\n{USAGE}");
            std::process::exit(1);
        }
    };
    if o.echo {
        if let Err(e) = run_echo(&o) {
            eprintln!("ringmasq-loadgen: {e}");
            std::process::exit(1);
        }
        return;
    }
    if !o.turns.is_empty() {
        if let Err(e) = run_in_turns(&o) {
            eprintln!("ringmasq-loadgen: {e}");
            std::process::exit(1);
        }
        return;
    }
    let queries = match load_queries(&o) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("ringmasq-loadgen: {e}");
            std::process::exit(1);
        }
    };
    let threads = o.threads.max(1);
    let clients = o.clients.unwrap_or(threads * 8).max(threads);
    let server = SocketAddr::new(o.server, o.port);
    let jobs: Vec<Job> = (0..threads)
        .map(|t| {
            let queries = match &queries {
                Queries::List(l) => Queries::List(l.clone()),
                Queries::Random { domain, qtype } => Queries::Random {
                    domain: domain.clone(),
                    qtype: *qtype,
                },
            };
            Job {
                sockets: clients / threads + usize::from(t < clients % threads),
                outstanding: (o.outstanding / threads).max(1),
                rate: o.rate.map(|r| r / threads as f64),
                offset: t * 7919,
                cpu: Some(cpu_for(&o, t)),
                ..o.job(server, queries)
            }
        })
        .collect();
    let mode = match o.rate {
        Some(r) => format!("open loop at {r} queries/s"),
        None => format!("closed loop, {} outstanding", o.outstanding),
    };
    let mode = if o.tcp {
        format!("{mode}, over TCP")
    } else {
        mode
    };
    println!("[Status] Command line: ringmasq-loadgen {}", args.join(" "));
    println!(
        "[Status] Sending queries (to {server}), {mode}, {threads} threads, {clients} sockets"
    );
    let progress = Progress::default();
    let start = Instant::now();
    let done = AtomicBool::new(false);
    let (results, per_second): (Vec<std::io::Result<Stats>>, Vec<u64>) = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|job| {
                let progress = &progress;
                s.spawn(move || run::run(job, start, progress))
            })
            .collect();
        let sampler = {
            let done = &done;
            let progress = &progress;
            let quiet = o.quiet;
            s.spawn(move || {
                let mut per_second = Vec::new();
                let mut last = 0;
                let mut second = 1;
                while !done.load(Ordering::Relaxed) {
                    let next = Duration::from_secs(second);
                    let wait = next.saturating_sub(start.elapsed());
                    std::thread::sleep(wait.min(Duration::from_millis(200)));
                    if start.elapsed() < next {
                        continue;
                    }
                    let completed = progress.completed.load(Ordering::Relaxed);
                    per_second.push(completed - last);
                    if !quiet {
                        eprintln!(
                            "[{second:>4}s] sent {}, completed {completed}, {} queries/s",
                            progress.sent.load(Ordering::Relaxed),
                            completed - last
                        );
                    }
                    last = completed;
                    second += 1;
                }
                per_second
            })
        };
        let results = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("thread panicked")))
            })
            .collect();
        done.store(true, Ordering::Relaxed);
        (results, sampler.join().unwrap_or_default())
    });
    let seconds = start
        .elapsed()
        .as_secs_f64()
        .min(o.seconds + o.timeout)
        .max(1e-9);
    let mut total = Stats::default();
    for r in results {
        match r {
            Ok(s) => total.merge(&s),
            Err(e) => {
                eprintln!("ringmasq-loadgen: {e}");
                std::process::exit(1);
            }
        }
    }
    // qps over the sending time, as dnsperf reports it.
    let run_time = o.seconds.min(seconds);
    println!("[Status] Testing complete (time limit)\n");
    print!("{}", total.report(run_time));
    if o.json {
        println!("{}", total.json(run_time));
    }
    if let Some(path) = &o.svg {
        let title = format!("{server}{}", if o.tcp { " (TCP)" } else { "" });
        let picture = plot::svg(&title, &total.latency_us, &per_second);
        if let Err(e) = std::fs::write(path, picture) {
            eprintln!("ringmasq-loadgen: {path}: {e}");
            std::process::exit(1);
        }
    }
}
