//! Forwarding a query upstream, the I/O half of `dns::upstream`. Over UDP a query gets
//! sockets of its own (one random source port in the configured range per address family,
//! up to `--port-limit`; a server with `@source`/`@interface` gets its own socket, and
//! `--query-port` replaces them all), each read by a task that believes only replies from
//! a server asked through it, with the query's random ID and question; the plan decides
//! when to ask the next server. Over TCP the servers are tried one after another.

use super::dns_shard::{read_framed, write_framed, Shard, MAX_TCP_BYTES, MAX_UDP_BYTES};
use crate::dns::answer;
use crate::dns::local::SendFrom;
use crate::dns::upstream::{Next, Plan, Tally};
use crate::dns::wire::{self, rcode};
use glommio::channels::local_channel::{self, LocalSender};
use glommio::net::{TcpStream, UdpSocket};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Replies one forwarded query can have waiting for its coordinator.
const MAX_PENDING_REPLIES: usize = 64;
/// Tries at a random port in the range before the kernel is left to choose.
const PORT_TRIES: usize = 8;

/// A believable reply from `server`, `rtt` after it was asked.
struct Heard {
    server: SocketAddr,
    reply: Vec<u8>,
    rtt: Duration,
}

/// Forward `query` over UDP to `servers` as the shard's policy says; returns the reply
/// with our random ID still in it (the engine restores the client's), or None when no
/// server answered.
pub async fn forward_udp(
    query: &[u8],
    servers: &[SocketAddr],
    shard: &Rc<Shard>,
) -> Option<Vec<u8>> {
    let policy = &shard.config.forward;
    let (order, probe) = {
        let mut board = shard.board.borrow_mut();
        let probe = board.probe_due(policy.strict_order, Instant::now());
        (board.order(servers, policy.strict_order), probe)
    };
    let mut plan = Plan::new(order, policy, probe);
    let mut q = query.to_vec();
    let id = match shard.query_port() {
        Some(qp) => qp.id(),
        None => crate::random::bytes(),
    };
    q[..2].copy_from_slice(&id);
    let q: Rc<[u8]> = q.into();
    // Each reader gives up once the whole plan could have run its course (or the plan is
    // over).
    let reader_life = match policy.fast_retry {
        Some(r) => r.total,
        None => policy.timeout * servers.len().max(1) as u32,
    };
    // The query's own sockets by address family, at most --port-limit each, shared by the
    // servers without a source binding.
    let mut pools: [Vec<Rc<Asking>>; 2] = [Vec::new(), Vec::new()];
    let mut shared_asks = 0usize;
    let (tx, rx) = local_channel::new_bounded(MAX_PENDING_REPLIES);
    // Shared by the readers: when the last is done, `recv` says so.
    let tx = Rc::new(tx);
    let mut answered: Vec<SocketAddr> = Vec::new();
    let mut written_off: Vec<SocketAddr> = Vec::new();
    let mut asked: Vec<SocketAddr> = Vec::new();
    let mut next = plan.start();
    loop {
        match next {
            Next::Done(reply) => return reply,
            Next::Wait => {}
            Next::Send(batch) => {
                for server in batch {
                    let again = asked.contains(&server);
                    if !again {
                        asked.push(server);
                    }
                    shard.tally(server, |t| {
                        t.queries += 1;
                        t.retried += u64::from(again);
                    });
                    if let Some(qp) = shard.query_port() {
                        let (q, tx, shard) = (q.clone(), tx.clone(), shard.clone());
                        glommio::spawn_local(async move {
                            let sent_at = Instant::now();
                            let got = ask_via_query_port(&qp, server, &q, reader_life, &shard);
                            if let Some(reply) = got.await {
                                let rtt = sent_at.elapsed();
                                let _ = tx.try_send(Heard { server, reply, rtt });
                            }
                        })
                        .detach();
                        continue;
                    }
                    let from = shard.send_from(&server);
                    let socket = if from.is_some() {
                        // A bound server gets a socket of its own.
                        Asking::open(server, from.as_ref(), &q, reader_life, &tx, shard)
                    } else {
                        let pool = &mut pools[usize::from(server.is_ipv6())];
                        let slot = shared_asks % policy.port_limit.max(1);
                        shared_asks += 1;
                        match pool.get(slot) {
                            Some(s) => Some(s.clone()),
                            None => {
                                let s = Asking::open(server, None, &q, reader_life, &tx, shard);
                                pool.extend(s.clone());
                                s
                            }
                        }
                    };
                    match socket {
                        Some(s) => s.ask(server).await,
                        None => {
                            shard
                                .stats
                                .upstream_timeouts
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        let heard = glommio::timer::timeout(plan.wait(), async { Ok(rx.recv().await) }).await;
        next = match heard {
            Ok(Some(h)) => {
                answered.push(h.server);
                record_answer(shard, h.server, h.rtt, &h.reply);
                plan.reply(h.reply)
            }
            // Every reader is done and nothing more will come.
            Ok(None) => Next::Done(None),
            Err(_) => {
                let (silent, next) = plan.silence();
                for s in silent {
                    if !answered.contains(&s) && !written_off.contains(&s) {
                        written_off.push(s);
                        record_silence(shard, s);
                    }
                }
                next
            }
        };
    }
}

/// How long a socket's reader waits at a time before looking whether its query is over.
const READ_SLICE: Duration = Duration::from_millis(250);

/// One upstream socket of a query: the servers asked through it and when, and what its
/// reader needs. The reader runs while some server asked through it has not answered.
struct Asking {
    sock: UdpSocket,
    asked: std::cell::RefCell<Vec<(SocketAddr, Instant)>>,
    answered: std::cell::Cell<usize>,
    reading: std::cell::Cell<bool>,
    query: Rc<[u8]>,
    deadline: Instant,
    tx: Rc<LocalSender<Heard>>,
    shard: Rc<Shard>,
}

impl Asking {
    /// A socket for `server` (bound as `from` says) whose reader passes on believable
    /// replies until `life` is over.
    fn open(
        server: SocketAddr,
        from: Option<&SendFrom>,
        query: &Rc<[u8]>,
        life: Duration,
        tx: &Rc<LocalSender<Heard>>,
        shard: &Rc<Shard>,
    ) -> Option<Rc<Asking>> {
        Some(Rc::new(Asking {
            sock: upstream_socket(server, from, shard.config.forward.ports)?,
            asked: Default::default(),
            answered: Default::default(),
            reading: Default::default(),
            query: query.clone(),
            deadline: Instant::now() + life,
            tx: tx.clone(),
            shard: shard.clone(),
        }))
    }

    /// Send the query to `server` (a failed send is a server that stays silent), making
    /// sure a reader is waiting for the answer.
    async fn ask(self: &Rc<Self>, server: SocketAddr) {
        self.asked.borrow_mut().push((server, Instant::now()));
        if !self.reading.replace(true) {
            glommio::spawn_local(read_replies(self.clone())).detach();
        }
        let _ = self.sock.send_to(&self.query, server).await;
    }
}

/// Read `asking`'s socket: a reply from a server asked through it, with our ID and
/// question (and no --ignore-address), is passed on; anything else is counted and dropped.
/// Ends when every server asked has answered, the time is up, or the query is over.
async fn read_replies(asking: Rc<Asking>) {
    let shard = &asking.shard;
    let ignore = &shard.config.options.ignore_addresses;
    let mut buf = vec![0u8; MAX_UDP_BYTES];
    while Rc::strong_count(&asking) > 1 && asking.answered.get() < asking.asked.borrow().len() {
        let left = asking.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let got = glommio::timer::timeout(left.min(READ_SLICE), async {
            asking.sock.recv_from(&mut buf).await
        })
        .await;
        let Ok((n, src)) = got else {
            continue;
        };
        let sent_at = asking
            .asked
            .borrow()
            .iter()
            .find(|(s, _)| *s == src)
            .map(|(_, t)| *t);
        match sent_at {
            Some(t) if answer::believable(&asking.query, &buf[..n], ignore) => {
                asking.answered.set(asking.answered.get() + 1);
                let heard = Heard {
                    server: src,
                    reply: buf[..n].to_vec(),
                    rtt: t.elapsed(),
                };
                let _ = asking.tx.try_send(heard);
            }
            _ => {
                shard.stats.replies_rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    asking.reading.set(false);
}

/// A UDP socket to ask `server` from: bound to its `@source` or `@interface` if it has
/// one, on a random port in `ports` (the kernel's choice if none is free).
fn upstream_socket(
    server: SocketAddr,
    from: Option<&SendFrom>,
    ports: (u16, u16),
) -> Option<UdpSocket> {
    let s = Socket::new(
        Domain::for_address(server),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .ok()?;
    s.set_nonblocking(true).ok()?;
    if let Some(dev) = from.and_then(|f| f.interface.as_deref()) {
        s.bind_device(Some(dev.as_bytes())).ok()?;
    }
    let ip = match from.and_then(|f| f.source) {
        Some(src) => src.ip(),
        None if server.is_ipv4() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let fixed_port = from.and_then(|f| f.source).map_or(0, |s| s.port());
    let bound = if fixed_port != 0 {
        s.set_reuse_address(true).ok()?;
        s.bind(&SocketAddr::new(ip, fixed_port).into()).is_ok()
    } else {
        let (lo, hi) = (ports.0.min(ports.1), ports.0.max(ports.1));
        (0..PORT_TRIES).any(|_| {
            let span = u32::from(hi - lo) + 1;
            let port = lo + (crate::random::u32() % span) as u16;
            s.bind(&SocketAddr::new(ip, port).into()).is_ok()
        }) || s.bind(&SocketAddr::new(ip, 0).into()).is_ok()
    };
    if !bound {
        return None;
    }
    // SAFETY: the descriptor is an open UDP socket whose ownership moves here.
    Some(unsafe { UdpSocket::from_raw_fd(s.into_raw_fd()) })
}

/// As `forward_udp`, over TCP (for clients that asked over TCP): the servers one after
/// another in the shard's order, a SERVFAIL or REFUSED kept only if no other answers.
pub async fn forward_tcp(query: &[u8], servers: &[SocketAddr], shard: &Shard) -> Option<Vec<u8>> {
    let policy = &shard.config.forward;
    let order = shard.board.borrow().order(servers, policy.strict_order);
    let ignore = &shard.config.options.ignore_addresses;
    let mut q = query.to_vec();
    let mut fallback = None;
    for server in order {
        q[..2].copy_from_slice(&crate::random::bytes::<2>());
        shard.tally(server, |t| t.queries += 1);
        let sent_at = Instant::now();
        let attempt = glommio::timer::timeout(policy.timeout, async {
            let mut s = TcpStream::connect(server)
                .await
                .map_err(std::io::Error::from)?;
            write_framed(&mut s, &q).await?;
            let mut buf = vec![0u8; MAX_TCP_BYTES];
            let n = read_framed(&mut s, &mut buf).await?;
            buf.truncate(n);
            Ok(buf)
        })
        .await;
        match attempt {
            Ok(reply) if answer::believable(&q, &reply, ignore) => {
                record_answer(shard, server, sent_at.elapsed(), &reply);
                if !matches!(wire::header_rcode(&reply), rcode::SERVFAIL | rcode::REFUSED) {
                    return Some(reply);
                }
                fallback = Some(reply);
            }
            Ok(_) => {
                shard.stats.replies_rejected.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => record_silence(shard, server),
        }
    }
    fallback
}

/// `server` answered `reply` after `rtt`: it is up, and counted for SIGUSR1 (a SERVFAIL
/// or REFUSED as a failure).
fn record_answer(shard: &Shard, server: SocketAddr, rtt: Duration, reply: &[u8]) {
    shard.board.borrow_mut().answered(server, rtt);
    let code = wire::header_rcode(reply);
    shard.tally(server, |t| {
        t.answered += 1;
        t.latency_ms_total += rtt.as_millis() as u64;
        match code {
            rcode::NXDOMAIN => t.nxdomain += 1,
            rcode::SERVFAIL | rcode::REFUSED => t.failed += 1,
            _ => {}
        }
    });
}

/// `server` did not answer in time: asked after the others for a while.
fn record_silence(shard: &Shard, server: SocketAddr) {
    shard.board.borrow_mut().failed(server);
    shard.tally(server, |t| t.failed += 1);
    shard
        .stats
        .upstream_timeouts
        .fetch_add(1, Ordering::Relaxed);
}

/// The summed record of every server over `shards`, in address order.
pub fn tallies(
    shards: &[std::sync::Arc<super::dns_shard::ShardStats>],
) -> Vec<(SocketAddr, Tally)> {
    let mut all: std::collections::BTreeMap<SocketAddr, Tally> = Default::default();
    for s in shards {
        let Ok(servers) = s.servers.lock() else {
            continue;
        };
        for (addr, t) in servers.iter() {
            all.entry(*addr).or_default().add(t);
        }
    }
    all.into_iter().collect()
}

/// The `--query-port` sockets of one shard (IPv4, and IPv6 where the host has it), all
/// shards' bound to the same port; `index` of `count` shards.
pub struct QueryPortSockets {
    pub sockets: Vec<std::net::UdpSocket>,
    pub index: u16,
    pub count: u16,
}

/// A classic BPF program for SO_ATTACH_REUSEPORT_CBPF: the socket of shard
/// (DNS ID mod `count`), the ID being the first two bytes after the UDP header.
fn steer_by_id(count: u16) -> [libc::sock_filter; 3] {
    const LD_H_ABS: u16 = 0x28;
    const ALU_MOD_K: u16 = 0x94;
    const RET_A: u16 = 0x16;
    let op = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    [
        op(LD_H_ABS, 0),
        op(ALU_MOD_K, u32::from(count)),
        op(RET_A, 0),
    ]
}

/// One `--query-port` socket per shard and address family, bound in shard order so the
/// reuseport group's socket `i` is shard `i`'s, with replies steered to the shard whose
/// ID they carry (each shard picks IDs that are its index modulo the shard count). Port 0
/// means one port the kernel picks, as dnsmasq's `--query-port=0`.
pub fn query_port_sockets(mut port: u16, shards: usize) -> std::io::Result<Vec<QueryPortSockets>> {
    let count = shards as u16;
    let mut out: Vec<QueryPortSockets> = (0..count)
        .map(|index| QueryPortSockets {
            sockets: Vec::new(),
            index,
            count,
        })
        .collect();
    let families = [
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    ];
    for (f, ip) in families.into_iter().enumerate() {
        let mut group: Vec<Socket> = Vec::new();
        for _ in 0..shards {
            let addr = SocketAddr::new(ip, port);
            let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
            s.set_nonblocking(true)?;
            s.set_reuse_port(true)?;
            if addr.is_ipv6() {
                s.set_only_v6(true)?;
            }
            match s.bind(&addr.into()) {
                Ok(()) => {
                    if port == 0 {
                        port = s.local_addr()?.as_socket().map_or(0, |a| a.port());
                    }
                    group.push(s)
                }
                // IPv6 is optional on hosts without it.
                Err(_) if f == 1 => break,
                Err(e) => return Err(e),
            }
        }
        if group.len() != shards {
            continue;
        }
        let program = steer_by_id(count);
        let fprog = libc::sock_fprog {
            len: program.len() as u16,
            filter: program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: fprog points at a valid program that outlives the call.
        let rc = unsafe {
            libc::setsockopt(
                group[0].as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_REUSEPORT_CBPF,
                (&fprog as *const libc::sock_fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        for (i, s) in group.into_iter().enumerate() {
            out[i].sockets.push(s.into());
        }
    }
    Ok(out)
}

/// Where the reply to one ask goes.
type Waiter = LocalSender<Vec<u8>>;

/// A shard's `--query-port` sockets in use: replies are read by one task per socket and
/// handed to the ask waiting for that server and ID.
pub struct QueryPort {
    v4: Option<Rc<UdpSocket>>,
    v6: Option<Rc<UdpSocket>>,
    pending: std::cell::RefCell<HashMap<(SocketAddr, u16), Waiter>>,
    index: u16,
    count: u16,
}

impl QueryPort {
    /// Take this shard's sockets and start reading them.
    pub fn start(sockets: QueryPortSockets, shard: &Rc<Shard>) -> Rc<QueryPort> {
        let mut qp = QueryPort {
            v4: None,
            v6: None,
            pending: Default::default(),
            index: sockets.index,
            count: sockets.count.max(1),
        };
        for s in sockets.sockets {
            let v6 = s.local_addr().is_ok_and(|a| a.is_ipv6());
            // SAFETY: the descriptor is an open UDP socket whose ownership moves here.
            let s = Rc::new(unsafe { UdpSocket::from_raw_fd(s.into_raw_fd()) });
            if v6 {
                qp.v6 = Some(s);
            } else {
                qp.v4 = Some(s);
            }
        }
        let qp = Rc::new(qp);
        for s in qp.v4.iter().chain(qp.v6.iter()) {
            glommio::spawn_local(dispatch(s.clone(), qp.clone(), shard.clone())).detach();
        }
        qp
    }

    /// A random ID that steers replies to this shard.
    fn id(&self) -> [u8; 2] {
        let (n, i) = (u32::from(self.count), u32::from(self.index));
        let r = u32::from(u16::from_ne_bytes(crate::random::bytes()));
        let mut id = r / n * n + i;
        if id > 0xffff {
            id -= n;
        }
        (id as u16).to_be_bytes()
    }
}

/// Read replies arriving at the query port and pass each to its ask.
async fn dispatch(sock: Rc<UdpSocket>, qp: Rc<QueryPort>, shard: Rc<Shard>) {
    let mut buf = vec![0u8; MAX_UDP_BYTES];
    loop {
        let Ok((n, src)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let id = if n >= 2 {
            u16::from_be_bytes([buf[0], buf[1]])
        } else {
            0
        };
        match qp.pending.borrow().get(&(src, id)) {
            Some(tx) => {
                let _ = tx.try_send(buf[..n].to_vec());
            }
            None => {
                shard.stats.replies_rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Ask `server` from the query port; the believable reply, if one comes within `life`.
async fn ask_via_query_port(
    qp: &QueryPort,
    server: SocketAddr,
    query: &[u8],
    life: Duration,
    shard: &Shard,
) -> Option<Vec<u8>> {
    let sock = if server.is_ipv4() {
        qp.v4.as_ref()
    } else {
        qp.v6.as_ref()
    }?;
    let key = (server, u16::from_be_bytes([query[0], query[1]]));
    if qp.pending.borrow().contains_key(&key) {
        // The same server is already asked with this ID: leave it to that ask.
        return None;
    }
    let (tx, rx) = local_channel::new_bounded(4);
    qp.pending.borrow_mut().insert(key, tx);
    let ignore = &shard.config.options.ignore_addresses;
    let got = async {
        sock.send_to(query, server).await.ok()?;
        glommio::timer::timeout(life, async {
            while let Some(reply) = rx.recv().await {
                if answer::believable(query, &reply, ignore) {
                    return Ok(Some(reply));
                }
                shard.stats.replies_rejected.fetch_add(1, Ordering::Relaxed);
            }
            Ok(None)
        })
        .await
        .ok()
        .flatten()
    }
    .await;
    qp.pending.borrow_mut().remove(&key);
    got
}
