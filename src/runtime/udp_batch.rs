//! Batched UDP I/O for a shard's listening socket: one `recvmmsg` takes every query
//! waiting (up to `BATCH`), one `sendmmsg` returns their replies. Buffers and message
//! headers are allocated once per socket, so the busy path makes two system calls per
//! batch and no allocation.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Datagrams taken or sent per system call.
pub const BATCH: usize = 64;

/// A client's address as the kernel gave it, kept raw so a reply goes back without
/// conversion.
#[derive(Clone, Copy)]
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        // SAFETY: storage and len are what the kernel filled in for this datagram.
        unsafe { socket2::SockAddr::new(self.storage, self.len) }.as_socket()
    }
}

impl From<SocketAddr> for RawAddr {
    fn from(addr: SocketAddr) -> Self {
        let a = socket2::SockAddr::from(addr);
        // SAFETY: sockaddr_storage is plain data; a's bytes fit in it by construction.
        let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
        unsafe {
            std::ptr::copy_nonoverlapping(
                a.as_ptr().cast::<u8>(),
                (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(),
                a.len() as usize,
            )
        };
        RawAddr {
            storage,
            len: a.len(),
        }
    }
}

/// Receive side: `BATCH` buffers of `size` bytes each.
pub struct Received {
    size: usize,
    bufs: Vec<u8>,
    addrs: Vec<RawAddr>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    count: usize,
}

impl Received {
    pub fn new(size: usize) -> Self {
        // SAFETY: all-zero is a valid value for these plain C structs.
        let zero_addr = RawAddr {
            storage: unsafe { mem::zeroed() },
            len: 0,
        };
        Received {
            size,
            bufs: vec![0; size * BATCH],
            addrs: vec![zero_addr; BATCH],
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ],
            hdrs: vec![unsafe { mem::zeroed() }; BATCH],
            count: 0,
        }
    }

    /// Take every datagram waiting on `fd`, without blocking. `Ok(0)` means none was.
    pub fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        self.count = 0;
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i * self.size..].as_mut_ptr().cast(),
                iov_len: self.size,
            };
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_name = (&mut self.addrs[i].storage as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points at buffers owned by self that outlive the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(e),
            };
        }
        for i in 0..n as usize {
            self.addrs[i].len = self.hdrs[i].msg_hdr.msg_namelen;
        }
        self.count = n as usize;
        Ok(self.count)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// Datagram `i` and who sent it; `None` when it did not fit the buffer (oversized).
    pub fn get(&self, i: usize) -> Option<(&[u8], &RawAddr)> {
        let h = &self.hdrs[i];
        if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            return None;
        }
        let start = i * self.size;
        Some((
            &self.bufs[start..start + h.msg_len as usize],
            &self.addrs[i],
        ))
    }
}

/// Send side: replies queued during one batch, sent with one `sendmmsg`.
pub struct Replies {
    bufs: Vec<Vec<u8>>,
    addrs: Vec<RawAddr>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    count: usize,
}

impl Default for Replies {
    fn default() -> Self {
        let r = Received::new(0);
        Replies {
            bufs: (0..BATCH).map(|_| Vec::new()).collect(),
            addrs: r.addrs,
            iovs: r.iovs,
            hdrs: r.hdrs,
            count: 0,
        }
    }
}

impl Replies {
    /// The buffer the next reply is written into; it is queued only by `push`.
    pub fn next_buf(&mut self) -> &mut Vec<u8> {
        &mut self.bufs[self.count]
    }

    /// Queue the reply written into `next_buf` for `to`.
    pub fn push(&mut self, to: &RawAddr) {
        self.addrs[self.count] = *to;
        self.count += 1;
    }

    /// Send everything queued, without blocking. Replies the kernel would not take now are
    /// returned (reply, destination) for the caller to send by waiting; a reply the kernel
    /// refuses outright is dropped.
    pub fn flush(&mut self, fd: RawFd, mut blocked: impl FnMut(&[u8], &RawAddr)) {
        for i in 0..self.count {
            let b = &mut self.bufs[i];
            self.iovs[i] = libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            };
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_name = (&mut self.addrs[i].storage as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = self.addrs[i].len;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
        }
        let mut sent = 0;
        while sent < self.count {
            // SAFETY: headers sent..count point at buffers owned by self.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[sent..].as_mut_ptr(),
                    (self.count - sent) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                sent += n as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                for i in sent..self.count {
                    blocked(&self.bufs[i], &self.addrs[i]);
                }
                break;
            }
            // This reply cannot go (no route, refused): skip it, send the rest.
            sent += 1;
        }
        self.count = 0;
    }
}
