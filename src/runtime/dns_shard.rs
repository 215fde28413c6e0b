//! One DNS shard: a pinned glommio executor owning its own SO_REUSEPORT sockets and its
//! copy of the local snapshot. Queries are answered from the snapshot or forwarded from a
//! fresh socket (random source port) with a random ID; only the queried server's reply with
//! that ID is accepted.

use crate::dns::answer::{self, Decision};
use crate::dns::local::LocalData;
use crossbeam::channel::Receiver;
use glommio::net::UdpSocket;
use glommio::{LocalExecutorBuilder, Placement};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Largest UDP DNS message handled.
pub const MAX_UDP_BYTES: usize = 4096;
/// How long one upstream gets to answer before the next is tried.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
/// Most forwarded queries in flight per shard (`--dns-forward-max` arrives with the engine).
const MAX_IN_FLIGHT: usize = 150;

/// A non-blocking UDP socket bound with SO_REUSEPORT, so every shard can bind the address.
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// Start shard `index` on its own pinned executor thread.
pub fn spawn(
    index: usize,
    sockets: Vec<std::net::UdpSocket>,
    snapshot: Arc<LocalData>,
    updates: Receiver<Arc<LocalData>>,
) -> glommio::Result<(), ()> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    LocalExecutorBuilder::new(Placement::Fixed(index % cpus))
        .name(&format!("dns-{index}"))
        .spawn(move || async move {
            let current = Rc::new(std::cell::RefCell::new(snapshot));
            let in_flight = Rc::new(std::cell::Cell::new(0usize));
            let mut tasks = Vec::new();
            for std_socket in sockets {
                // SAFETY: the fd comes from a socket we own and hand over entirely.
                let socket = Rc::new(unsafe { UdpSocket::from_raw_fd(std_socket.into_raw_fd()) });
                let current = current.clone();
                let updates = updates.clone();
                let in_flight = in_flight.clone();
                tasks.push(glommio::spawn_local(serve(
                    socket, current, updates, in_flight,
                )));
            }
            for t in tasks {
                t.await;
            }
        })
        .map(|_| ())
}

async fn serve(
    socket: Rc<UdpSocket>,
    current: Rc<std::cell::RefCell<Arc<LocalData>>>,
    updates: Receiver<Arc<LocalData>>,
    in_flight: Rc<std::cell::Cell<usize>>,
) {
    let mut buf = vec![0u8; MAX_UDP_BYTES];
    let dropped_forwards = std::cell::Cell::new(0u64);
    loop {
        let Ok((n, client)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        while let Ok(newer) = updates.try_recv() {
            *current.borrow_mut() = newer;
        }
        let decision = answer::decide(&buf[..n], &current.borrow());
        match decision {
            Decision::Reply(bytes) => {
                let _ = socket.send_to(&bytes, client).await;
            }
            Decision::Drop => {}
            Decision::Forward(servers) => {
                if in_flight.get() >= MAX_IN_FLIGHT {
                    // Counted, and logged at powers of two so a flood cannot flood the log.
                    dropped_forwards.set(dropped_forwards.get() + 1);
                    if dropped_forwards.get().is_power_of_two() {
                        crate::log::warn(format!(
                            "forward limit of {MAX_IN_FLIGHT} in flight reached: {} queries dropped",
                            dropped_forwards.get()
                        ));
                    }
                    continue;
                }
                in_flight.set(in_flight.get() + 1);
                let query = buf[..n].to_vec();
                let socket = socket.clone();
                let in_flight = in_flight.clone();
                glommio::spawn_local(async move {
                    if let Some(reply) = forward(&query, &servers).await {
                        let _ = socket.send_to(&reply, client).await;
                    }
                    in_flight.set(in_flight.get() - 1);
                })
                .detach();
            }
        }
    }
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    // SAFETY: b is a valid 2-byte buffer.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), 2, 0) };
    u16::from_ne_bytes(b)
}

/// Send `query` to each server in turn until one answers; returns the reply with the
/// client's ID restored.
async fn forward(query: &[u8], servers: &[SocketAddr]) -> Option<Vec<u8>> {
    let client_id = [query[0], query[1]];
    for server in servers {
        let local: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(sock) = UdpSocket::bind(local) else {
            continue;
        };
        let id = random_id().to_be_bytes();
        let mut q = query.to_vec();
        q[..2].copy_from_slice(&id);
        if sock.send_to(&q, server).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; MAX_UDP_BYTES];
        let got = glommio::timer::timeout(UPSTREAM_TIMEOUT, async {
            loop {
                let (n, from) = sock.recv_from(&mut buf).await?;
                // Only the queried server, with our ID and the same question, is believed.
                if from == *server && answer::reply_matches(&q, &buf[..n]) {
                    return Ok(n);
                }
            }
        })
        .await;
        if let Ok(n) = got {
            let mut reply = buf[..n].to_vec();
            reply[..2].copy_from_slice(&client_id);
            return Some(reply);
        }
    }
    None
}
