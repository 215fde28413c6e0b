//! The runtime: binds sockets, starts one pinned glommio executor per DNS shard and the
//! control executor (DHCP), and runs the control loop (signals, reloads) on the main
//! thread. Protocol logic lives in `dns` and `dhcp`.

#[cfg(all(feature = "batch-timing", target_arch = "x86_64"))]
mod batch_timing;
mod control;
mod dhcp_v4;
pub mod dns_shard;
mod file_watch;
mod forward;
pub mod interfaces;
pub mod lease_disk;
mod neighbours;
mod ping;
mod script;
mod tftp;
mod udp_batch;

pub use script::helper_if_asked as script_helper_if_asked;

use crate::config::error::{ConfigError, ExitCode};
use crate::config::parse::{LogTarget, Value};
use crate::config::{Config, DEFAULT_RESOLV_FILE};
use crate::daemon::{self, Readiness};
use crate::dns::{hosts, local};
use crate::log;
use crate::memory;
use crossbeam::channel::Sender;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// dnsmasq's default pid file.
pub const DEFAULT_PID_FILE: &str = "/var/run/dnsmasq.pid";
/// Most DNS shards `--shards` may ask for.
const MAX_SHARDS: u64 = 1024;
/// Snapshots waiting for one shard; a shard that is behind only needs the newest.
const SNAPSHOT_QUEUE: usize = 4;
/// Cached answers from other shards waiting for one shard; beyond this they are dropped
/// (counted), costing only a later miss.
const FILL_QUEUE: usize = 4096;

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
    let shards = match config.last("shards") {
        Some(Value::Uint(n)) if *n <= MAX_SHARDS => *n as usize,
        Some(_) => {
            return Err(ConfigError::bad(format!(
                "bad value for --shards: at most {MAX_SHARDS}"
            )))
        }
        _ => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let snapshot = Arc::new(build_snapshot(config, ServerListing::AtStart));
    if says_cache_cleared(config) && !hosts_before_servers(config) {
        log::info("cleared cache");
    }
    // Reading a million names leaves much freed memory: give it back before serving.
    memory::release_free_memory();
    let mut shard_config = shard_config(config, shards);

    let listening = interfaces::Listening::from_config(config);
    let host = interfaces::host_addresses();
    let addrs = if port == 0 {
        Vec::new()
    } else {
        for name in listening.missing_interfaces(&host) {
            log::warn(format!(
                "warning: interface {name} does not currently exist"
            ));
        }
        listening.bind_addrs(&host, port)
    };
    let (mut sockets, tentative) = if port == 0 {
        (Vec::new(), Vec::new())
    } else {
        bind_all(&addrs, shards)?
    };
    // --query-port: one shared source port, replies steered to the asking shard.
    let query_port = match config.last("query-port") {
        Some(Value::Uint(p)) => Some(*p as u16),
        _ => None,
    };
    if let (Some(query_port), false) = (query_port, sockets.is_empty()) {
        let groups = forward::query_port_sockets(query_port, sockets.len()).map_err(|e| {
            ConfigError::bad(format!(
                "failed to create the query port {query_port}: {}",
                crate::config::io_reason(&e)
            ))
            .with_exit(ExitCode::Network)
        })?;
        for (set, group) in sockets.iter_mut().zip(groups) {
            set.query_port = Some(group);
        }
    }
    let mut watch = Watch {
        listening: listening.clone(),
        port,
        host: host.clone(),
        bound: addrs
            .into_iter()
            .filter(|a| !tentative.contains(a))
            .collect(),
        pending: tentative,
    };
    let pid_file = match config.text("pid-file") {
        Some(Some(p)) => p,
        Some(None) => String::new(),
        None => DEFAULT_PID_FILE.to_string(),
    };
    daemon::write_pid_file(&pid_file)?;
    // The DHCP port and the lease file, while still privileged.
    let dhcp = dhcp_v4::prepare(config, snapshot.clone())?;
    if let Some(d) = &dhcp {
        shard_config.lease_names = Some(d.names.clone());
    }
    let dhcp_reloader = dhcp.as_ref().map(|d| d.reloader.clone());
    // TFTP's port 69 is privileged too. The script helper is DHCP's, or, as in dnsmasq,
    // started for TFTP's calls or --script-arp's without DHCP.
    let scripts = match &dhcp {
        Some(d) => d.scripts(),
        None if tftp::enabled(config) || config.has("script-arp") => {
            script::start(config, Default::default())?
        }
        None => None,
    };
    let tftp = tftp::prepare(config, &listening, &host, scripts.clone())?;
    let neighbour_scripts = scripts.filter(|_| config.has("script-arp"));
    let user = match config.text("user") {
        Some(u) => u,
        None => Some("nobody".to_string()),
    };
    let (group, group_given) = match config.text("group") {
        Some(g) => (g, true),
        None => (Some("dip".to_string()), false),
    };
    // The DHCP server adds ARP entries to reach clients without an address.
    daemon::drop_privileges(
        user.as_deref(),
        group.as_deref(),
        group_given,
        dhcp.is_some(),
    )?;

    block_signals();
    let mut feeds: Vec<Sender<dns_shard::Control>> = Vec::new();
    let stats: Arc<[Arc<dns_shard::ShardStats>]> = sockets.iter().map(|_| Arc::default()).collect();
    let fill_queues: Vec<_> = sockets
        .iter()
        .map(|_| crossbeam::channel::bounded(FILL_QUEUE))
        .collect();
    for (shard, shard_sockets) in sockets.into_iter().enumerate() {
        let links = dns_shard::CacheLinks {
            incoming: fill_queues[shard].1.clone(),
            peers: fill_queues
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != shard)
                .map(|(_, q)| q.0.clone())
                .collect(),
        };
        let (tx, rx) = crossbeam::channel::bounded(SNAPSHOT_QUEUE);
        feeds.push(tx);
        dns_shard::spawn(
            shard,
            shard_sockets,
            interfaces::Gate::new(listening.clone(), host.clone()),
            snapshot.clone(),
            rx,
            links,
            shard_config.clone(),
            stats.clone(),
        )
        .map_err(|e| {
            ConfigError::bad(format!("cannot start DNS shard {shard}: {e}"))
                .with_exit(ExitCode::Other)
        })?;
    }

    control::start(control::Services {
        dhcp_v4: dhcp,
        tftp,
        neighbour_scripts,
    })
    .map_err(|e| {
        ConfigError::bad(format!("cannot start the DHCP and TFTP servers: {e}"))
            .with_exit(ExitCode::Other)
    })?;
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
            crate::config::options::Status::Partly(w) => {
                log::warn(format!(
                    "warning: option --{name} is only partly built: {w}"
                ));
                continue;
            }
            crate::config::options::Status::NotYet(w) => format!("not built yet: {w}"),
            crate::config::options::Status::NotPlanned(w) => format!("not planned: {w}"),
            crate::config::options::Status::Works => continue,
        };
        log::warn(format!(
            "warning: option --{name} is accepted but ignored ({why})"
        ));
    }
    ready.ready();
    let mut files = file_watch::Files::from_config(config, &resolv_files(config));
    let mut snapshots = Snapshots {
        current: snapshot,
        retired: Vec::new(),
    };
    control_loop(
        config,
        &pid_file,
        &feeds,
        &stats,
        &mut watch,
        &mut files,
        &mut snapshots,
        dhcp_reloader.as_ref(),
    )
}

/// The snapshot the shards answer from, and the ones they answered from before: each is
/// dropped here once no shard holds it, so its memory goes back at a known moment and a
/// reload holds at most the old and the new one.
struct Snapshots {
    current: Arc<local::LocalData>,
    retired: Vec<Arc<local::LocalData>>,
}

impl Snapshots {
    /// Build a new snapshot without taking the shards' CPU time, and hand it to them.
    fn reload(
        &mut self,
        config: &Config,
        feeds: &[Sender<dns_shard::Control>],
        clear: bool,
        servers: ServerListing,
    ) {
        self.release();
        let started = std::time::Instant::now();
        let snapshot = std::thread::scope(|s| {
            s.spawn(|| {
                idle_priority();
                Arc::new(build_snapshot(config, servers))
            })
            .join()
        });
        let Ok(snapshot) = snapshot else {
            log::error("reload failed: the snapshot could not be built; keeping the old one");
            return;
        };
        for f in feeds {
            let _ = f.try_send(dns_shard::Control::Snapshot(snapshot.clone(), clear));
        }
        let old = std::mem::replace(&mut self.current, snapshot);
        self.retired.push(old);
        log::info(format!("reloaded in {} ms", started.elapsed().as_millis()));
    }

    /// Drop the retired snapshots no shard holds any more, and give their memory back.
    fn release(&mut self) {
        let before = self.retired.len();
        self.retired.retain(|s| Arc::strong_count(s) > 1);
        if self.retired.len() < before {
            memory::release_free_memory();
        }
    }
}

/// Run the calling thread (and threads it starts) only when a CPU would otherwise be idle,
/// so that building a snapshot never delays a DNS shard.
fn idle_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sets the calling thread's policy; param is valid.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
        log::warn("cannot lower the reload thread's priority");
    }
}

/// Bind every address the listening rules give: one SO_REUSEPORT UDP socket and TCP
/// listener per address per shard.
fn bind_all(
    addrs: &[SocketAddr],
    shards: usize,
) -> Result<(Vec<dns_shard::ShardSockets>, Vec<SocketAddr>), ConfigError> {
    let mut out = Vec::with_capacity(shards);
    // IPv6 addresses still in duplicate address detection cannot be bound yet.
    let mut tentative = Vec::new();
    for shard in 0..shards {
        let mut set = dns_shard::ShardSockets {
            udp: Vec::new(),
            tcp: Vec::new(),
            query_port: None,
        };
        for addr in addrs {
            let claimed = match shard {
                0 => dns_shard::claim(*addr),
                _ => Ok(()),
            };
            let bound = claimed
                .and_then(|()| dns_shard::bind_udp(*addr))
                .and_then(|u| Ok((u, dns_shard::bind_tcp(*addr)?)));
            match bound {
                Ok((u, t)) => {
                    set.udp.push(u);
                    set.tcp.push(t);
                }
                // A wildcard IPv6 socket is optional on hosts without IPv6.
                Err(_) if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) => {}
                Err(e) if addr.is_ipv6() && e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
                    if !tentative.contains(addr) {
                        tentative.push(*addr);
                    }
                }
                Err(e) => {
                    // dnsmasq names the port for a wildcard socket, the address otherwise.
                    let what = match addr.ip().is_unspecified() {
                        true => format!("port {}", addr.port()),
                        false => addr.ip().to_string(),
                    };
                    return Err(ConfigError::bad(format!(
                        "failed to create listening socket for {what}: {}",
                        crate::config::io_reason(&e)
                    ))
                    .with_exit(ExitCode::Network));
                }
            }
        }
        out.push(set);
    }
    Ok((out, tentative))
}

/// What the control loop keeps to follow interface changes.
struct Watch {
    listening: interfaces::Listening,
    port: u16,
    host: Vec<interfaces::IfAddr>,
    /// Addresses bound so far (for `--bind-dynamic`).
    bound: Vec<SocketAddr>,
    /// Addresses to bind that were tentative (IPv6 DAD) when tried; tried every second.
    pending: Vec<SocketAddr>,
}

impl Watch {
    /// Look at the host's addresses again: tell the shards if they changed, and with
    /// `--bind-dynamic` start serving new permitted addresses.
    fn rescan(&mut self, feeds: &[Sender<dns_shard::Control>]) {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            self.serve_new(pending, feeds);
        }
        let host = interfaces::host_addresses();
        if host == self.host {
            return;
        }
        if self.listening.mode == interfaces::Mode::Dynamic && self.port != 0 {
            let new: Vec<SocketAddr> = self
                .listening
                .bind_addrs(&host, self.port)
                .into_iter()
                .filter(|a| !self.bound.contains(a) && !self.pending.contains(a))
                .collect();
            self.serve_new(new, feeds);
        }
        for f in feeds {
            let _ = f.send(dns_shard::Control::Interfaces(host.clone()));
        }
        self.host = host;
    }

    /// Bind `addrs` on every shard and hand the sockets over; tentative ones wait.
    fn serve_new(&mut self, addrs: Vec<SocketAddr>, feeds: &[Sender<dns_shard::Control>]) {
        for addr in addrs {
            match bind_all(&[addr], feeds.len()) {
                Ok((_, tentative)) if !tentative.is_empty() => self.pending.push(addr),
                Ok((sockets, _)) => {
                    for (f, s) in feeds.iter().zip(sockets) {
                        let _ = f.send(dns_shard::Control::Listen(s));
                    }
                    self.bound.push(addr);
                }
                Err(e) => log::warn(e.to_string()),
            }
        }
    }
}

/// Whether the cache's clearing (at start and on SIGHUP) is logged: dnsmasq says
/// "cleared cache" only where it has no hosts file to say it read instead.
fn says_cache_cleared(config: &Config) -> bool {
    dns_served(config)
        && config.has("no-hosts")
        && !config.has("addn-hosts")
        && config.uint_or("cache-size", 150) > 0
}

/// What a snapshot's build says of the upstream servers, as dnsmasq says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerListing {
    /// At start: the servers listed, the resolv file read, the servers listed again.
    AtStart,
    /// The resolv file read (it changed, or SIGHUP under --no-poll), then the servers.
    ResolvRead,
    /// Nothing (SIGHUP, a hosts file changed).
    Quiet,
}

/// Read hosts and resolv files into a new snapshot, logging what each gave.
pub fn build_snapshot(config: &Config, servers: ServerListing) -> local::LocalData {
    let domain = config.values("domain").find_map(|v| match v {
        Value::Domain {
            name: Some(n),
            range: None,
            interface: None,
            ..
        } => Some(n.to_ascii_lowercase()),
        _ => None,
    });
    let mut data = local::LocalData {
        generation: local::next_generation(),
        local_ttl_secs: config.uint_or("local-ttl", 0) as u32,
        domain,
        expand_hosts: config.has("expand-hosts"),
        ..Default::default()
    };
    let mut from_file = Vec::new();
    let mut later_rules = crate::config::domain_rules::Builder::default();
    if let Some(Some(path)) = config.text("servers-file") {
        match crate::config::read_servers_file(&path) {
            Ok((file, errors)) => {
                for e in errors {
                    log::error(format!("{e}"));
                }
                log::info(format!(
                    "read {path} - {} servers",
                    file.entries.len() + file.rules.lines_read()
                ));
                from_file = file.entries;
                later_rules = file.rules;
            }
            Err(e) => log::error(format!("{e}")),
        }
    }
    data.add_config_records(config, &hostname());
    let local::ServerRules {
        mut upstreams,
        mut listed,
        implied,
    } = local::server_rules(config, from_file.iter().map(|e| &e.value));
    for (option, v) in &implied {
        later_rules.add(option, v);
    }
    let later_rules = later_rules.finish();
    data.later_rules = later_rules.over(&config.domain_rules);
    data.config_rules = config.domain_rules.clone();
    let dropped = data.config_rules.dropped + data.later_rules.dropped;
    if dropped > 0 {
        log::error(format!(
            "{dropped} domain rules left out: at most {} domains are held",
            crate::config::domain_rules::MAX_RULE_DOMAINS
        ));
    }
    data.send_from = local::send_from(
        config
            .values("server")
            .chain(from_file.iter().map(|e| &e.value)),
    );
    let log_servers = |resolved: &[SocketAddr]| {
        if servers == ServerListing::Quiet {
            return;
        }
        let lines = local::server_lines(config, from_file.iter().map(|e| &e.value));
        let rules = [&*config.domain_rules, &later_rules];
        for line in local::server_log_lines(lines, resolved, &rules, config.has("no-resolv")) {
            match line.starts_with("warning: ") {
                true => log::warn(line),
                false => log::info(line),
            }
        }
    };
    let dns = dns_served(config);
    let mut resolved = Vec::new();
    let hosts_first = hosts_before_servers(config) && servers != ServerListing::Quiet;
    if dns && !config.has("no-resolv") {
        // As dnsmasq at start: the servers are listed before the resolv file is read,
        // and again with its servers after. Under --no-poll the hosts files are read
        // (or the cache said cleared) before the resolv file, which is read without a
        // word of its own.
        let polled = !config.has("no-poll");
        if servers == ServerListing::AtStart {
            log_servers(&[]);
        }
        if hosts_first {
            read_hosts_files(config, &mut data);
            if says_cache_cleared(config) {
                log::info("cleared cache");
            }
        }
        if let Some(f) = newest_resolv_file(config) {
            match std::fs::read_to_string(&f) {
                Ok(text) => resolved.extend(local::resolv_servers(&text)),
                Err(e) => log::error(format!(
                    "failed to access {f}: {}",
                    crate::config::io_reason(&e)
                )),
            }
            match (servers, resolved.is_empty()) {
                (ServerListing::Quiet, _) => {}
                (_, true) => log::info(format!("no servers found in {f}, will retry")),
                (_, false) if polled => log::info(format!("reading {f}")),
                (_, false) => {}
            }
        }
    }
    upstreams.extend(resolved.iter().copied());
    if dns {
        log_servers(&resolved);
    }
    upstreams.dedup();
    for u in &upstreams {
        if !listed.contains(u) {
            listed.push(*u);
        }
    }
    data.upstreams = upstreams.into();
    data.listed_servers = listed;
    // After the servers, as dnsmasq reads them (but see `hosts_before_servers`).
    if dns && !hosts_first {
        read_hosts_files(config, &mut data);
    }
    data
}

/// Whether dnsmasq reads the hosts files (or says the cache is cleared) before it lists
/// the servers, at start and on SIGHUP: under --no-poll, where the resolv file is read
/// after the cache is reloaded rather than polled.
fn hosts_before_servers(config: &Config) -> bool {
    dns_served(config) && config.has("no-poll") && !config.has("no-resolv")
}

/// Read the hosts files (/etc/hosts unless --no-hosts, --addn-hosts, --hostsdir) into
/// `data`, logging what each gave.
fn read_hosts_files(config: &Config, data: &mut local::LocalData) {
    let mut files: Vec<String> = Vec::new();
    if !config.has("no-hosts") {
        files.push("/etc/hosts".into());
    }
    for v in config.values("addn-hosts").chain(config.values("hostsdir")) {
        if let Value::Text(Some(p)) = v {
            files.extend(crate::config::expand_dir(p));
        }
    }
    let expand = data.domain.clone().filter(|_| data.expand_hosts);
    let mut hosts = hosts::HostsBuilder::new(expand);
    for f in files {
        let started = std::time::Instant::now();
        let index = data.files.len() as u32;
        data.files.push(f.clone());
        let read = std::fs::File::open(&f).and_then(|file| {
            let size_bytes = file.metadata().map_or(0, |m| m.len() as usize);
            hosts.add_reader(file, size_bytes, index)
        });
        match read {
            Ok(report) => {
                for (line, fault) in &report.bad {
                    log::error(format!("{} at {f} line {line}", fault.text()));
                }
                if report.bad_total > report.bad.len() {
                    log::error(format!(
                        "{} more bad lines in {f}",
                        report.bad_total - report.bad.len()
                    ));
                }
                if report.dropped > 0 {
                    log::error(format!(
                        "{} names of {f} left out: at most {} hosts-file names are held",
                        report.dropped,
                        hosts::MAX_HOST_NAMES
                    ));
                }
                log::info(format!(
                    "read {f} - {} names ({} ms)",
                    report.names,
                    started.elapsed().as_millis()
                ));
            }
            Err(e) => log::error(format!(
                "failed to load names from {f}: {}",
                crate::config::io_reason(&e)
            )),
        }
    }
    data.hosts = hosts.finish();
}

/// Of several resolv files, the one changed last, as dnsmasq reads them (one not there
/// yet is passed over without a word).
fn newest_resolv_file(config: &Config) -> Option<String> {
    resolv_files(config)
        .into_iter()
        .filter_map(|f| match std::fs::metadata(&f).and_then(|m| m.modified()) {
            Ok(at) => Some((at, f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                log::error(format!(
                    "failed to access {f}: {}",
                    crate::config::io_reason(&e)
                ));
                None
            }
        })
        .rev()
        .max_by_key(|(at, _)| *at)
        .map(|(_, f)| f)
}

/// Whether DNS is served (dnsmasq's `port=0` turns it off, and with it the reading of
/// resolv and hosts files).
fn dns_served(config: &Config) -> bool {
    config.uint_or("port", 53) != 0
}

/// The resolv files upstream servers are read from (`--resolv-file`, repeatable; by
/// default /etc/resolv.conf).
fn resolv_files(config: &Config) -> Vec<String> {
    let mut files: Vec<String> = config
        .values("resolv-file")
        .filter_map(|v| match v {
            Value::Text(t) => t.clone(),
            _ => None,
        })
        .collect();
    if files.is_empty() {
        files.push(DEFAULT_RESOLV_FILE.into());
    }
    files
}

/// This machine's host name, the default MX target.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its whole length.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let len = buf.iter().position(|&b| b == 0).unwrap_or(0);
    if ok {
        String::from_utf8_lossy(&buf[..len]).into_owned()
    } else {
        String::new()
    }
}

/// Cache and answer settings every shard gets, with totals shared out over `shards`.
fn shard_config(config: &Config, shards: usize) -> dns_shard::ShardConfig {
    use crate::dns::{answer, cache};
    let shards = shards.max(1);
    let total_cache = config.uint_or("cache-size", 150) as usize;
    let per_shard = |total: usize| total.div_ceil(shards).max(1);
    let defaults = cache::Policy::default();
    let extra_types = rr_types(config, "cache-rr");
    dns_shard::ShardConfig {
        policy: cache::Policy {
            capacity: if total_cache == 0 {
                0
            } else {
                per_shard(total_cache)
            },
            neg_ttl_secs: config.uint_or("neg-ttl", 0) as u32,
            no_negcache: config.has("no-negcache"),
            max_ttl_secs: config.uint_or("max-ttl", u64::from(defaults.max_ttl_secs)) as u32,
            min_cache_ttl_secs: config.uint_or("min-cache-ttl", 0).min(3600) as u32,
            max_cache_ttl_secs: config
                .uint_or("max-cache-ttl", u64::from(defaults.max_cache_ttl_secs))
                as u32,
            extra_types,
            edns_packet_max: config.uint_or("edns-packet-max", 1232).clamp(512, 65535) as u16,
            round_robin: !config.has("no-round-robin"),
            stale_secs: match config.last("use-stale-cache") {
                Some(Value::Uint(max)) => Some(*max as u32),
                _ => None,
            },
        },
        options: answer::Options {
            domain_needed: config.has("domain-needed"),
            bogus_priv: config.has("bogus-priv"),
            log_queries: config.has("log-queries"),
            filterwin2k: config.has("filterwin2k"),
            ignore_addresses: subnets(config, "ignore-address"),
            filters: reply_filters(config),
            ident: !config.has("no-ident"),
            localise_queries: config.has("localise-queries"),
            cache_size: config.uint_or("cache-size", 150),
        },
        forward: forward_policy(config),
        max_forwards: per_shard(config.uint_or("dns-forward-max", 150) as usize),
        max_tcp_connections: per_shard(config.uint_or("max-tcp-connections", 20) as usize),
        epoch: std::time::Instant::now(),
        lease_names: None,
    }
}

/// How queries go upstream: `--strict-order`, `--all-servers`, `--fast-dns-retry`,
/// `--min-port`, `--max-port` and `--port-limit`.
fn forward_policy(config: &Config) -> crate::dns::upstream::ForwardPolicy {
    use crate::dns::upstream::{FastRetry, ForwardPolicy};
    let defaults = ForwardPolicy::default();
    let fast_retry = match config.last("fast-dns-retry") {
        Some(Value::Numbers(n)) => Some(FastRetry {
            first: std::time::Duration::from_millis(n.first().copied().unwrap_or(1000).max(1)),
            total: std::time::Duration::from_millis(n.get(1).copied().unwrap_or(10_000)),
        }),
        _ => None,
    };
    let port = |name: &str, default: u16| config.uint_or(name, u64::from(default)) as u16;
    ForwardPolicy {
        strict_order: config.has("strict-order"),
        all_servers: config.has("all-servers"),
        fast_retry,
        ports: (
            port("min-port", defaults.ports.0),
            port("max-port", defaults.ports.1),
        ),
        port_limit: config.uint_or("port-limit", 1).clamp(1, 64) as usize,
        ..defaults
    }
}

/// The record types listed by option `name`, all its occurrences together.
fn rr_types(config: &Config, name: &str) -> Vec<u16> {
    config
        .values(name)
        .filter_map(|v| match v {
            Value::RrTypes(t) => Some(t.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The `addr[/prefix]` values of option `name`.
fn subnets(config: &Config, name: &str) -> Vec<(std::net::IpAddr, u8)> {
    config
        .values(name)
        .filter_map(|v| match v {
            Value::AddrPrefix { addr, prefix_len } => Some((*addr, *prefix_len)),
            _ => None,
        })
        .collect()
}

/// What is done to upstream replies: `--alias`, `--bogus-nxdomain`, rebind protection and
/// the record-type filters.
fn reply_filters(config: &Config) -> crate::dns::filter::ReplyFilters {
    use crate::dns::filter::{Alias, ReplyFilters};
    use crate::dns::wire::rtype;
    let removed_types = rr_types(config, "filter-rr");
    let removed_addresses = [("filter-A", rtype::A), ("filter-AAAA", rtype::AAAA)]
        .into_iter()
        .filter(|(option, _)| config.has(option))
        .map(|(_, t)| t)
        .collect();
    ReplyFilters {
        aliases: config
            .values("alias")
            .filter_map(|v| match v {
                Value::Alias {
                    from,
                    from_end,
                    to,
                    mask,
                } => Some(Alias {
                    from: *from,
                    end: *from_end,
                    to: *to,
                    mask: *mask,
                }),
                _ => None,
            })
            .collect(),
        bogus_nxdomain: subnets(config, "bogus-nxdomain"),
        stop_rebind: config.has("stop-dns-rebind"),
        rebind_localhost_ok: config.has("rebind-localhost-ok"),
        rebind_ok: config
            .values("rebind-domain-ok")
            .filter_map(|v| match v {
                Value::RebindOk(domains) => Some(domains.clone()),
                _ => None,
            })
            .flatten()
            .map(|d| d.map_or_else(|| ".".to_string(), |d| d.to_ascii_lowercase()))
            .collect(),
        removed_types,
        removed_addresses,
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

#[allow(clippy::too_many_arguments)]
fn control_loop(
    config: &Config,
    pid_file: &str,
    feeds: &[Sender<dns_shard::Control>],
    stats: &[Arc<dns_shard::ShardStats>],
    watch: &mut Watch,
    files: &mut file_watch::Files,
    snapshots: &mut Snapshots,
    dhcp: Option<&Sender<dhcp_v4::Reload>>,
) -> ! {
    let set = signal_set();
    let tick = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: set is valid and the signals are blocked in every thread.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &tick) };
        if sig < 0 {
            // A second passed with no signal: look for interface and file changes.
            watch.rescan(feeds);
            snapshots.release();
            let changed = files.changed();
            if changed.any() {
                // dnsmasq clears its cache for new resolv files only under --clear-on-reload.
                let clear = changed.resolv && config.has("clear-on-reload");
                // As dnsmasq: a new resolv file is said to be read, and the servers
                // listed again.
                let listing = match changed.resolv {
                    true => ServerListing::ResolvRead,
                    false => ServerListing::Quiet,
                };
                snapshots.reload(config, feeds, clear, listing);
            }
            if changed.dhcp {
                if let Some(dhcp) = dhcp {
                    let _ = dhcp.try_send(dhcp_v4::reread(config, snapshots.current.clone()));
                }
            }
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
                // dnsmasq empties its cache on SIGHUP.
                // dnsmasq reads the resolv file again on SIGHUP only under --no-poll.
                let listing = match config.has("no-poll") {
                    true => ServerListing::ResolvRead,
                    false => ServerListing::Quiet,
                };
                snapshots.reload(config, feeds, true, listing);
                if says_cache_cleared(config) && !hosts_before_servers(config) {
                    log::info("cleared cache");
                }
                // The DHCP host and option files (and /etc/ethers) are read again.
                if let Some(dhcp) = dhcp {
                    let _ = dhcp.try_send(dhcp_v4::reread(config, snapshots.current.clone()));
                }
            }
            libc::SIGUSR1 => log_statistics(config, stats),
            _ => {}
        }
    }
}

/// dnsmasq's SIGUSR1 statistics, summed over the shards.
fn log_statistics(config: &Config, stats: &[Arc<dns_shard::ShardStats>]) {
    use std::sync::atomic::Ordering::Relaxed;
    let sum = |f: fn(&dns_shard::ShardStats) -> &std::sync::atomic::AtomicU64| -> u64 {
        stats.iter().map(|s| f(s).load(Relaxed)).sum()
    };
    // SAFETY: time(NULL) only reads the clock.
    log::info(format!("time {}", unsafe {
        libc::time(std::ptr::null_mut())
    }));
    log::info(format!(
        "cache size {}, {}/{} cache insertions re-used unexpired cache entries.",
        config.uint_or("cache-size", 150),
        sum(|s| &s.cache_evictions),
        sum(|s| &s.cache_insertions)
    ));
    log::info(format!(
        "queries forwarded {}, queries answered locally {}",
        sum(|s| &s.forwarded),
        sum(|s| &s.local) + sum(|s| &s.cached)
    ));
    for (server, tally) in forward::tallies(stats) {
        log::info(tally.line(server));
    }
    log::info(format!(
        "queries answered from cache {}, malformed queries {}, forwards dropped at the limit {}, upstream timeouts {}, upstream replies rejected {}, cached answers not shared (peer queue full) {}",
        sum(|s| &s.cached),
        sum(|s| &s.malformed) + sum(|s| &s.oversized),
        sum(|s| &s.forwards_dropped),
        sum(|s| &s.upstream_timeouts),
        sum(|s| &s.replies_rejected),
        sum(|s| &s.fills_dropped)
    ));
}
