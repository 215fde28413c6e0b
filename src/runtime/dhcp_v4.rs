//! The DHCPv4 server's loop, a task on the control executor (`control`), off the DNS
//! shards: one socket on the DHCP server port (67, or `--dhcp-alternate-port`'s), its
//! arrivals awaited in the executor's reactor, requests taken a batch at a time
//! (recvmmsg), each answered by `dhcp::v4::Server`, the batch's lease changes committed
//! to disk together (through io_uring, `lease_disk`), and only then the replies sent,
//! and the lease-change script told (`script`). Expired leases are removed at every
//! wake-up, at least once a second.
//!
//! A dynamic pick is pinged before it is offered (`ping`): the request waits, others
//! are answered meanwhile, and it is answered again once a reply or 3 seconds have come.

use super::interfaces;
use super::lease_disk::LeaseDisk;
use super::ping::Pinger;
use super::script;
use super::udp_batch::{self, Arrivals, Destination as Source, Received, Replies};
use crate::config::error::{ConfigError, ExitCode};
use crate::config::parse::Value;
use crate::config::{io_reason, Config};
use crate::dhcp::host_files;
use crate::dhcp::lease_file::Lease;
use crate::dhcp::lease_store::LeaseStore;
use crate::dhcp::pxe;
use crate::dhcp::relay::Relays;
use crate::dhcp::script::{Action, Event, Origin, Request as ScriptRequest};
use crate::dhcp::v4::{self, Destination, Interface, PingCheck, Server, V4Config};
use crate::dns::lease_names::{LeaseNames, Refused};
use crate::dns::local::LocalData;
use crate::log;
use crossbeam::channel::{Receiver, Sender};
use socket2::{Domain, SockAddr, Socket, Type};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lease file when `--dhcp-leasefile` does not name one.
pub const DEFAULT_LEASE_FILE: &str = "/var/lib/misc/dnsmasq.leases";

/// Largest DHCP request read (a DHCP message fits an Ethernet frame; relays add little).
const MAX_REQUEST_BYTES: usize = 1500;

/// Most replies held back for one commit: at the rates a DHCP server sees, a group this
/// size is a few milliseconds of requests, and one fdatasync serves them all.
const MAX_HELD_PER_COMMIT: usize = 1024;

/// Receive buffer asked for: a burst of some ten thousand requests queues while a commit
/// waits on the disk, where the kernel's default holds a few hundred.
const RECEIVE_BUFFER_BYTES: usize = 8 << 20;

/// Configurations waiting for the server (a burst of SIGHUPs beyond this is dropped: the
/// next one re-reads everything anyway).
const RELOAD_QUEUE: usize = 4;

/// Build the configuration the DHCP server answers from after a SIGHUP: the host and
/// option files read again.
pub fn reread(config: &Config, local: Arc<LocalData>) -> Reload {
    let mut v4 = configured(config, &local);
    v4.add_files(host_files::read(config));
    Reload { v4, local }
}

/// What the DHCP server answers from after a SIGHUP: the configuration, and the names
/// DNS answers from (lease names the hosts files give other addresses are not given).
pub struct Reload {
    v4: V4Config,
    local: Arc<LocalData>,
}

/// The configuration's DHCPv4 part, with the subnets of the interfaces `--domain`
/// names as they are now, and `--dhcp-boot` TFTP servers given by name found in the
/// hosts files (as dnsmasq's a_record_from_hosts; not at all without DNS, `port=0`).
fn configured(config: &Config, local: &LocalData) -> V4Config {
    let mut v4 = V4Config::from_config(config);
    let dns = config.uint_or("port", 53) != 0;
    let missing = v4.resolve_boot_servers(|name| {
        let found = local.hosts.get(name).filter(|_| dns)?;
        found.iter().find_map(|(a, _)| match a {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
    });
    for name in missing {
        log::warn(format!("No IPv4 address found for {name}"));
    }
    let host = interfaces::host_addresses();
    v4.domains_mut().add_interface_subnets(|name| {
        host.iter()
            .filter(|a| a.name == name)
            .filter_map(|a| match a.addr {
                IpAddr::V4(v4) => Some((v4, a.prefix)),
                IpAddr::V6(_) => None,
            })
            .collect()
    });
    v4
}

/// The loop wakes at least this often, to end expired leases.
const TICK: Duration = Duration::from_secs(1);

/// Most expired leases ended per tick.
const MAX_EXPIRED_PER_TICK: usize = 10_000;

/// What the server needs, made before privileges are dropped (the port is below 1024 and
/// the lease file may be root's).
pub struct Prepared {
    server: Server,
    /// New configurations (SIGHUP), and where the control thread sends them.
    reloads: Receiver<Reload>,
    pub reloader: Sender<Reload>,
    /// The names DNS answers from now.
    local: Arc<LocalData>,
    /// The leases' names, which the DNS shards answer from.
    pub names: Arc<LeaseNames>,
    store: LeaseStore,
    socket: Socket,
    /// The PXE port's socket, where PXE is served.
    pxe_socket: Option<Socket>,
    server_port: u16,
    client_port: u16,
    /// `--dhcp-script`, and the events of changes not yet on disk.
    scripts: Option<script::Scripts>,
    events: Vec<Event>,
    /// Where each lease's client was last heard from, for its script events.
    origins: HashMap<Ipv4Addr, Origin>,
    /// The ping check's socket (None: no check, `--no-ping` or no way to ping), and the
    /// requests held back for one.
    pinger: Option<Pinger>,
    parked: Vec<Parked>,
    /// Which interfaces are served.
    gate: Gate,
    /// `--dhcp-relay`.
    relays: Relays,
}

impl Prepared {
    /// Where the lease-change script is told of things, if one is configured.
    pub fn scripts(&self) -> Option<script::Scripts> {
        self.scripts.clone()
    }
}

/// A request held back while the address picked for it is pinged.
struct Parked {
    check: PingCheck,
    /// When the check gives up waiting for a reply (the address is then free).
    due: Instant,
    packet: Vec<u8>,
    arrival: Arrival,
}

/// Which socket a request came to, and so which one its answer leaves from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Dhcp,
    Pxe,
}

/// How a request came: the address and interface it was sent to, who sent it, and to
/// which socket.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    dst: Source,
    sender: Option<SocketAddr>,
    via: Via,
}

/// Most requests held back for ping checks at once; past this a pick is offered
/// unchecked, as dnsmasq does under load.
const MAX_PARKED: usize = 1024;

/// Open the lease store and bind the DHCP socket, if any IPv4 range is configured.
pub fn prepare(config: &Config, local: Arc<LocalData>) -> Result<Option<Prepared>, ConfigError> {
    let mut v4 = configured(config, &local);
    let relaying = config.values("dhcp-relay").any(|v| {
        matches!(
            v,
            Value::DhcpRelay {
                local: IpAddr::V4(_),
                ..
            }
        )
    });
    if !v4.is_enabled() && !relaying {
        return Ok(None);
    }
    for line in v4.range_lines() {
        log::dhcp(line);
    }
    v4.add_files(host_files::read(config));
    let (server_port, client_port) = match config.last("dhcp-alternate-port") {
        Some(Value::AltPort { server, client }) => (*server, *client),
        _ => (v4::SERVER_PORT, v4::CLIENT_PORT),
    };
    let mut store = if config.has("leasefile-ro") {
        let mut store = LeaseStore::in_memory();
        for lease in script::initial_leases(config)? {
            store.put(lease);
        }
        store
    } else {
        let path = match config.text("dhcp-leasefile") {
            Some(Some(p)) => p,
            _ => DEFAULT_LEASE_FILE.to_string(),
        };
        let (store, report) = LeaseStore::open(Path::new(&path)).map_err(|e| {
            ConfigError::file(format!(
                "cannot open or create lease file {path}: {}",
                io_reason(&e)
            ))
        })?;
        for (line, why) in &report.bad_lines {
            log::warn(format!("bad lease at {path} line {line}: {why:?}"));
        }
        if report.torn_bytes > 0 {
            log::warn(format!(
                "dropped {} bytes of an unfinished change at the end of {}",
                report.torn_bytes,
                crate::dhcp::lease_store::journal_path(Path::new(&path)).display()
            ));
        }
        store
    };
    let names = Arc::new(LeaseNames::new(
        v4.domains().clone(),
        config.has("dhcp-fqdn"),
        config.uint_or("dhcp-ttl", config.uint_or("local-ttl", 0)) as u32,
    ));
    for lease in store.table().iter() {
        name_lease(&names, &local, lease.addr, lease.hostname.as_deref());
    }
    let bound = |port: u16| {
        bind(port).map_err(|e| {
            ConfigError::bad(format!(
                "failed to bind DHCP server socket: {}",
                io_reason(&e)
            ))
            .with_exit(ExitCode::Network)
        })
    };
    let socket = bound(server_port)?;
    let pxe_socket = v4.serves_pxe().then(|| bound(pxe::PORT)).transpose()?;
    let pinger = if v4.pings() {
        match Pinger::open() {
            Ok(p) => Some(p),
            Err(e) => {
                log::warn(format!(
                    "no ping check before DHCP offers: cannot open an ICMP socket: {}",
                    io_reason(&e)
                ));
                v4.without_ping();
                None
            }
        }
    } else {
        None
    };
    let (reloader, reloads) = crossbeam::channel::bounded(RELOAD_QUEUE);
    let scripts = script::start(config, v4.domains().clone())?;
    let mut origins = HashMap::new();
    if let Some(scripts) = &scripts {
        store.keep_changes();
        // The leases there at start, as dnsmasq tells its script of them: each on the
        // interface whose network holds it; expired ones end (`del`) at the first tick.
        let host = interfaces::host_addresses();
        for lease in store.table().in_dnsmasq_order() {
            let origin = Origin {
                interface: interface_for(&host, lease.addr),
                relay: None,
            };
            origins.insert(lease.addr, origin.clone());
            if !expired(lease, now_secs()) {
                scripts.send(startup_event(lease, origin));
            }
        }
    }
    Ok(Some(Prepared {
        server: Server::new(v4),
        reloads,
        reloader,
        local,
        names,
        store,
        socket,
        pxe_socket,
        server_port,
        client_port,
        scripts,
        events: Vec::new(),
        origins,
        pinger,
        parked: Vec::new(),
        gate: Gate::from_config(config),
        relays: Relays::from_config(config, server_port),
    }))
}

/// Whether `lease` has run out at `now`.
fn expired(lease: &Lease, now: u64) -> bool {
    lease.expires != 0 && lease.expires <= now
}

/// An `old` event for a lease the server had before (at start, or when it re-reads its
/// configuration): what the lease file does not keep is missing.
fn startup_event(lease: &Lease, origin: Origin) -> Event {
    Event {
        action: Action::Old,
        lease: lease.clone(),
        old_hostname: None,
        origin,
        request: None,
    }
}

/// The name of the interface whose IPv4 network holds `addr`.
fn interface_for(host: &[interfaces::IfAddr], addr: Ipv4Addr) -> Option<String> {
    host.iter().find_map(|a| match a.addr {
        IpAddr::V4(mine) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(a.prefix)).unwrap_or(0);
            (u32::from(mine) & mask == u32::from(addr) & mask).then(|| a.name.clone())
        }
        IpAddr::V6(_) => None,
    })
}

/// Turn the lease changes made since the last call into script events (waiting in
/// `p.events` for the commit): those of a request carry what it said (`request`) and
/// where it came from (`origin`), which its lease keeps for later events.
fn take_events(p: &mut Prepared, request: Option<&Arc<ScriptRequest>>, origin: Option<Origin>) {
    let Some(scripts) = &p.scripts else {
        return;
    };
    for (before, after) in p.store.take_changes() {
        for (action, lease, old_hostname) in
            crate::dhcp::script::changes(before.as_ref(), after.as_ref(), scripts.triggers)
        {
            let origin = match (action, &origin) {
                (Action::Del, _) => p.origins.remove(&lease.addr).unwrap_or_default(),
                (_, Some(o)) => {
                    // A lease keeps the relay it was last given through.
                    let kept = p.origins.get(&lease.addr).and_then(|k| k.relay);
                    let o = Origin {
                        interface: o.interface.clone(),
                        relay: o.relay.or(kept),
                    };
                    p.origins.insert(lease.addr, o.clone());
                    o
                }
                (_, None) => p.origins.get(&lease.addr).cloned().unwrap_or_default(),
            };
            let request = request.filter(|_| action != Action::Del).cloned();
            p.events.push(Event {
                action,
                lease,
                old_hostname,
                origin,
                request,
            });
        }
    }
}

/// Hand the script the events whose changes are now on disk.
fn send_events(p: &mut Prepared) {
    if let Some(scripts) = &p.scripts {
        for event in p.events.drain(..) {
            scripts.send(event);
        }
    }
}

fn bind(port: u16) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    udp_batch::receive_destinations(s.as_raw_fd(), false)?;
    udp_batch::force_receive_buffer(s.as_raw_fd(), RECEIVE_BUFFER_BYTES)?;
    s.bind(&SockAddr::from(SocketAddr::from((
        Ipv4Addr::UNSPECIFIED,
        port,
    ))))?;
    Ok(s)
}

/// Which interfaces DHCPv4 is served on, as dnsmasq decides: those DNS may listen on
/// (`--interface`, `--except-interface`, `--listen-address`), less those of
/// `--no-dhcp-interface` and `--no-dhcpv4-interface`; a request on an alias of
/// `--bridge-interface` is answered as if it came in on the bridge.
pub struct Gate {
    listening: interfaces::Listening,
    refused: Vec<String>,
    /// Bridge, and its aliases (wildcards allowed).
    bridges: Vec<(String, Vec<String>)>,
}

impl Gate {
    pub fn from_config(config: &Config) -> Gate {
        let refused = interfaces::dhcp_refused(config);
        let bridges = config
            .values("bridge-interface")
            .filter_map(|v| match v {
                Value::Bridge { interface, aliases } => Some((interface.clone(), aliases.clone())),
                _ => None,
            })
            .collect();
        Gate {
            listening: interfaces::Listening::from_config(config),
            refused,
            bridges,
        }
    }

    /// The interface a request that came in on interface `index` is answered as, with
    /// its first IPv4 address; None where DHCPv4 is not served.
    fn interface(&self, host: &[interfaces::IfAddr], index: u32) -> Option<Interface> {
        let arrived = host
            .iter()
            .find(|a| a.index == index)
            .map(|a| a.name.clone())
            .or_else(|| interfaces::interface_name(index))?;
        let name = self
            .bridges
            .iter()
            .find(|(_, aliases)| {
                aliases
                    .iter()
                    .any(|p| interfaces::wildcard_match(p, &arrived))
            })
            .map_or(arrived, |(bridge, _)| bridge.clone());
        if self
            .refused
            .iter()
            .any(|p| interfaces::wildcard_match(p, &name))
        {
            return None;
        }
        let a = host.iter().find(|a| a.name == name && a.addr.is_ipv4())?;
        let IpAddr::V4(addr) = a.addr else {
            return None;
        };
        if !self.listening.accepts(&name, a.addr) {
            return None;
        }
        Some(Interface {
            name,
            addr,
            netmask: Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(a.prefix)).unwrap_or(0)),
            reached_at: None,
            loopback: a.loopback,
            pxe: false,
        })
    }
}

pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A reply waiting to be sent: bytes, to, from, and the socket it leaves from.
type Outgoing = (Vec<u8>, SocketAddr, Source, Via);

/// Replies waiting to be sent.
type Queue = Vec<Outgoing>;

/// Replies `--dhcp-reply-delay` holds back, with when each may go.
type Delayed = Vec<(Instant, Outgoing)>;

/// Most replies held back for `--dhcp-reply-delay` at once; more are dropped (the client
/// asks again), so a flood cannot grow the queue without bound.
const MAX_DELAYED: usize = 4096;

/// Serve DHCPv4 on the control executor until the process ends.
pub async fn serve(mut p: Prepared) {
    let fd = p.socket.as_raw_fd();
    let fds = Sockets {
        dhcp: fd,
        pxe: p.pxe_socket.as_ref().map(|s| s.as_raw_fd()),
    };
    let (requests, echoes, pxe_requests) = match arrivals(&p) {
        Ok(a) => a,
        Err(e) => {
            log::error(format!(
                "DHCP server stopped: cannot wait on its sockets: {e}"
            ));
            return;
        }
    };
    let disk = match LeaseDisk::of(&p.store) {
        Ok(d) => d,
        Err(e) => {
            log::error(format!(
                "DHCP server stopped: cannot write the lease file: {e}"
            ));
            return;
        }
    };
    let disk = disk.as_ref();
    let mut received = Received::new(MAX_REQUEST_BYTES, true);
    // Replies that acknowledge a lease change wait in `held` until it is on disk; the
    // rest (offers, NAKs, answers to INFORM) go in `ready` at once.
    let mut held: Queue = Vec::new();
    let mut ready: Queue = Vec::new();
    let mut sending = Replies::default();
    let mut delayed: Delayed = Vec::new();
    loop {
        // Wake for the first delayed reply or ping check that falls due, if sooner than
        // the tick.
        let wait = delayed
            .iter()
            .map(|(due, _)| *due)
            .chain(p.parked.iter().map(|k| k.due))
            .map(|due| due.saturating_duration_since(Instant::now()))
            .min()
            .map_or(TICK, |d| d.min(TICK));
        wake(&requests, echoes.as_ref(), pxe_requests.as_ref(), wait).await;
        let due_now = Instant::now();
        let (due, waiting): (Delayed, Delayed) =
            delayed.drain(..).partition(|(due, _)| *due <= due_now);
        delayed = waiting;
        ready.extend(due.into_iter().map(|(_, reply)| reply));
        send(fds, &mut sending, &mut ready);
        // Delayed replies of this group may acknowledge a lease (rapid commit): they are
        // dropped with the group if its commit fails.
        let delayed_before = delayed.len();
        while let Ok(Reload { mut v4, local }) = p.reloads.try_recv() {
            p.local = local;
            if p.pinger.is_none() {
                v4.without_ping();
            }
            p.server.reconfigure(v4);
            // As dnsmasq on SIGHUP: the script hears of every lease again.
            if let Some(scripts) = &p.scripts {
                for lease in p.store.table().in_dnsmasq_order() {
                    let origin = p.origins.get(&lease.addr).cloned().unwrap_or_default();
                    scripts.send(startup_event(lease, origin));
                }
            }
        }
        let now = now_secs();
        end_expired(&mut p, disk, now).await;
        // Everything waiting is answered under one commit (group commit), up to a bound
        // that keeps the first reply of the group from waiting long.
        let mut host = None;
        let mut replies = Answers {
            held: &mut held,
            ready: &mut ready,
            delayed: &mut delayed,
        };
        let settled = settle_pings(&mut p, now);
        if !settled.is_empty() {
            let host = host.get_or_insert_with(interfaces::host_addresses);
            for parked in settled {
                answer_one(
                    &mut p,
                    &parked.packet,
                    parked.arrival,
                    host,
                    now,
                    &mut replies,
                );
            }
        }
        while replies.held.len() < MAX_HELD_PER_COMMIT {
            let count = match received.receive(fd) {
                Ok(n) => n,
                Err(e) => {
                    log::warn(format!("DHCP receive failed: {e}"));
                    break;
                }
            };
            if count == 0 {
                break;
            }
            // The interfaces' addresses, read once a group (not once a request).
            let host = host.get_or_insert_with(interfaces::host_addresses);
            answer_batch(&mut p, &received, count, Via::Dhcp, host, now, &mut replies);
            send(fds, &mut sending, replies.ready);
            if count < udp_batch::BATCH {
                break;
            }
        }
        // The PXE port's requests change no lease: one batch a turn.
        if let Some(pxe_fd) = fds.pxe {
            match received.receive(pxe_fd) {
                Ok(0) => {}
                Ok(count) => {
                    let host = host.get_or_insert_with(interfaces::host_addresses);
                    answer_batch(&mut p, &received, count, Via::Pxe, host, now, &mut replies);
                    send(fds, &mut sending, replies.ready);
                }
                Err(e) => log::warn(format!("PXE receive failed: {e}")),
            }
        }
        // Every lease change of the group on disk (those no reply acknowledges, such as
        // a RELEASE, too) before any reply that acknowledges one, and its name in DNS.
        if let Err(e) = commit(disk, &mut p.store).await {
            log::error(format!("failed to write lease file: {e}"));
            held.clear();
            delayed.truncate(delayed_before);
            continue;
        }
        send_events(&mut p);
        update_names(&p.names, &p.local, &mut p.store);
        send(fds, &mut sending, &mut held);
        compact_if_due(disk, &mut p.store).await;
    }
}

/// Arrivals on the server's socket, the ping check's and the PXE port's, awaited in the
/// reactor.
fn arrivals(p: &Prepared) -> std::io::Result<(Arrivals, Option<Arrivals>, Option<Arrivals>)> {
    let requests = Arrivals::of(p.socket.as_raw_fd())?;
    let echoes = p
        .pinger
        .as_ref()
        .map(|k| Arrivals::of(k.fd()))
        .transpose()?;
    let pxe = p
        .pxe_socket
        .as_ref()
        .map(|s| Arrivals::of(s.as_raw_fd()))
        .transpose()?;
    Ok((requests, echoes, pxe))
}

/// Wait until a request or an echo reply arrives, or `wait` has passed.
async fn wake(
    requests: &Arrivals,
    echoes: Option<&Arrivals>,
    pxe: Option<&Arrivals>,
    wait: Duration,
) {
    let arrival = futures_lite::future::or(requests.next(), next_or_never(echoes));
    let arrival = futures_lite::future::or(arrival, next_or_never(pxe));
    futures_lite::future::or(arrival, glommio::timer::sleep(wait)).await;
}

/// The next arrival on a socket there may not be.
async fn next_or_never(arrivals: Option<&Arrivals>) {
    match arrivals {
        Some(a) => a.next().await,
        None => futures_lite::future::pending().await,
    }
}

/// The sockets replies leave from.
#[derive(Clone, Copy)]
struct Sockets {
    dhcp: RawFd,
    pxe: Option<RawFd>,
}

/// Put the store's pending changes on disk (a store in memory has none).
async fn commit(disk: Option<&LeaseDisk>, store: &mut LeaseStore) -> std::io::Result<()> {
    match disk {
        Some(disk) => disk.commit(store).await,
        None => Ok(()),
    }
}

/// Rewrite the lease file from the table when the journal has grown enough.
async fn compact_if_due(disk: Option<&LeaseDisk>, store: &mut LeaseStore) {
    let Some(disk) = disk else {
        return;
    };
    if let Err(e) = disk.compact_if_due(store).await {
        log::error(format!("failed to write lease file: {e}"));
    }
}

/// Send and empty `queue`, each reply from its socket, a sendmmsg per `BATCH` replies.
fn send(fds: Sockets, sending: &mut Replies, queue: &mut Queue) {
    for (via, fd) in [(Via::Dhcp, Some(fds.dhcp)), (Via::Pxe, fds.pxe)] {
        let Some(fd) = fd else {
            continue;
        };
        let mut mine = queue.iter().filter(|r| r.3 == via).peekable();
        while mine.peek().is_some() {
            for (bytes, to, from, _) in mine.by_ref().take(udp_batch::BATCH) {
                let buf = sending.next_buf();
                buf.clear();
                buf.extend_from_slice(bytes);
                sending.push(&udp_batch::RawAddr::from(*to), Some(*from));
            }
            sending.flush(fd, |_, to| {
                let to = to
                    .to_socket_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                log::warn(format!("DHCP reply to {to} dropped: send buffer full"));
            });
        }
    }
    queue.clear();
}

/// Where answers go: replies that acknowledge a lease change wait in `held` for the
/// commit, the others go out from `ready` at once, and those `--dhcp-reply-delay` holds
/// wait in `delayed` (sent by the loop once due, after the commit of their group).
struct Answers<'q> {
    held: &'q mut Queue,
    ready: &'q mut Queue,
    delayed: &'q mut Delayed,
}

/// Answer the `count` requests in `received`, which came `via` that socket.
fn answer_batch(
    p: &mut Prepared,
    received: &Received,
    count: usize,
    via: Via,
    host: &[interfaces::IfAddr],
    now: u64,
    replies: &mut Answers,
) {
    for i in 0..count {
        let Some((packet, sender)) = received.get(i) else {
            continue;
        };
        let Some(dst) = received.destination(i) else {
            continue;
        };
        let arrival = Arrival {
            dst,
            sender: sender.to_socket_addr(),
            via,
        };
        answer_one(p, packet, arrival, host, now, replies);
    }
}

/// The ping checks that are over: those whose address replied (in use) and those that
/// waited their time out (free), told to the server; their requests, to be answered
/// again.
fn settle_pings(p: &mut Prepared, now: u64) -> Vec<Parked> {
    let Some(pinger) = &p.pinger else {
        return Vec::new();
    };
    // Read whatever came, even with nothing held back: the socket sees every echo
    // reply to this host, and one left unread would wake the loop again at once.
    let answered = pinger.replies();
    if p.parked.is_empty() {
        return Vec::new();
    }
    let at = Instant::now();
    let (over, waiting): (Vec<Parked>, Vec<Parked>) = p
        .parked
        .drain(..)
        .partition(|k| k.due <= at || answered.contains(&k.check.addr));
    p.parked = waiting;
    let mut told = HashSet::new();
    for k in &over {
        if told.insert(k.check.addr) {
            let in_use = answered.contains(&k.check.addr);
            p.server.ping_result(k.check, in_use, now);
        }
    }
    over
}

/// Answer one request that came to `dst`; a request whose pick must be ping-checked
/// first is held back (`p.parked`) and answered again once the check is over.
fn answer_one(
    p: &mut Prepared,
    packet: &[u8],
    arrival: Arrival,
    host: &[interfaces::IfAddr],
    now: u64,
    replies: &mut Answers,
) {
    let dst = arrival.dst;
    let pxe = arrival.via == Via::Pxe;
    if !pxe && !p.relays.is_empty() && relay(p, packet, dst, host, replies) {
        return;
    }
    let Some(mut iface) = p.gate.interface(host, dst.ifindex) else {
        return;
    };
    iface.pxe = pxe;
    // A request sent to one of our addresses (by a relay, or a renewing client) is
    // answered as that address; a broadcast one as the interface's.
    if let IpAddr::V4(to) = dst.addr {
        iface.reached_at = Some(to).filter(|a| !a.is_broadcast() && !a.is_unspecified());
    }
    let pending = p.store.pending();
    let outcome = p.server.handle(packet, &iface, now, &mut p.store);
    if let Some(check) = outcome.ping {
        // Logged when it is answered, after the check.
        park(p, check, packet, arrival, host, now, replies);
        return;
    }
    for line in outcome.log {
        log::dhcp(line);
    }
    if p.scripts.is_some() {
        let relay = packet
            .get(24..28)
            .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            .filter(|a| !a.is_unspecified());
        let origin = Origin {
            interface: Some(iface.name.clone()),
            relay,
        };
        take_events(p, outcome.script.as_ref(), Some(origin));
    }
    let Some((bytes, to)) = outcome.reply else {
        return;
    };
    let from = Source {
        addr: IpAddr::V4(iface.reached_at.unwrap_or(iface.addr)),
        ifindex: dst.ifindex,
    };
    let Some(to) = socket_for(p, &iface.name, to, arrival.sender) else {
        return;
    };
    let reply = (bytes, to, from, arrival.via);
    if outcome.delay_secs > 0 {
        if replies.delayed.len() < MAX_DELAYED {
            let due = Instant::now() + Duration::from_secs(u64::from(outcome.delay_secs));
            replies.delayed.push((due, reply));
        } else {
            log::warn(format!(
                "DHCP reply to {to} dropped: too many replies delayed"
            ));
        }
        return;
    }
    let queue = if p.store.pending() != pending {
        &mut *replies.held
    } else {
        &mut *replies.ready
    };
    queue.push(reply);
}

/// Where a reply for `to` goes, sent on interface `iface` (None: back to a sender that
/// is not known).
fn socket_for(
    p: &Prepared,
    iface: &str,
    to: Destination,
    sender: Option<SocketAddr>,
) -> Option<SocketAddr> {
    Some(match to {
        Destination::Relay(a) => SocketAddr::from((a, p.server_port)),
        Destination::Client(a) => SocketAddr::from((a, p.client_port)),
        // As dnsmasq on Linux: an ARP entry for the address the client is being given,
        // then unicast; broadcast, which every client takes, where that cannot be done.
        Destination::Hardware { addr, hwaddr }
            if add_arp_entry(p.socket.as_raw_fd(), iface, addr, &hwaddr) =>
        {
            SocketAddr::from((addr, p.client_port))
        }
        Destination::Broadcast | Destination::Hardware { .. } => {
            SocketAddr::from((Ipv4Addr::BROADCAST, p.client_port))
        }
        Destination::Sender(at) => {
            let sender = sender?;
            SocketAddr::from((at.map_or(sender.ip(), IpAddr::V4), sender.port()))
        }
    })
}

/// `--dhcp-relay`: relay `packet` if it is for one of ours, a request from a client on
/// a relay's interface (served there as the DHCP server would serve it) or a server's
/// reply to a relay. True if it was (or was dropped as a loop).
fn relay(
    p: &mut Prepared,
    packet: &[u8],
    dst: Source,
    host: &[interfaces::IfAddr],
    replies: &mut Answers,
) -> bool {
    let index_of = |addr: Ipv4Addr| {
        host.iter()
            .find(|a| a.addr == IpAddr::V4(addr))
            .map(|a| (a.index, a.name.clone()))
    };
    let arrived_on = host
        .iter()
        .find(|a| a.index == dst.ifindex)
        .map(|a| a.name.clone())
        .or_else(|| interfaces::interface_name(dst.ifindex))
        .unwrap_or_default();
    if let Some(down) = p.relays.downstream(packet, &arrived_on) {
        let Some((ifindex, name)) = index_of(down.from) else {
            return true;
        };
        let Some(to) = socket_for(p, &name, down.to, None) else {
            return true;
        };
        let from = Source {
            addr: IpAddr::V4(down.from),
            ifindex,
        };
        replies.ready.push((down.bytes, to, from, Via::Dhcp));
        return true;
    }
    let Some(iface) = p.gate.interface(host, dst.ifindex) else {
        return false;
    };
    let local: Vec<Ipv4Addr> = host
        .iter()
        .filter(|a| a.name == iface.name)
        .filter_map(|a| match a.addr {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .collect();
    let Some((ups, log)) = p.relays.upstream(packet, &local, p.server_port) else {
        return false;
    };
    for line in log {
        log::dhcp(line);
    }
    for up in ups {
        let ifindex = match &up.interface {
            Some(name) => crate::config::interface_index(name).unwrap_or(dst.ifindex),
            None => dst.ifindex,
        };
        let from = Source {
            addr: IpAddr::V4(up.from),
            ifindex,
        };
        replies.ready.push((up.bytes, up.to, from, Via::Dhcp));
    }
    true
}

/// Hold `packet` back until the ping check of `check.addr` is over: one echo per address
/// (a retransmitted request waits with the first). With too many held, or an echo that
/// cannot be sent, the address is taken as free and the request answered now.
#[allow(clippy::too_many_arguments)]
fn park(
    p: &mut Prepared,
    check: PingCheck,
    packet: &[u8],
    arrival: Arrival,
    host: &[interfaces::IfAddr],
    now: u64,
    replies: &mut Answers,
) {
    if p.parked.iter().any(|k| k.packet == packet) {
        return;
    }
    let pinging = p.parked.iter().any(|k| k.check.addr == check.addr);
    let sent = pinging
        || match p.pinger.as_mut().map(|pinger| pinger.send(check.addr)) {
            Some(Ok(())) => true,
            Some(Err(e)) => {
                log::warn(format!("cannot ping {}: {e}", check.addr));
                false
            }
            None => false,
        };
    if !sent || p.parked.len() >= MAX_PARKED {
        p.server.ping_result(check, false, now);
        answer_one(p, packet, arrival, host, now, replies);
        return;
    }
    p.parked.push(Parked {
        check,
        due: Instant::now() + Duration::from_secs(v4::PING_WAIT_SECS),
        packet: packet.to_vec(),
        arrival,
    });
}

/// ARP hardware type of Ethernet (linux/if_arp.h), as in DHCP's htype.
const ARPHRD_ETHER: u8 = 1;
/// A complete ARP entry (linux/if_arp.h).
const ATF_COM: libc::c_int = 0x02;

/// Tell the kernel that `addr` is at Ethernet address `hwaddr` on interface `iface`
/// (SIOCSARP), so that a reply can be sent to an address the client does not answer ARP
/// for yet. False where that cannot be done: not Ethernet, or no CAP_NET_ADMIN.
fn add_arp_entry(
    fd: RawFd,
    iface: &str,
    addr: Ipv4Addr,
    hwaddr: &crate::dhcp::lease_file::HwAddr,
) -> bool {
    if hwaddr.htype != ARPHRD_ETHER || hwaddr.bytes.len() != 6 || iface.len() >= libc::IFNAMSIZ {
        return false;
    }
    // SAFETY: all-zero is a valid arpreq; the fields are then filled in.
    let mut req: libc::arpreq = unsafe { std::mem::zeroed() };
    let pa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in fits in sockaddr (both 16 bytes).
    req.arp_pa = unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(pa) };
    req.arp_ha.sa_family = libc::sa_family_t::from(ARPHRD_ETHER);
    for (d, s) in req.arp_ha.sa_data.iter_mut().zip(&hwaddr.bytes) {
        *d = *s as libc::c_char;
    }
    req.arp_flags = ATF_COM;
    for (d, s) in req.arp_dev.iter_mut().zip(iface.as_bytes()) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCSARP reads one arpreq, valid for the call.
    unsafe { libc::ioctl(fd, libc::SIOCSARP, &req) == 0 }
}

/// Give DNS the names of the leases changed since the last call.
fn update_names(names: &LeaseNames, local: &LocalData, store: &mut LeaseStore) {
    for addr in store.take_changed() {
        let lease = store.table().get(addr);
        name_lease(
            names,
            local,
            addr,
            lease.and_then(|l| l.hostname.as_deref()),
        );
    }
}

/// Give `addr` the names of `hostname` in DNS, logging those it may not have as dnsmasq
/// does: one another lease holds, or one the hosts files give another address.
fn name_lease(names: &LeaseNames, local: &LocalData, addr: Ipv4Addr, hostname: Option<&str>) {
    let elsewhere = |name: &str| -> Option<String> {
        let found: Vec<(IpAddr, u32)> = local.hosts.get(name)?.iter().collect();
        if found.iter().any(|(a, _)| *a == IpAddr::V4(addr)) {
            return None;
        }
        let (other, file) = found.iter().find(|(a, _)| a.is_ipv4()).or(found.first())?;
        let file = local
            .files
            .get(*file as usize)
            .map_or("/etc/hosts", |f| f.as_str());
        Some(format!("{file} with address {other}"))
    };
    for refused in names.set(addr, hostname, &elsewhere) {
        match refused {
            Refused::OtherLease(name) => log::dhcp_warn(format!(
                "not giving name {name} to the DHCP lease of {addr} because the name exists \
                 with another lease"
            )),
            Refused::Elsewhere(name, there) => log::dhcp_warn(format!(
                "not giving name {name} to the DHCP lease of {addr} because the name exists \
                 in {there}"
            )),
        }
    }
}

/// End the leases that have run out.
async fn end_expired(p: &mut Prepared, disk: Option<&LeaseDisk>, now: u64) {
    let expired = p.store.table().expired(now, MAX_EXPIRED_PER_TICK);
    if expired.is_empty() {
        return;
    }
    for addr in expired {
        p.store.remove(addr);
    }
    take_events(p, None, None);
    if let Err(e) = commit(disk, &mut p.store).await {
        log::error(format!("failed to write lease file: {e}"));
        return;
    }
    send_events(p);
    compact_if_due(disk, &mut p.store).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Vec<interfaces::IfAddr> {
        let a = |name: &str, index, addr: &str| interfaces::IfAddr {
            name: name.into(),
            index,
            addr: addr.parse().unwrap(),
            prefix: 24,
            loopback: name == "lo",
        };
        vec![
            a("lo", 1, "127.0.0.1"),
            a("eth0", 2, "fe80::1"),
            a("eth0", 2, "192.168.1.1"),
            a("eth1", 3, "10.0.0.1"),
            a("br0", 4, "10.9.0.1"),
            a("tap7", 5, "fe80::7"),
        ]
    }

    fn served(conf: &str) -> Vec<String> {
        let config = Config::from_text(conf).unwrap();
        let gate = Gate::from_config(&config);
        (1..=5)
            .filter_map(|i| gate.interface(&host(), i).map(|i| i.name))
            .collect()
    }

    #[test]
    fn dhcp_is_served_where_dns_listens_less_the_no_dhcp_interfaces() {
        assert_eq!(served(""), ["lo", "eth0", "eth1", "br0"]);
        assert_eq!(served("interface=eth1\n"), ["lo", "eth1"]);
        assert_eq!(served("except-interface=eth*\n"), ["lo", "br0"]);
        assert_eq!(served("listen-address=192.168.1.1\n"), ["eth0"]);
        assert_eq!(served("no-dhcp-interface=eth0\n"), ["lo", "eth1", "br0"]);
        assert_eq!(served("no-dhcpv4-interface=lo,br0\n"), ["eth0", "eth1"]);
    }

    #[test]
    fn a_bridge_alias_is_answered_as_its_bridge() {
        let config = Config::from_text("bridge-interface=br0,tap*\n").unwrap();
        let gate = Gate::from_config(&config);
        let iface = gate.interface(&host(), 5).expect("served as br0");
        assert_eq!(
            (iface.name.as_str(), iface.addr),
            ("br0", Ipv4Addr::new(10, 9, 0, 1))
        );
        // The eth0 address is found past its IPv6 one.
        assert_eq!(
            gate.interface(&host(), 2).unwrap().addr,
            Ipv4Addr::new(192, 168, 1, 1)
        );
    }
}
