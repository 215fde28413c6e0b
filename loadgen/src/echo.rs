//! The echo reflector: every datagram goes straight back to its sender, batched, on one
//! SO_REUSEPORT socket per thread. Driven by the same load generator, it gives the
//! machine's ceiling for UDP request and response, against which servers are measured.

use crate::net::{self, Batch};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A non-blocking UDP socket on `addr` with SO_REUSEPORT, so several threads can share it.
pub fn reuseport_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket creation; the descriptor is owned below.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket nothing else owns.
    let sock = unsafe { UdpSocket::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SAFETY: a valid int option on an open socket.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (storage, len) = sockaddr(addr);
    // SAFETY: storage holds a valid address of `len` bytes.
    if unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    net::grow_buffers(fd);
    Ok(sock)
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all zeroes is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Reflect datagrams on `sock` until `run_for` has passed or `stop` is set; returns how
/// many were sent back.
pub fn reflect(
    sock: &UdpSocket,
    run_for: Duration,
    stop: &AtomicBool,
    cpu: Option<usize>,
    count: &AtomicU64,
) -> u64 {
    if let Some(cpu) = cpu {
        net::pin_to(cpu);
    }
    let fd = sock.as_raw_fd();
    let mut batch = Batch::default();
    let started = Instant::now();
    let mut total = 0;
    while started.elapsed() < run_for && !stop.load(Ordering::Relaxed) {
        let n = batch.receive(fd, true).unwrap_or(0);
        if n == 0 {
            net::wait_readable(&[fd], 10);
            continue;
        }
        // Whatever does not fit in the send buffer is dropped, as a server would.
        let sent = batch.send(fd, true).unwrap_or(0);
        total += sent as u64;
        count.fetch_add(sent as u64, Ordering::Relaxed);
    }
    total
}
