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

impl From<SocketAddr> for RawAddr {
    fn from(addr: SocketAddr) -> RawAddr {
        let a = socket2::SockAddr::from(addr);
        let len = a.len();
        RawAddr {
            storage: a.as_storage(),
            len,
        }
    }
}

impl RawAddr {
    /// The address's bytes as the kernel gave them.
    fn bytes(&self) -> &[u8] {
        // SAFETY: sockaddr_storage is plain bytes and `len` is at most its size.
        unsafe {
            std::slice::from_raw_parts(
                (&self.storage as *const libc::sockaddr_storage).cast::<u8>(),
                (self.len as usize).min(mem::size_of::<libc::sockaddr_storage>()),
            )
        }
    }

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

/// Largest reply packed with others into one send. The kernel cuts a packed send into
/// datagrams of this size (UDP_SEGMENT), and each must fit any route: IPv6's minimum MTU of
/// 1280 less the IPv6 and UDP headers.
const MAX_PACKED_BYTES: usize = 1232;

/// Bytes each reply buffer starts with room for.
const REPLY_CAPACITY: usize = 512;

/// Most payload bytes in one packed send (a UDP datagram's limit, with room to spare).
const MAX_PACKED_RUN_BYTES: usize = 65_000;

/// Send side: replies queued during one batch, sent with one `sendmmsg`. Consecutive
/// replies of equal size to one client from one address go as a single message with
/// UDP_SEGMENT, so the kernel's send path runs once for the run instead of once per reply;
/// the client still receives one datagram per reply.
pub struct Replies {
    bufs: Vec<Vec<u8>>,
    addrs: Vec<RawAddr>,
    /// The address each reply leaves from (wildcard sockets), as a pktinfo cmsg.
    sources: Vec<Option<Destination>>,
    /// Per message: its pktinfo and UDP_SEGMENT cmsgs.
    controls: Vec<Control>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    /// Per message of the send being made, the first reply it carries; one more entry
    /// closes the last message's run.
    firsts: [usize; BATCH + 1],
    /// Whether runs are packed: cleared for good the first time the kernel refuses a
    /// packed send (a route whose device cannot segment).
    pack: bool,
    count: usize,
}

impl Default for Replies {
    fn default() -> Self {
        let r = Received::new(0, false);
        Replies {
            // Room for a usual reply: buffers are swapped with the engine's, not copied,
            // so once grown they stay grown.
            bufs: (0..BATCH)
                .map(|_| Vec::with_capacity(REPLY_CAPACITY))
                .collect(),
            addrs: r.addrs,
            sources: vec![None; BATCH],
            controls: r.controls,
            iovs: r.iovs,
            hdrs: r.hdrs,
            firsts: [0; BATCH + 1],
            pack: true,
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

    /// Whether replies `a` and `b` go to the same client from the same address.
    fn same_route(&self, a: usize, b: usize) -> bool {
        self.sources[a] == self.sources[b] && self.addrs[a].bytes() == self.addrs[b].bytes()
    }

    /// Point one header at each run of packable replies (or at a single reply); returns
    /// how many messages there are.
    fn prepare(&mut self) -> usize {
        let n = self.count;
        let mut messages = 0;
        let mut i = 0;
        while i < n {
            let size = self.bufs[i].len();
            let mut end = i + 1;
            if self.pack && size <= MAX_PACKED_BYTES {
                while end < n
                    && self.bufs[end].len() == size
                    && (end + 1 - i) * size <= MAX_PACKED_RUN_BYTES
                    && self.same_route(i, end)
                {
                    end += 1;
                }
            }
            for j in i..end {
                let b = &mut self.bufs[j];
                self.iovs[j] = libc::iovec {
                    iov_base: b.as_mut_ptr().cast(),
                    iov_len: b.len(),
                };
            }
            let h = &mut self.hdrs[messages];
            h.msg_hdr.msg_name = (&mut self.addrs[i].storage as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = self.addrs[i].len;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = end - i;
            h.msg_hdr.msg_flags = 0;
            let segment = (end - i > 1).then_some(size as u16);
            set_control(
                &mut h.msg_hdr,
                &mut self.controls[messages],
                self.sources[i],
                segment,
            );
            self.firsts[messages] = i;
            messages += 1;
            i = end;
        }
        self.firsts[messages] = n;
        messages
    }

    /// Send everything queued, without blocking. Replies the kernel would not take now are
    /// returned (reply, destination) for the caller to send by waiting; a reply the kernel
    /// refuses outright is dropped.
    pub fn flush(&mut self, fd: RawFd, mut blocked: impl FnMut(&[u8], &RawAddr)) {
        let messages = self.prepare();
        let mut sent = 0;
        while sent < messages {
            // SAFETY: headers sent..messages point at buffers owned by self.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[sent..].as_mut_ptr(),
                    (messages - sent) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                sent += n as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            let run = self.firsts[sent]..self.firsts[sent + 1];
            if e.kind() == io::ErrorKind::WouldBlock {
                for i in self.firsts[sent]..self.count {
                    blocked(&self.bufs[i], &self.addrs[i]);
                }
                break;
            }
            if run.len() > 1 && matches!(e.raw_os_error(), Some(libc::EIO | libc::EINVAL)) {
                // The route cannot segment: this run goes reply by reply, later ones unpacked.
                self.pack = false;
                for i in run {
                    if send_one(fd, &self.bufs[i], &self.addrs[i], self.sources[i]).is_err() {
                        blocked(&self.bufs[i], &self.addrs[i]);
                    }
                }
            }
            // Otherwise this reply cannot go (no route, refused): skip it, send the rest.
            sent += 1;
        }
        self.count = 0;
    }
}

/// Room for a pktinfo cmsg (IPv6's, the larger) and a UDP_SEGMENT one.
const _: () =
    assert!(cmsg_space::<libc::in6_pktinfo>() + cmsg_space::<u16>() <= mem::size_of::<Control>());

/// `CMSG_SPACE` of a `T`.
const fn cmsg_space<T>() -> usize {
    // SAFETY: CMSG_SPACE only computes a size.
    unsafe { libc::CMSG_SPACE(mem::size_of::<T>() as u32) as usize }
}

/// Set `h`'s control data: a pktinfo cmsg so the datagram leaves from `source`'s address
/// (and, for IPv6, its interface), and a UDP_SEGMENT cmsg when `segment` gives the size of
/// the datagrams a packed message is cut into.
fn set_control(
    h: &mut libc::msghdr,
    control: &mut Control,
    source: Option<Destination>,
    segment: Option<u16>,
) {
    let source_space = match source.map(|s| s.addr) {
        None => 0,
        Some(IpAddr::V4(_)) => cmsg_space::<libc::in_pktinfo>(),
        Some(IpAddr::V6(_)) => cmsg_space::<libc::in6_pktinfo>(),
    };
    let segment_space = segment.map_or(0, |_| cmsg_space::<u16>());
    h.msg_controllen = source_space + segment_space;
    if h.msg_controllen == 0 {
        h.msg_control = std::ptr::null_mut();
        return;
    }
    h.msg_control = control.as_mut_ptr().cast();
    let base = control.as_mut_ptr().cast::<u8>();
    // SAFETY: the assertion above keeps both cmsgs within `control`, which is aligned for
    // cmsghdr; the second starts where the first's aligned space ends.
    unsafe {
        match source {
            Some(Destination {
                addr: IpAddr::V4(a),
                ..
            }) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(a).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                write_cmsg(base, libc::IPPROTO_IP, libc::IP_PKTINFO, info);
            }
            Some(Destination {
                addr: IpAddr::V6(a),
                ifindex,
            }) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: a.octets(),
                    },
                    ipi6_ifindex: ifindex,
                };
                write_cmsg(base, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, info);
            }
            None => {}
        }
        if let Some(size) = segment {
            write_cmsg(
                base.add(source_space),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                size,
            );
        }
    }
}

/// # Safety
/// `at` is aligned for cmsghdr and has room for one cmsg holding a `T`.
unsafe fn write_cmsg<T>(at: *mut u8, level: i32, ty: i32, value: T) {
    let c = at.cast::<libc::cmsghdr>();
    (*c).cmsg_level = level;
    (*c).cmsg_type = ty;
    (*c).cmsg_len = libc::CMSG_LEN(mem::size_of::<T>() as u32) as usize;
    std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut T, value);
}

/// Have a wildcard socket learn each datagram's destination address and interface
/// (IP_PKTINFO, IPV6_RECVPKTINFO), for `Received::destination` and replies from it.
pub fn receive_destinations(fd: RawFd, v6: bool) -> io::Result<()> {
    match v6 {
        false => set_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1),
        true => set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1),
    }
}

/// Ask for a receive buffer of `bytes`, past net.core.rmem_max where the process may
/// (SO_RCVBUFFORCE, root before privileges are dropped), else as far as that cap allows.
pub fn force_receive_buffer(fd: RawFd, bytes: usize) -> io::Result<()> {
    let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes)
        .or_else(|_| set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes))
}

/// Set a socket option whose value is a C int.
fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: a c_int option value that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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
    set_control(&mut h, &mut control, from, None);
    // SAFETY: h is fully set up as above.
    if unsafe { libc::sendmsg(fd, &h, libc::MSG_DONTWAIT) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Datagrams' arrival on a socket, awaited in glommio's reactor, where the reading is done
/// a batch at a time elsewhere (`Received`): a wake-up that takes nothing off the queue.
pub struct Arrivals(glommio::net::UdpSocket);

impl Arrivals {
    /// Over a duplicate of `fd` (a datagram or raw socket), which stays the caller's.
    pub fn of(fd: RawFd) -> io::Result<Arrivals> {
        // SAFETY: fcntl duplicates a descriptor the caller holds open; the copy is ours.
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if copy < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `copy` is a fresh descriptor owned by nothing else.
        Ok(Arrivals(unsafe {
            <glommio::net::UdpSocket as std::os::fd::FromRawFd>::from_raw_fd(copy)
        }))
    }

    /// Return once a datagram is waiting (or the socket has an error to report).
    pub async fn next(&self) {
        let _ = self.0.peek_from(&mut [0u8; 1]).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    fn raw(addr: SocketAddr) -> RawAddr {
        RawAddr::from(addr)
    }

    fn client() -> (UdpSocket, RawAddr) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let addr = raw(s.local_addr().unwrap());
        (s, addr)
    }

    /// A reply `len` bytes long whose bytes all read `tag`.
    fn queue(replies: &mut Replies, to: &RawAddr, tag: u8, len: usize) {
        let buf = replies.next_buf();
        buf.clear();
        buf.resize(len, tag);
        replies.push(to, None);
    }

    #[test]
    fn packed_replies_arrive_as_one_datagram_each_in_order() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a, to_a) = client();
        let (b, to_b) = client();
        let mut replies = Replies::default();
        // Two runs to `a` split by a reply of another size, one to `b` in between, and a
        // last one to `a` again after it.
        let plan = [
            (0, 1, 40),
            (0, 2, 40),
            (0, 3, 40),
            (0, 4, 41),
            (0, 5, 41),
            (1, 6, 40),
            (1, 7, 40),
            (0, 8, 40),
        ];
        for &(who, tag, len) in &plan {
            queue(&mut replies, if who == 0 { &to_a } else { &to_b }, tag, len);
        }
        assert_eq!(replies.prepare(), 4, "runs: 1-3, 4-5, 6-7, 8");
        let mut refused = 0;
        replies.flush(server.as_raw_fd(), |_, _| refused += 1);
        assert_eq!(refused, 0);
        let mut buf = [0u8; 2048];
        for &(who, tag, len) in &plan {
            let n = [&a, &b][who].recv(&mut buf).expect("every reply arrives");
            assert_eq!(n, len, "reply {tag} keeps its own length");
            assert!(
                buf[..n].iter().all(|&x| x == tag),
                "reply {tag} arrives whole, in order"
            );
        }
    }

    #[test]
    fn a_packed_run_leaves_from_the_address_asked() {
        let server = UdpSocket::bind("0.0.0.0:0").unwrap();
        let (a, to_a) = client();
        let mut replies = Replies::default();
        let from = Destination {
            addr: "127.0.0.2".parse().unwrap(),
            ifindex: 0,
        };
        for tag in 0..3 {
            replies.next_buf().clear();
            replies.next_buf().resize(30, tag);
            replies.push(&to_a, Some(from));
        }
        assert_eq!(replies.prepare(), 1);
        replies.flush(server.as_raw_fd(), |_, _| panic!("nothing is refused"));
        let mut buf = [0u8; 64];
        for tag in 0..3 {
            let (n, src) = a.recv_from(&mut buf).expect("every reply arrives");
            assert_eq!((n, buf[0]), (30, tag));
            assert_eq!(
                src.ip(),
                from.addr,
                "the reply comes from the address asked"
            );
        }
    }

    #[test]
    fn large_replies_are_not_packed() {
        let (_a, to_a) = client();
        let mut replies = Replies::default();
        for tag in 0..3 {
            queue(&mut replies, &to_a, tag, MAX_PACKED_BYTES + 1);
        }
        assert_eq!(replies.prepare(), 3);
    }
}
