//! The echo reflector: every datagram goes straight back to its sender, batched, on one
//! SO_REUSEPORT socket per thread, marked as a response (the QR bit) and otherwise
//! unchanged. Replies of equal size to one sender go packed with UDP_SEGMENT, as ringmasq
//! sends them. Driven by the same load generator, it gives the machine's ceiling for UDP
//! request and response, against which servers are measured. TCP connections to the same
//! port get each framed message back the same way.

use crate::net::{self, Batch};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
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
        for i in 0..n {
            as_response(batch.get_mut(i));
        }
        // Whatever does not fit in the send buffer is dropped, as a server would.
        let sent = match batch.send_packed(fd, true) {
            Ok(sent) => sent,
            Err(_) => batch.send(fd, true).unwrap_or(0),
        };
        total += sent as u64;
        count.fetch_add(sent as u64, Ordering::Relaxed);
    }
    total
}

/// Mark a DNS message as a response.
fn as_response(message: &mut [u8]) {
    if let Some(flags) = message.get_mut(2) {
        *flags |= 0x80;
    }
}

/// Answer TCP connections on `listener` until `run_for` has passed or `stop` is set: each
/// length-framed message comes back marked as a response. A thread per connection.
pub fn reflect_tcp(listener: TcpListener, run_for: Duration, stop: &AtomicBool) {
    let started = Instant::now();
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    std::thread::scope(|s| {
        while started.elapsed() < run_for && !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((conn, _)) => {
                    let left = run_for.saturating_sub(started.elapsed());
                    s.spawn(move || echo_framed(conn, left));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
}

fn echo_framed(mut conn: TcpStream, run_for: Duration) {
    let started = Instant::now();
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_nodelay(true);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
    let mut input = Vec::new();
    let mut buf = [0u8; 65536];
    while started.elapsed() < run_for {
        let n = match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        };
        input.extend_from_slice(&buf[..n]);
        let at = net::each_frame(&mut input, as_response);
        if at > 0 {
            if conn.write_all(&input[..at]).is_err() {
                return;
            }
            input.drain(..at);
        }
    }
}
