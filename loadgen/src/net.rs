//! Batched UDP: one sendmmsg or recvmmsg moves up to `BATCH` datagrams. Sockets are
//! non-blocking; an empty receive queue reads as zero datagrams.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::RawFd;

/// Datagrams per system call.
pub const BATCH: usize = 64;
/// Largest datagram handled.
pub const MAX_DATAGRAM: usize = 4096;
/// Socket buffer size asked for (the kernel caps it at net.core.[rw]mem_max).
const SOCKET_BUFFER: libc::c_int = 4 << 20;

/// A non-blocking UDP socket connected to `server`, with large buffers.
pub fn connected(server: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let s = UdpSocket::bind(local)?;
    s.connect(server)?;
    s.set_nonblocking(true)?;
    grow_buffers(std::os::fd::AsRawFd::as_raw_fd(&s));
    Ok(s)
}

/// A non-blocking TCP connection to `server`, without Nagle's delay.
pub fn tcp_connect(server: SocketAddr) -> io::Result<std::net::TcpStream> {
    let s = std::net::TcpStream::connect_timeout(&server, std::time::Duration::from_secs(2))?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Hand each whole length-prefixed DNS message at the front of `buf` (TCP framing) to
/// `f`; returns the bytes they took, so the caller keeps the rest for the next read.
pub fn each_frame(buf: &mut [u8], mut f: impl FnMut(&mut [u8])) -> usize {
    let mut at = 0;
    while buf.len() >= at + 2 {
        let len = u16::from_be_bytes([buf[at], buf[at + 1]]) as usize;
        if buf.len() < at + 2 + len {
            break;
        }
        f(&mut buf[at + 2..at + 2 + len]);
        at += 2 + len;
    }
    at
}

/// Ask for large send and receive buffers (best effort).
pub fn grow_buffers(fd: RawFd) {
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: a valid int option on an open socket.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&SOCKET_BUFFER as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// Buffers and headers for one batch of datagrams, allocated once.
pub struct Batch {
    data: Vec<u8>,
    lens: [usize; BATCH],
    names: Vec<libc::sockaddr_storage>,
    name_lens: [libc::socklen_t; BATCH],
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    /// Per message: a UDP_SEGMENT control message, for sends that pack several datagrams
    /// into one (generic segmentation offload).
    controls: Vec<[u64; 4]>,
    /// Per message of a packed send: how many datagrams it carries.
    segments: [usize; BATCH],
    count: usize,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            data: vec![0; BATCH * MAX_DATAGRAM],
            lens: [0; BATCH],
            // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
            names: vec![unsafe { std::mem::zeroed() }; BATCH],
            name_lens: [0; BATCH],
            // SAFETY: as above, for iovec and mmsghdr.
            iovecs: vec![unsafe { std::mem::zeroed() }; BATCH],
            headers: vec![unsafe { std::mem::zeroed() }; BATCH],
            controls: vec![[0; 4]; BATCH],
            segments: [0; BATCH],
            count: 0,
        }
    }
}

impl Batch {
    /// Datagram `i` of the batch.
    pub fn get(&self, i: usize) -> &[u8] {
        &self.data[i * MAX_DATAGRAM..i * MAX_DATAGRAM + self.lens[i]]
    }

    /// Datagram `i` of the batch, to change before it is sent back.
    pub fn get_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.data[i * MAX_DATAGRAM..i * MAX_DATAGRAM + self.lens[i]]
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Room for the next datagram to send; `push` it when written.
    pub fn slot(&mut self) -> &mut [u8] {
        let i = self.count;
        &mut self.data[i * MAX_DATAGRAM..(i + 1) * MAX_DATAGRAM]
    }

    pub fn push(&mut self, len: usize) {
        self.lens[self.count] = len;
        self.count += 1;
    }

    pub fn is_full(&self) -> bool {
        self.count == BATCH
    }

    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// Point the headers at the first `n` buffers (with names if `named`).
    fn prepare(&mut self, n: usize, named: bool, receiving: bool) {
        for i in 0..n {
            let len = if receiving {
                MAX_DATAGRAM
            } else {
                self.lens[i]
            };
            self.iovecs[i] = libc::iovec {
                iov_base: self.data[i * MAX_DATAGRAM..].as_mut_ptr().cast(),
                iov_len: len,
            };
            let h = &mut self.headers[i].msg_hdr;
            h.msg_iov = &mut self.iovecs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            if named {
                h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
                h.msg_namelen = if receiving {
                    std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t
                } else {
                    self.name_lens[i]
                };
            } else {
                h.msg_name = std::ptr::null_mut();
                h.msg_namelen = 0;
            }
            self.headers[i].msg_len = 0;
        }
    }

    /// Receive up to a batch (with the senders' addresses if `named`); the batch then
    /// holds what came. Zero when nothing is waiting.
    pub fn receive(&mut self, fd: RawFd, named: bool) -> io::Result<usize> {
        self.prepare(BATCH, named, true);
        // SAFETY: every header points at live buffers owned by self.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            self.count = 0;
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(e),
            };
        }
        let n = n as usize;
        for i in 0..n {
            self.lens[i] = self.headers[i].msg_len as usize;
            self.name_lens[i] = self.headers[i].msg_hdr.msg_namelen;
        }
        self.count = n;
        Ok(n)
    }

    /// Send the batch (back to the addresses it was received from if `named`); returns how
    /// many went (the rest did not fit in the socket's buffer).
    pub fn send(&mut self, fd: RawFd, named: bool) -> io::Result<usize> {
        let n = self.count;
        if n == 0 {
            return Ok(0);
        }
        self.prepare(n, named, false);
        self.send_messages(fd, n)
    }

    /// `sendmmsg` of the first `n` prepared headers: how many messages went (none when the
    /// socket's buffer is full).
    fn send_messages(&mut self, fd: RawFd, n: usize) -> io::Result<usize> {
        // SAFETY: every header points at live buffers owned by self.
        let sent = unsafe {
            libc::sendmmsg(
                fd,
                self.headers.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(e),
            };
        }
        Ok(sent as usize)
    }
}

impl Batch {
    /// Whether datagrams `a` and `b` came from (go to) the same address.
    fn same_name(&self, a: usize, b: usize) -> bool {
        let len = (self.name_lens[a] as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: sockaddr_storage is plain bytes; `len` is at most its size.
        let bytes = |i: usize| unsafe {
            std::slice::from_raw_parts(
                (&self.names[i] as *const libc::sockaddr_storage).cast::<u8>(),
                len,
            )
        };
        self.name_lens[b] as usize == len && bytes(a) == bytes(b)
    }

    /// Send the batch (back to the addresses it was received from if `named`, else on a
    /// connected socket), runs of datagrams of equal size to one address packed into one
    /// message each with UDP_SEGMENT, so the kernel's send path runs once per run instead
    /// of once per datagram; the receiver still gets separate datagrams. Returns how many
    /// datagrams went. Fails (EIO or EINVAL) where the kernel cannot segment;
    /// the caller then sends with `send`.
    pub fn send_packed(&mut self, fd: RawFd, named: bool) -> io::Result<usize> {
        let n = self.count;
        if n == 0 {
            return Ok(0);
        }
        self.prepare(n, named, false);
        let mut messages = 0;
        let mut i = 0;
        while i < n {
            let size = self.lens[i];
            let mut end = i + 1;
            while end < n
                && self.lens[end] == size
                && (end - i + 1) * size <= 65_000
                && (!named || self.same_name(i, end))
            {
                end += 1;
            }
            let run = end - i;
            let name = self.headers[i].msg_hdr.msg_name;
            let name_len = self.headers[i].msg_hdr.msg_namelen;
            let h = &mut self.headers[messages].msg_hdr;
            h.msg_iov = &mut self.iovecs[i];
            h.msg_iovlen = run;
            h.msg_name = name;
            h.msg_namelen = name_len;
            h.msg_flags = 0;
            if run > 1 {
                let control = &mut self.controls[messages];
                h.msg_control = control.as_mut_ptr().cast();
                // SAFETY: CMSG_SPACE of a u16 (24 bytes) fits in the 32-byte control buffer,
                // and the header and data written stay within it.
                unsafe {
                    h.msg_controllen = libc::CMSG_SPACE(2) as usize;
                    let cmsg = libc::CMSG_FIRSTHDR(h);
                    (*cmsg).cmsg_level = libc::SOL_UDP;
                    (*cmsg).cmsg_type = libc::UDP_SEGMENT;
                    (*cmsg).cmsg_len = libc::CMSG_LEN(2) as usize;
                    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), size as u16);
                }
            } else {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
            self.segments[messages] = run;
            messages += 1;
            i = end;
        }
        let sent = self.send_messages(fd, messages)?;
        Ok(self.segments[..sent].iter().sum())
    }
}

/// Pin the calling thread to `cpu` (best effort).
pub fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET writes within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % libc::CPU_SETSIZE as usize, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Wait up to `ms` for any of `fds` to be readable.
pub fn wait_readable(fds: &[RawFd], ms: i32) {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: polls is a valid array of pollfd.
    unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, ms) };
}
