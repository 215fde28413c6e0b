//! The DHCPv4 server's loop, on its own thread off the DNS shards: one socket on the DHCP
//! server port (67, or `--dhcp-alternate-port`'s), requests taken a batch at a time
//! (recvmmsg), each answered by `dhcp::v4::Server`, the batch's lease changes committed
//! to disk together, and only then the replies sent. Expired leases are removed at every
//! wake-up, at least once a second.
//!
//! Not yet (issue 6): replies to clients without an address go out broadcast rather than
//! unicast to their hardware address, and there is no ping check before an offer.

use super::interfaces;
use super::udp_batch::{self, Destination as Source, Received};
use crate::config::error::{ConfigError, ExitCode};
use crate::config::parse::Value;
use crate::config::{io_reason, Config};
use crate::dhcp::lease_store::LeaseStore;
use crate::dhcp::v4::{self, Destination, Interface, Server, V4Config};
use crate::log;
use socket2::{Domain, SockAddr, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::Path;

/// The lease file when `--dhcp-leasefile` does not name one.
pub const DEFAULT_LEASE_FILE: &str = "/var/lib/misc/dnsmasq.leases";

/// Largest DHCP request read (a DHCP message fits an Ethernet frame; relays add little).
const MAX_REQUEST_BYTES: usize = 1500;

/// The loop wakes at least this often, to end expired leases.
const TICK_MS: i32 = 1000;

/// Most expired leases ended per tick.
const MAX_EXPIRED_PER_TICK: usize = 10_000;

/// What the server needs, made before privileges are dropped (the port is below 1024 and
/// the lease file may be root's).
pub struct Prepared {
    server: Server,
    store: LeaseStore,
    socket: Socket,
    server_port: u16,
    client_port: u16,
}

/// Open the lease store and bind the DHCP socket, if any IPv4 range is configured.
pub fn prepare(config: &Config) -> Result<Option<Prepared>, ConfigError> {
    let v4 = V4Config::from_config(config);
    if !v4.is_enabled() {
        return Ok(None);
    }
    let (server_port, client_port) = match config.last("dhcp-alternate-port") {
        Some(Value::AltPort { server, client }) => (*server, *client),
        _ => (v4::SERVER_PORT, v4::CLIENT_PORT),
    };
    let store = if config.has("leasefile-ro") {
        LeaseStore::in_memory()
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
    let socket = bind(server_port).map_err(|e| {
        ConfigError::bad(format!(
            "failed to bind DHCP server socket: {}",
            io_reason(&e)
        ))
        .with_exit(ExitCode::Network)
    })?;
    Ok(Some(Prepared {
        server: Server::new(v4),
        store,
        socket,
        server_port,
        client_port,
    }))
}

fn bind(port: u16) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    udp_batch::receive_destinations(s.as_raw_fd(), false)?;
    s.bind(&SockAddr::from(SocketAddr::from((
        Ipv4Addr::UNSPECIFIED,
        port,
    ))))?;
    Ok(s)
}

/// Start the server's thread.
pub fn spawn(p: Prepared) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("dhcp4".into())
        .spawn(move || serve(p))?;
    Ok(())
}

/// The interface with this index among `host`'s addresses, as the server core needs it.
fn interface(host: &[interfaces::IfAddr], index: u32) -> Option<Interface> {
    host.iter().find_map(|a| match a.addr {
        IpAddr::V4(addr) if a.index == index => Some(Interface {
            name: a.name.clone(),
            addr,
            netmask: Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(a.prefix)).unwrap_or(0)),
            reached_at: None,
        }),
        _ => None,
    })
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn serve(mut p: Prepared) {
    let fd = p.socket.as_raw_fd();
    let mut received = Received::new(MAX_REQUEST_BYTES, true);
    let mut replies: Vec<(Vec<u8>, SocketAddr, Option<Source>)> = Vec::new();
    loop {
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut poll, 1, TICK_MS) };
        let now = now_secs();
        end_expired(&mut p.store, now);
        let count = match received.receive(fd) {
            Ok(n) => n,
            Err(e) => {
                log::warn(format!("DHCP receive failed: {e}"));
                continue;
            }
        };
        // The interfaces' addresses, read once a batch (not once a request).
        let host = if count > 0 {
            interfaces::host_addresses()
        } else {
            Vec::new()
        };
        for i in 0..count {
            let Some((packet, _)) = received.get(i) else {
                continue;
            };
            let Some(dst) = received.destination(i) else {
                continue;
            };
            let Some(mut iface) = interface(&host, dst.ifindex) else {
                continue;
            };
            // A request sent to one of our addresses (by a relay, or a renewing client)
            // is answered as that address; a broadcast one as the interface's.
            if let IpAddr::V4(to) = dst.addr {
                iface.reached_at = Some(to).filter(|a| !a.is_broadcast() && !a.is_unspecified());
            }
            let outcome = p.server.handle(packet, &iface, now, &mut p.store);
            for line in outcome.log {
                log::info(line);
            }
            if let Some((bytes, to)) = outcome.reply {
                let from = Source {
                    addr: IpAddr::V4(iface.reached_at.unwrap_or(iface.addr)),
                    ifindex: dst.ifindex,
                };
                let to = match to {
                    Destination::Relay(a) => SocketAddr::from((a, p.server_port)),
                    Destination::Client(a) => SocketAddr::from((a, p.client_port)),
                    // Unicast to a hardware address needs an ARP entry first: broadcast,
                    // which every client takes, until that is built.
                    Destination::Broadcast | Destination::Hardware { .. } => {
                        SocketAddr::from((Ipv4Addr::BROADCAST, p.client_port))
                    }
                };
                replies.push((bytes, to, Some(from)));
            }
        }
        // Every lease change of the batch on disk before any of its replies goes out.
        if let Err(e) = p.store.commit() {
            log::error(format!("failed to write lease file: {e}"));
            replies.clear();
            continue;
        }
        for (bytes, to, from) in replies.drain(..) {
            let raw = udp_batch::RawAddr::from(to);
            if let Err(e) = udp_batch::send_one(fd, &bytes, &raw, from) {
                log::warn(format!("DHCP reply to {to} failed: {e}"));
            }
        }
    }
}

/// End the leases that have run out.
fn end_expired(store: &mut LeaseStore, now: u64) {
    let expired = store.table().expired(now, MAX_EXPIRED_PER_TICK);
    if expired.is_empty() {
        return;
    }
    for addr in expired {
        store.remove(addr);
    }
    if let Err(e) = store.commit() {
        log::error(format!("failed to write lease file: {e}"));
    }
}
