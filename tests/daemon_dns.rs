//! Loopback tests of the running server: local answers, forwarding through a scripted
//! upstream, daemon start-up (pid file, background exit codes) and signals. No root.

mod common;

use common::{ask, scratch_dir as scratch, wait_until};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const RINGMASQ: &str = env!("CARGO_BIN_EXE_ringmasq");

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(conf: &str, dir: &std::path::Path) -> Server {
    let path = dir.join("ringmasq.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new(RINGMASQ)
        .arg("-C")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server(child)
}

/// A scripted upstream: answers every A query with 192.0.2.7, echoing ID and question.
fn scripted_upstream() -> (u16, std::thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let handle = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let q = Message::from_vec(&buf[..n]).unwrap();
            let mut r = Message::new();
            r.set_id(q.id())
                .set_message_type(MessageType::Response)
                .set_recursion_available(true);
            let question = q.queries()[0].clone();
            r.add_answer(Record::from_rdata(
                question.name().clone(),
                300,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 7))),
            ));
            r.add_query(question);
            sock.send_to(&r.to_vec().unwrap(), from).unwrap();
        }
    });
    (port, handle)
}

#[test]
fn hosts_names_are_answered_and_other_names_forwarded() {
    let dir = scratch("fwd");
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "10.9.8.7 printer.lan printer\n").unwrap();
    let (up, _upstream) = scripted_upstream();
    let port = free_udp_port();
    let _server = start(
        &format!(
            "port={port}\nlisten-address=127.0.0.1\nkeep-in-foreground\nlog-facility=-\npid-file=\nno-hosts\naddn-hosts={}\nno-resolv\nserver=127.0.0.1#{up}\nlocal=/lan/\nlocal-ttl=42\n",
            hosts.display()
        ),
        &dir,
    );
    let local = ask(port, 0x1111, "Printer.LAN.", RecordType::A);
    assert_eq!(local.id(), 0x1111);
    assert!(local.authoritative());
    assert_eq!(local.answers()[0].ttl(), 42);
    assert_eq!(
        local.answers()[0].data(),
        Some(&RData::A(A(Ipv4Addr::new(10, 9, 8, 7))))
    );

    let missing = ask(port, 0x2222, "nothere.lan.", RecordType::A);
    assert_eq!(missing.response_code(), ResponseCode::NXDomain);

    let forwarded = ask(port, 0x3333, "www.example.com.", RecordType::A);
    assert_eq!(
        forwarded.id(),
        0x3333,
        "client ID restored on the relayed reply"
    );
    assert_eq!(
        forwarded.answers()[0].data(),
        Some(&RData::A(A(Ipv4Addr::new(192, 0, 2, 7))))
    );
}

#[test]
fn background_start_writes_pid_file_and_sigterm_removes_it() {
    let dir = scratch("daemon");
    let pid_file = dir.join("ringmasq.pid");
    let port = free_udp_port();
    let conf = dir.join("d.conf");
    std::fs::write(&conf, format!("port={port}\nlisten-address=127.0.0.1\nlog-facility={}\npid-file={}\nno-resolv\nuser=root\n", dir.join("log").display(), pid_file.display())).unwrap();
    let status = Command::new(RINGMASQ)
        .arg("-C")
        .arg(&conf)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the starting process exits 0 once the daemon is ready"
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        ask(port, 7, "not-in-hosts.example.", RecordType::A).response_code(),
        ResponseCode::Refused
    );
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(
        wait_until(|| !pid_file.exists()),
        "SIGTERM removes the pid file"
    );
    let log = std::fs::read_to_string(dir.join("log")).unwrap();
    assert!(
        log.contains("started, version") && log.contains("exiting on receipt of SIGTERM"),
        "{log}"
    );
}

#[test]
fn busy_port_is_exit_code_2_even_from_the_background() {
    let dir = scratch("busy");
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let conf = dir.join("busy.conf");
    std::fs::write(
        &conf,
        format!("port={port}\nlisten-address=127.0.0.1\nlog-facility=-\npid-file=\nno-resolv\n"),
    )
    .unwrap();
    let out = Command::new(RINGMASQ)
        .arg("-C")
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed to create listening socket"));
}

#[test]
fn log_file_is_reopened_on_sigusr2() {
    let dir = scratch("usr2");
    let log = dir.join("a.log");
    let port = free_udp_port();
    let server = start(&format!("port={port}\nlisten-address=127.0.0.1\nkeep-in-foreground\nlog-facility={}\npid-file=\nno-resolv\nuser=root\n", log.display()), &dir);
    ask(port, 1, "localhost.", RecordType::A);
    // user=root: stay who we are (root in CI, where the default user nobody could not
    // create files in this directory; as a normal user no change of user happens anyway).
    let rotated = dir.join("a.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    unsafe { libc::kill(server.0.id() as i32, libc::SIGUSR2) };
    assert!(
        wait_until(|| log.exists()),
        "a new log file is opened after SIGUSR2"
    );
    assert!(std::fs::read_to_string(&rotated)
        .unwrap()
        .contains("started"));
}

#[test]
fn unbuilt_options_are_named_in_a_startup_warning() {
    let dir = scratch("warn");
    let log = dir.join("w.log");
    let port = free_udp_port();
    let _server = start(&format!("port={port}\nlisten-address=127.0.0.1\nkeep-in-foreground\nlog-facility={}\npid-file=\nno-resolv\nadd-mac\n", log.display()), &dir);
    ask(port, 1, "localhost.", RecordType::A);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("option --add-mac is accepted but ignored"),
        "{text}"
    );
    assert_eq!(
        text.matches("--add-mac").count(),
        1,
        "one warning per option"
    );
}

#[test]
fn servers_file_supplies_upstreams_and_bad_lines_are_logged_not_fatal() {
    let dir = scratch("serversfile");
    let (up, _upstream) = scripted_upstream();
    let servers = dir.join("servers");
    std::fs::write(
        &servers,
        format!("# upstreams\nserver=127.0.0.1#{up}\nport=99\nserver=1.2.3.4#bad\n"),
    )
    .unwrap();
    let log = dir.join("s.log");
    let port = free_udp_port();
    let _server = start(
        &format!("port={port}\nlisten-address=127.0.0.1\nkeep-in-foreground\nlog-facility={}\npid-file=\nno-resolv\nservers-file={}\n", log.display(), servers.display()),
        &dir,
    );
    let reply = ask(port, 0x4444, "www.example.net.", RecordType::A);
    assert_eq!(
        reply.answers()[0].data(),
        Some(&RData::A(A(Ipv4Addr::new(192, 0, 2, 7))))
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!(
            "illegal option at line 3 of {}",
            servers.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("bad port at line 4 of {}", servers.display())),
        "{text}"
    );
}

/// --hostsdir is watched: a file added there is read, a changed one read again, and the
/// names of a deleted one forgotten, within seconds and without a signal.
#[test]
fn hostsdir_changes_are_picked_up_without_a_signal() {
    let dir = scratch("hostsdir-watch");
    let hosts = dir.join("hosts.d");
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(hosts.join("a"), "10.7.0.1 one.lan\n").unwrap();
    let port = free_udp_port();
    let conf = format!(
        "port={port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n\
         pid-file=\nuser=root\nkeep-in-foreground\nhostsdir={}\n",
        hosts.display()
    );
    let _server = start(&conf, &dir);
    let first_a = |name: &str| {
        let m = ask(port, 7, name, RecordType::A);
        m.answers().iter().find_map(|r| match r.data() {
            Some(RData::A(a)) => Some(a.0),
            _ => None,
        })
    };
    assert_eq!(first_a("one.lan."), Some(Ipv4Addr::new(10, 7, 0, 1)));
    std::fs::write(hosts.join("b"), "10.7.0.2 two.lan\n").unwrap();
    assert!(wait_until(
        || first_a("two.lan.") == Some(Ipv4Addr::new(10, 7, 0, 2))
    ));
    std::fs::write(hosts.join("a"), "10.7.0.9 one.lan\n").unwrap();
    assert!(wait_until(
        || first_a("one.lan.") == Some(Ipv4Addr::new(10, 7, 0, 9))
    ));
    std::fs::remove_file(hosts.join("b")).unwrap();
    assert!(wait_until(|| first_a("two.lan.").is_none()));
    assert_eq!(first_a("one.lan."), Some(Ipv4Addr::new(10, 7, 0, 9)));
}
