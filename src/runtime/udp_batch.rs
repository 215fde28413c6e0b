//! Batched UDP I/O for a shard's listening socket: one `recvmmsg` takes every query
//! waiting (up to `BATCH`), one `sendmmsg` returns their replies. Buffers and message
//! headers are allocated once per socket, so the busy path makes two system calls per
//! batch and no allocation.

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
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
    pub fn to_socket_addr(self) -> Option<SocketAddr> {
        // SAFETY: storage and len are what the kernel filled in for this datagram.
        unsafe { socket2::SockAddr::new(self.storage, self.len) }.as_socket()
    }
}

/// Receive side: `BATCH` buffers of `size` bytes each.
pub struct Received {
    size: usize,
    bufs: Vec<u8>,
    addrs: Vec<RawAddr>,
    /// Ancillary data per datagram (the destination address and interface), when asked.
    controls: Vec<Control>,
    pktinfo: bool,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    count: usize,
}

impl Received {
    /// Buffers for datagrams of up to `size` bytes; with `pktinfo`, each datagram's
    /// destination address and arrival interface are read too (the socket must have
    /// IP_PKTINFO or IPV6_RECVPKTINFO set).
    pub fn new(size: usize, pktinfo: bool) -> Self {
        // SAFETY: all-zero is a valid value for these plain C structs.
        let zero_addr = RawAddr {
            storage: unsafe { mem::zeroed() },
            len: 0,
        };
        Received {
            size,
            bufs: vec![0; size * BATCH],
            addrs: vec![zero_addr; BATCH],
            controls: vec![[0; CONTROL_WORDS]; BATCH],
            pktinfo,
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
            if self.pktinfo {
                h.msg_hdr.msg_control = self.controls[i].as_mut_ptr().cast();
                h.msg_hdr.msg_controllen = mem::size_of::<Control>();
            } else {
                h.msg_hdr.msg_control = std::ptr::null_mut();
                h.msg_hdr.msg_controllen = 0;
            }
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

    /// Where datagram `i` was sent to: its destination address and the index of the
    /// interface it arrived on, read from IP_PKTINFO / IPV6_PKTINFO.
    pub fn destination(&self, i: usize) -> Option<Destination> {
        if !self.pktinfo {
            return None;
        }
        let h = &self.hdrs[i].msg_hdr;
        // SAFETY: the kernel wrote msg_controllen bytes of cmsgs into controls[i]; the
        // CMSG_ helpers walk within them, and the payload types match level and type.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                let data = libc::CMSG_DATA(c);
                match ((*c).cmsg_level, (*c).cmsg_type) {
                    (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                        let p = std::ptr::read_unaligned(data as *const libc::in_pktinfo);
                        return Some(Destination {
                            addr: IpAddr::V4(Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr))),
                            ifindex: p.ipi_ifindex as u32,
                        });
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                        let p = std::ptr::read_unaligned(data as *const libc::in6_pktinfo);
                        return Some(Destination {
                            addr: IpAddr::V6(Ipv6Addr::from(p.ipi6_addr.s6_addr)),
                            ifindex: p.ipi6_ifindex,
                        });
                    }
                    _ => {}
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
        }
        None
    }
}

/// Ancillary data room for one datagram, 8-byte aligned as cmsghdr needs.
type Control = [u64; CONTROL_WORDS];
const CONTROL_WORDS: usize = 8;

/// The address a query was sent to and the interface it came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    pub addr: IpAddr,
    pub ifindex: u32,
}

/// Send side: replies queued during one batch, sent with one `sendmmsg`.
pub struct Replies {
    bufs: Vec<Vec<u8>>,
    addrs: Vec<RawAddr>,
    /// The address each reply leaves from (wildcard sockets), as a pktinfo cmsg.
    sources: Vec<Option<Destination>>,
    controls: Vec<Control>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    count: usize,
}

impl Default for Replies {
    fn default() -> Self {
        let r = Received::new(0, false);
        Replies {
            bufs: (0..BATCH).map(|_| Vec::new()).collect(),
            addrs: r.addrs,
            sources: vec![None; BATCH],
            controls: r.controls,
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

    /// Queue the reply written into `next_buf` for `to`, leaving from `from` when given
    /// (the address the query came to, on a wildcard socket).
    pub fn push(&mut self, to: &RawAddr, from: Option<Destination>) {
        self.addrs[self.count] = *to;
        self.sources[self.count] = from;
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
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            if let Some(src) = self.sources[i] {
                set_source(&mut h.msg_hdr, &mut self.controls[i], src);
            }
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

/// Put a pktinfo cmsg in `h` so the datagram leaves from `src`'s address (and, for IPv6,
/// its interface).
fn set_source(h: &mut libc::msghdr, control: &mut Control, src: Destination) {
    h.msg_control = control.as_mut_ptr().cast();
    // SAFETY: control is large and aligned enough for one pktinfo cmsg; the CMSG_ helpers
    // stay within msg_controllen, which is set to the space of that one cmsg.
    unsafe {
        match src.addr {
            IpAddr::V4(a) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(a).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                write_cmsg(h, libc::IPPROTO_IP, libc::IP_PKTINFO, info);
            }
            IpAddr::V6(a) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: a.octets(),
                    },
                    ipi6_ifindex: src.ifindex,
                };
                write_cmsg(h, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, info);
            }
        }
    }
}

/// # Safety
/// `h.msg_control` points at a buffer with room for one cmsg holding a `T`.
unsafe fn write_cmsg<T>(h: &mut libc::msghdr, level: i32, ty: i32, value: T) {
    h.msg_controllen = libc::CMSG_SPACE(mem::size_of::<T>() as u32) as usize;
    let c = libc::CMSG_FIRSTHDR(h);
    (*c).cmsg_level = level;
    (*c).cmsg_type = ty;
    (*c).cmsg_len = libc::CMSG_LEN(mem::size_of::<T>() as u32) as usize;
    std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut T, value);
}

/// Send one datagram to `to` without blocking, leaving from `from` when given.
pub fn send_one(fd: RawFd, buf: &[u8], to: &RawAddr, from: Option<Destination>) -> io::Result<()> {
    let mut to = *to;
    let mut control: Control = [0; CONTROL_WORDS];
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: all-zero is a valid msghdr; every pointer set below outlives the call.
    let mut h: libc::msghdr = unsafe { mem::zeroed() };
    h.msg_name = (&mut to.storage as *mut libc::sockaddr_storage).cast();
    h.msg_namelen = to.len;
    h.msg_iov = &mut iov;
    h.msg_iovlen = 1;
    if let Some(src) = from {
        set_source(&mut h, &mut control, src);
    }
    // SAFETY: h is fully set up as above.
    if unsafe { libc::sendmsg(fd, &h, libc::MSG_DONTWAIT) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
