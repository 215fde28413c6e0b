//! The runtime: binds sockets, starts one pinned glommio executor per DNS shard, and runs
//! the control loop (signals, reloads) on the main thread. Protocol logic lives in `dns`.

pub mod dns_shard;

use crate::config::error::{ConfigError, ExitCode};
use crate::config::parse::{LogTarget, Value};
use crate::config::{Config, DEFAULT_RESOLV_FILE};
use crate::daemon::{self, Readiness};
use crate::dns::{hosts, local};
use crate::log;
use crossbeam::channel::Sender;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// dnsmasq's default pid file.
pub const DEFAULT_PID_FILE: &str = "/var/run/dnsmasq.pid";
/// Snapshots waiting for one shard; a shard that is behind only needs the newest.
const SNAPSHOT_QUEUE: usize = 4;

/// Start everything and serve until SIGTERM. Exits the process.
pub fn run(config: &Config) -> ! {
    let foreground = config.has("keep-in-foreground") || config.has("no-daemon");
    let debug = config.has("no-daemon");
    let target = match config.last("log-facility") {
        Some(Value::LogTarget(t)) => t.clone(),
        _ if debug => LogTarget::Stderr,
        _ => LogTarget::Facility(log::FACILITY_DAEMON),
    };
    let queue = match config.last("log-async") {
        Some(Value::Uint(n)) => Some(*n as usize),
        _ => None,
    };
    let mut ready = if foreground {
        daemon::foreground()
    } else {
        daemon::daemonize()
    };
    if let Err(msg) = log::init(&target, queue, config.has("log-debug")) {
        ready.fail(&ConfigError::file(msg));
    }
    match start(config, &mut ready) {
        Ok(never) => match never {},
        Err(e) => ready.fail(&e),
    }
}

fn start(config: &Config, ready: &mut Readiness) -> Result<std::convert::Infallible, ConfigError> {
    let port = config.uint_or("port", 53) as u16;
    let shards = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let snapshot = Arc::new(build_snapshot(config));

    let sockets = if port == 0 {
        Vec::new()
    } else {
        bind_all(config, port, shards)?
    };
    let pid_file = match config.text("pid-file") {
        Some(Some(p)) => p,
        Some(None) => String::new(),
        None => DEFAULT_PID_FILE.to_string(),
    };
    daemon::write_pid_file(&pid_file)?;
    let user = match config.text("user") {
        Some(u) => u,
        None => Some("nobody".to_string()),
    };
    let (group, group_given) = match config.text("group") {
        Some(g) => (g, true),
        None => (Some("dip".to_string()), false),
    };
    daemon::drop_privileges(user.as_deref(), group.as_deref(), group_given)?;

    block_signals();
    let mut feeds: Vec<Sender<Arc<local::LocalData>>> = Vec::new();
    for (shard, shard_sockets) in sockets.into_iter().enumerate() {
        let (tx, rx) = crossbeam::channel::bounded(SNAPSHOT_QUEUE);
        feeds.push(tx);
        dns_shard::spawn(shard, shard_sockets, snapshot.clone(), rx).map_err(|e| {
            ConfigError::bad(format!("cannot start DNS shard {shard}: {e}"))
                .with_exit(ExitCode::Other)
        })?;
    }

    log::info(format!(
        "started, version {} (dnsmasq 2.90 compatible), {} DNS shards",
        env!("CARGO_PKG_VERSION"),
        feeds.len()
    ));
    if port == 0 {
        log::info("DNS service disabled (port=0)");
    }
    for (name, status) in config.unbuilt() {
        let why = match status {
            crate::config::options::Status::NotYet(w) => format!("not built yet: {w}"),
            crate::config::options::Status::NotPlanned(w) => format!("not planned: {w}"),
            crate::config::options::Status::Works => continue,
        };
        log::warn(format!(
            "warning: option --{name} is accepted but ignored ({why})"
        ));
    }
    ready.ready();
    control_loop(config, &pid_file, &feeds)
}

/// Addresses to listen on: `--listen-address`, else every address (wildcard).
fn listen_addrs(config: &Config, port: u16) -> Vec<SocketAddr> {
    let mut addrs: Vec<SocketAddr> = config
        .values("listen-address")
        .filter_map(|v| match v {
            Value::Addresses(a) => Some(a.clone()),
            _ => None,
        })
        .flatten()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    if addrs.is_empty() {
        addrs.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
        addrs.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port));
    }
    addrs.dedup();
    addrs
}

/// One SO_REUSEPORT UDP socket per listen address per shard.
fn bind_all(
    config: &Config,
    port: u16,
    shards: usize,
) -> Result<Vec<Vec<std::net::UdpSocket>>, ConfigError> {
    let addrs = listen_addrs(config, port);
    let mut out = Vec::with_capacity(shards);
    for _ in 0..shards {
        let mut set = Vec::new();
        for addr in &addrs {
            match dns_shard::bind_udp(*addr) {
                Ok(s) => set.push(s),
                // A wildcard IPv6 socket is optional on hosts without IPv6.
                Err(_) if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) => {}
                Err(e) => {
                    return Err(ConfigError::bad(format!(
                        "failed to create listening socket for {addr}: {}",
                        crate::config::io_reason(&e)
                    ))
                    .with_exit(ExitCode::Network))
                }
            }
        }
        out.push(set);
    }
    Ok(out)
}

/// Read hosts and resolv files into a new snapshot, logging what each gave.
pub fn build_snapshot(config: &Config) -> local::LocalData {
    let mut data = local::LocalData {
        local_ttl_secs: config.uint_or("local-ttl", 0) as u32,
        ..Default::default()
    };
    let mut files: Vec<String> = Vec::new();
    if !config.has("no-hosts") {
        files.push("/etc/hosts".into());
    }
    for v in config.values("addn-hosts") {
        if let Value::Text(Some(p)) = v {
            files.extend(expand_dir(p));
        }
    }
    for f in files {
        let started = std::time::Instant::now();
        match std::fs::read(&f) {
            Ok(bytes) => {
                let parsed = hosts::parse(&String::from_utf8_lossy(&bytes));
                for (line, text) in &parsed.bad {
                    log::warn(format!("bad name or address at line {line} of {f}: {text}"));
                }
                let n = data.add_hosts(&parsed.lines);
                log::info(format!(
                    "read {f} - {n} names ({} ms)",
                    started.elapsed().as_millis()
                ));
            }
            Err(e) => log::error(format!(
                "failed to load names from {f}: {}",
                crate::config::io_reason(&e)
            )),
        }
    }
    let mut from_file = Vec::new();
    if let Some(Some(path)) = config.text("servers-file") {
        match crate::config::read_servers_file(&path) {
            Ok((entries, errors)) => {
                for e in errors {
                    log::error(format!("{e}"));
                }
                log::info(format!("read {path} - {} servers", entries.len()));
                from_file = entries;
            }
            Err(e) => log::error(format!("{e}")),
        }
    }
    let (rules, mut upstreams) = local::server_rules(config, from_file.iter().map(|e| &e.value));
    data.rules = rules;
    if !config.has("no-resolv") {
        let mut resolv: Vec<String> = config
            .values("resolv-file")
            .filter_map(|v| match v {
                Value::Text(t) => t.clone(),
                _ => None,
            })
            .collect();
        if resolv.is_empty() {
            resolv.push(DEFAULT_RESOLV_FILE.into());
        }
        for f in resolv {
            match std::fs::read_to_string(&f) {
                Ok(text) => upstreams.extend(local::resolv_servers(&text)),
                Err(e) => log::error(format!(
                    "failed to access {f}: {}",
                    crate::config::io_reason(&e)
                )),
            }
        }
    }
    upstreams.dedup();
    for u in &upstreams {
        log::info(format!("using nameserver {u}"));
    }
    data.upstreams = upstreams;
    data
}

/// A hosts path that is a directory stands for the files in it.
fn expand_dir(path: &str) -> Vec<String> {
    match std::fs::read_dir(path) {
        Ok(entries) => {
            let mut files: Vec<String> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|p| {
                    !p.ends_with('~') && !p.rsplit('/').next().unwrap_or("").starts_with('.')
                })
                .collect();
            files.sort();
            files
        }
        Err(_) => vec![path.to_string()],
    }
}

const HANDLED_SIGNALS: [libc::c_int; 5] = [
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGTERM,
    libc::SIGINT,
];

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a zeroed, initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in HANDLED_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Block the handled signals so only the control loop receives them (threads inherit this).
fn block_signals() {
    let set = signal_set();
    // SAFETY: set is a valid signal set.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

fn control_loop(config: &Config, pid_file: &str, feeds: &[Sender<Arc<local::LocalData>>]) -> ! {
    let set = signal_set();
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: set is valid and the signals are blocked in every thread.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            continue;
        }
        match sig {
            libc::SIGTERM | libc::SIGINT => {
                log::info("exiting on receipt of SIGTERM");
                if !pid_file.is_empty() {
                    let _ = std::fs::remove_file(pid_file);
                }
                std::process::exit(0);
            }
            libc::SIGUSR2 => log::reopen(),
            libc::SIGHUP => {
                let snapshot = Arc::new(build_snapshot(config));
                for f in feeds {
                    let _ = f.try_send(snapshot.clone());
                }
            }
            libc::SIGUSR1 => log::info(format!("DNS shards: {}", feeds.len())),
            _ => {}
        }
    }
}
