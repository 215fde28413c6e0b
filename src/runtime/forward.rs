//! Forwarding a query upstream, the I/O half of `dns::upstream`. Over UDP every server
//! asked gets the query from a fresh socket (a random source port in the configured range,
//! or the server's `@source`/`@interface`) with the query's random ID, read by a task of
//! its own that believes only that server, that ID and that question; the plan decides
//! when to ask the next server. Over TCP the servers are tried one after another.

use super::dns_shard::{read_framed, write_framed, Shard, MAX_TCP_BYTES, MAX_UDP_BYTES};
use crate::dns::answer;
use crate::dns::local::SendFrom;
use crate::dns::upstream::{Next, Plan, Tally};
use crate::dns::wire::{self, rcode};
use glommio::channels::local_channel::{self, LocalSender};
use glommio::net::{TcpStream, UdpSocket};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd};
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
    let order = shard.board.borrow().order(servers, policy.strict_order);
    let mut plan = Plan::new(order, policy);
    let mut q = query.to_vec();
    q[..2].copy_from_slice(&random_id());
    let q: Rc<[u8]> = q.into();
    // Each reader gives up once the whole plan could have run its course.
    let reader_life = match policy.fast_retry {
        Some(r) => r.total,
        None => policy.timeout,
    };
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
                    let from = shard.send_from(&server);
                    glommio::spawn_local(ask_udp(
                        server,
                        q.clone(),
                        from,
                        reader_life,
                        tx.clone(),
                        shard.clone(),
                    ))
                    .detach();
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

/// Ask one server and pass its believable reply on; gives up after `life`.
async fn ask_udp(
    server: SocketAddr,
    query: Rc<[u8]>,
    from: Option<SendFrom>,
    life: Duration,
    tx: Rc<LocalSender<Heard>>,
    shard: Rc<Shard>,
) {
    let ports = shard.config.forward.ports;
    let Some(sock) = upstream_socket(server, from.as_ref(), ports) else {
        shard
            .stats
            .upstream_timeouts
            .fetch_add(1, Ordering::Relaxed);
        return;
    };
    let sent_at = Instant::now();
    if sock.send_to(&query, server).await.is_err() {
        return;
    }
    let ignore = &shard.config.options.ignore_addresses;
    let mut buf = vec![0u8; MAX_UDP_BYTES];
    let got = glommio::timer::timeout(life, async {
        loop {
            let (n, src) = sock.recv_from(&mut buf).await?;
            // Only the queried server, with our ID and the same question, is believed;
            // and not even it when the answer holds an --ignore-address.
            if src == server && answer::believable(&query, &buf[..n], ignore) {
                return Ok(n);
            }
            shard.stats.replies_rejected.fetch_add(1, Ordering::Relaxed);
        }
    })
    .await;
    if let Ok(n) = got {
        let heard = Heard {
            server,
            reply: buf[..n].to_vec(),
            rtt: sent_at.elapsed(),
        };
        let _ = tx.try_send(heard);
    }
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
            let port = lo + (random_u32() % span) as u16;
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
        q[..2].copy_from_slice(&random_id());
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

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    // SAFETY: b is a valid 4-byte buffer.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), 4, 0) };
    u32::from_ne_bytes(b)
}

fn random_id() -> [u8; 2] {
    let [a, b, _, _] = random_u32().to_ne_bytes();
    [a, b]
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
