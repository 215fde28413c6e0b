//! ringmasq's DHCPv4 answers against dnsmasq 2.90's, for the same configuration and the
//! same relayed request. Runs as root, in a network namespace of its own whose loopback
//! carries the relay's address (10.77.0.1): each server answers the relay there, and the
//! replies are read off the loopback with a packet socket, whoever sends them. Without
//! root, `ip` or dnsmasq the test says so and passes (CI runs it as root).

mod common;

use common::Running;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RINGMASQ: &str = env!("CARGO_BIN_EXE_ringmasq");
const RELAY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const PORT: u16 = 10067;
const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x11, 0x22, 0x33];
/// Where PXE clients send boot server requests.
const PXE_PORT: u16 = 4011;

/// A network namespace, entered by the calling thread (and so by the servers it starts),
/// deleted when dropped.
struct Namespace(String);

impl Namespace {
    fn enter(test: &str) -> Option<Namespace> {
        let name = format!("ringmasq-{test}-{}", std::process::id());
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ip(&["netns", "add", &name]) {
            return None;
        }
        let ns = Namespace(name.clone());
        if !ip(&["-n", &name, "link", "set", "lo", "up"])
            || !ip(&["-n", &name, "addr", "add", "10.77.0.1/24", "dev", "lo"])
        {
            return None;
        }
        let file = std::fs::File::open(format!("/run/netns/{name}")).ok()?;
        use std::os::fd::AsRawFd;
        // SAFETY: setns on this thread with a namespace file we hold open.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return None;
        }
        Some(ns)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A packet socket reading every IPv4 packet on the namespace's loopback.
struct Capture(i32);

impl Capture {
    fn open() -> Capture {
        // SAFETY: plain socket creation; the fd is closed on drop.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM,
                (libc::ETH_P_IP as u16).to_be() as i32,
            )
        };
        assert!(fd >= 0, "packet socket");
        Capture(fd)
    }

    /// The next BOOTREPLY with transaction `xid` sent to the relay's server port.
    fn reply(&self, xid: u32, wait: Duration) -> Option<Vec<u8>> {
        self.reply_to(PORT, xid, wait)
    }

    /// The next BOOTREPLY with transaction `xid` sent to port `port`.
    fn reply_to(&self, port: u16, xid: u32, wait: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            let mut poll = libc::pollfd {
                fd: self.0,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; buf outlives the recv.
            let n = unsafe {
                if libc::poll(&mut poll, 1, 50) <= 0 {
                    continue;
                }
                libc::recv(self.0, buf.as_mut_ptr().cast(), buf.len(), 0)
            };
            let Some(ip) = buf.get(..n.max(0) as usize) else {
                continue;
            };
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            if ip.len() < ihl + 8 + 240 || ip[9] != 17 {
                continue;
            }
            let dport = u16::from_be_bytes([ip[ihl + 2], ip[ihl + 3]]);
            let dhcp = &ip[ihl + 8..];
            if dport == port && dhcp[0] == 2 && dhcp[4..8] == xid.to_be_bytes() {
                return Some(dhcp.to_vec());
            }
        }
        None
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // SAFETY: our own fd.
        unsafe { libc::close(self.0) };
    }
}

/// Options as (code, value).
type Options = Vec<(u8, Vec<u8>)>;

/// A request to send: its message type and options.
type Request = (u8, Options);

/// A request given whole, and the port it is sent to.
type Sent = (u16, Vec<u8>);

/// A reply as compared: your-address, options by code (each part of an option sent in
/// parts), and the header's flags, next server address, server name and boot file.
type Reply = (
    Ipv4Addr,
    BTreeMap<u8, Vec<Vec<u8>>>,
    u16,
    Ipv4Addr,
    String,
    String,
);

/// A relayed request: message type `kind`, the given options (code, value).
fn request(kind: u8, xid: u32, opts: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 1;
    p[1] = 1;
    p[2] = 6;
    p[3] = 1;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[24..28].copy_from_slice(&RELAY.octets());
    p[28..34].copy_from_slice(&MAC);
    p.extend_from_slice(&[99, 130, 83, 99]);
    // Kind 0: a BOOTP request, with no message type, padded to BOOTP's 300 bytes.
    if kind != BOOTP {
        p.extend_from_slice(&[53, 1, kind]);
    }
    for (code, value) in opts {
        p.push(*code);
        p.push(value.len() as u8);
        p.extend_from_slice(value);
    }
    p.push(255);
    if kind == BOOTP {
        p.resize(p.len().max(300), 0);
    }
    p
}

const BOOTP: u8 = 0;

/// A reply's your-address, options by code and header fields.
fn parse(reply: &[u8]) -> Reply {
    let yiaddr = Ipv4Addr::new(reply[16], reply[17], reply[18], reply[19]);
    let flags = u16::from_be_bytes([reply[10], reply[11]]);
    let siaddr = Ipv4Addr::new(reply[20], reply[21], reply[22], reply[23]);
    let text = |field: &[u8]| {
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        String::from_utf8_lossy(&field[..end]).into_owned()
    };
    let (sname, file) = (text(&reply[44..108]), text(&reply[108..236]));
    let mut opts = BTreeMap::new();
    let mut i = 240;
    while i + 1 < reply.len() && reply[i] != 255 {
        if reply[i] == 0 {
            i += 1;
            continue;
        }
        let len = usize::from(reply[i + 1]);
        opts.entry(reply[i])
            .or_insert_with(Vec::new)
            .push(reply[i + 2..(i + 2 + len).min(reply.len())].to_vec());
        i += 2 + len;
    }
    (yiaddr, opts, flags, siaddr, sname, file)
}

/// Start `server` on `conf` with the lease file holding `leases`.
fn start(server: &str, conf: &str, dir: &std::path::Path, leases_text: &str) -> Running {
    // The server before may still hold the port for some milliseconds after it exits,
    // while the kernel tears down its io_uring; dnsmasq, binding without SO_REUSEADDR,
    // would fail to start.
    let ports = [PORT, PXE_PORT];
    let serves_pxe = conf.contains("pxe-");
    for port in ports.iter().take(if serves_pxe { 2 } else { 1 }) {
        let free = common::wait_until(|| UdpSocket::bind((Ipv4Addr::UNSPECIFIED, *port)).is_ok());
        assert!(free, "port {port} still in use");
    }
    let path = dir.join(format!("{server}.conf"));
    let leases = dir.join(format!("{server}.leases"));
    std::fs::write(&leases, leases_text).unwrap();
    let _ = std::fs::remove_file(dir.join(format!("{server}.leases.journal")));
    std::fs::write(
        &path,
        format!(
            "port=0\ndhcp-alternate-port={PORT},{}\ndhcp-leasefile={}\nkeep-in-foreground\n\
             pid-file=\nuser=root\nlog-facility={}/{server}.log\nno-ping\n{conf}",
            PORT + 1,
            leases.display(),
            dir.display()
        ),
    )
    .unwrap();
    let binary = if server == "dnsmasq" {
        "dnsmasq"
    } else {
        RINGMASQ
    };
    let child = Command::new(binary)
        .arg("-C")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Running(child)
}

/// What `server` answers to `requests` (sent in turn; each waits for its reply).
fn answers(
    server: &str,
    conf: &str,
    requests: &[Request],
    dir: &std::path::Path,
) -> Vec<Option<Reply>> {
    let packets: Vec<Sent> = requests
        .iter()
        .enumerate()
        .map(|(n, (kind, opts))| (PORT, request(*kind, 0x5000 + n as u32, opts)))
        .collect();
    answers_to(server, conf, &packets, dir)
}

/// What `server` answers to `packets`, each sent to its port at the relay's address
/// (in turn; each waits for its reply). Answers to the server port go to the relay's;
/// those to another port (PXE's), back to the sender.
fn answers_to(
    server: &str,
    conf: &str,
    packets: &[Sent],
    dir: &std::path::Path,
) -> Vec<Option<Reply>> {
    let _running = start(server, conf, dir, "");
    let capture = Capture::open();
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let own_port = sock.local_addr().unwrap().port();
    let mut out = Vec::new();
    for (port, packet) in packets {
        let xid = u32::from_be_bytes(packet[4..8].try_into().unwrap());
        let reply_port = if *port == PORT { PORT } else { own_port };
        let mut got = None;
        // The server may still be starting: ask again for up to three seconds.
        for _ in 0..15 {
            sock.send_to(packet, (RELAY, *port)).unwrap();
            if let Some(r) = capture.reply_to(reply_port, xid, Duration::from_millis(200)) {
                got = Some(parse(&r));
                break;
            }
        }
        out.push(got);
    }
    out
}

const DISCOVER: u8 = 1;
const REQUEST: u8 = 3;

/// A scratch directory (readable by all: a script may run as another user) and a
/// namespace of the test's own, entered; None, said why, without root, dnsmasq or `ip`.
fn setup(test: &str) -> Option<(std::path::PathBuf, Namespace)> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let have_dnsmasq = Command::new("dnsmasq").arg("--version").output().is_ok();
    if !root || !have_dnsmasq {
        eprintln!("skipped: needs root and dnsmasq (CI has both)");
        return None;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("ringmasq-diff-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    common::remove_at_exit(&dir);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let Some(ns) = Namespace::enter(test) else {
        eprintln!("skipped: cannot make a network namespace");
        return None;
    };
    Some((dir, ns))
}

#[test]
fn offers_and_acks_carry_the_options_dnsmasq_sends() {
    let Some((dir, _ns)) = setup("dhcp") else {
        return;
    };
    let range = "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,2h\n";
    let prl = |codes: &[u8]| (55u8, codes.to_vec());
    let discover = |opts: Options| (DISCOVER, opts);
    // Two option files and two host files that disagree.
    let file = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (o1, o2) = (file("o1", "42,10.77.0.41\n"), file("o2", "42,10.77.0.42\n"));
    let (h1, h2) = (
        file("h1", "52:54:00:11:22:33,10.77.0.71\n"),
        file("h2", "52:54:00:11:22:33,10.77.0.72\n"),
    );
    // Four options of 150 bytes or more: more than a 576-byte message holds.
    let long_options: String = (224u8..228)
        .map(|code| {
            format!(
                "dhcp-option={code},\"{}\"\n",
                "x".repeat(150 + usize::from(code - 224) * 20)
            )
        })
        .collect();
    let cases: Vec<(&str, String, Vec<Request>)> = vec![
        ("no request list", range.to_string(), vec![discover(vec![])]),
        (
            "a request list",
            range.to_string(),
            vec![discover(vec![prl(&[1, 3, 6, 15, 28, 42])])],
        ),
        (
            "a domain",
            format!("{range}domain=lan\n"),
            vec![discover(vec![prl(&[1, 3, 6, 12, 15])])],
        ),
        (
            "configured router and DNS",
            format!("{range}dhcp-option=3,10.77.0.254\ndhcp-option=option:dns-server,10.77.0.53,10.77.0.54\n"),
            vec![discover(vec![prl(&[1, 3, 6])])],
        ),
        (
            "an option not asked for, and one forced",
            format!("{range}dhcp-option=42,10.77.0.9\ndhcp-option-force=66,tftp.lan\n"),
            vec![discover(vec![prl(&[1, 3])])],
        ),
        (
            "a dhcp-host",
            format!("{range}dhcp-host=52:54:00:11:22:33,10.77.0.7,printer,1h\n"),
            vec![discover(vec![prl(&[1, 3, 12])])],
        ),
        (
            "an infinite lease",
            "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,infinite\n".to_string(),
            vec![discover(vec![])],
        ),
        (
            "a static range",
            "dhcp-range=10.77.0.0,static,255.255.255.0\ndhcp-host=52:54:00:11:22:33,10.77.0.9\n"
                .to_string(),
            vec![discover(vec![])],
        ),
        (
            "an ignored host",
            format!("{range}dhcp-host=52:54:00:11:22:33,ignore\n"),
            vec![discover(vec![])],
        ),
        (
            "a requested address, then a request for it",
            range.to_string(),
            vec![
                discover(vec![(50, vec![10, 77, 0, 77])]),
                (REQUEST, vec![(50, vec![10, 77, 0, 77]), prl(&[1, 3, 6, 51])]),
            ],
        ),
        (
            "a domain search list and an NTP server, asked for",
            format!("{range}dhcp-option=option:domain-search,lan,example.com\ndhcp-option=option:ntp-server,10.77.0.5\n"),
            vec![discover(vec![prl(&[1, 3, 42, 119])])],
        ),
        (
            "a configured domain over --domain, and a short lease",
            "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,45m\ndomain=lan\ndhcp-option=15,other.lan\n".to_string(),
            vec![discover(vec![prl(&[1, 3, 15])])],
        ),
        (
            "an authoritative server asked for an address outside its range",
            format!("{range}dhcp-authoritative\n"),
            vec![(REQUEST, vec![(50, vec![10, 77, 0, 200])])],
        ),
        (
            "an authoritative server asked for an address on another network",
            format!("{range}dhcp-authoritative\n"),
            vec![(REQUEST, vec![(50, vec![192, 168, 5, 5])])],
        ),
        (
            "a request naming another server",
            range.to_string(),
            vec![(REQUEST, vec![(50, vec![10, 77, 0, 77]), (54, vec![10, 77, 0, 99])])],
        ),
        (
            "sequential addresses",
            format!("{range}dhcp-sequential-ip\n"),
            vec![discover(vec![])],
        ),
        (
            "a client id",
            range.to_string(),
            vec![discover(vec![(61, vec![1, 0x52, 0x54, 0, 0x11, 0x22, 0x33]), prl(&[1, 3])])],
        ),
        (
            "a client id, ignored",
            format!("{range}dhcp-ignore-clid\n"),
            vec![discover(vec![(61, vec![0, 9, 9, 9])])],
        ),
        (
            "a range with its broadcast address",
            "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,10.77.0.255,3h\n".to_string(),
            vec![discover(vec![prl(&[1, 3, 6, 28])])],
        ),
        (
            "options by name",
            format!("{range}dhcp-option=option:router,10.77.0.2\ndhcp-option=option:mtu,1400\ndhcp-option=option:domain-name,corp.example\n"),
            vec![discover(vec![prl(&[1, 3, 15, 26])])],
        ),
        (
            "address lists",
            format!("{range}dhcp-option=42,10.77.0.5,10.77.0.6,10.77.0.7\ndhcp-option=44,10.77.0.8\n"),
            vec![discover(vec![prl(&[42, 44])])],
        ),
        (
            "a string option",
            format!("{range}dhcp-option=17,/srv/root\ndhcp-option=40,nis.lan\n"),
            vec![discover(vec![prl(&[17, 40])])],
        ),
        (
            "a hex option",
            format!("{range}dhcp-option=43,01:04:0a:4d:00:01\n"),
            vec![discover(vec![prl(&[43])])],
        ),
        (
            "numbers of several sizes",
            format!("{range}dhcp-option=19,0\ndhcp-option=2,3600\ndhcp-option=23,64\n"),
            vec![discover(vec![prl(&[2, 19, 23])])],
        ),
        (
            "an empty router option (none sent)",
            format!("{range}dhcp-option=3\n"),
            vec![discover(vec![prl(&[1, 3, 6])])],
        ),
        (
            "a forced boot file name",
            format!("{range}dhcp-option-force=67,pxelinux.0\n"),
            vec![discover(vec![prl(&[1, 3])])],
        ),
        (
            "a host with an infinite lease",
            format!("{range}dhcp-host=52:54:00:11:22:33,10.77.0.8,infinite\n"),
            vec![discover(vec![])],
        ),
        (
            "a host by client id",
            format!("{range}dhcp-host=id:01:52:54:00:11:22:33,10.77.0.10\n"),
            vec![discover(vec![(61, vec![1, 0x52, 0x54, 0, 0x11, 0x22, 0x33])])],
        ),
        (
            "a host by wildcard MAC",
            format!("{range}dhcp-host=52:54:00:*:*:*,10.77.0.11\n"),
            vec![discover(vec![])],
        ),
        (
            "a host with a name and no address",
            format!("{range}domain=lan\ndhcp-host=52:54:00:11:22:33,scanner\n"),
            vec![discover(vec![prl(&[1, 12, 15])])],
        ),
        (
            "a host with several MACs",
            format!("{range}dhcp-host=52:54:00:99:99:99,52:54:00:11:22:33,10.77.0.12\n"),
            vec![discover(vec![])],
        ),
        (
            "a short lease, raised to the two-minute minimum",
            "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,1m\n".to_string(),
            vec![discover(vec![])],
        ),
        (
            "a lease in hours and minutes forms",
            "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,90m\n".to_string(),
            vec![discover(vec![prl(&[51, 58, 59])])],
        ),
        (
            "a discover, then a request with the client's name",
            format!("{range}domain=lan\n"),
            vec![
                discover(vec![(50, vec![10, 77, 0, 60])]),
                (REQUEST, vec![(50, vec![10, 77, 0, 60]), (54, vec![10, 77, 0, 1]), (12, b"laptop".to_vec()), prl(&[1, 3, 12, 15])]),
            ],
        ),
        (
            "a host line with empty fields, and the client's name",
            format!("{range}domain=lan\ndhcp-host=52:54:00:11:22:33,,10.77.0.16,\n"),
            vec![
                discover(vec![prl(&[1, 12, 15])]),
                (REQUEST, vec![(50, vec![10, 77, 0, 16]), (54, vec![10, 77, 0, 1]), (12, b"laptop".to_vec()), prl(&[1, 3, 12, 15])]),
            ],
        ),
        (
            "two option files giving one option",
            format!("{range}dhcp-optsfile={o1}\ndhcp-optsfile={o2}\n"),
            vec![discover(vec![prl(&[1, 42])])],
        ),
        (
            "two host files giving one client",
            format!("{range}dhcp-hostsfile={h1}\ndhcp-hostsfile={h2}\n"),
            vec![discover(vec![])],
        ),
        (
            "a host line of a name and an empty field",
            format!("{range}domain=lan\ndhcp-host=52:54:00:11:22:33,printer, \n"),
            vec![discover(vec![prl(&[1, 12, 15])])],
        ),
        (
            "a request for a host's address",
            format!("{range}dhcp-host=52:54:00:11:22:33,10.77.0.13\n"),
            vec![(REQUEST, vec![(50, vec![10, 77, 0, 13]), (54, vec![10, 77, 0, 1])])],
        ),
        (
            "a request for an address another host has",
            format!("{range}dhcp-host=52:54:00:44:44:44,10.77.0.14\n"),
            vec![(REQUEST, vec![(50, vec![10, 77, 0, 14]), (54, vec![10, 77, 0, 1])])],
        ),
        (
            "an unknown client rebooting, not authoritative",
            range.to_string(),
            vec![(REQUEST, vec![(50, vec![10, 77, 0, 70])])],
        ),
        (
            "an unknown client rebooting, authoritative",
            format!("{range}dhcp-authoritative\n"),
            vec![(REQUEST, vec![(50, vec![10, 77, 0, 70])])],
        ),
        (
            "an inform",
            format!("{range}dhcp-option=42,10.77.0.5\n"),
            vec![(8, vec![prl(&[1, 3, 6, 42])])],
        ),
        (
            "a decline, then a discover",
            range.to_string(),
            vec![
                discover(vec![(50, vec![10, 77, 0, 80])]),
                (4, vec![(50, vec![10, 77, 0, 80]), (54, vec![10, 77, 0, 1])]),
                discover(vec![(50, vec![10, 77, 0, 80])]),
            ],
        ),
        (
            "a lease, a release, then a discover",
            range.to_string(),
            vec![
                (REQUEST, vec![(50, vec![10, 77, 0, 81]), (54, vec![10, 77, 0, 1])]),
                (7, vec![(54, vec![10, 77, 0, 1])]),
                discover(vec![]),
            ],
        ),
        (
            "a second range on another network",
            format!("dhcp-range=192.168.9.10,192.168.9.20,255.255.255.0,1h\n{range}"),
            vec![discover(vec![prl(&[1, 3, 28])])],
        ),
        (
            "a request list in odd order",
            range.to_string(),
            vec![discover(vec![prl(&[58, 59, 51, 6, 3, 1, 28, 15])])],
        ),
        (
            "a netbios name server and node type",
            format!("{range}dhcp-option=option:netbios-ns,10.77.0.4\ndhcp-option=option:netbios-nodetype,8\n"),
            vec![discover(vec![prl(&[44, 46])])],
        ),
        (
            "a lease limit of one, met by another client's lease",
            format!("{range}dhcp-lease-max=1\n"),
            vec![
                (REQUEST, vec![(50, vec![10, 77, 0, 90]), (54, vec![10, 77, 0, 1])]),
                discover(vec![(61, vec![1, 2, 2, 2, 2, 2, 2])]),
            ],
        ),
        (
            "a vendor class and a user class sent",
            range.to_string(),
            vec![discover(vec![(60, b"PXEClient".to_vec()), (77, b"ipxe".to_vec())])],
        ),
        (
            "a tiny maximum message size",
            format!("{range}dhcp-option=42,10.77.0.5\n"),
            vec![discover(vec![(57, vec![2, 64]), prl(&[1, 3, 6, 42])])],
        ),
        (
            "an IP address as a quoted string option",
            format!("{range}dhcp-option=252,\"http://wpad.lan/wpad.dat\"\n"),
            vec![discover(vec![prl(&[252])])],
        ),
        (
            "a dns-server option of 0.0.0.0 (this server)",
            format!("{range}dhcp-option=option:dns-server,0.0.0.0\n"),
            vec![discover(vec![prl(&[6])])],
        ),
        (
            "router 0.0.0.0 (this server)",
            format!("{range}dhcp-option=3,0.0.0.0\n"),
            vec![discover(vec![prl(&[3])])],
        ),
        // Tags (dnsmasq's network ids): what sets them, and what they choose.
        (
            "a vendor class tags the client",
            format!("{range}dhcp-vendorclass=set:hp,Hewlett\ndhcp-option=tag:hp,42,10.77.0.9\n"),
            vec![discover(vec![(60, b"Hewlett-Packard JetDirect".to_vec()), prl(&[1, 3, 42])])],
        ),
        (
            "a vendor class that does not match",
            format!("{range}dhcp-vendorclass=set:hp,Hewlett\ndhcp-option=tag:hp,42,10.77.0.9\n"),
            vec![discover(vec![(60, b"MSFT 5.0".to_vec()), prl(&[1, 3, 42])])],
        ),
        (
            "a user class in counted strings",
            format!("{range}dhcp-userclass=set:acct,accounts\ndhcp-option=tag:acct,3,10.77.0.1\n"),
            vec![discover(vec![(77, b"\x08accounts".to_vec()), prl(&[1, 3])])],
        ),
        (
            "a MAC pattern",
            format!("{range}dhcp-mac=set:kvm,52:54:00:*:*:*\ndhcp-option=tag:kvm,42,10.77.0.8\n"),
            vec![discover(vec![prl(&[1, 42])])],
        ),
        (
            "a relay's circuit id",
            format!("{range}dhcp-circuitid=set:port1,01:02:03\ndhcp-option=tag:port1,42,10.77.0.7\n"),
            vec![discover(vec![prl(&[1, 42]), (82, vec![1, 3, 1, 2, 3])])],
        ),
        (
            "a relay's remote id as text, and a subscriber id",
            format!("{range}dhcp-remoteid=set:r,abc\ndhcp-subscrid=set:s,sub1\ndhcp-option=tag:r,42,10.77.0.6\ndhcp-option=tag:s,44,10.77.0.5\n"),
            vec![discover(vec![prl(&[1, 42, 44]), (82, vec![2, 3, b'a', b'b', b'c', 6, 4, b's', b'u', b'b', b'1'])])],
        ),
        (
            "an option the client sends",
            format!("{range}dhcp-match=set:ipxe,175\ndhcp-option=tag:ipxe,42,10.77.0.4\n"),
            vec![discover(vec![prl(&[1, 42]), (175, vec![1, 1, 1])])],
        ),
        (
            "one of the architectures the client sends",
            format!("{range}dhcp-match=set:efi,option:client-arch,7\ndhcp-option=tag:efi,42,10.77.0.3\ndhcp-option=tag:!efi,44,10.77.0.3\n"),
            vec![discover(vec![prl(&[1, 42, 44]), (93, vec![0, 0, 0, 7])])],
        ),
        (
            "a name the client sends, by wildcard",
            format!("{range}dhcp-name-match=set:lab,lab*\ndhcp-option=tag:lab,42,10.77.0.2\n"),
            vec![discover(vec![prl(&[1, 42]), (12, b"lab42".to_vec())])],
        ),
        (
            "tag-if rules, one after another",
            format!("{range}dhcp-mac=set:a,52:54:00:11:22:33\ntag-if=set:b,tag:a\ntag-if=set:c,tag:b,tag:!known\ndhcp-option=tag:c,42,10.77.0.1\n"),
            vec![discover(vec![prl(&[1, 42])])],
        ),
        (
            "known hosts and a host's own tags",
            format!("{range}dhcp-host=52:54:00:11:22:33,set:special\ndhcp-option=tag:special,42,10.77.0.11\ndhcp-option=tag:known,44,10.77.0.12\ndhcp-option=tag:!known,45,10.77.0.13\n"),
            vec![discover(vec![prl(&[1, 42, 44, 45])])],
        ),
        (
            "unknown clients ignored",
            format!("{range}dhcp-ignore=tag:!known\n"),
            vec![discover(vec![])],
        ),
        (
            "known clients not ignored",
            format!("{range}dhcp-host=52:54:00:11:22:33,10.77.0.60\ndhcp-ignore=tag:!known\n"),
            vec![discover(vec![])],
        ),
        (
            "a class ignored",
            format!("{range}dhcp-vendorclass=set:ms,MSFT\ndhcp-ignore=tag:ms\n"),
            vec![discover(vec![(60, b"MSFT 5.0".to_vec())])],
        ),
        (
            "a range's tag chooses its router over the untagged one",
            "dhcp-range=set:red,10.77.0.50,10.77.0.150,255.255.255.0,2h\ndhcp-option=3,10.77.0.2\ndhcp-option=tag:red,3,10.77.0.1\ndhcp-option=tag:!red,42,10.77.0.1\n".to_string(),
            vec![discover(vec![prl(&[1, 3, 42])])],
        ),
        (
            "a range only tagged clients may use",
            "dhcp-range=tag:blue,10.77.0.50,10.77.0.99,255.255.255.0,2h\ndhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,2h\n".to_string(),
            vec![discover(vec![])],
        ),
        (
            "a tagged option over an untagged one, and a negated one",
            format!("{range}dhcp-mac=set:kvm,52:54:00:*:*:*\ndhcp-option=42,10.77.0.1\ndhcp-option=tag:kvm,42,10.77.0.2\ndhcp-option=tag:!kvm,44,10.77.0.3\ndhcp-option=44,10.77.0.4\n"),
            vec![discover(vec![prl(&[1, 42, 44])])],
        ),
        (
            "two untagged options of one number: the last",
            format!("{range}dhcp-option=42,10.77.0.1\ndhcp-option=42,10.77.0.2\n"),
            vec![discover(vec![prl(&[1, 42])])],
        ),
        (
            "a tagged host over an untagged one",
            format!("{range}dhcp-mac=set:kvm,52:54:00:*:*:*\ndhcp-host=52:54:00:11:22:33,10.77.0.70\ndhcp-host=tag:kvm,52:54:00:11:22:33,10.77.0.60\n"),
            vec![discover(vec![])],
        ),
        (
            "a boot file, server name and server",
            format!("{range}dhcp-boot=pxelinux.0,bootsrv,10.77.0.5\n"),
            vec![discover(vec![prl(&[1, 3])])],
        ),
        (
            "a boot file asked for as an option",
            format!("{range}dhcp-boot=pxelinux.0,bootsrv\n"),
            vec![discover(vec![prl(&[1, 3, 66, 67])])],
        ),
        (
            "a boot file asked for, with no override",
            format!("{range}dhcp-boot=pxelinux.0,bootsrv\ndhcp-no-override\n"),
            vec![discover(vec![prl(&[1, 3, 66, 67])])],
        ),
        (
            "a tagged boot file over the untagged one",
            format!("{range}dhcp-match=set:efi,option:client-arch,7\ndhcp-boot=bios.img\ndhcp-boot=tag:efi,efi.img\n"),
            vec![discover(vec![prl(&[1, 3]), (93, vec![0, 7])])],
        ),
        (
            "a boot file option not asked for goes in the file field",
            format!("{range}dhcp-option=67,undi.kpxe\ndhcp-option=66,10.77.0.5\n"),
            vec![discover(vec![prl(&[1, 3])])],
        ),
        (
            "broadcast replies for a class",
            format!("{range}dhcp-vendorclass=set:old,OldRom\ndhcp-broadcast=tag:old\n"),
            vec![discover(vec![(60, b"OldRom 1".to_vec())])],
        ),
        (
            "a generated name for a nameless client",
            format!("{range}dhcp-generate-names\n"),
            vec![
                discover(vec![(50, vec![10, 77, 0, 88])]),
                (REQUEST, vec![(50, vec![10, 77, 0, 88]), prl(&[1, 3, 12])]),
            ],
        ),
        (
            "a client's name ignored",
            format!("{range}dhcp-ignore-names\n"),
            vec![
                discover(vec![(50, vec![10, 77, 0, 89]), (12, b"laptop".to_vec())]),
                (REQUEST, vec![(50, vec![10, 77, 0, 89]), (12, b"laptop".to_vec()), prl(&[1, 3, 12])]),
            ],
        ),
        (
            "a domain for a subnet, over the plain one",
            format!("{range}domain=other.lan\ndomain=lab.lan,10.77.0.0/24\n"),
            vec![discover(vec![prl(&[1, 3, 15])])],
        ),
        (
            "a domain for another range, so the plain one",
            format!("{range}domain=other.lan\ndomain=lab.lan,10.77.0.200,10.77.0.250\n"),
            vec![discover(vec![prl(&[1, 3, 15])])],
        ),
        (
            "rapid commit: a DISCOVER asking for it is ACKed",
            format!("{range}dhcp-rapid-commit\n"),
            vec![discover(vec![(80, vec![]), prl(&[1, 3])])],
        ),
        (
            "rapid commit asked for but not allowed",
            range.to_string(),
            vec![discover(vec![(80, vec![]), prl(&[1, 3])])],
        ),
        (
            "a reply delay, the offer otherwise the same",
            format!("{range}dhcp-reply-delay=1\n"),
            vec![discover(vec![prl(&[1, 3])])],
        ),
        (
            "an option matched by hex with a wildcard, from its start",
            format!("{range}dhcp-match=set:x,175,01:*:03\ndhcp-match=set:y,175,02:03\ndhcp-option=tag:x,42,10.77.0.21\ndhcp-option=tag:y,44,10.77.0.22\n"),
            vec![discover(vec![prl(&[1, 42, 44]), (175, vec![1, 9, 3, 2, 3])])],
        ),
        (
            "an option matched by text anywhere in it",
            format!("{range}dhcp-match=set:pxe,60,Client\ndhcp-option=tag:pxe,42,10.77.0.23\n"),
            vec![discover(vec![prl(&[1, 42]), (60, b"PXEClient:Arch:00000".to_vec())])],
        ),
    ];
    let bootp = |opts: Options| (BOOTP, opts);
    let pxe_class = (60u8, b"PXEClient:Arch:00000:UNDI:002001".to_vec());
    let cases: Vec<(&str, String, Vec<Request>)> = cases
        .into_iter()
        .chain([
            (
                "vendor: options for a matching vendor class, asked for",
                format!("{range}dhcp-option=vendor:PXEClient,6,2b\ndhcp-option=vendor:PXEClient,10,00:50:58:45\n"),
                vec![discover(vec![prl(&[1, 3, 43, 60]), pxe_class.clone()])],
            ),
            (
                "vendor: options not asked for, one forced",
                format!("{range}dhcp-option=vendor:PXEClient,6,2b\ndhcp-option-force=vendor:PXE,9,1\n"),
                vec![discover(vec![prl(&[1, 3]), pxe_class.clone()])],
            ),
            (
                "vendor: options for another vendor class",
                format!("{range}dhcp-option=vendor:MSFT,2,1i\n"),
                vec![discover(vec![prl(&[1, 3, 43]), pxe_class.clone()])],
            ),
            (
                "a vendor: option with an address, and one tagged for a tag not set",
                format!("{range}dhcp-option=vendor:PXEClient,1,0.0.0.0\ndhcp-option=tag:nope,vendor:PXEClient,2,7\n"),
                vec![discover(vec![prl(&[1, 3, 43]), pxe_class.clone()])],
            ),
            (
                "a vendor: option with option 60 configured too",
                format!("{range}dhcp-option=vendor:PXEClient,6,2b\ndhcp-option=60,PXEClient\n"),
                vec![discover(vec![prl(&[1, 3, 43, 60]), pxe_class.clone()])],
            ),
            (
                "encap: options asked for, and not",
                format!("{range}dhcp-option=encap:175,190,iqn.example\ndhcp-option=encap:175,191,3\ndhcp-option=encap:176,1,1\n"),
                vec![discover(vec![prl(&[1, 3, 175])])],
            ),
            (
                "an encap: option forced, beside one not asked for",
                format!("{range}dhcp-option-force=encap:175,190,forced\ndhcp-option=encap:175,191,3\n"),
                vec![discover(vec![prl(&[1, 3])])],
            ),
            (
                "vi-encap: options, asked for",
                format!("{range}dhcp-option=vi-encap:3561,1,value\ndhcp-option=vi-encap:3561,2,10.77.0.5\n"),
                vec![discover(vec![prl(&[1, 3, 125])])],
            ),
            (
                "a client FQDN option in DNS form, with a domain",
                format!("{range}domain=lan\n"),
                vec![
                    discover(vec![prl(&[1, 3, 12]), (81, b"\x05\0\0\x05fqdn1\0".to_vec())]),
                    (REQUEST, vec![(50, vec![10, 77, 0, 73]), prl(&[1, 3, 12, 15]), (81, b"\x05\0\0\x05fqdn1\0".to_vec())]),
                ],
            ),
            (
                "a client FQDN option as text, beside option 12, no domain",
                range.to_string(),
                vec![discover(vec![prl(&[1, 3, 12]), (12, b"other".to_vec()), (81, b"\x00\0\0textname".to_vec())])],
            ),
            (
                "a client FQDN option asking to update itself, with --dhcp-client-update",
                format!("{range}domain=lan\ndhcp-client-update\n"),
                vec![discover(vec![prl(&[1, 3]), (81, b"\x01\0\0selfup.lan".to_vec())])],
            ),
            (
                "a client FQDN option asking to update itself, without --dhcp-client-update",
                format!("{range}domain=lan\n"),
                vec![discover(vec![prl(&[1, 3]), (81, b"\x01\0\0selfup.lan\0".to_vec())])],
            ),
            (
                "a malformed option before the ones that matter",
                range.to_string(),
                vec![discover(vec![(50, vec![10, 77]), (81, b"\x04\0\0\x3fbad".to_vec()), prl(&[1, 3]), (61, b"\x01abcdef".to_vec())])],
            ),
            (
                "dhcp-match on a vendor class of an enterprise (vi-encap), and of another",
                format!("{range}dhcp-match=set:vi,vi-encap:3561,PXE\ndhcp-match=set:other,vi-encap:9,PXE\ndhcp-option=tag:vi,42,10.77.0.41\ndhcp-option=tag:other,44,10.77.0.42\n"),
                vec![discover(vec![prl(&[1, 42, 44]), (124, vec![0, 0, 0x0d, 0xe9, 8, 3, b'a', b'b', b'c', 3, b'P', b'X', b'E'])])],
            ),
            (
                "BOOTP for a dhcp-host with an address",
                format!("{range}dhcp-host=52:54:00:11:22:33,10.77.0.9,pc1\n"),
                vec![bootp(vec![])],
            ),
            (
                "BOOTP without --bootp-dynamic",
                range.to_string(),
                vec![bootp(vec![])],
            ),
            (
                "BOOTP with --bootp-dynamic, and an option for the bootp tag",
                format!("{range}bootp-dynamic\ndhcp-option=tag:bootp,42,10.77.0.31\ndhcp-option=tag:!bootp,44,10.77.0.32\n"),
                vec![bootp(vec![])],
            ),
            (
                "BOOTP with --bootp-dynamic for a tag the client lacks",
                format!("{range}bootp-dynamic=tag:pxe\n"),
                vec![bootp(vec![])],
            ),
            (
                "BOOTP options past the 64-byte vendor area",
                format!("{range}bootp-dynamic\ndomain=a-rather-long-domain-name.example.com\ndhcp-option=6,10.77.0.1,10.77.0.2,10.77.0.3\ndhcp-option=42,10.77.0.4,10.77.0.5\n"),
                vec![bootp(vec![])],
            ),
            (
                "BOOTP options that fit one at a time: the one configured last goes",
                format!("{range}bootp-dynamic\ndhcp-option=42,10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5\ndhcp-option=44,10.0.0.6,10.0.0.7,10.0.0.8,10.0.0.9,10.0.0.10\n"),
                vec![bootp(vec![])],
            ),
            (
                "BOOTP with a boot file, and a dhcp-host lease time",
                format!("{range}dhcp-host=52:54:00:11:22:33,10.77.0.9,pc1,30m\ndhcp-boot=pxelinux.0,bootsrv,10.77.0.2\n"),
                vec![bootp(vec![])],
            ),
            (
                "options past 576 bytes go in the boot file and server name fields",
                format!("{range}{long_options}"),
                vec![discover(vec![prl(&[1, 3, 6, 224, 225, 226, 227])])],
            ),
            (
                "options past 576 bytes, with a boot file",
                format!("{range}{long_options}dhcp-boot=pxelinux.0\n"),
                vec![discover(vec![prl(&[1, 3, 6, 224, 225, 226, 227])])],
            ),
            (
                "options past 576 bytes to a client that takes 1500",
                format!("{range}{long_options}"),
                vec![discover(vec![prl(&[1, 3, 6, 224, 225, 226, 227]), (57, vec![5, 220])])],
            ),
            (
                "options past 576 bytes to a client without a request list",
                format!("{range}{long_options}"),
                vec![discover(vec![])],
            ),
        ])
        .collect();
    let mut differences = Vec::new();
    for (what, conf, requests) in &cases {
        let theirs = answers("dnsmasq", conf, requests, &dir);
        let ours = answers("ringmasq", conf, requests, &dir);
        // BOOTP cases that dnsmasq answers must be answered (not both silent).
        let silent = what.contains("without") || what.contains("lacks");
        if what.starts_with("BOOTP") && !silent && theirs.iter().any(Option::is_none) {
            differences.push(format!("{what}: dnsmasq did not answer"));
        }
        for (n, (t, o)) in theirs.iter().zip(&ours).enumerate() {
            if t != o {
                differences.push(format!(
                    "{what}, reply {n}:\n  dnsmasq  {t:?}\n  ringmasq {o:?}"
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// A relayed request from a PXE client of system type `arch` (option 93), with its
/// vendor class, machine id and request list, and `more` options.
fn pxe_request(kind: u8, xid: u32, arch: u16, more: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut opts = vec![
        (55u8, vec![1, 3, 6, 43, 60, 66, 67, 97, 128, 129]),
        (60, b"PXEClient:Arch:00000:UNDI:002001".to_vec()),
        (93, arch.to_be_bytes().to_vec()),
        (97, (0..17).collect()),
    ];
    opts.retain(|(code, _)| !more.iter().any(|(c, _)| c == code));
    opts.extend(more.iter().cloned());
    request(kind, xid, &opts)
}

/// `packet` with the client's address (ciaddr) set.
fn with_ciaddr(mut packet: Vec<u8>, addr: Ipv4Addr) -> Vec<u8> {
    packet[12..16].copy_from_slice(&addr.octets());
    packet
}

/// A menu item picked (option 43's sub-option 71: boot server type and layer).
fn boot_item(boot_type: u16, layer: u16) -> (u8, Vec<u8>) {
    let mut v = vec![71, 4];
    v.extend_from_slice(&boot_type.to_be_bytes());
    v.extend_from_slice(&layer.to_be_bytes());
    v.push(255);
    (43, v)
}

#[test]
fn pxe_clients_get_the_menus_and_boot_files_dnsmasq_gives() {
    let Some((dir, _ns)) = setup("pxe") else {
        return;
    };
    let proxy = "dhcp-range=10.77.0.0,proxy,255.255.255.0\n";
    let range = "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,2h\n";
    let client = Ipv4Addr::new(10, 77, 0, 60);
    let at = |port: u16, packet: Vec<u8>| (port, packet);
    let menu = "pxe-service=x86PC,Boot from local disk\n\
                pxe-service=x86PC,Install Linux,pxelinux\n\
                pxe-service=x86PC,Other boot server,7,10.77.0.9\n";
    let long_menu = |items: usize| -> String {
        (0..items)
            .map(|i| format!("pxe-service=x86PC,Menu item number {i} with a long text,boot{i}\n"))
            .collect()
    };
    let two_efi =
        "pxe-service=x86-64_EFI,EFI one,grubx64.efi\npxe-service=x86-64_EFI,EFI two,shim\n";
    let cases: Vec<(&str, String, Vec<Sent>)> = vec![
        (
            "proxy: one service",
            format!("{proxy}pxe-service=x86PC,Install Linux,pxelinux\n"),
            vec![at(PORT, pxe_request(DISCOVER, 1, 0, &[]))],
        ),
        (
            "proxy: a menu of three, with local boot and another server",
            format!("{proxy}{menu}"),
            vec![at(PORT, pxe_request(DISCOVER, 2, 0, &[]))],
        ),
        (
            "proxy: a prompt with a timeout, and a vendor option for PXE clients",
            format!("{proxy}{menu}pxe-prompt=Press F8 for the menu,10\ndhcp-option=vendor:PXEClient,1,0.0.0.0\n"),
            vec![at(PORT, pxe_request(DISCOVER, 3, 0, &[]))],
        ),
        (
            "proxy: a service type with no server is searched for",
            format!("{proxy}pxe-service=x86PC,Search,9\npxe-service=x86PC,Here,pxelinux.0\n"),
            vec![at(PORT, pxe_request(DISCOVER, 4, 0, &[]))],
        ),
        (
            "proxy: a menu longer than one option",
            format!("{proxy}{}", long_menu(6)),
            vec![at(PORT, pxe_request(DISCOVER, 5, 0, &[]))],
        ),
        (
            "proxy: a menu too long to send",
            format!("{proxy}{}", long_menu(8)),
            vec![at(PORT, pxe_request(DISCOVER, 24, 0, &[]))],
        ),
        (
            "proxy: a UEFI client with one service, asked again at the PXE port",
            format!("{proxy}pxe-service=x86-64_EFI,EFI boot,grubx64.efi\n"),
            vec![
                at(PORT, pxe_request(DISCOVER, 6, 7, &[])),
                at(PXE_PORT, with_ciaddr(pxe_request(REQUEST, 7, 7, &[]), client)),
            ],
        ),
        (
            "proxy: a UEFI client with two services, asked again at the PXE port",
            format!("{proxy}{two_efi}"),
            vec![
                at(PORT, pxe_request(DISCOVER, 8, 7, &[])),
                at(PXE_PORT, pxe_request(REQUEST, 9, 7, &[])),
            ],
        ),
        (
            "proxy: a REQUEST at the PXE port with its address, and with a requested one",
            format!("{proxy}{two_efi}"),
            vec![
                at(PXE_PORT, with_ciaddr(pxe_request(REQUEST, 25, 7, &[]), client)),
                at(
                    PXE_PORT,
                    with_ciaddr(pxe_request(REQUEST, 26, 7, &[(50, client.octets().to_vec())]), client),
                ),
            ],
        ),
        (
            "proxy: no service for the client's type, and a dhcp-boot",
            format!("{proxy}{menu}dhcp-boot=undionly.kpxe,,10.77.0.8\n"),
            vec![at(PORT, pxe_request(DISCOVER, 10, 2, &[]))],
        ),
        (
            "proxy: tags choose the services, the range's tag among them",
            "dhcp-range=set:lab,10.77.0.0,proxy,255.255.255.0\ndhcp-mac=set:ours,52:54:00:*:*:*\n\
                     pxe-service=tag:ours,x86PC,Ours,ours\npxe-service=tag:!ours,x86PC,Not ours,other\n\
                     pxe-service=tag:lab,x86PC,Lab,lab\npxe-prompt=tag:ours,Ours,3\n"
                .to_string(),
            vec![at(PORT, pxe_request(DISCOVER, 11, 0, &[]))],
        ),
        (
            "proxy: another PXE vendor class",
            format!("{proxy}{menu}dhcp-pxe-vendor=PXEClient,HW-Client\n"),
            vec![at(PORT, pxe_request(DISCOVER, 12, 0, &[(60, b"HW-Client:Arch:00000".to_vec())]))],
        ),
        (
            "proxy: nothing for a client that is not PXE, nor without a system type",
            format!("{proxy}{menu}"),
            vec![
                at(PORT, request(DISCOVER, 13, &[(60, b"MSFT 5.0".to_vec())])),
                at(PORT, request(DISCOVER, 14, &[(60, b"PXEClient:Arch:00000".to_vec())])),
            ],
        ),
        (
            "proxy: nothing for an ignored client",
            format!("{proxy}{menu}dhcp-mac=set:no,52:54:00:*:*:*\ndhcp-ignore=tag:no\n"),
            vec![at(PORT, pxe_request(DISCOVER, 15, 0, &[]))],
        ),
        (
            "an address and the menu from a normal range",
            format!("{range}{menu}"),
            vec![at(PORT, pxe_request(DISCOVER, 16, 0, &[]))],
        ),
        (
            "an address and no menu for a UEFI client with one service",
            format!("{range}pxe-service=x86-64_EFI,EFI boot,grubx64.efi\ndhcp-boot=ipxe.efi\n"),
            vec![at(PORT, pxe_request(DISCOVER, 17, 7, &[]))],
        ),
        (
            "an address and the PXE options, but no menu where option 43 is not asked for",
            format!("{range}{menu}dhcp-option=60,NotPXE\n"),
            vec![at(PORT, pxe_request(DISCOVER, 18, 0, &[(55, vec![1, 3, 6, 60, 97])]))],
        ),
        (
            "a boot server's answer to a menu item picked, at the PXE port and the server port",
            format!("{range}{menu}"),
            vec![
                at(PXE_PORT, with_ciaddr(pxe_request(REQUEST, 19, 0, &[boot_item(0x8000, 0)]), client)),
                at(PORT, with_ciaddr(pxe_request(REQUEST, 20, 0, &[boot_item(0x8000, 3)]), client)),
            ],
        ),
        (
            "no boot server answer for an item of another server, or for BIS",
            format!("{range}{menu}"),
            vec![
                at(PXE_PORT, with_ciaddr(pxe_request(REQUEST, 21, 0, &[boot_item(7, 0)]), client)),
                at(PXE_PORT, with_ciaddr(pxe_request(REQUEST, 22, 0, &[boot_item(0x8000, 0x8000)]), client)),
            ],
        ),
        (
            "a normal client with PXE served is answered as before",
            format!("{range}{menu}"),
            vec![at(PORT, request(DISCOVER, 23, &[(55, vec![1, 3, 6, 43, 60])]))],
        ),
    ];
    let mut differences = Vec::new();
    for (what, conf, packets) in &cases {
        let theirs = answers_to("dnsmasq", conf, packets, &dir);
        let ours = answers_to("ringmasq", conf, packets, &dir);
        let silent = what.contains("nothing") || what.starts_with("no ");
        if !silent && theirs.iter().any(Option::is_none) {
            differences.push(format!("{what}: dnsmasq did not answer"));
        }
        for (n, (t, o)) in theirs.iter().zip(&ours).enumerate() {
            if t != o {
                differences.push(format!(
                    "{what}, reply {n}:\n  dnsmasq  {t:?}\n  ringmasq {o:?}"
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn log_dhcp_says_what_dnsmasq_says_of_pxe_exchanges() {
    let Some((dir, _ns)) = setup("log-pxe") else {
        return;
    };
    let client = Ipv4Addr::new(10, 77, 0, 60);
    let menu = "pxe-service=x86PC,Boot from local disk\npxe-service=x86PC,Install Linux,pxelinux\n";
    let cases = [
        (
            "dhcp-range=set:lab,10.77.0.0,proxy,255.255.255.0\npxe-prompt=Choose,5\n",
            vec![
                (PORT, pxe_request(DISCOVER, 0x6001, 0, &[])),
                (PORT, pxe_request(DISCOVER, 0x6002, 7, &[])),
                (PXE_PORT, pxe_request(REQUEST, 0x6003, 7, &[])),
                (
                    PORT,
                    request(DISCOVER, 0x6004, &[(60, b"MSFT 5.0".to_vec())]),
                ),
            ],
        ),
        (
            "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,2h\n",
            vec![
                (PORT, pxe_request(DISCOVER, 0x6011, 0, &[])),
                (
                    PXE_PORT,
                    with_ciaddr(
                        pxe_request(REQUEST, 0x6012, 0, &[boot_item(0x8000, 0)]),
                        client,
                    ),
                ),
                (
                    PXE_PORT,
                    with_ciaddr(
                        pxe_request(REQUEST, 0x6013, 0, &[boot_item(0x8000, 0x8000)]),
                        client,
                    ),
                ),
            ],
        ),
    ];
    let mut differences = Vec::new();
    for (range, packets) in &cases {
        let conf = format!("{range}{menu}");
        let theirs = logged_packets_to("dnsmasq", &conf, packets, &dir);
        let ours = logged_packets_to("ringmasq", &conf, packets, &dir);
        if theirs.iter().all(|l| !l.contains("PXE(")) {
            differences.push(format!(
                "{range}: dnsmasq logged no PXE exchange: {theirs:?}"
            ));
        }
        if theirs != ours {
            differences.push(format!(
                "{range}\n  dnsmasq:\n    {}\n  ringmasq:\n    {}",
                theirs.join("\n    "),
                ours.join("\n    ")
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// A script that writes each call (arguments, then the DNSMASQ_ variables, the two
/// that hold times only as present) to `events`, one block a call.
fn recording_script(path: &std::path::Path, events: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(
        path,
        format!(
            "#!/bin/sh\n{{ echo \"ARGS $*\"; env | grep '^DNSMASQ_' | \
             grep -v '^DNSMASQ_LEASE_EXPIRES=\\|^DNSMASQ_TIME_REMAINING=' | sort; \
             [ -n \"$DNSMASQ_LEASE_EXPIRES\" ] && echo 'DNSMASQ_LEASE_EXPIRES set'; \
             [ -n \"$DNSMASQ_TIME_REMAINING\" ] && echo 'DNSMASQ_TIME_REMAINING set'; \
             echo; }} >> {}\necho \"called for $1\"\n",
            events.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The script calls `server` makes for `requests` (each sent once; a reply waited for
/// where `kind` expects one), with the lease file holding one lease at start: each call
/// as its block, a call repeated counted once (dnsmasq tells its script of the lease
/// there at start twice, the second time whenever its loop next runs).
fn script_calls(server: &str, requests: &[Vec<u8>], dir: &std::path::Path) -> Vec<String> {
    let events = dir.join(format!("{server}.events"));
    let _ = std::fs::remove_file(&events);
    let script = dir.join(format!("{server}-script.sh"));
    recording_script(&script, &events);
    let conf = format!(
        "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,2h\ndomain=lan\nlog-dhcp\n\
         dhcp-host=52:54:00:11:22:33,set:pinned\ndhcp-script={}\n",
        script.display()
    );
    let _running = start(
        server,
        &conf,
        dir,
        "1999999999 52:54:00:11:22:44 10.77.0.88 oldhost *\n",
    );
    let read = || std::fs::read_to_string(&events).unwrap_or_default();
    // The lease there at start is told of before any client is answered.
    assert!(
        common::wait_until(|| read().contains("oldhost")),
        "{server} never ran its script"
    );
    let capture = Capture::open();
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    for packet in requests {
        sock.send_to(packet, (RELAY, PORT)).unwrap();
        let xid = u32::from_be_bytes(packet[4..8].try_into().unwrap());
        if packet[242] != RELEASE {
            assert!(
                capture.reply(xid, Duration::from_secs(3)).is_some(),
                "{server} did not answer request {xid:#x}"
            );
        }
    }
    // The script writes its block line by line: wait for the blank line that ends the
    // release's.
    assert!(
        common::wait_until(|| read()
            .split("ARGS del")
            .nth(1)
            .is_some_and(|rest| rest.contains("\n\n"))),
        "{server} never told its script of the release"
    );
    let mut calls: Vec<String> = Vec::new();
    for block in read().split("\n\n").filter(|b| !b.trim().is_empty()) {
        if !calls.iter().any(|c| c == block) {
            calls.push(block.to_string());
        }
    }
    calls
}

const RELEASE: u8 = 7;
const DECLINE: u8 = 4;
const INFORM: u8 = 8;

#[test]
fn the_lease_script_is_called_as_dnsmasq_calls_it() {
    let Some((dir, _ns)) = setup("script") else {
        return;
    };
    let server_id = (54u8, RELAY.octets().to_vec());
    let asked = (50u8, vec![10, 77, 0, 77]);
    let client_id = (61u8, [&[1u8][..], &MAC].concat());
    let renewing = |mut p: Vec<u8>| {
        p[12..16].copy_from_slice(&[10, 77, 0, 77]);
        p
    };
    let requests = vec![
        request(DISCOVER, 0x100, &[client_id.clone(), asked.clone()]),
        // Selecting: a name, classes, a request list and relay agent ids.
        request(
            REQUEST,
            0x101,
            &[
                client_id.clone(),
                asked.clone(),
                server_id.clone(),
                (12, b"myhost".to_vec()),
                (55, vec![1, 3, 6, 15]),
                (60, b"vendorX".to_vec()),
                (77, b"\x03abc\x02de".to_vec()),
                (161, b"http://mud".to_vec()),
                (82, b"\x01\x03cir\x02\x03rem".to_vec()),
            ],
        ),
        // Selecting again under another name: the old name goes, then the new comes.
        request(
            REQUEST,
            0x102,
            &[
                client_id.clone(),
                asked.clone(),
                server_id.clone(),
                (12, b"other".to_vec()),
            ],
        ),
        // Renewing under the first name: what it says is not kept for the script.
        renewing(request(
            REQUEST,
            0x103,
            &[client_id.clone(), (12, b"myhost".to_vec())],
        )),
        renewing(request(
            RELEASE,
            0x104,
            &[client_id.clone(), server_id.clone()],
        )),
    ];
    let theirs = script_calls("dnsmasq", &requests, &dir);
    let ours = script_calls("ringmasq", &requests, &dir);
    let log = std::fs::read_to_string(dir.join("ringmasq.log")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(theirs, ours, "dnsmasq's calls, then ringmasq's");
    assert_eq!(ours.len(), 7, "{ours:?}");
    // The script's output is logged.
    assert!(log.contains("called for add"), "{log}");
}

#[test]
fn the_script_hears_of_the_leases_at_start_and_on_sighup_in_dnsmasqs_order() {
    let Some((dir, _ns)) = setup("script-order") else {
        return;
    };
    // Four leases: one on a network no range serves, one infinite with a client id.
    let leases = "1999999999 52:54:00:11:22:01 10.77.0.101 first *\n\
                  1999999998 52:54:00:11:22:02 10.77.0.102 second *\n\
                  1999999997 52:54:00:11:22:03 10.88.0.103 third *\n\
                  0 52:54:00:11:22:04 10.77.0.104 fourth 01:52:54:00:11:22:04\n";
    let mut seen = Vec::new();
    for server in ["dnsmasq", "ringmasq"] {
        let events = dir.join(format!("{server}.order-events"));
        let _ = std::fs::remove_file(&events);
        let script = dir.join(format!("{server}-order.sh"));
        recording_script(&script, &events);
        let conf = format!(
            "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,2h\ndhcp-script={}\n",
            script.display()
        );
        let running = start(server, &conf, &dir, leases);
        let calls = || {
            let text = std::fs::read_to_string(&events).unwrap_or_default();
            let mut blocks: Vec<String> = text
                .split("\n\n")
                .filter(|b| !b.trim().is_empty())
                .map(str::to_string)
                .collect();
            // The last block may be half written.
            if !text.ends_with("\n\n") {
                blocks.pop();
            }
            blocks.dedup();
            blocks
        };
        assert!(
            common::wait_until(|| calls().len() >= 4),
            "{server}: {:?}",
            calls()
        );
        // SAFETY: kill has no memory preconditions; the pid is our child's.
        unsafe { libc::kill(running.0.id() as libc::pid_t, libc::SIGHUP) };
        assert!(
            common::wait_until(|| calls().len() >= 8),
            "{server} after SIGHUP: {:?}",
            calls()
        );
        drop(running);
        seen.push(calls());
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(seen[0], seen[1], "dnsmasq's calls, then ringmasq's");
    // The lease file's last line first, both times.
    let order: Vec<&str> = seen[1]
        .iter()
        .filter_map(|b| b.lines().next())
        .map(|args| args.split(' ').nth(4).unwrap_or(""))
        .collect();
    let once = ["fourth", "third", "second", "first"];
    assert_eq!(order, [once, once].concat(), "{:?}", seen[1]);
}

/// What is logged at start of the DHCP configuration, as dnsmasq logs it: each range,
/// then /etc/ethers, the host files (a bad line by its number) and the option files, each
/// kind last given first, one of them missing; with DNS off, no hosts or resolv file read.
#[test]
fn the_dhcp_configuration_is_logged_at_start_as_dnsmasq_logs_it() {
    let Some((dir, _ns)) = setup("start-lines") else {
        return;
    };
    let hosts = dir.join("hosts-file");
    std::fs::write(
        &hosts,
        "52:54:00:00:00:01,10.77.0.60\nzz:zz,10.77.0.61\n52:54:00:00:00:02,host!bad\n\
         52:54:00:00:00:03,,10.77.0.62,\n",
    )
    .unwrap();
    let second = dir.join("hosts-file-2");
    std::fs::write(&second, "52:54:00:00:00:04,10.77.0.64\n").unwrap();
    let options = dir.join("opts-file");
    std::fs::write(&options, "option:router,10.77.0.1\n42,10.77.0.2\n").unwrap();
    let missing = dir.join("missing-opts");
    // Files of one kind are read last given first.
    let conf = format!(
        "dhcp-range=10.77.0.50,10.77.0.150,infinite\ndhcp-range=10.78.0.0,static\ndhcp-range=10.80.0.0,proxy\n\
         dhcp-range=set:red,10.79.0.10,10.79.0.20,255.255.255.0,45m\nread-ethers\n\
         dhcp-hostsfile={}\ndhcp-hostsfile={}\ndhcp-optsfile={}\ndhcp-optsfile={}\n",
        hosts.display(),
        second.display(),
        options.display(),
        missing.display()
    );
    let mut seen = Vec::new();
    for server in ["dnsmasq", "ringmasq"] {
        let log = dir.join(format!("{server}.log"));
        let _ = std::fs::remove_file(&log);
        let _running = start(server, &conf, &dir, "");
        let text = || std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            common::wait_until(|| text().contains("cannot read")),
            "{server}: {}",
            text()
        );
        let lines: Vec<String> = text()
            .lines()
            .filter_map(|l| l.split_once("]: ").map(|(_, m)| m.to_string()))
            .filter(|m| {
                ![
                    "started",
                    "compile time",
                    "warning: option",
                    "DNS service disabled",
                ]
                .iter()
                .any(|p| m.starts_with(p))
            })
            .collect();
        seen.push(lines);
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(seen[0], seen[1], "dnsmasq's lines, then ringmasq's");
    let expected = format!("bad hex constant at line 2 of {}", hosts.display());
    assert!(seen[1].contains(&expected), "{:?}", seen[1]);
}

#[test]
fn a_read_only_lease_file_takes_its_leases_from_the_script_and_events_run_as_its_user() {
    use std::os::unix::fs::PermissionsExt;
    let Some((dir, _ns)) = setup("init") else {
        return;
    };
    let mut seen = Vec::new();
    for server in ["dnsmasq", "ringmasq"] {
        let events = dir.join(format!("{server}.init-events"));
        std::fs::write(&events, "").unwrap();
        std::fs::set_permissions(&events, std::fs::Permissions::from_mode(0o666)).unwrap();
        let script = dir.join(format!("{server}-init.sh"));
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$* as $(id -un)\" >> {}\n[ \"$1\" = init ] && \
                 echo '1999999999 52:54:00:11:22:33 10.77.0.123 fromscript *'\nexit 0\n",
                events.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let conf = format!(
            "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,2h\nleasefile-ro\n\
             dhcp-scriptuser=nobody\ndhcp-script={}\n",
            script.display()
        );
        let _running = start(server, &conf, &dir, "");
        let read = || std::fs::read_to_string(&events).unwrap_or_default();
        assert!(
            common::wait_until(|| read().contains("old")),
            "{server}: {}",
            read()
        );
        // The client the script's lease is for is offered that address.
        let capture = Capture::open();
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.send_to(&request(DISCOVER, 0x200, &[]), (RELAY, PORT))
            .unwrap();
        let offer = capture
            .reply(0x200, Duration::from_secs(3))
            .map(|r| parse(&r).0);
        let calls: Vec<String> = read().lines().map(str::to_string).collect();
        let mut unique = calls.clone();
        unique.dedup();
        seen.push((offer, unique));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(seen[0], seen[1], "dnsmasq, then ringmasq");
    assert_eq!(seen[1].0, Some(Ipv4Addr::new(10, 77, 0, 123)));
    assert_eq!(
        seen[1].1,
        [
            "init as root",
            "old 52:54:00:11:22:33 10.77.0.123 fromscript as nobody"
        ]
    );
}

#[test]
fn a_failing_init_call_stops_the_server_with_its_code_plus_ten() {
    use std::os::unix::fs::PermissionsExt;
    let Some((dir, _ns)) = setup("init-fails") else {
        return;
    };
    let script = dir.join("init-fails.sh");
    std::fs::write(&script, "#!/bin/sh\n[ \"$1\" = init ] && exit 3\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = format!(
        "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,2h\nleasefile-ro\ndhcp-script={}\n",
        script.display()
    );
    let mut seen = Vec::new();
    for server in ["dnsmasq", "ringmasq"] {
        let mut running = start(server, &conf, &dir, "");
        let mut status = None;
        assert!(
            common::wait_until(|| {
                status = running.0.try_wait().unwrap();
                status.is_some()
            }),
            "{server} kept running"
        );
        seen.push(status.and_then(|s| s.code()));
    }
    assert_eq!(seen[0], seen[1], "dnsmasq, then ringmasq");
    assert_eq!(seen[1], Some(13));
}

/// The lines `server` logs with `--log-dhcp` for `requests` (sent one at a time, each
/// answered before the next): those of the exchanges, which all start with the request's
/// transaction id, without the timestamp and program name.
fn logged_exchanges(
    server: &str,
    conf: &str,
    requests: &[Request],
    dir: &std::path::Path,
) -> Vec<String> {
    let packets: Vec<Vec<u8>> = requests
        .iter()
        .enumerate()
        .map(|(n, (kind, opts))| request(*kind, 0x5000 + n as u32, opts))
        .collect();
    logged_packets(server, conf, &packets, dir)
}

/// As `logged_exchanges`, for requests given whole.
fn logged_packets(
    server: &str,
    conf: &str,
    packets: &[Vec<u8>],
    dir: &std::path::Path,
) -> Vec<String> {
    let to_server: Vec<Sent> = packets.iter().map(|p| (PORT, p.clone())).collect();
    logged_packets_to(server, conf, &to_server, dir)
}

/// As `logged_packets`, each request sent to its port (see `answers_to`).
fn logged_packets_to(
    server: &str,
    conf: &str,
    packets: &[Sent],
    dir: &std::path::Path,
) -> Vec<String> {
    let log = dir.join(format!("{server}.log"));
    let _ = std::fs::remove_file(&log);
    let _running = start(server, &format!("log-dhcp\n{conf}"), dir, "");
    let capture = Capture::open();
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let own_port = sock.local_addr().unwrap().port();
    // Ready once it logs its ranges (and a moment for its socket).
    let started =
        common::wait_until(|| std::fs::read_to_string(&log).is_ok_and(|t| t.contains("DHCP, ")));
    assert!(started, "{server} never started");
    std::thread::sleep(Duration::from_millis(300));
    let mut xids = Vec::new();
    for (port, packet) in packets {
        let xid = u32::from_be_bytes(packet[4..8].try_into().unwrap());
        xids.push(format!("{xid} "));
        sock.send_to(packet, (RELAY, *port)).unwrap();
        let reply_port = if *port == PORT { PORT } else { own_port };
        let _ = capture.reply_to(reply_port, xid, Duration::from_secs(2));
    }
    // The last lines may follow the reply.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once("]: ").map(|(_, text)| text.to_string()))
        .filter(|text| xids.iter().any(|x| text.starts_with(x.as_str())))
        .collect()
}

#[test]
fn log_dhcp_says_what_dnsmasq_says_of_each_exchange() {
    let Some((dir, _ns)) = setup("log-dhcp") else {
        return;
    };
    let range = "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,2h\n";
    let asks = vec![
        (
            55u8,
            vec![
                1, 3, 6, 12, 15, 28, 42, 51, 54, 58, 59, 66, 67, 119, 121, 249, 252,
            ],
        ),
        (12, b"loghost".to_vec()),
        (60, b"MSFT 5.0".to_vec()),
        (77, b"\x05class".to_vec()),
    ];
    let mut chosen = asks.clone();
    chosen.push((50, vec![10, 77, 0, 77]));
    chosen.push((54, vec![10, 77, 0, 1]));
    let exchange = vec![(DISCOVER, asks.clone()), (REQUEST, chosen)];
    let cases: Vec<(&str, String, Vec<Request>)> = vec![
        ("a plain range", format!("{range}dhcp-host=52:54:00:11:22:33,10.77.0.77\n"), exchange.clone()),
        (
            "tags, boot fields, a domain and options",
            format!(
                "{range}dhcp-host=52:54:00:11:22:33,10.77.0.77,set:pinned\ndomain=lan\n\
                 dhcp-vendorclass=set:ms,MSFT\ndhcp-option=tag:ms,42,10.77.0.123\n\
                 dhcp-boot=pxelinux.0,bootserver,10.77.0.9\ndhcp-option=119,lan,example.com\n"
            ),
            exchange.clone(),
        ),
        (
            "a static range, no request list",
            "dhcp-range=10.77.0.0,static,255.255.255.0\ndhcp-host=52:54:00:11:22:33,10.77.0.77,pinned\n"
                .to_string(),
            vec![(DISCOVER, vec![]), (REQUEST, vec![(50, vec![10, 77, 0, 77])])],
        ),
        (
            "a tagged range, authority, and requests NAKed",
            "dhcp-range=set:lan,10.77.0.50,10.77.0.150,255.255.255.0,2h\ndhcp-authoritative\n\
             dhcp-option=tag:lan,option:ntp-server,10.77.0.5\n"
                .to_string(),
            vec![
                (DISCOVER, vec![(55, vec![1, 3, 42])]),
                (REQUEST, vec![(50, vec![10, 77, 0, 200]), (55, vec![1, 3, 42])]),
                (REQUEST, vec![(50, vec![10, 9, 9, 9])]),
            ],
        ),
        (
            "BOOTP",
            format!("{range}bootp-dynamic\ndhcp-boot=pxelinux.0\n"),
            vec![(BOOTP, vec![])],
        ),
        (
            "rapid commit, a relay agent's ids and a client FQDN",
            format!("{range}dhcp-rapid-commit\ndomain=lan\ndhcp-circuitid=set:port1,port-1\n\
                     dhcp-option=tag:port1,option:ntp-server,10.77.0.7\n"),
            vec![(
                DISCOVER,
                vec![
                    (80, vec![]),
                    (55, vec![1, 3, 12, 15, 42, 81]),
                    (81, b"\x05\0\0\x05fqdn1\x03lan\0".to_vec()),
                    (82, b"\x01\x06port-1\x02\x03abc".to_vec()),
                ],
            )],
        ),
        (
            "an ignored client",
            format!("{range}dhcp-mac=set:bad,52:54:00:11:22:33\ndhcp-ignore=tag:bad\n"),
            vec![(DISCOVER, vec![(55, vec![1, 3])])],
        ),
        (
            "a reply past 576 bytes, its overflow in the boot file and server name fields",
            format!(
                "{range}{}",
                [(224, 50), (225, 100), (226, 150), (227, 150), (228, 30)]
                    .iter()
                    .map(|(c, n)| format!("dhcp-option={c},\"{}\"\n", "x".repeat(*n)))
                    .collect::<String>()
            ),
            vec![(DISCOVER, vec![(55, vec![1, 3, 224, 225, 226, 227, 228])])],
        ),
    ];
    let mut failures = Vec::new();
    for (what, conf, requests) in &cases {
        let theirs = logged_exchanges("dnsmasq", conf, requests, &dir);
        let ours = logged_exchanges("ringmasq", conf, requests, &dir);
        assert!(
            theirs.len() > requests.len(),
            "{what}: dnsmasq logged {theirs:?}"
        );
        if theirs != ours {
            failures.push(format!(
                "{what}:\n dnsmasq:  {theirs:#?}\n ringmasq: {ours:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn log_dhcp_says_what_dnsmasq_says_of_informs_renewals_releases_and_declines() {
    let Some((dir, _ns)) = setup("log-dhcp-more") else {
        return;
    };
    let conf = "dhcp-range=10.77.0.50,10.77.0.150,255.255.255.0,2h\n\
                dhcp-host=52:54:00:11:22:33,10.77.0.77\ndomain=lan\n";
    let with_ciaddr = |mut p: Vec<u8>, a: [u8; 4]| {
        p[12..16].copy_from_slice(&a);
        p
    };
    let server_id = (54u8, vec![10, 77, 0, 1]);
    let prl = (55u8, vec![1, 3, 6, 15, 51]);
    let packets = vec![
        request(DISCOVER, 0x6000, std::slice::from_ref(&prl)),
        request(
            REQUEST,
            0x6001,
            &[(50, vec![10, 77, 0, 77]), server_id.clone(), prl.clone()],
        ),
        // Renewing, then informing, releasing, and declining an offer.
        with_ciaddr(
            request(REQUEST, 0x6002, std::slice::from_ref(&prl)),
            [10, 77, 0, 77],
        ),
        with_ciaddr(
            request(INFORM, 0x6003, std::slice::from_ref(&prl)),
            [10, 77, 0, 77],
        ),
        with_ciaddr(
            request(RELEASE, 0x6004, std::slice::from_ref(&server_id)),
            [10, 77, 0, 77],
        ),
        request(DISCOVER, 0x6005, std::slice::from_ref(&prl)),
        request(
            DECLINE,
            0x6006,
            &[(50, vec![10, 77, 0, 77]), server_id.clone()],
        ),
        // Renewing a lease this server does not have (the request comes unicast, relayed).
        with_ciaddr(
            request(REQUEST, 0x6007, std::slice::from_ref(&prl)),
            [10, 77, 0, 99],
        ),
    ];
    // A renewal's T1 and T2 come early by the same random few seconds (at most an
    // eighth of T1): checked, then set aside for the comparison.
    let fuzzed = |lines: Vec<String>| -> Vec<String> {
        let secs = |text: &str| {
            let t = text.rsplit("  ").next().unwrap_or("");
            let (h, rest) = t.split_once('h').unwrap_or(("0", t));
            let (m, rest) = rest.split_once('m').unwrap_or(("0", rest));
            let s = rest.trim_end_matches('s');
            let n = |x: &str| x.parse::<u32>().unwrap_or(0);
            n(h) * 3600 + n(m) * 60 + n(s)
        };
        let renewal = |l: &String| l.starts_with("24578 sent size:  4 option: 5");
        let t1 = lines
            .iter()
            .find(|l| renewal(l) && l.contains(" T1 "))
            .map(|l| secs(l));
        let t2 = lines
            .iter()
            .find(|l| renewal(l) && l.contains(" T2 "))
            .map(|l| secs(l));
        let (t1, t2) = (t1.expect("a renewal's T1"), t2.expect("a renewal's T2"));
        assert!(
            (3600 - 450..=3600).contains(&t1) && t2 - t1 == 6300 - 3600,
            "T1 {t1} T2 {t2}"
        );
        lines
            .into_iter()
            .map(
                |l| match renewal(&l) && (l.contains(" T1 ") || l.contains(" T2 ")) {
                    true => l
                        .rsplit_once("  ")
                        .map_or(l.clone(), |(head, _)| format!("{head}  (fuzzed)")),
                    false => l,
                },
            )
            .collect()
    };
    let theirs = fuzzed(logged_packets("dnsmasq", conf, &packets, &dir));
    let ours = fuzzed(logged_packets("ringmasq", conf, &packets, &dir));
    assert!(theirs.len() >= packets.len(), "dnsmasq logged {theirs:#?}");
    assert_eq!(theirs, ours, "dnsmasq, then ringmasq");
}

/// `--script-arp`: both servers, side by side in the test's namespace, tell their
/// scripts of the neighbour table as they start (`arp-add` for each complete entry,
/// IPv4 and IPv6) and of what changed at their next look 90 seconds on (`arp-del` for
/// an entry gone or with a new hardware address, `arp-add` for one new), with the same
/// arguments, no variables and in the same order. dnsmasq looks only when its loop
/// wakes, so each is asked a DNS query after the 90 seconds.
#[test]
fn neighbour_table_changes_reach_the_script_as_dnsmasq_tells_them() {
    let Some((dir, _ns)) = setup("arp") else {
        return;
    };
    let ip = |args: &str| {
        let ok = Command::new("ip")
            .args(args.split_whitespace())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {args}");
    };
    // Both ends of a veth pair in the namespace: a link with ARP, unlike loopback.
    ip("link add rmqa type veth peer name rmqb");
    ip("link set rmqa up");
    ip("link set rmqb up");
    ip("addr add 10.78.0.1/24 dev rmqa");
    ip("neigh add 10.78.0.5 lladdr 52:54:00:aa:bb:05 dev rmqa nud permanent");
    ip("neigh add 10.78.0.6 lladdr 52:54:00:aa:bb:06 dev rmqa nud stale");
    ip("-6 neigh add fd77::7 lladdr 52:54:00:aa:bb:07 dev rmqa nud permanent");
    // Still resolving: left out.
    ip("neigh add 10.78.0.8 dev rmqa nud incomplete");
    let servers = [
        ("dnsmasq", "dnsmasq", 10053u16),
        ("ringmasq", RINGMASQ, 10054),
    ];
    let events = |server: &str| {
        std::fs::read_to_string(dir.join(format!("{server}.events"))).unwrap_or_default()
    };
    let _running: Vec<Running> = servers
        .iter()
        .map(|(server, binary, port)| {
            let script = dir.join(format!("{server}-script.sh"));
            recording_script(&script, &dir.join(format!("{server}.events")));
            Running(
                Command::new(binary)
                    .args([
                        "-k",
                        "--no-resolv",
                        "--no-hosts",
                        "--bind-interfaces",
                        "--listen-address=127.0.0.1",
                        "--pid-file=",
                        "--user=root",
                        "--script-arp",
                        &format!("--port={port}"),
                        &format!("--dhcp-script={}", script.display()),
                        &format!("--log-facility={}/{server}.log", dir.display()),
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let calls = |server: &str| events(server).matches("ARGS").count();
    for (server, _, _) in servers {
        assert!(
            common::wait_until(|| calls(server) == 3),
            "{server} told its script of {}",
            events(server)
        );
    }
    assert!(events("ringmasq").contains("ARGS arp-add 52:54:00:aa:bb:07 fd77::7\n\n"));
    ip("neigh del 10.78.0.5 dev rmqa");
    ip("neigh replace 10.78.0.6 lladdr 52:54:00:aa:bb:66 dev rmqa nud permanent");
    ip("neigh add 10.78.0.9 lladdr 52:54:00:aa:bb:09 dev rmqa nud reachable");
    ip("neigh add 10.78.0.10 lladdr 52:54:00:aa:bb:10 dev rmqa nud permanent");
    std::thread::sleep(Duration::from_secs(91));
    // A query for localhost: id, RD, one question.
    let query =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x09localhost\x00\x00\x01\x00\x01";
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    for (_, _, port) in servers {
        sock.send_to(query, (Ipv4Addr::LOCALHOST, port)).unwrap();
    }
    for (server, _, _) in servers {
        assert!(
            common::wait_until(|| calls(server) == 8),
            "{server} told its script of {}",
            events(server)
        );
    }
    let ours = events("ringmasq");
    assert_eq!(events("dnsmasq"), ours, "dnsmasq, then ringmasq");
    let arp_del = ours.find("ARGS arp-del 52:54:00:aa:bb:06 10.78.0.6\n");
    let arp_add = ours.find("ARGS arp-add 52:54:00:aa:bb:66 10.78.0.6\n");
    assert!(arp_del.is_some() && arp_add > arp_del, "{ours}");
}
