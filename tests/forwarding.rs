//! Forwarding against a scripted upstream on loopback: spoofed and wrong-ID replies are
//! ignored, a silent or slow upstream does not hold up other queries, a dead server is
//! failed over, truncation reaches UDP clients and TCP clients get the whole answer,
//! and repeats are answered from the cache. No root.

mod common;

use common::upstream::{self, ask_tcp, ask_udp};
use common::{free_port, Running};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const RINGMASQ: &str = env!("CARGO_BIN_EXE_ringmasq");

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    m.to_vec().unwrap()
}

/// Start ringmasq forwarding to `servers` (in order); returns it and its port.
fn start(name: &str, servers: &[u16]) -> (Running, u16) {
    let dir = common::scratch_dir(name);
    let port = free_port();
    let mut conf = format!(
        "port={port}\nlisten-address=127.0.0.1\nno-resolv\nno-hosts\npid-file=\nuser=root\n\
         keep-in-foreground\nlog-facility={}/log\nhost-record=ready.lan,10.9.9.9\n",
        dir.display()
    );
    for s in servers {
        conf.push_str(&format!("server=127.0.0.1#{s}\n"));
    }
    std::fs::write(dir.join("conf"), conf).unwrap();
    let child = Command::new(RINGMASQ)
        .arg("-C")
        .arg(dir.join("conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = common::wait_until(|| {
        ask_udp(port, &query(1, "ready.lan."), Duration::from_millis(200)).is_some()
    });
    assert!(ready, "ringmasq did not start");
    (Running(child), port)
}

fn first_a(reply: &[u8]) -> Option<std::net::Ipv4Addr> {
    let m = Message::from_vec(reply).unwrap();
    m.answers().iter().find_map(|r| match r.data() {
        Some(RData::A(a)) => Some(a.0),
        _ => None,
    })
}

#[test]
fn a_reply_with_the_wrong_id_is_ignored_and_the_right_one_used() {
    let up = upstream::start();
    let (_server, port) = start("fwd-wrongid", &[up.port]);
    let reply = ask_udp(
        port,
        &query(0x5151, "wrongid.test."),
        Duration::from_secs(3),
    )
    .expect("the genuine reply is relayed");
    assert_eq!(Message::from_vec(&reply).unwrap().id(), 0x5151);
    assert_eq!(first_a(&reply), Some("192.0.2.7".parse().unwrap()));
}

#[test]
fn a_silent_upstream_does_not_hold_up_other_queries() {
    let up = upstream::start();
    let (_server, port) = start("fwd-silent", &[up.port]);
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..20 {
        silent
            .send_to(&query(i, &format!("drop{i}.test.")), ("127.0.0.1", port))
            .unwrap();
    }
    let started = Instant::now();
    let reply = ask_udp(port, &query(7, "fine.test."), Duration::from_secs(2))
        .expect("answered while 20 queries wait on a silent upstream");
    assert_eq!(first_a(&reply), Some("192.0.2.7".parse().unwrap()));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_dead_server_is_failed_over_to_the_next() {
    let up = upstream::start();
    // Nothing listens on the first server's port.
    let dead = free_port();
    let (_server, port) = start("fwd-failover", &[dead, up.port]);
    let reply = ask_udp(port, &query(9, "second.test."), Duration::from_secs(8))
        .expect("the second server answers");
    assert_eq!(first_a(&reply), Some("192.0.2.7".parse().unwrap()));
}

#[test]
fn truncated_answers_reach_udp_clients_and_tcp_gets_the_whole_answer() {
    let up = upstream::start();
    let (_server, port) = start("fwd-tc", &[up.port]);
    let udp = ask_udp(port, &query(3, "tc.test."), Duration::from_secs(3)).unwrap();
    assert!(Message::from_vec(&udp).unwrap().truncated());
    let tcp = ask_tcp(
        port,
        &[query(4, "tc.test."), query(5, "other.test.")],
        Duration::from_secs(3),
    )
    .expect("two queries on one TCP connection");
    assert!(!Message::from_vec(&tcp[0]).unwrap().truncated());
    assert_eq!(first_a(&tcp[0]), Some("192.0.2.7".parse().unwrap()));
    assert_eq!(Message::from_vec(&tcp[1]).unwrap().id(), 5);
}

#[test]
fn repeats_are_answered_from_the_cache_without_asking_upstream() {
    let up = upstream::start();
    let (_server, port) = start("fwd-cache", &[up.port]);
    ask_udp(port, &query(1, "cached.test."), Duration::from_secs(3)).unwrap();
    let asked = up.queries.load(Ordering::Relaxed);
    for i in 0..20 {
        // New sockets, so the repeats spread over the shards.
        let r = ask_udp(
            port,
            &query(100 + i, "CACHED.test."),
            Duration::from_secs(3),
        )
        .unwrap();
        let m = Message::from_vec(&r).unwrap();
        assert_eq!(m.id(), 100 + i);
        assert_eq!(m.queries()[0].name().to_ascii(), "CACHED.test.");
        assert!(!m.authoritative(), "cached answers are not authoritative");
    }
    assert_eq!(up.queries.load(Ordering::Relaxed), asked);
    let fail = ask_udp(port, &query(2, "fail.test."), Duration::from_secs(3)).unwrap();
    assert_eq!(
        Message::from_vec(&fail).unwrap().response_code(),
        ResponseCode::ServFail
    );
}

#[test]
fn a_burst_with_oversized_and_malformed_datagrams_gets_every_valid_query_answered() {
    let (_server, port) = start("fwd-burst", &[]);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut qdcount_two = query(2, "ready.lan.");
    qdcount_two[5] = 2;
    let junk: [&[u8]; 3] = [&[0u8; 5000], &[1, 2, 3], &qdcount_two];
    // More queries than one receive batch takes, with bad datagrams among them; few
    // enough that the burst fits the default socket buffers even before the server reads.
    let mut valid = std::collections::HashSet::new();
    for i in 0..150u16 {
        if i % 60 == 0 {
            for j in junk {
                sock.send_to(j, ("127.0.0.1", port)).unwrap();
            }
        }
        sock.send_to(&query(1000 + i, "ready.lan."), ("127.0.0.1", port))
            .unwrap();
        valid.insert(1000 + i);
    }
    let mut buf = [0u8; 4096];
    let mut answered = 0;
    while let Ok(n) = sock.recv(&mut buf) {
        let m = Message::from_vec(&buf[..n]).unwrap();
        if valid.remove(&m.id()) {
            assert_eq!(first_a(&buf[..n]), Some("10.9.9.9".parse().unwrap()));
            answered += 1;
        } else {
            // Only the two-question query may get a reply of its own: FORMERR.
            assert_eq!(m.id(), 2);
            assert_eq!(m.response_code(), ResponseCode::FormErr);
        }
        if valid.is_empty() {
            break;
        }
    }
    assert_eq!(answered, 150, "every valid query in the burst is answered");
}
