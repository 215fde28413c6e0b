//! Which queries are answered under dnsmasq's listening options (`--listen-address`,
//! `--interface`, `--except-interface`, `--bind-interfaces`, `--bind-dynamic`,
//! `--local-service`), on loopback addresses: the real dnsmasq 2.90 and ringmasq run
//! on the same configuration and must answer the same destinations, each reply coming
//! from the address the query went to (a connected client socket sees nothing else).
//! Every case also states what it expects, so the test cannot pass with both silent.
//! The dnsmasq half is skipped where dnsmasq is not installed. No root.

mod common;

use common::{free_port, Running};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const RINGMASQ: &str = env!("CARGO_BIN_EXE_ringmasq");

/// Query destinations: the loopback interface holds all of 127.0.0.0/8, but only
/// 127.0.0.1 is its listed address.
const DESTINATIONS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "::1"];

/// The configuration file `name.conf` for port `port` plus `extra`, logging to
/// `name.log`; the paths of both.
fn write_conf(dir: &Path, name: &str, port: u16, extra: &str) -> (PathBuf, PathBuf) {
    let log = dir.join(format!("{name}.log"));
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(
        &conf,
        format!(
            "port={port}\nno-resolv\nno-hosts\naddress=/probe.test/10.1.2.3\npid-file=\n\
             user=root\nkeep-in-foreground\nlog-facility={}\n{extra}",
            log.display()
        ),
    )
    .unwrap();
    (conf, log)
}

fn start(program: &str, dir: &Path, name: &str, port: u16, extra: &str) -> Running {
    let (conf, log) = write_conf(dir, name, port, extra);
    let child = Command::new(program)
        .arg("-C")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = common::wait_until(|| {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("started, version"))
    });
    assert!(started, "{program} did not start with {extra:?}");
    Running(child)
}

/// Whether a query to `dst` is answered, on a socket connected to `dst` (so a reply
/// from any other address is not seen).
fn answered(dst: &str, port: u16) -> bool {
    let ip: IpAddr = dst.parse().unwrap();
    let bind: SocketAddr = if ip.is_ipv4() {
        "127.0.0.1:0".parse().unwrap()
    } else {
        "[::1]:0".parse().unwrap()
    };
    let Ok(sock) = UdpSocket::bind(bind) else {
        return false;
    };
    sock.connect(SocketAddr::new(ip, port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut m = Message::new();
    m.set_id(77).set_recursion_desired(true);
    m.add_query(Query::query(
        Name::from_ascii("probe.test.").unwrap(),
        RecordType::A,
    ));
    let q = m.to_vec().unwrap();
    let mut buf = [0u8; 512];
    for _ in 0..3 {
        let _ = sock.send(&q);
        if let Ok(n) = sock.recv(&mut buf) {
            return Message::from_vec(&buf[..n]).is_ok_and(|r| r.id() == 77);
        }
    }
    false
}

fn answered_set(port: u16) -> Vec<&'static str> {
    DESTINATIONS
        .into_iter()
        .filter(|d| answered(d, port))
        .collect()
}

fn dnsmasq_installed() -> bool {
    Command::new("dnsmasq").arg("--version").output().is_ok()
}

/// Run one configuration on both servers; ringmasq must answer exactly `expected` and,
/// where dnsmasq is installed, the same as dnsmasq.
fn case(name: &str, extra: &str, expected: &[&str]) {
    let dir = common::scratch_dir(&format!("listen-{name}"));
    let ipv6 = UdpSocket::bind("[::1]:0").is_ok();
    let expected: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|d| ipv6 || !d.contains(':'))
        .collect();
    let port = free_port();
    let ours = {
        let _r = start(RINGMASQ, &dir, "ringmasq", port, extra);
        answered_set(port)
    };
    assert_eq!(ours, expected, "ringmasq with {extra:?}");
    if dnsmasq_installed() {
        let port = free_port();
        let _d = start("dnsmasq", &dir, "dnsmasq", port, extra);
        assert_eq!(
            answered_set(port),
            ours,
            "dnsmasq and ringmasq differ on {extra:?}"
        );
    }
}

#[test]
fn default_mode_answers_every_address_from_the_address_asked() {
    case("default", "", &DESTINATIONS);
}

#[test]
fn listen_address_in_default_mode_answers_only_that_address() {
    case("la", "listen-address=127.0.0.2\n", &["127.0.0.2"]);
}

#[test]
fn interface_wildcard_names_loopback() {
    case("iface", "interface=l*\n", &DESTINATIONS);
    case("iface-other", "interface=eth-none0\n", &DESTINATIONS);
}

#[test]
fn except_interface_silences_it_unless_an_address_is_listed() {
    case("except", "except-interface=lo\n", &[]);
    case(
        "except-la",
        "except-interface=lo\nlisten-address=127.0.0.2\n",
        &["127.0.0.2"],
    );
}

#[test]
fn bind_interfaces_binds_only_the_interface_addresses() {
    case(
        "bind",
        "interface=lo\nbind-interfaces\n",
        &["127.0.0.1", "::1"],
    );
    case(
        "bind-la",
        "listen-address=127.0.0.2\nbind-interfaces\n",
        &["127.0.0.2"],
    );
    case(
        "dynamic",
        "interface=lo\nbind-dynamic\n",
        &["127.0.0.1", "::1"],
    );
}

#[test]
fn local_service_answers_this_host() {
    case("ls-net", "local-service\n", &DESTINATIONS);
    case("ls-host", "local-service=host\n", &["127.0.0.1", "::1"]);
}

/// A veth pair between this namespace and a fresh one, removed when dropped. The host side
/// is `host_if` with 10.231.X.1/24, the far side 10.231.X.2/24 inside namespace `ns`.
struct Veth {
    ns: String,
    host_if: String,
}

impl Veth {
    fn create(tag: u8) -> Option<Veth> {
        let pid = std::process::id();
        let (ns, host_if, far_if) = (
            format!("rmq{pid}-{tag}"),
            format!("rmqh{}{tag}", pid % 10000),
            format!("rmqf{}{tag}", pid % 10000),
        );
        let v = Veth { ns, host_if };
        let ip = |args: &str| {
            Command::new("ip")
                .args(args.split_whitespace())
                .status()
                .is_ok_and(|s| s.success())
        };
        let ok = ip(&format!("netns add {}", v.ns))
            && ip(&format!(
                "link add {} type veth peer name {far_if}",
                v.host_if
            ))
            && ip(&format!("link set {far_if} netns {}", v.ns))
            && ip(&format!("addr add 10.231.{tag}.1/24 dev {}", v.host_if))
            && ip(&format!("link set {} up", v.host_if))
            && ip(&format!(
                "-n {} addr add 10.231.{tag}.2/24 dev {far_if}",
                v.ns
            ))
            && ip(&format!("-n {} link set {far_if} up", v.ns))
            && ip(&format!("-n {} link set lo up", v.ns));
        ok.then_some(v)
    }

    /// Whether a query from inside the namespace to `dst` is answered.
    fn answered(&self, dst: &str, port: u16) -> bool {
        Command::new("ip")
            .args([
                "netns", "exec", &self.ns, "dig", "+time=1", "+tries=2", "+short",
            ])
            .arg(format!("@{dst}"))
            .args(["-p", &port.to_string(), "probe.test"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("10.1.2.3"))
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// On a real second interface (a veth into a network namespace, root only): clients
/// there are answered when the interface is selected (by name, wildcard, or address, in
/// wildcard and bind-interfaces modes) and not when it is excluded, by both servers alike.
#[test]
fn a_second_interface_is_selected_as_dnsmasq_selects_it() {
    // SAFETY: geteuid only reads the process's credentials.
    if unsafe { libc::geteuid() } != 0 || !dnsmasq_installed() {
        eprintln!("skipped: needs root, ip, dig and dnsmasq (.ci/run has them)");
        return;
    }
    let Some(veth) = Veth::create(7) else {
        eprintln!("skipped: could not create a network namespace");
        return;
    };
    let dir = common::scratch_dir("listening-netns");
    let iface = veth.host_if.clone();
    let prefix = &iface[..iface.len() - 2];
    let cases = [
        (format!("interface={iface}"), true),
        (format!("interface={iface}\nbind-interfaces"), true),
        (format!("interface={prefix}*"), true),
        ("listen-address=10.231.7.1".to_string(), true),
        ("listen-address=127.0.0.1".to_string(), false),
        (format!("except-interface={iface}"), false),
        ("local-service".to_string(), true),
    ];
    for (i, (extra, expected)) in cases.iter().enumerate() {
        for program in ["dnsmasq", RINGMASQ] {
            let port = free_port();
            let name = format!("{i}-{}", if program == "dnsmasq" { "d" } else { "r" });
            let _server = start(program, &dir, &name, port, extra);
            let got = veth.answered("10.231.7.1", port);
            assert_eq!(got, *expected, "{program} with {extra:?}");
        }
    }
}

/// A second server on a port the first holds exits with dnsmasq's error and code 2,
/// whichever of the two (ringmasq or dnsmasq) came first, in both binding modes; it
/// does not share the port (ringmasq's own sockets share it among its shards with
/// SO_REUSEPORT, which would let a second ringmasq join them unseen).
#[test]
fn a_second_server_on_a_taken_port_exits_with_dnsmasqs_error() {
    let dir = common::scratch_dir("listening-taken");
    let mut programs = vec![RINGMASQ];
    if dnsmasq_installed() {
        programs.push("dnsmasq");
    }
    for (mode, extra, shown) in [
        ("wildcard", "", "port {port}"),
        (
            "bound",
            "listen-address=127.0.0.1\nbind-interfaces\n",
            "127.0.0.1",
        ),
    ] {
        for (n, first) in programs.iter().enumerate() {
            let port = free_port();
            // A log of its own: `start` waits for the start line in it.
            let _first = start(first, &dir, &format!("first-{mode}-{n}"), port, extra);
            for second in &programs {
                let (conf, _) = write_conf(&dir, "second", port, extra);
                let mut child = Command::new(second)
                    .arg("-C")
                    .arg(&conf)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                // One that starts runs on: it is stopped, and fails the test.
                if !common::wait_until(|| child.try_wait().is_ok_and(|s| s.is_some())) {
                    let _ = child.kill();
                }
                let out = child.wait_with_output().unwrap();
                let said = String::from_utf8_lossy(&out.stderr);
                let want = format!(
                    "failed to create listening socket for {}: Address already in use",
                    shown.replace("{port}", &port.to_string())
                );
                assert_eq!(
                    out.status.code(),
                    Some(2),
                    "{second} after {first} ({mode}, port {port}): {said}"
                );
                assert!(
                    said.contains(&want),
                    "{second} after {first} ({mode}): {said}"
                );
            }
            assert!(answered("127.0.0.1", port), "{first} still answers");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
