//! The TFTP server, tasks on the control executor beside DHCP: a socket on port 69 for
//! each listening address (or the wildcards), and a task per transfer that sends from a
//! socket of its own (from `--tftp-port-range`'s ports where given) or, with
//! `--tftp-single-port`, from port 69, whose arrivals are then handed to it by its
//! client's address. Files are read through io_uring (glommio's buffered files), one
//! descriptor for every transfer of a file at once. While `--tftp-max` transfers run, no
//! new request is read, as dnsmasq stops listening. Protocol and path rules are `tftp`'s.

use super::interfaces::{self, Listening};
use super::script::Scripts;
use super::udp_batch::{self, Arrivals, Destination, RawAddr, Received};
use crate::config::error::{ConfigError, ExitCode};
use crate::config::parse::Value;
use crate::config::{io_reason, Config};
use crate::dhcp::script::TftpSent;
use crate::log;
use crate::tftp::packet::{self, ErrorCode, ReadRequest, OP_RRQ};
use crate::tftp::path::{self, Client, Roots, UniqueRoot};
use crate::tftp::transfer::{Needs, Outcome, Step, Terms, Transfer, DEFAULT_BLOCK_SIZE};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::io::BufferedFile;
use glommio::sync::{Semaphore, StaticPermit};
use socket2::{Domain, Protocol, Socket, Type};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

/// The TFTP port; dnsmasq has no option to move it.
pub const TFTP_PORT: u16 = 69;

/// `--tftp-max`'s default.
const DEFAULT_MAX_TRANSFERS: u64 = 50;

/// Largest request read; a longer one is cut and so refused.
const MAX_REQUEST_BYTES: usize = 4096;

/// Largest packet read from a client during a transfer (acknowledgements and errors).
const MAX_REPLY_BYTES: usize = 1024;

/// dnsmasq's packet buffer is the EDNS packet size and this much more; a block and its
/// 4-byte header must fit it.
const PACKET_BUFFER_EXTRA: u64 = 1025 + 10;

/// Bytes of IP, UDP and TFTP headers a block shares its interface's MTU with.
const OVERHEAD_V4: u32 = 32;
const OVERHEAD_V6: u32 = 52;

/// Packets waiting for one transfer in single-port mode; more are dropped (the client
/// sends again).
const INBOX_PACKETS: usize = 16;

/// The server's settings, read from the configuration.
struct Settings {
    roots: Roots,
    /// `--tftp-secure`.
    secure: bool,
    /// `--tftp-no-blocksize`.
    no_blocksize: bool,
    /// `--quiet-tftp`: dnsmasq 2.90 then leaves out only its "not found" lines.
    quiet: bool,
    max_transfers: u64,
    /// `--tftp-mtu`.
    mtu: Option<u32>,
    /// Largest block the packet buffer holds.
    max_block_size: u32,
    ports: Option<(u16, u16)>,
    single_port: bool,
    /// `--enable-tftp`'s interfaces (empty: those DHCP serves).
    interfaces: Vec<String>,
    listening: Listening,
    /// `--no-dhcp-interface` and `--no-dhcpv4-interface`.
    refused: Vec<String>,
}

/// The server, made before privileges are dropped (port 69 is privileged).
pub struct Prepared {
    settings: Settings,
    listeners: Vec<Listener>,
    scripts: Option<Scripts>,
}

/// A port-69 socket, and for one bound to an address of its own (`--bind-interfaces`),
/// the interface holding that address, if one does: dnsmasq then takes requests as
/// come through it, and one on an address no interface holds as through none (no
/// interface's root or MTU applies).
struct Listener {
    socket: Socket,
    bound: Option<Option<String>>,
}

/// Whether TFTP is to be served.
pub fn enabled(config: &Config) -> bool {
    config.has("enable-tftp")
}

/// Check the roots, log what is served and bind port 69 where the DNS server listens
/// (`listening`, on the `host`'s addresses); None without `--enable-tftp`.
pub fn prepare(
    config: &Config,
    listening: &Listening,
    host: &[interfaces::IfAddr],
    scripts: Option<Scripts>,
) -> Result<Option<Prepared>, ConfigError> {
    if !enabled(config) {
        return Ok(None);
    }
    let mut roots = Roots {
        lowercase: config.has("tftp-lowercase"),
        ..Roots::default()
    };
    for v in config.values("tftp-root") {
        if let Value::TftpRoot { dir, interface } = v {
            match interface {
                Some(i) => roots.per_interface.push((dir.clone(), i.clone())),
                None => roots.default = Some(dir.clone()),
            }
        }
    }
    roots.unique = match config.last("tftp-unique-root") {
        Some(Value::TftpUniqueRoot { by_mac: true }) => Some(UniqueRoot::Mac),
        Some(_) => Some(UniqueRoot::Ip),
        None => None,
    };
    let no_fail = config.has("tftp-no-fail");
    let mut inaccessible = Vec::new();
    let dirs = roots
        .default
        .iter()
        .chain(roots.per_interface.iter().map(|(d, _)| d));
    for dir in dirs {
        let reason = match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => "Not a directory".to_string(),
            Err(e) => io_reason(&e),
        };
        if !no_fail {
            return Err(
                ConfigError::bad(format!("TFTP directory {dir} inaccessible: {reason}"))
                    .with_exit(ExitCode::File),
            );
        }
        inaccessible.push(dir.clone());
    }
    let secure = config.has("tftp-secure");
    let single_port = config.has("tftp-single-port");
    let served = match &roots.default {
        Some(dir) => format!("root is {dir}"),
        None => "enabled".to_string(),
    };
    log::tftp(format!(
        "TFTP {served} {} {}",
        if secure { "secure mode" } else { "" },
        if single_port { "single port mode" } else { "" }
    ));
    for dir in inaccessible {
        log::tftp(format!("warning: {dir} inaccessible"));
    }
    let ports = match config.last("tftp-port-range") {
        Some(Value::PortRange(start, end)) => Some((*start, *end)),
        _ => None,
    };
    let mut max_transfers = config.uint_or("tftp-max", DEFAULT_MAX_TRANSFERS);
    if let Some((start, end)) = ports.filter(|_| !single_port) {
        let room = u64::from(end - start) + 1;
        if room < max_transfers {
            max_transfers = room;
            log::tftp(format!(
                "restricting maximum simultaneous TFTP transfers to {room}"
            ));
        }
    }
    let edns_packet_max = config.uint_or("edns-packet-max", 1232);
    let settings = Settings {
        roots,
        secure,
        no_blocksize: config.has("tftp-no-blocksize"),
        quiet: config.has("quiet-tftp"),
        max_transfers: max_transfers.max(1),
        mtu: match config.last("tftp-mtu") {
            Some(Value::Uint(m)) if *m > 0 => Some(*m as u32),
            _ => None,
        },
        max_block_size: (edns_packet_max + PACKET_BUFFER_EXTRA - 4).min(u64::from(u16::MAX)) as u32,
        ports,
        single_port,
        // A bare --enable-tftp gives one empty name: no list of its own.
        interfaces: config
            .text_list("enable-tftp")
            .into_iter()
            .filter(|name| !name.is_empty())
            .collect(),
        listening: listening.clone(),
        refused: interfaces::dhcp_refused(config),
    };
    let mut listeners = Vec::new();
    for addr in settings.listening.bind_addrs(host, TFTP_PORT) {
        match listener(addr) {
            Ok(socket) => listeners.push(Listener {
                socket,
                bound: (!addr.ip().is_unspecified()).then(|| {
                    host.iter()
                        .find(|a| a.addr == addr.ip())
                        .map(|a| a.name.clone())
                }),
            }),
            // A wildcard IPv6 socket is optional on hosts without IPv6.
            Err(_) if addr.is_ipv6() && addr.ip().is_unspecified() => {}
            Err(e) => {
                return Err(ConfigError::bad(format!(
                    "failed to create TFTP socket for {}: {}",
                    addr.ip(),
                    io_reason(&e)
                ))
                .with_exit(ExitCode::Network))
            }
        }
    }
    Ok(Some(Prepared {
        settings,
        listeners,
        scripts,
    }))
}

/// A socket on port 69 that learns each request's destination and interface.
fn listener(addr: SocketAddr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    udp_batch::receive_destinations(s.as_raw_fd(), addr.is_ipv6())?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

/// A file being sent, known by device, inode and path.
type FileKey = (u64, u64, Vec<u8>);

/// Single-port mode: a running transfer's number and the sender of its inbox.
type Inbox = (u64, LocalSender<Vec<u8>>);

/// What every task of the server shares.
struct Shared {
    settings: Settings,
    scripts: Option<Scripts>,
    /// One permit per running transfer.
    slots: Rc<Semaphore>,
    /// Files being sent, by device, inode and path, so that a file sent to many clients
    /// at once is open once.
    files: RefCell<HashMap<FileKey, Weak<BufferedFile>>>,
    /// Single-port mode: each running transfer's number and inbox, by client.
    inboxes: RefCell<HashMap<SocketAddr, Inbox>>,
    /// Numbers transfers, so that one replaced by its client's new request does not take
    /// its successor's inbox away when it ends.
    started: Cell<u64>,
    /// The server's user, which `--tftp-secure` and world-readability are judged by.
    uid: u32,
}

/// Serve TFTP until the process ends.
pub async fn serve(p: Prepared) {
    let Prepared {
        settings,
        listeners,
        scripts,
    } = p;
    let shared = Rc::new(Shared {
        slots: Rc::new(Semaphore::new(settings.max_transfers)),
        settings,
        scripts,
        files: RefCell::new(HashMap::new()),
        inboxes: RefCell::new(HashMap::new()),
        started: Cell::new(0),
        // SAFETY: geteuid has no preconditions.
        uid: unsafe { libc::geteuid() },
    });
    let tasks: Vec<_> = listeners
        .into_iter()
        .map(|l| glommio::spawn_local(listen(shared.clone(), Rc::new(l.socket), l.bound)))
        .collect();
    for t in tasks {
        t.await;
    }
}

/// Read requests off one port-69 socket for as long as the server runs.
async fn listen(shared: Rc<Shared>, socket: Rc<Socket>, bound: Option<Option<String>>) {
    let fd = socket.as_raw_fd();
    let arrivals = match Arrivals::of(fd) {
        Ok(a) => a,
        Err(e) => {
            log::tftp_error(format!("TFTP socket unusable: {e}"));
            return;
        }
    };
    let mut received = Received::new(MAX_REQUEST_BYTES, true);
    loop {
        if !shared.settings.single_port {
            // At the limit, leave requests queued until a transfer ends.
            if let Ok(p) = shared.slots.acquire_permit(1).await {
                drop(p);
            }
        }
        arrivals.next().await;
        let n = match received.receive(fd) {
            Ok(n) => n,
            Err(e) => {
                log::tftp_error(format!("TFTP receive failed: {e}"));
                glommio::timer::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let mut refused = 0;
        for i in 0..n {
            let Some((data, raw)) = received.get(i) else {
                continue;
            };
            let (Some(peer), Some(to)) = (raw.to_socket_addr(), received.destination(i)) else {
                continue;
            };
            if shared.settings.single_port && hand_over(&shared, data, peer) {
                continue;
            }
            match shared.slots.try_acquire_static_permit(1) {
                Ok(permit) => {
                    let interface = match &bound {
                        Some(name) => name.clone(),
                        None => match served_interface(&shared.settings, &to) {
                            Some(name) => Some(name),
                            None => continue,
                        },
                    };
                    let arrival = Arrival {
                        peer,
                        to,
                        interface,
                    };
                    start(&shared, &socket, data, arrival, permit)
                }
                Err(_) => refused += 1,
            }
        }
        if refused > 0 {
            log::tftp_error(format!(
                "{refused} TFTP requests dropped: {} transfers already running (--tftp-max)",
                shared.settings.max_transfers
            ));
        }
    }
}

/// Single-port mode: give a running transfer its client's packet. A new read request
/// from that client ends the transfer instead (and is answered as new), as in dnsmasq.
fn hand_over(shared: &Shared, data: &[u8], peer: SocketAddr) -> bool {
    let mut inboxes = shared.inboxes.borrow_mut();
    let Some((_, inbox)) = inboxes.get(&peer) else {
        return false;
    };
    if data.get(..2) == Some(&OP_RRQ.to_be_bytes()[..]) {
        inboxes.remove(&peer);
        return false;
    }
    let _ = inbox.try_send(data.to_vec());
    true
}

/// The interface a request came in on (wildcard sockets), where TFTP is served there:
/// `--enable-tftp`'s interfaces, or else those DHCP serves.
fn served_interface(settings: &Settings, to: &Destination) -> Option<String> {
    let name = interfaces::interface_name(to.ifindex)?;
    let admitted = if settings.interfaces.is_empty() {
        settings.listening.accepts(&name, to.addr)
            && !settings
                .refused
                .iter()
                .any(|p| interfaces::wildcard_match(p, &name))
    } else {
        settings
            .interfaces
            .iter()
            .any(|p| interfaces::wildcard_match(p, &name))
    };
    admitted.then_some(name)
}

/// Where a request came from and to, and through which interface, if known.
struct Arrival {
    peer: SocketAddr,
    to: Destination,
    interface: Option<String>,
}

/// Answer a read request: refuse it, or start its transfer.
fn start(
    shared: &Rc<Shared>,
    listener: &Rc<Socket>,
    data: &[u8],
    arrival: Arrival,
    permit: StaticPermit,
) {
    let settings = &shared.settings;
    let Arrival {
        peer,
        to,
        interface,
    } = arrival;
    let mut inbox = None;
    let link = if settings.single_port {
        let (tx, rx) = local_channel::new_bounded(INBOX_PACKETS);
        inbox = Some(tx);
        Link::Shared {
            socket: listener.clone(),
            from: to,
            inbox: rx,
        }
    } else {
        match transfer_socket(settings, &to) {
            Ok(s) => Link::Own(s),
            Err(e) => {
                if e.raw_os_error() == Some(libc::EADDRINUSE) && settings.ports.is_some() {
                    log::tftp_error("unable to get free port for TFTP");
                }
                return;
            }
        }
    };
    let peer_text = peer.ip().to_string();
    let refuse = |code: ErrorCode, message: String, quiet: bool| {
        if !quiet {
            log::tftp_error(message.clone());
        }
        link.send_now(&packet::error(code, &message), peer);
    };
    let Some(request) = packet::parse_read_request(data) else {
        refuse(
            ErrorCode::IllegalOperation,
            format!("unsupported request from {peer_text}"),
            false,
        );
        return;
    };
    let client = Client {
        addr: peer.ip(),
        mac: match settings.roots.unique {
            Some(UniqueRoot::Mac) => interfaces::neighbour_mac(peer.ip()),
            _ => None,
        },
        interface: interface.as_deref(),
    };
    let (file_path, under_root) = settings.roots.file_path(request.file_name, &client, |d| {
        std::fs::metadata(OsStr::from_bytes(d)).is_ok_and(|m| m.is_dir())
    });
    let shown = String::from_utf8_lossy(&file_path).into_owned();
    let denied = || format!("cannot access {shown}: Permission denied");
    if path::climbs_out(&file_path, under_root) {
        refuse(ErrorCode::AccessViolation, denied(), false);
        return;
    }
    let file = match open(shared, &file_path) {
        Ok(f) => f,
        Err(Refused::NotFound) => {
            let message = format!("file {shown} not found for {peer_text}");
            refuse(ErrorCode::FileNotFound, message, settings.quiet);
            return;
        }
        Err(Refused::Denied) => {
            refuse(ErrorCode::AccessViolation, denied(), false);
            return;
        }
        Err(Refused::Unreadable(reason)) => {
            let message = format!("cannot read {shown}: {reason}");
            refuse(ErrorCode::NotDefined, message, false);
            return;
        }
    };
    let terms = terms(
        settings,
        &request,
        interface.as_deref(),
        peer.is_ipv4(),
        file.size,
    );
    let id = shared.started.get() + 1;
    shared.started.set(id);
    if let Some(tx) = inbox {
        shared.inboxes.borrow_mut().insert(peer, (id, tx));
    }
    let running = Running {
        id,
        peer,
        file,
        file_path,
        _permit: permit,
    };
    glommio::spawn_local(run(shared.clone(), link, running, terms)).detach();
}

/// The block size granted (dnsmasq's rules: at least 1, at most what its packet buffer
/// and the interface's MTU, or `--tftp-mtu` where smaller, allow), and the options taken.
fn terms(
    settings: &Settings,
    request: &ReadRequest,
    interface: Option<&str>,
    v4: bool,
    size: u64,
) -> Terms {
    let mut t = Terms {
        block_size: DEFAULT_BLOCK_SIZE,
        blksize_option: false,
        tsize_option: request.tsize,
        netascii: request.netascii,
        file_size: size,
    };
    if let Some(asked) = request.blksize.filter(|_| !settings.no_blocksize) {
        // C's int to unsigned: a negative size is huge, so cut to the largest.
        let mut size = match packet::atoi(asked) {
            0 => 1,
            n if n < 0 => u32::MAX,
            n => n as u32,
        };
        size = size.min(settings.max_block_size);
        let mtu = match (interface.and_then(interfaces::interface_mtu), settings.mtu) {
            (Some(m), Some(cap)) => Some(m.min(cap)),
            (m, cap) => m.or(cap),
        };
        let overhead = if v4 { OVERHEAD_V4 } else { OVERHEAD_V6 };
        if let Some(mtu) = mtu.filter(|m| *m > 0) {
            size = size.min(mtu.saturating_sub(overhead)).max(1);
        }
        t.block_size = size;
        t.blksize_option = true;
    }
    t
}

/// A socket for one transfer, on the address the request came to (a link-local one on
/// the interface it came through): from the port range where one is given (the first
/// free port), else any port.
fn transfer_socket(
    settings: &Settings,
    to: &Destination,
) -> std::io::Result<glommio::net::UdpSocket> {
    let (first, last) = settings.ports.unwrap_or((0, 0));
    let local = to.addr;
    let at = |port: u16| match local {
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
            SocketAddr::V6(std::net::SocketAddrV6::new(v6, port, 0, to.ifindex))
        }
        _ => SocketAddr::new(local, port),
    };
    let mut port = first;
    loop {
        let s = Socket::new(
            Domain::for_address(SocketAddr::new(local, 0)),
            Type::DGRAM,
            Some(Protocol::UDP),
        )?;
        if local.is_ipv4() {
            // Let blocks be fragmented rather than dropped on a smaller path.
            let dont: libc::c_int = libc::IP_PMTUDISC_DONT;
            // SAFETY: IP_MTU_DISCOVER takes an int, given by pointer and size.
            let set = unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_MTU_DISCOVER,
                    (&dont as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if set < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        s.set_nonblocking(true)?;
        match s.bind(&at(port).into()) {
            Ok(()) => {
                // SAFETY: the descriptor is fresh and handed over whole.
                return Ok(unsafe { glommio::net::UdpSocket::from_raw_fd(s.into_raw_fd()) });
            }
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) && port < last => port += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Why a file is not sent.
enum Refused {
    NotFound,
    Denied,
    Unreadable(String),
}

/// A file open for sending, shared by its transfers.
struct OpenFile {
    file: Rc<BufferedFile>,
    size: u64,
}

/// Open `file_path` for sending, if it may be sent; a file already being sent is
/// shared.
fn open(shared: &Shared, file_path: &[u8]) -> Result<OpenFile, Refused> {
    let opened = std::fs::File::open(OsStr::from_bytes(file_path));
    let file = match opened {
        Ok(f) => f,
        Err(e) => {
            return Err(match e.raw_os_error() {
                Some(libc::ENOENT) => Refused::NotFound,
                Some(libc::EACCES) => Refused::Denied,
                _ => Refused::Unreadable(io_reason(&e)),
            })
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| Refused::Unreadable(io_reason(&e)))?;
    if !path::may_send(meta.mode(), meta.uid(), shared.uid, shared.settings.secure) {
        return Err(Refused::Denied);
    }
    let key = (meta.dev(), meta.ino(), file_path.to_vec());
    let mut files = shared.files.borrow_mut();
    files.retain(|_, f| f.strong_count() > 0);
    if let Some(open) = files.get(&key).and_then(Weak::upgrade) {
        return Ok(OpenFile {
            file: open,
            size: meta.len(),
        });
    }
    // SAFETY: the descriptor is handed over whole to the buffered file.
    let file = Rc::new(unsafe { BufferedFile::from_raw_fd(file.into_raw_fd()) });
    files.insert(key, Rc::downgrade(&file));
    Ok(OpenFile {
        file,
        size: meta.len(),
    })
}

/// Where a transfer's packets go and come from.
enum Link {
    /// A socket of its own.
    Own(glommio::net::UdpSocket),
    /// Port 69's (single-port mode): sent from the address the request came to, and
    /// handed the client's packets by the listener.
    Shared {
        socket: Rc<Socket>,
        from: Destination,
        inbox: LocalReceiver<Vec<u8>>,
    },
}

/// What a transfer heard.
enum Heard {
    Packet(usize),
    /// The wait ran out.
    Nothing,
    /// Single-port mode: the client asked again, so this transfer is over.
    Replaced,
}

impl Link {
    /// Send without waiting (a send that would block is dropped, as a lost packet).
    fn send_now(&self, bytes: &[u8], peer: SocketAddr) {
        let (fd, from): (RawFd, Option<Destination>) = match self {
            Link::Own(s) => (s.as_raw_fd(), None),
            Link::Shared { socket, from, .. } => (socket.as_raw_fd(), Some(*from)),
        };
        let _ = udp_batch::send_one(fd, bytes, &RawAddr::from(peer), from);
    }

    /// Wait up to `wait` for the client's next packet, read into `buf`.
    async fn hear(&self, buf: &mut [u8], peer: SocketAddr, wait: Duration) -> Heard {
        match self {
            Link::Own(s) => {
                let deadline = Instant::now() + wait;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Heard::Nothing;
                    }
                    match glommio::timer::timeout(left, async { s.recv_from(buf).await }).await {
                        // Another sender's packets are not this transfer's.
                        Ok((n, from)) if from == peer => return Heard::Packet(n),
                        Ok(_) => {}
                        Err(glommio::GlommioError::TimedOut(_)) => return Heard::Nothing,
                        // An error to report (an ICMP reply): wait out the rest.
                        Err(_) => {
                            glommio::timer::sleep(left).await;
                            return Heard::Nothing;
                        }
                    }
                }
            }
            Link::Shared { inbox, .. } => {
                let got = glommio::timer::timeout(wait, async { Ok(inbox.recv().await) }).await;
                match got {
                    Ok(Some(packet)) => {
                        let n = packet.len().min(buf.len());
                        buf[..n].copy_from_slice(&packet[..n]);
                        Heard::Packet(n)
                    }
                    Ok(None) => Heard::Replaced,
                    Err(_) => Heard::Nothing,
                }
            }
        }
    }
}

/// A transfer's own: its number, client and file, and its place among `--tftp-max`.
struct Running {
    id: u64,
    peer: SocketAddr,
    file: OpenFile,
    file_path: Vec<u8>,
    _permit: StaticPermit,
}

/// Run one transfer to its end, then log it and tell the script.
async fn run(shared: Rc<Shared>, link: Link, running: Running, terms: Terms) {
    let Running {
        id,
        peer,
        file,
        file_path,
        _permit,
    } = running;
    let epoch = Instant::now();
    let now_ms = || epoch.elapsed().as_millis() as u64;
    let mut transfer = Transfer::new(terms, now_ms());
    let mut out = Vec::with_capacity(terms.block_size as usize + 4);
    let mut buf = vec![0u8; MAX_REPLY_BYTES];
    let shown = String::from_utf8_lossy(&file_path).into_owned();
    let peer_text = peer.ip().to_string();
    let mut first = true;
    let outcome = 'transfer: loop {
        match next_packet(&mut transfer, &file, &mut out).await {
            Ok(true) => link.send_now(&out, peer),
            Ok(false) => break Some(Outcome::Sent),
            Err(reason) => {
                let message = format!("cannot read {shown}: {reason}");
                log::tftp_error(message.clone());
                link.send_now(&packet::error(ErrorCode::NotDefined, &message), peer);
                // A file that fails at once is only refused; later, the transfer failed.
                break if first { None } else { Some(Outcome::Failed) };
            }
        }
        first = false;
        loop {
            let wait = Duration::from_millis(transfer.deadline_ms().saturating_sub(now_ms()));
            let step = match link.hear(&mut buf, peer, wait).await {
                Heard::Packet(n) => match packet::parse_reply(&buf[..n]) {
                    Some(reply) => transfer.on_reply(reply, now_ms()),
                    None => Step::Nothing,
                },
                Heard::Nothing => transfer.on_timeout(now_ms()),
                Heard::Replaced => break 'transfer None,
            };
            match step {
                Step::Nothing => {}
                Step::SendNext => break,
                Step::Resend => link.send_now(&out, peer),
                Step::ClientError(code, message, outcome) => {
                    let message: String = String::from_utf8_lossy(&message)
                        .chars()
                        .filter(|c| !c.is_control())
                        .collect();
                    log::tftp_error(format!("error {code} {message} received from {peer_text}"));
                    break 'transfer Some(outcome);
                }
                Step::Ended(outcome) => break 'transfer Some(outcome),
            }
        }
    };
    {
        let mut inboxes = shared.inboxes.borrow_mut();
        if inboxes.get(&peer).is_some_and(|(owner, _)| *owner == id) {
            inboxes.remove(&peer);
        }
    }
    drop(_permit);
    let printable: String = shown.chars().filter(|c| !c.is_control()).collect();
    match outcome {
        Some(Outcome::Sent) => {
            log::tftp(format!("sent {printable} to {peer_text}"));
            if let Some(scripts) = &shared.scripts {
                scripts.send_tftp(TftpSent {
                    size: file.size,
                    peer: peer.ip(),
                    path: file_path,
                });
            }
        }
        Some(Outcome::Failed) => log::tftp(format!("failed sending {printable} to {peer_text}")),
        None => {}
    }
    // The last transfer of a file closes it.
    if let Ok(f) = Rc::try_unwrap(file.file) {
        let _ = f.close().await;
    }
}

/// Make the transfer's current packet into `out`: false once the file is done, or the
/// reason it cannot be read.
async fn next_packet(
    transfer: &mut Transfer,
    file: &OpenFile,
    out: &mut Vec<u8>,
) -> Result<bool, String> {
    match transfer.needs() {
        Needs::Oack(p) => {
            *out = p;
            Ok(true)
        }
        Needs::Read { offset, len } => {
            let read =
                file.file
                    .read_at(offset, len)
                    .await
                    .map_err(|e| match e.raw_os_error() {
                        Some(code) => io_reason(&std::io::Error::from_raw_os_error(code)),
                        None => e.to_string(),
                    })?;
            if read.len() < len {
                return Err("file changed while being sent".into());
            }
            transfer.data_packet(&read, out);
            Ok(true)
        }
        Needs::Finished => Ok(false),
    }
}
