//! ringmasq's TFTP server against dnsmasq 2.90's, for the same configuration and the same
//! client packets: each server on a loopback address of its own (port 69, so root is
//! needed; without root or dnsmasq the tests say so and pass, and CI runs them as root),
//! driven by a scripted client whose every received packet is recorded. The packets,
//! the TFTP log lines and the lease-change script's `tftp` calls must agree.

mod common;

use common::Running;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

const RINGMASQ: &str = env!("CARGO_BIN_EXE_ringmasq");
const TFTP_PORT: u16 = 69;

/// Each configuration's pair of loopback addresses (dnsmasq's, then ringmasq's), so that
/// tests running at once never share port 69.
static NEXT_PAIR: AtomicU8 = AtomicU8::new(10);

/// Held for reading by tests that bind addresses of their own, and for writing by one
/// that binds the wildcard address.
static WILDCARD: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn address_pair() -> (Ipv4Addr, Ipv4Addr) {
    let n = NEXT_PAIR.fetch_add(2, Ordering::Relaxed);
    (
        Ipv4Addr::new(127, 0, 69, n),
        Ipv4Addr::new(127, 0, 69, n + 1),
    )
}

/// A scratch directory readable by all (the servers read files as `nobody`), or None,
/// said why, without root or dnsmasq.
fn setup(test: &str) -> Option<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let have_dnsmasq = Command::new("dnsmasq").arg("--version").output().is_ok();
    if !root || !have_dnsmasq {
        eprintln!("skipped: needs root (port 69) and dnsmasq (CI has both)");
        return None;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("ringmasq-tftp-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    common::remove_at_exit(&dir);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(dir)
}

/// Write `bytes` to `dir/name` (directories made), readable by all.
fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
}

/// One server started on `addr` with `options`, logging to a file of its own.
struct Server {
    _process: Running,
    log: PathBuf,
    addr: Ipv4Addr,
}

/// Start `program` on `addr` (bound to it alone), or on the wildcard address where
/// `addr` is 127.0.0.1.
fn start(dir: &Path, name: &str, program: &str, addr: Ipv4Addr, options: &str) -> Server {
    let log = dir.join(format!("{name}.log"));
    let _ = std::fs::remove_file(&log);
    let conf = dir.join(format!("{name}.conf"));
    let listen = if addr == Ipv4Addr::LOCALHOST {
        String::new()
    } else {
        format!("listen-address={addr}\nbind-interfaces\n")
    };
    std::fs::write(
        &conf,
        format!(
            "port={}\n{listen}no-resolv\nno-hosts\n\
             pid-file=\nkeep-in-foreground\nlog-facility={}\n{options}",
            common::free_port(),
            log.display()
        ),
    )
    .unwrap();
    let process = Running(
        Command::new(program)
            .arg("-C")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let server = Server {
        _process: process,
        log,
        addr,
    };
    assert!(
        common::wait_until(|| server.messages().iter().any(|m| m.starts_with("started"))),
        "{name} did not start: {:?}",
        server.messages()
    );
    server
}

impl Server {
    /// The log's messages (what follows "]: ").
    fn messages(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once("]: ").map(|(_, m)| m.to_string()))
            .collect()
    }

    /// The log's TFTP messages (those under `<program>-tftp`).
    fn tftp_messages(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("-tftp["))
            .filter_map(|l| l.split_once("]: ").map(|(_, m)| m.to_string()))
            .collect()
    }
}

/// How the scripted client behaves after the request.
#[derive(Clone, Copy, Debug)]
enum Client {
    /// Acknowledge everything until the last block.
    AckAll,
    /// Acknowledge the first `n` packets, then send an error and stop.
    ErrorAfter(usize),
}

/// What the client saw: each packet as opcode, number and contents (a DATA block's as
/// its length and a checksum), and whether any came from a port other than 69 (a
/// transfer's own port).
#[derive(Debug, PartialEq, Eq)]
struct Transcript {
    packets: Vec<(u16, u16, String)>,
    own_port: Option<bool>,
}

/// A block's data, short enough to read in a failure: length and FNV-1a hash.
fn summary(data: &[u8]) -> String {
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{} bytes {hash:016x}", data.len())
}

fn rrq(name: &[u8], mode: &str, options: &[(&str, &str)]) -> Vec<u8> {
    let mut p = vec![0, 1];
    p.extend_from_slice(name);
    p.push(0);
    p.extend_from_slice(mode.as_bytes());
    p.push(0);
    for (k, v) in options {
        p.extend_from_slice(k.as_bytes());
        p.push(0);
        p.extend_from_slice(v.as_bytes());
        p.push(0);
    }
    p
}

/// Send `request` to `server` and follow the transfer as `client` does.
fn exchange(server: Ipv4Addr, request: &[u8], client: Client) -> Transcript {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    sock.send_to(request, (server, TFTP_PORT)).unwrap();
    let mut t = Transcript {
        packets: Vec::new(),
        own_port: None,
    };
    let mut block_size = 512;
    let mut buf = vec![0u8; 70_000];
    while let Ok((n, from)) = sock.recv_from(&mut buf) {
        let p = &buf[..n];
        let op = u16::from_be_bytes([p[0], p[1]]);
        let number = if n >= 4 {
            u16::from_be_bytes([p[2], p[3]])
        } else {
            0
        };
        let body = p.get(4..).unwrap_or_default();
        if op == 6 {
            let all = p[2..].to_vec();
            let fields: Vec<&[u8]> = all.split(|&b| b == 0).collect();
            for pair in fields.chunks(2) {
                if pair[0] == b"blksize" {
                    block_size = std::str::from_utf8(pair[1]).unwrap().parse().unwrap();
                }
            }
            t.packets
                .push((op, 0, String::from_utf8_lossy(&all).into_owned()));
        } else if op == 3 {
            t.packets.push((op, number, summary(body)));
        } else {
            t.packets
                .push((op, number, String::from_utf8_lossy(body).into_owned()));
        }
        t.own_port = Some(from.port() != TFTP_PORT);
        let ack = |block: u16| {
            let mut a = vec![0, 4];
            a.extend_from_slice(&block.to_be_bytes());
            a
        };
        let acked = match op {
            6 => 0,
            3 => number,
            _ => break,
        };
        if let Client::ErrorAfter(k) = client {
            if t.packets.len() > k {
                sock.send_to(b"\0\x05\0\x00bye now\0", from).unwrap();
                break;
            }
        }
        sock.send_to(&ack(acked), from).unwrap();
        if op == 3 && n < block_size + 4 {
            break;
        }
    }
    t
}

/// Both servers, with `options`, get each request and its client; the transcripts and
/// the TFTP log lines must agree. Returns the servers for more checks.
fn agree_on(dir: &Path, options: &str, cases: &[(&str, Vec<u8>, Client)]) -> [Server; 2] {
    let _shared = WILDCARD.read();
    let (a, b) = address_pair();
    let servers = [
        start(dir, "dnsmasq", "dnsmasq", a, options),
        start(dir, "ringmasq", RINGMASQ, b, options),
    ];
    for (what, request, client) in cases {
        let got: Vec<Transcript> = servers
            .iter()
            .map(|s| exchange(s.addr, request, *client))
            .collect();
        assert_eq!(got[0], got[1], "{what}: dnsmasq, then ringmasq");
        assert!(!got[0].packets.is_empty(), "{what}: no answer");
        // A transfer's line comes once its last ACK is in, which the client sends as it
        // leaves: waited for, so that the next request's line cannot come first.
        for s in &servers {
            settled_for(s, Duration::from_millis(50));
        }
    }
    let logs: Vec<Vec<String>> = servers.iter().map(settled).collect();
    assert_eq!(logs[0], logs[1], "TFTP log lines: dnsmasq, then ringmasq");
    servers
}

/// The TFTP log lines once they stop changing.
fn settled(s: &Server) -> Vec<String> {
    settled_for(s, Duration::from_millis(300))
}

/// The TFTP log lines once they have not changed for `quiet`.
fn settled_for(s: &Server, quiet: Duration) -> Vec<String> {
    let mut last = s.tftp_messages();
    common::wait_until(|| {
        std::thread::sleep(quiet);
        let now = s.tftp_messages();
        let same = now == last;
        last = now;
        same
    });
    last
}

/// Bytes whose LFs fall across block boundaries at small block sizes.
fn text_file() -> Vec<u8> {
    let mut t = Vec::new();
    for i in 0..60 {
        t.extend_from_slice(format!("line {i}\n").as_bytes());
        if i % 7 == 0 {
            t.extend_from_slice(b"\n\r\n");
        }
    }
    t
}

#[test]
fn transfers_options_and_refusals_match_dnsmasq() {
    let Some(dir) = setup("transfers") else {
        return;
    };
    let root = dir.join("root");
    let binary: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    file(&root, "file.bin", &binary);
    file(&root, "exact.bin", &binary[..1024]);
    file(&root, "Hello.txt", b"hello\n");
    file(&root, "lines.txt", &text_file());
    file(&root, "sub/deep.txt", b"deep\n");
    file(&root, "empty", b"");
    let private = file(&root, "private", b"secret\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    let options = format!("enable-tftp\ntftp-root={}\n", root.display());
    let octet = |name: &str, opts: &[(&str, &str)]| rrq(name.as_bytes(), "octet", opts);
    let abs = format!("{}/Hello.txt", root.display());
    let cases = vec![
        ("plain", octet("Hello.txt", &[]), Client::AckAll),
        ("several blocks", octet("file.bin", &[]), Client::AckAll),
        ("full last block", octet("exact.bin", &[]), Client::AckAll),
        ("empty file", octet("empty", &[]), Client::AckAll),
        (
            "blksize and tsize",
            octet("file.bin", &[("blksize", "1400"), ("tsize", "0")]),
            Client::AckAll,
        ),
        (
            "huge blksize",
            octet("file.bin", &[("blksize", "100000")]),
            Client::AckAll,
        ),
        (
            "blksize 0",
            octet("Hello.txt", &[("blksize", "0")]),
            Client::AckAll,
        ),
        (
            "blksize not a number",
            octet("Hello.txt", &[("blksize", "x")]),
            Client::AckAll,
        ),
        (
            "blksize negative",
            octet("Hello.txt", &[("blksize", "-3")]),
            Client::AckAll,
        ),
        (
            "options in capitals",
            octet("Hello.txt", &[("TSIZE", "0"), ("BlkSize", "4")]),
            Client::AckAll,
        ),
        (
            "unknown options",
            octet("Hello.txt", &[("timeout", "3"), ("windowsize", "4")]),
            Client::AckAll,
        ),
        (
            "netascii",
            rrq(
                b"lines.txt",
                "netascii",
                &[("blksize", "8"), ("tsize", "0")],
            ),
            Client::AckAll,
        ),
        (
            "netascii 512",
            rrq(b"lines.txt", "NETASCII", &[]),
            Client::AckAll,
        ),
        ("absolute in root", octet(&abs, &[]), Client::AckAll),
        (
            "absolute outside root",
            octet("/etc/hostname", &[]),
            Client::AckAll,
        ),
        ("subdirectory", octet("sub/deep.txt", &[]), Client::AckAll),
        ("backslashes", octet("sub\\deep.txt", &[]), Client::AckAll),
        (
            "climbing out",
            octet("sub/../Hello.txt", &[]),
            Client::AckAll,
        ),
        ("dot dot alone", octet("..", &[]), Client::AckAll),
        ("a directory", octet("sub", &[]), Client::AckAll),
        ("not there", octet("nothere", &[]), Client::AckAll),
        ("case kept", octet("hello.txt", &[]), Client::AckAll),
        ("not world-readable", octet("private", &[]), Client::AckAll),
        (
            "write request",
            {
                let mut w = octet("new", &[]);
                w[1] = 2;
                w
            },
            Client::AckAll,
        ),
        ("mail mode", rrq(b"Hello.txt", "mail", &[]), Client::AckAll),
        ("no mode", b"\0\x01Hello.txt\0".to_vec(), Client::AckAll),
        (
            "no final NUL",
            b"\0\x01Hello.txt\0octet".to_vec(),
            Client::AckAll,
        ),
        (
            "an acknowledgement",
            b"\0\x04\0\x01".to_vec(),
            Client::AckAll,
        ),
        (
            "client error mid-file",
            octet("file.bin", &[]),
            Client::ErrorAfter(2),
        ),
        (
            "client error at the end",
            octet("Hello.txt", &[]),
            Client::ErrorAfter(1),
        ),
        (
            "client error on the OACK",
            octet("Hello.txt", &[("tsize", "0")]),
            Client::ErrorAfter(0),
        ),
    ];
    agree_on(&dir, &options, &cases);
}

#[test]
fn roots_lowercase_unique_roots_and_block_limits_match_dnsmasq() {
    let Some(dir) = setup("roots") else {
        return;
    };
    let (a, b) = (dir.join("a"), dir.join("b"));
    file(&a, "boot/pxe.0", b"from a\n");
    file(&b, "boot/pxe.0", b"from b\n");
    file(&b, "127.0.0.1/boot/pxe.0", b"the client's own\n");
    let big: Vec<u8> = (0..9000u32).map(|i| (i % 256) as u8).collect();
    file(&b, "big", &big);
    let cases = |name: &str| {
        vec![
            (
                "mixed case",
                rrq(name.as_bytes(), "octet", &[]),
                Client::AckAll,
            ),
            (
                "blksize",
                rrq(b"big", "octet", &[("blksize", "9000")]),
                Client::AckAll,
            ),
        ]
    };
    // A root for the interface (lo) before the default one; names lowered.
    let options = format!(
        "enable-tftp\ntftp-root={}\ntftp-root={},lo\ntftp-lowercase\n",
        b.display(),
        a.display()
    );
    agree_on(&dir, &options, &cases("BOOT\\PXE.0")[..1]);
    // The client's own directory; --tftp-no-blocksize; a larger packet buffer.
    let options = format!(
        "enable-tftp\ntftp-root={}\ntftp-unique-root\ntftp-no-blocksize\n",
        b.display()
    );
    agree_on(&dir, &options, &cases("boot/pxe.0"));
    let options = format!(
        "enable-tftp\ntftp-root={}\nedns-packet-max=4096\n",
        b.display()
    );
    agree_on(&dir, &options, &cases("boot/pxe.0"));
    let options = format!("enable-tftp\ntftp-root={}\ntftp-mtu=600\n", b.display());
    agree_on(&dir, &options, &cases("boot/pxe.0"));
    // --quiet-tftp: dnsmasq 2.90 leaves out "not found" alone.
    let options = format!("enable-tftp\ntftp-root={}\nquiet-tftp\n", b.display());
    let mut quiet = cases("boot/pxe.0");
    quiet.push(("not found", rrq(b"nothere", "octet", &[]), Client::AckAll));
    quiet.push(("a directory", rrq(b"boot", "octet", &[]), Client::AckAll));
    agree_on(&dir, &options, &quiet);
    // No root: names from the top of the file system.
    let absolute = format!("{}/boot/pxe.0", b.display());
    agree_on(
        &dir,
        "enable-tftp\n",
        &[
            (
                "absolute",
                rrq(absolute.as_bytes(), "octet", &[]),
                Client::AckAll,
            ),
            (
                "relative",
                rrq(&absolute.as_bytes()[1..], "octet", &[]),
                Client::AckAll,
            ),
        ],
    );
}

#[test]
fn secure_mode_sends_only_the_servers_own_files() {
    let Some(dir) = setup("secure") else {
        return;
    };
    let root = dir.join("root");
    file(&root, "roots", b"root's file\n");
    let own = file(&root, "nobodys", b"nobody's file\n");
    let nobody = c"nobody";
    // SAFETY: getpwnam with a NUL-terminated name; the record is read at once.
    let uid = unsafe {
        let pw = libc::getpwnam(nobody.as_ptr());
        assert!(!pw.is_null(), "no user nobody");
        (*pw).pw_uid
    };
    std::os::unix::fs::chown(&own, Some(uid), None).unwrap();
    let options = format!("enable-tftp\ntftp-root={}\ntftp-secure\n", root.display());
    agree_on(
        &dir,
        &options,
        &[
            ("owned by root", rrq(b"roots", "octet", &[]), Client::AckAll),
            (
                "owned by nobody",
                rrq(b"nobodys", "octet", &[]),
                Client::AckAll,
            ),
        ],
    );
}

#[test]
fn transfer_ports_and_single_port_mode_match_dnsmasq() {
    let Some(dir) = setup("ports") else {
        return;
    };
    let root = dir.join("root");
    file(&root, "f", &[9u8; 1500]);
    let case = [("three blocks", rrq(b"f", "octet", &[]), Client::AckAll)];
    // dnsmasq 2.90 cannot answer from port 69 on an address no interface holds (it
    // logs 'failed to send packet: Network is unreachable'): compare on the wildcard
    // address, one server at a time.
    let single = format!(
        "enable-tftp\ntftp-root={}\ntftp-single-port\n",
        root.display()
    );
    let seen: Vec<(Transcript, Vec<String>)> = {
        let _alone = WILDCARD.write();
        [("dnsmasq", "dnsmasq"), ("ringmasq", RINGMASQ)]
            .iter()
            .map(|(name, program)| {
                let server = start(&dir, name, program, Ipv4Addr::LOCALHOST, &single);
                let t = exchange(server.addr, &case[0].1, Client::AckAll);
                (t, settled(&server))
            })
            .collect()
    };
    assert_eq!(seen[0], seen[1], "single port: dnsmasq, then ringmasq");
    assert_eq!(seen[1].0.own_port, Some(false));
    assert_eq!(seen[1].0.packets.len(), 3);
    let range = format!(
        "enable-tftp\ntftp-root={}\ntftp-port-range=47000,47003\ntftp-max=10\n",
        root.display()
    );
    let servers = agree_on(&dir, &range, &case);
    // The range's ports are the transfers' (dnsmasq's and ringmasq's alike).
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock.send_to(&rrq(b"f", "octet", &[]), (servers[1].addr, TFTP_PORT))
        .unwrap();
    let mut buf = [0u8; 600];
    let (_, from): (usize, SocketAddr) = sock.recv_from(&mut buf).unwrap();
    assert!((47000..=47003).contains(&from.port()), "{from}");
}

#[test]
fn start_lines_and_missing_roots_match_dnsmasq() {
    let Some(dir) = setup("start") else {
        return;
    };
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let missing = dir.join("missing");
    for options in [
        "enable-tftp\n".to_string(),
        format!("enable-tftp\ntftp-root={}\ntftp-secure\n", root.display()),
        format!("enable-tftp\ntftp-root={},lo\n", root.display()),
        format!(
            "enable-tftp\ntftp-root={}\ntftp-single-port\n",
            root.display()
        ),
        format!(
            "enable-tftp\ntftp-root={}\ntftp-no-fail\n",
            missing.display()
        ),
        format!(
            "enable-tftp\ntftp-root={}\ntftp-port-range=47100,47104\n",
            root.display()
        ),
    ] {
        let _shared = WILDCARD.read();
        let (a, b) = address_pair();
        let lines: Vec<Vec<String>> = [("dnsmasq", "dnsmasq", a), ("ringmasq", RINGMASQ, b)]
            .iter()
            .map(|(name, program, addr)| {
                start(&dir, name, program, *addr, &options).tftp_messages()
            })
            .collect();
        assert_eq!(lines[0], lines[1], "{options}");
    }
    // A root that is not there stops the server, exit code 3, as in dnsmasq.
    for program in ["dnsmasq", RINGMASQ] {
        let out = Command::new(program)
            .args([
                "--keep-in-foreground",
                "--port=0",
                "--enable-tftp",
                &format!("--tftp-root={}", missing.display()),
                "--log-facility=-",
                "--pid-file=",
            ])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{program}: {said}");
        assert!(
            said.contains(&format!(
                "TFTP directory {} inaccessible: No such file or directory",
                missing.display()
            )),
            "{program}: {said}"
        );
    }
}

#[test]
fn the_script_hears_of_each_file_sent() {
    let Some(dir) = setup("script") else {
        return;
    };
    let root = dir.join("root");
    file(&root, "a.bin", &[1u8; 700]);
    file(&root, "b.txt", b"b\n");
    let calls = |name: &str| dir.join(format!("{name}.calls"));
    let script = dir.join("script.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"$* | $(env | grep -c ^DNSMASQ_)\" >> \"$CALLS\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut got = Vec::new();
    let _shared = WILDCARD.read();
    for (name, program) in [("dnsmasq", "dnsmasq"), ("ringmasq", RINGMASQ)] {
        let (addr, _) = address_pair();
        // The script finds its output file by name through a wrapper of its own.
        let wrapper = dir.join(format!("{name}.sh"));
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nCALLS={} exec {} \"$@\"\n",
                calls(name).display(),
                script.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let options = format!(
            "enable-tftp\ntftp-root={}\ndhcp-script={}\n",
            root.display(),
            wrapper.display()
        );
        let server = start(&dir, name, program, addr, &options);
        // Sent; sent; failed (an error on a full block); sent (an error on the last).
        for (f, client) in [
            ("a.bin", Client::AckAll),
            ("b.txt", Client::AckAll),
            ("a.bin", Client::ErrorAfter(0)),
            ("a.bin", Client::ErrorAfter(1)),
        ] {
            exchange(server.addr, &rrq(f.as_bytes(), "octet", &[]), client);
        }
        assert!(
            common::wait_until(
                || std::fs::read_to_string(calls(name)).is_ok_and(|c| c.lines().count() >= 3)
            ),
            "{name}: the script was not run"
        );
        std::thread::sleep(Duration::from_millis(500));
        got.push(std::fs::read_to_string(calls(name)).unwrap());
    }
    assert_eq!(got[0], got[1], "script calls: dnsmasq, then ringmasq");
    assert_eq!(
        got[1],
        format!(
            "tftp 700 127.0.0.1 {0}/a.bin | 0\ntftp 2 127.0.0.1 {0}/b.txt | 0\n\
             tftp 700 127.0.0.1 {0}/a.bin | 0\n",
            root.display()
        )
    );
}

/// Run a client program; whether it exited 0 (false where it is not installed).
fn client_ran(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn real_clients_fetch_files_whole() {
    let Some(dir) = setup("clients") else {
        return;
    };
    let root = dir.join("root");
    let binary: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 253) as u8).collect();
    file(&root, "boot/kernel", &binary);
    file(&root, "boot/menu.txt", &text_file());
    let _shared = WILDCARD.read();
    let (_, addr) = address_pair();
    let options = format!("enable-tftp\ntftp-root={}\n", root.display());
    let server = start(&dir, "ringmasq", RINGMASQ, addr, &options);
    let host = addr.to_string();
    let got = |name: &str| dir.join(name).display().to_string();
    let have_hpa = Command::new("tftp").arg("-V").output().is_ok();
    let have_atftp = Command::new("atftp").arg("--help").output().is_ok();
    if have_hpa {
        assert!(client_ran(
            "tftp",
            &[&host, "-c", "get", "boot/kernel", &got("hpa-kernel")]
        ));
        assert_eq!(std::fs::read(got("hpa-kernel")).unwrap(), binary);
        assert!(client_ran(
            "tftp",
            &[
                &host,
                "-m",
                "netascii",
                "-c",
                "get",
                "boot/menu.txt",
                &got("hpa-menu")
            ]
        ));
        assert_eq!(std::fs::read(got("hpa-menu")).unwrap(), text_file());
    } else {
        eprintln!("tftp-hpa not installed: its part skipped (.ci/run installs it)");
    }
    if have_atftp {
        for (blksize, local) in [("1400", "atftp-1400"), ("8", "atftp-8")] {
            let option = format!("blksize {blksize}");
            assert!(client_ran(
                "atftp",
                &[
                    "--option",
                    &option,
                    "--option",
                    "tsize 0",
                    "-g",
                    "-r",
                    "boot/kernel",
                    "-l",
                    &got(local),
                    &host
                ]
            ));
            assert_eq!(
                std::fs::read(got(local)).unwrap(),
                binary,
                "blksize {blksize}"
            );
        }
    } else {
        eprintln!("atftp not installed: its part skipped (.ci/run installs it)");
    }
    let sent = settled(&server)
        .iter()
        .filter(|m| m.starts_with("sent "))
        .count();
    assert_eq!(
        sent,
        2 * usize::from(have_hpa) + 2 * usize::from(have_atftp),
        "{:?}",
        server.tftp_messages()
    );
}
