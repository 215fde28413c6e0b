//! One DNS shard: a pinned glommio executor owning its SO_REUSEPORT UDP and TCP sockets,
//! its answer engine (local snapshot and cache) and its upstream sockets (see `forward`).

use super::forward::{forward_tcp, forward_udp, QueryPort, QueryPortSockets};
use super::interfaces::{Gate, IfAddr};
use super::udp_batch::{self, Destination, RawAddr, Received, Replies};
use crate::dns::answer::{Action, Engine, Options};
use crate::dns::cache::{Policy, Stored};
use crate::dns::lease_names::LeaseNames;
use crate::dns::local::{LocalData, SendFrom};
use crate::dns::upstream::{Board, ForwardPolicy, Tally};
use crossbeam::channel::{Receiver, Sender};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream, UdpSocket};
use glommio::{LocalExecutorBuilder, Placement};
use socket2::{Domain, Protocol, Socket, Type};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Servers whose records SIGUSR1 reports, per shard.
const MAX_TALLIED_SERVERS: usize = 4096;
/// Largest UDP DNS message handled.
pub const MAX_UDP_BYTES: usize = 4096;
/// Largest DNS message over TCP.
pub const MAX_TCP_BYTES: usize = 65535;
/// How long a client's TCP connection may sit idle between queries.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pending connections the kernel holds per TCP listener.
const TCP_BACKLOG: i32 = 128;

/// Sockets one shard serves.
pub struct ShardSockets {
    pub udp: Vec<std::net::UdpSocket>,
    pub tcp: Vec<std::net::TcpListener>,
    /// This shard's `--query-port` sockets, if that option is set.
    pub query_port: Option<QueryPortSockets>,
}

/// Limits and switches every shard shares.
#[derive(Clone, Debug)]
pub struct ShardConfig {
    pub policy: Policy,
    pub options: Options,
    pub forward: ForwardPolicy,
    /// `--dns-forward-max`, shared out over the shards.
    pub max_forwards: usize,
    /// `--max-tcp-connections`, shared out over the shards.
    pub max_tcp_connections: usize,
    /// The process-wide clock every shard's cache times are counted from.
    pub epoch: Instant,
    /// DHCP clients' names, when a DHCP server runs.
    pub lease_names: Option<Arc<LeaseNames>>,
}

/// A shard's links to the others: cached answers it fetched go out, theirs come in.
pub struct CacheLinks {
    pub incoming: Receiver<Arc<Stored>>,
    pub peers: Vec<Sender<Arc<Stored>>>,
}

/// What a shard has done, read by the control thread for SIGUSR1. Each counter is written
/// by its own shard only.
#[derive(Debug, Default)]
pub struct ShardStats {
    pub local: AtomicU64,
    pub cached: AtomicU64,
    pub forwarded: AtomicU64,
    pub malformed: AtomicU64,
    /// UDP queries larger than the receive buffer, dropped.
    pub oversized: AtomicU64,
    pub cache_insertions: AtomicU64,
    pub cache_evictions: AtomicU64,
    pub forwards_dropped: AtomicU64,
    pub upstream_timeouts: AtomicU64,
    pub replies_rejected: AtomicU64,
    /// Cached answers not passed to a peer shard because its queue was full.
    pub fills_dropped: AtomicU64,
    /// Each upstream server's record. Written by this shard on the forward path only, read
    /// on SIGUSR1, so the lock is never contended in practice.
    pub servers: Mutex<HashMap<SocketAddr, Tally>>,
}

/// Messages from the control thread.
pub enum Control {
    /// Answer from this snapshot from now on; clear the cache if asked.
    Snapshot(Arc<LocalData>, bool),
    /// The host's interface addresses changed.
    Interfaces(Vec<IfAddr>),
    /// Serve these sockets too (`--bind-dynamic` found new addresses).
    Listen(ShardSockets),
}

/// Registered I/O memory per shard (glommio keeps at least 64 KiB).
const DNS_SHARD_IO_MEMORY: usize = 64 << 10;

/// Receive buffer asked for on each shard's UDP socket: about 5,000 queries queued at the
/// usual kernel cost per datagram, where the default (208 KiB) holds some 270.
const UDP_RECEIVE_BUFFER: usize = 4 << 20;

/// How long `claim` waits for a port that a server which has just exited still holds.
const CLAIM_WAIT_MS: u64 = 250;

/// A non-blocking UDP socket bound with SO_REUSEPORT, so every shard can bind the address.
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    Ok(reuseport_socket(addr, Type::DGRAM, Protocol::UDP)?.into())
}

/// A listening TCP socket bound with SO_REUSEPORT.
pub fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let s = reuseport_socket(addr, Type::STREAM, Protocol::TCP)?;
    s.listen(TCP_BACKLOG)?;
    Ok(s.into())
}

/// Fail with EADDRINUSE where another process listens on `addr`, as dnsmasq's bind
/// fails. The shards' sockets share each port by SO_REUSEPORT, which would as readily
/// share it with a second server run by the same user, each then answering part of the
/// queries; a plain TCP bind (SO_REUSEADDR only, as dnsmasq binds) first, dropped at
/// once, keeps that from happening unseen. A server that has just exited holds its
/// sockets for some milliseconds more (the kernel tears its io_uring down after it), so
/// the bind is tried for up to `CLAIM_WAIT_MS` before the port counts as taken.
pub fn claim(addr: SocketAddr) -> std::io::Result<()> {
    let bind = || -> std::io::Result<()> {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        if addr.is_ipv6() {
            s.set_only_v6(true)?;
        }
        s.bind(&addr.into())
    };
    let deadline = Instant::now() + Duration::from_millis(CLAIM_WAIT_MS);
    loop {
        match bind() {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            done => return done,
        }
    }
}

fn reuseport_socket(addr: SocketAddr, ty: Type, proto: Protocol) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    if ty == Type::DGRAM {
        // Room for a burst: the kernel caps this at net.core.rmem_max (tuning.md).
        let _ = s.set_recv_buffer_size(UDP_RECEIVE_BUFFER);
    }
    if ty == Type::DGRAM && addr.ip().is_unspecified() {
        // A wildcard socket learns each query's destination, to answer from it.
        udp_batch::receive_destinations(s.as_raw_fd(), addr.is_ipv6())?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

/// The state the tasks of one shard share (single-threaded, so RefCell and Cell).
pub struct Shard {
    engine: RefCell<Engine>,
    /// Which queries are served, by interface, destination and client.
    gate: RefCell<Gate>,
    /// Whether the gate has anything to check (false: every query is served).
    gated: bool,
    control: Receiver<Control>,
    links: CacheLinks,
    pub config: ShardConfig,
    pub stats: Arc<ShardStats>,
    /// How the upstream servers have done, to choose among them.
    pub board: RefCell<Board>,
    /// The `--query-port` sockets, if that option is set.
    query_port: RefCell<Option<Rc<QueryPort>>>,
    in_flight: Cell<usize>,
    tcp_connections: Cell<usize>,
}

impl Shard {
    /// Update `server`'s record (a new one only while fewer than the limit are kept).
    pub fn tally(&self, server: SocketAddr, f: impl FnOnce(&mut Tally)) {
        let Ok(mut servers) = self.stats.servers.lock() else {
            return;
        };
        if servers.len() < MAX_TALLIED_SERVERS || servers.contains_key(&server) {
            f(servers.entry(server).or_default());
        }
    }

    /// The `--query-port` sockets, if that option is set.
    pub fn query_port(&self) -> Option<Rc<QueryPort>> {
        self.query_port.borrow().clone()
    }

    /// Where queries to `server` leave from, if it has a binding.
    pub fn send_from(&self, server: &SocketAddr) -> Option<SendFrom> {
        self.engine.borrow().local.send_from.get(server).cloned()
    }

    /// Seconds on the shard clock (read once per batch of queries, not per query).
    fn now_secs(&self) -> u64 {
        self.config.epoch.elapsed().as_secs()
    }

    /// Store answers other shards fetched. An empty queue costs one atomic load.
    fn take_fills(&self, engine: &mut Engine, now_secs: u64) {
        while let Ok(stored) = self.links.incoming.try_recv() {
            engine.cache.store(stored, now_secs);
        }
    }

    /// Offer the answers this shard just cached to the others.
    fn share_fills(&self, engine: &mut Engine) {
        for stored in engine.fills.drain(..) {
            for peer in &self.links.peers {
                if peer.try_send(stored.clone()).is_err() {
                    self.stats.fills_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Run one query through the engine at `now` (seconds on the shard clock): the `i`th
    /// of the UDP batch the engine planned, or (None) one over TCP. A reply is handed over
    /// into `reply` (buffers swapped, not copied), so no borrow of the engine is held while
    /// it is sent; a forward comes with its in-flight slot taken.
    fn answer(
        &self,
        planned: Option<usize>,
        query: &[u8],
        client: SocketAddr,
        now: u64,
        reply: &mut Vec<u8>,
    ) -> Step {
        let mut engine = self.engine.borrow_mut();
        self.take_fills(&mut engine, now);
        let action = match planned {
            Some(i) => engine.query_planned(i, query, client, now, false),
            None => engine.query(query, client, now, true),
        };
        let step = match action {
            Action::Reply(_) => Step::Reply,
            Action::Drop => return Step::Drop,
            Action::Forward(servers) if self.reserve_forward() => return Step::Forward(servers),
            Action::Forward(_) => return Step::Drop,
            Action::ReplyAndRefresh(_, servers) if self.reserve_forward() => {
                Step::ReplyAndRefresh(servers)
            }
            Action::ReplyAndRefresh(..) => Step::Reply,
        };
        engine.take_reply(reply);
        step
    }

    /// Pass an upstream reply through the engine; returns the bytes for the client.
    fn finish_forward(&self, query: &[u8], reply: &[u8]) -> Option<Vec<u8>> {
        let mut engine = self.engine.borrow_mut();
        let out = engine.upstream_reply(query, reply, self.now_secs());
        self.share_fills(&mut engine);
        out
    }

    /// Take whatever the control thread has sent.
    fn take_updates(self: &Rc<Self>) {
        while let Ok(msg) = self.control.try_recv() {
            match msg {
                Control::Snapshot(snapshot, clear) => {
                    let mut e = self.engine.borrow_mut();
                    e.local = snapshot;
                    if clear {
                        e.cache.clear();
                    }
                }
                Control::Interfaces(host) => {
                    self.engine.borrow_mut().interface_addrs = super::interfaces::named(&host);
                    self.gate.borrow_mut().update(host)
                }
                Control::Listen(sockets) => {
                    for task in serve(sockets, self) {
                        task.detach();
                    }
                }
            }
        }
    }

    /// Whether a UDP query is served (always, unless interface rules or
    /// --local-service apply).
    fn admits(&self, client: SocketAddr, dst: Option<Destination>) -> bool {
        if !self.gated {
            return true;
        }
        let (dst, ifindex) = match dst {
            Some(d) => (d.addr, d.ifindex),
            None => (client.ip(), 0),
        };
        self.gate.borrow_mut().admits(client.ip(), dst, ifindex)
    }

    /// Copy the engine's counters to the shared statistics.
    fn publish(&self) {
        let e = self.engine.borrow();
        let s = &self.stats;
        let c = e.counters;
        s.local.store(c.local, Ordering::Relaxed);
        s.cached.store(c.cached, Ordering::Relaxed);
        s.forwarded.store(c.forwarded, Ordering::Relaxed);
        s.malformed.store(c.malformed, Ordering::Relaxed);
        s.cache_insertions
            .store(e.cache.stats.insertions, Ordering::Relaxed);
        s.cache_evictions
            .store(e.cache.stats.evictions, Ordering::Relaxed);
    }

    /// Room for one more forwarded query? Counts and logs (sparingly) when not.
    fn reserve_forward(&self) -> bool {
        if self.in_flight.get() >= self.config.max_forwards {
            let dropped = self.stats.forwards_dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                crate::log::warn(format!(
                    "Maximum number of concurrent DNS queries reached (max: {}): {dropped} queries dropped",
                    self.config.max_forwards
                ));
            }
            return false;
        }
        self.in_flight.set(self.in_flight.get() + 1);
        true
    }
}

/// What a serving task does next with one query.
enum Step {
    /// Send the reply the shard copied out.
    Reply,
    Drop,
    /// Forward to these servers (an in-flight slot is held).
    Forward(Arc<[SocketAddr]>),
    /// Send the (stale) reply, and refresh it from these servers (a slot is held).
    ReplyAndRefresh(Arc<[SocketAddr]>),
}

/// Start shard `index` on its own pinned executor thread.
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    index: usize,
    sockets: ShardSockets,
    gate: Gate,
    snapshot: Arc<LocalData>,
    control: Receiver<Control>,
    links: CacheLinks,
    config: ShardConfig,
    all_stats: Arc<[Arc<ShardStats>]>,
) -> glommio::Result<(), ()> {
    let stats = all_stats[index].clone();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    LocalExecutorBuilder::new(Placement::Fixed(index % cpus))
        .name(&format!("dns-{index}"))
        // Shards do no storage I/O: the smallest registered buffer area glommio allows,
        // instead of the 10 MiB per executor it pins by default.
        .io_memory(DNS_SHARD_IO_MEMORY)
        .spawn(move || async move {
            let mut engine = Engine::new(snapshot, config.policy.clone(), config.options.clone());
            engine.interface_addrs = gate.named_addresses();
            engine.tallies = Some(Box::new(move || super::forward::tallies(&all_stats)));
            engine.lease_names.clone_from(&config.lease_names);
            let shard = Rc::new(Shard {
                engine: RefCell::new(engine),
                gated: gate.checks_anything(),
                gate: RefCell::new(gate),
                control,
                links,
                config,
                stats,
                in_flight: Cell::new(0),
                board: RefCell::new(Board::default()),
                query_port: RefCell::new(None),
                tcp_connections: Cell::new(0),
            });
            let tasks = serve(sockets, &shard);
            let ticker = shard.clone();
            glommio::spawn_local(async move {
                loop {
                    glommio::timer::sleep(Duration::from_millis(250)).await;
                    ticker.take_updates();
                    ticker.publish();
                }
            })
            .detach();
            for t in tasks {
                t.await;
            }
        })
        .map(|_| ())
}

/// Start serving tasks for these sockets.
fn serve(sockets: ShardSockets, shard: &Rc<Shard>) -> Vec<glommio::Task<()>> {
    let mut tasks = Vec::new();
    if let Some(q) = sockets.query_port {
        *shard.query_port.borrow_mut() = Some(QueryPort::start(q, shard));
    }
    for std_socket in sockets.udp {
        let wildcard = std_socket
            .local_addr()
            .is_ok_and(|a| a.ip().is_unspecified());
        // SAFETY: the fd comes from a socket we own and hand over entirely.
        let socket = Rc::new(unsafe { UdpSocket::from_raw_fd(std_socket.into_raw_fd()) });
        tasks.push(glommio::spawn_local(serve_udp(
            socket,
            wildcard,
            shard.clone(),
        )));
    }
    for std_listener in sockets.tcp {
        // SAFETY: as above.
        let listener = unsafe { TcpListener::from_raw_fd(std_listener.into_raw_fd()) };
        tasks.push(glommio::spawn_local(serve_tcp(listener, shard.clone())));
    }
    tasks
}

/// Serve one UDP socket. On a wildcard socket each query's destination is read, checked
/// against the listening rules, and the reply leaves from it.
async fn serve_udp(socket: Rc<UdpSocket>, wildcard: bool, shard: Rc<Shard>) {
    let fd = socket.as_raw_fd();
    let mut received = Received::new(MAX_UDP_BYTES, wildcard);
    let mut replies = Replies::default();
    let mut blocked = Vec::new();
    #[cfg(all(feature = "batch-timing", target_arch = "x86_64"))]
    let mut timing = super::batch_timing::BatchTiming::from_env();
    loop {
        #[cfg(all(feature = "batch-timing", target_arch = "x86_64"))]
        let mut marks = super::batch_timing::Marks::start();
        match received.receive(fd) {
            Ok(0) => {
                // Nothing waiting: sleep in the reactor until a datagram arrives.
                let _ = socket.peek_from(&mut [0u8; 1]).await;
                continue;
            }
            Ok(_) => {}
            Err(_) => continue,
        }
        #[cfg(all(feature = "batch-timing", target_arch = "x86_64"))]
        marks.received();
        let now = shard.now_secs();
        shard
            .engine
            .borrow_mut()
            .plan((0..received.len()).map(|i| received.get(i).map_or(&[][..], |(q, _)| q)));
        for i in 0..received.len() {
            let Some((query, from)) = received.get(i) else {
                shard.stats.oversized.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let Some(client) = from.to_socket_addr() else {
                continue;
            };
            let dst = received.destination(i);
            if !shard.admits(client, dst) {
                continue;
            }
            match shard.answer(Some(i), query, client, now, replies.next_buf()) {
                Step::Reply => replies.push(from, dst),
                Step::Drop => {}
                Step::ReplyAndRefresh(servers) => {
                    replies.push(from, dst);
                    spawn_refresh(query.to_vec(), servers, &shard, false);
                }
                Step::Forward(servers) => {
                    let to = Client {
                        addr: client,
                        raw: *from,
                        dst,
                    };
                    spawn_forward(query.to_vec(), servers, to, &socket, &shard)
                }
            }
        }
        #[cfg(all(feature = "batch-timing", target_arch = "x86_64"))]
        marks.answered();
        replies.flush(fd, |reply, to| {
            if let Some(to) = to.to_socket_addr() {
                blocked.push((reply.to_vec(), to));
            }
        });
        // The socket's send buffer was full: wait for room for these.
        for (reply, to) in blocked.drain(..) {
            let _ = socket.send_to(&reply, to).await;
        }
        #[cfg(all(feature = "batch-timing", target_arch = "x86_64"))]
        timing.sent(marks, received.get(0).map(|(q, _)| q), received.len());
        // Let forwards, TCP and the ticker run between batches.
        glommio::yield_if_needed().await;
    }
}

/// Who a forwarded query's answer goes back to, and from which address.
struct Client {
    addr: SocketAddr,
    raw: RawAddr,
    dst: Option<Destination>,
}

/// Fetch a fresh answer (over TCP if the client asked that way) for a query just answered
/// from a stale cache entry; the answer only goes into the cache.
fn spawn_refresh(query: Vec<u8>, servers: Arc<[SocketAddr]>, shard: &Rc<Shard>, tcp: bool) {
    let shard = shard.clone();
    glommio::spawn_local(async move {
        let fresh = match tcp {
            true => forward_tcp(&query, &servers, &shard).await,
            false => forward_udp(&query, &servers, &shard).await,
        };
        if let Some(reply) = fresh {
            let _ = shard.finish_forward(&query, &reply);
        }
        shard.in_flight.set(shard.in_flight.get() - 1);
    })
    .detach();
}

/// Forward one UDP query in its own task and send the answer back from `socket`.
fn spawn_forward(
    query: Vec<u8>,
    servers: Arc<[SocketAddr]>,
    client: Client,
    socket: &Rc<UdpSocket>,
    shard: &Rc<Shard>,
) {
    let socket = socket.clone();
    let shard = shard.clone();
    glommio::spawn_local(async move {
        if let Some(reply) = forward_udp(&query, &servers, &shard).await {
            if let Some(out) = shard.finish_forward(&query, &reply) {
                let sent = udp_batch::send_one(socket.as_raw_fd(), &out, &client.raw, client.dst);
                if sent.is_err() {
                    // Send buffer full: wait for room (from the socket's own address).
                    let _ = socket.send_to(&out, client.addr).await;
                }
            }
        }
        shard.in_flight.set(shard.in_flight.get() - 1);
    })
    .detach();
}

async fn serve_tcp(listener: TcpListener, shard: Rc<Shard>) {
    loop {
        let Ok(stream) = listener.accept().await else {
            continue;
        };
        if shard.tcp_connections.get() >= shard.config.max_tcp_connections {
            drop(stream);
            continue;
        }
        if shard.gated {
            let admitted = match (stream.peer_addr(), stream.local_addr()) {
                (Ok(peer), Ok(local)) => {
                    shard.gate.borrow_mut().admits_stream(peer.ip(), local.ip())
                }
                _ => false,
            };
            if !admitted {
                continue;
            }
        }
        shard.tcp_connections.set(shard.tcp_connections.get() + 1);
        let shard = shard.clone();
        glommio::spawn_local(async move {
            let _ = serve_tcp_client(stream, &shard).await;
            shard.tcp_connections.set(shard.tcp_connections.get() - 1);
        })
        .detach();
    }
}

/// Read one length-prefixed DNS message into `buf`, returning its length.
pub async fn read_framed(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let n = u16::from_be_bytes(len) as usize;
    stream.read_exact(&mut buf[..n]).await?;
    Ok(n)
}

pub async fn write_framed(stream: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    framed.extend_from_slice(msg);
    stream.write_all(&framed).await
}

/// Serve queries on one client connection until it closes or idles out.
async fn serve_tcp_client(mut stream: TcpStream, shard: &Rc<Shard>) -> std::io::Result<()> {
    let client = stream.peer_addr()?;
    stream.set_read_timeout(Some(TCP_IDLE_TIMEOUT))?;
    let mut buf = vec![0u8; MAX_TCP_BYTES];
    let mut reply = Vec::new();
    loop {
        let n = read_framed(&mut stream, &mut buf).await?;
        let servers = match shard.answer(None, &buf[..n], client, shard.now_secs(), &mut reply) {
            Step::Reply => {
                write_framed(&mut stream, &reply).await?;
                continue;
            }
            Step::Drop => return Ok(()),
            Step::ReplyAndRefresh(servers) => {
                write_framed(&mut stream, &reply).await?;
                spawn_refresh(buf[..n].to_vec(), servers, shard, true);
                continue;
            }
            Step::Forward(servers) => servers,
        };
        let query = buf[..n].to_vec();
        let reply = forward_tcp(&query, &servers, shard).await;
        shard.in_flight.set(shard.in_flight.get() - 1);
        let Some(reply) = reply else {
            return Ok(());
        };
        if let Some(out) = shard.finish_forward(&query, &reply) {
            write_framed(&mut stream, &out).await?;
        }
    }
}
