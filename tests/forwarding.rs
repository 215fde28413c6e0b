//! Forwarding against a scripted upstream on loopback: spoofed and wrong-ID replies are
//! ignored, a silent or slow upstream does not hold up other queries, a dead server is
//! failed over, truncation reaches UDP clients and TCP clients get the whole answer,
//! and repeats are answered from the cache. No root.

mod common;

use common::upstream::{self, ask_tcp, ask_udp};
use common::{free_port, Running};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use std::net::Ipv4Addr;
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
    start_with(name, servers, "")
}

/// As `start`, with more configuration lines.
fn start_with(name: &str, servers: &[u16], extra: &str) -> (Running, u16) {
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
    conf.push_str(extra);
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

/// Send 150 queries for `name` to `port` with `junk` among them (before every 60th),
/// more than one receive batch takes; few enough that the burst fits the default socket
/// buffers even before the server reads. Asserts that each query gets `name`'s address
/// `addr` and that any other reply is a FORMERR to junk with the ID `junk_id`.
fn burst_is_answered(
    port: u16,
    junk: &[&[u8]],
    junk_id: u16,
    name: &str,
    addr: std::net::Ipv4Addr,
) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut valid = std::collections::HashSet::new();
    for i in 0..150u16 {
        if i % 60 == 0 {
            for j in junk {
                sock.send_to(j, ("127.0.0.1", port)).unwrap();
            }
        }
        sock.send_to(&query(1000 + i, name), ("127.0.0.1", port))
            .unwrap();
        valid.insert(1000 + i);
    }
    let mut buf = [0u8; 4096];
    let mut answered = 0;
    while let Ok(n) = sock.recv(&mut buf) {
        let m = Message::from_vec(&buf[..n]).unwrap();
        if valid.remove(&m.id()) {
            assert_eq!(first_a(&buf[..n]), Some(addr));
            answered += 1;
        } else {
            assert_eq!(m.id(), junk_id);
            assert_eq!(m.response_code(), ResponseCode::FormErr);
        }
        if valid.is_empty() {
            break;
        }
    }
    assert_eq!(answered, 150, "every valid query in the burst is answered");
}

#[test]
fn a_burst_with_oversized_and_malformed_datagrams_gets_every_valid_query_answered() {
    let (_server, port) = start("fwd-burst", &[]);
    let mut qdcount_two = query(2, "ready.lan.");
    qdcount_two[5] = 2;
    let junk: [&[u8]; 3] = [&[0u8; 5000], &[1, 2, 3], &qdcount_two];
    // Only the two-question query may get a reply of its own: FORMERR.
    burst_is_answered(port, &junk, 2, "ready.lan.", "10.9.9.9".parse().unwrap());
}

#[test]
fn malformed_datagrams_among_block_list_names_do_no_harm() {
    // A block list big enough that each batch's hosts lookups are made together, ahead
    // of answering (where the question has not been checked yet).
    let dir = common::scratch_dir("fwd-burst-blocklist");
    let hosts: String = (0..70_000)
        .map(|i| format!("0.0.0.0 ads{i}.example\n"))
        .collect();
    std::fs::write(dir.join("block"), hosts).unwrap();
    let extra = format!("addn-hosts={}\n", dir.join("block").display());
    let (_server, port) = start_with("fwd-burst-blocklist-server", &[], &extra);
    let loaded = common::wait_until(|| {
        ask_udp(
            port,
            &query(3, "ads69999.example."),
            Duration::from_millis(200),
        )
        .is_some_and(|r| first_a(&r) == Some(Ipv4Addr::UNSPECIFIED))
    });
    assert!(loaded, "the block list was not loaded");
    let good = query(4, "ads7.example.");
    // A header alone, a name cut short, a label running past the end, a pointer, nothing.
    let mut pointer = good[..12].to_vec();
    pointer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    let mut past_end = good[..12].to_vec();
    past_end.extend_from_slice(&[60, b'a']);
    let junk: [&[u8]; 5] = [&good[..12], &good[..17], &past_end, &pointer, &[]];
    for _ in 0..2 {
        burst_is_answered(port, &junk, 4, "ads7.example.", Ipv4Addr::UNSPECIFIED);
    }
}

#[test]
fn a_servfail_is_passed_over_for_another_servers_answer() {
    let broken = upstream::start_answering(upstream::servfail);
    let up = upstream::start();
    let (_server, port) = start_with("fwd-servfail", &[broken.port, up.port], "strict-order\n");
    let reply = ask_udp(port, &query(3, "s1.test."), Duration::from_secs(5)).expect("answered");
    assert_eq!(first_a(&reply), Some("192.0.2.7".parse().unwrap()));
    assert_eq!(broken.queries.load(Ordering::Relaxed), 1);
    // With no other server left, the SERVFAIL itself is the answer.
    let (_alone, port) = start("fwd-servfail-alone", &[broken.port]);
    let reply = ask_udp(port, &query(4, "s2.test."), Duration::from_secs(5)).expect("answered");
    assert_eq!(
        Message::from_vec(&reply).unwrap().response_code(),
        ResponseCode::ServFail
    );
}

#[test]
fn all_servers_asks_every_server() {
    let (a, b) = (upstream::start(), upstream::start());
    let (_server, port) = start_with("fwd-all", &[a.port, b.port], "all-servers\n");
    for i in 0..5 {
        let name = format!("all{i}.test.");
        assert!(ask_udp(port, &query(i, &name), Duration::from_secs(3)).is_some());
    }
    // Each server's thread counts in its own time: wait for both before comparing.
    let seen = || {
        (
            a.queries.load(Ordering::Relaxed),
            b.queries.load(Ordering::Relaxed),
        )
    };
    assert!(
        common::wait_until(|| seen().0 >= 5 && seen().1 >= 5),
        "{:?}",
        seen()
    );
    assert_eq!(a.queries.load(Ordering::Relaxed), 5);
    assert_eq!(b.queries.load(Ordering::Relaxed), 5);
}

/// Without --strict-order a server that stayed silent is asked after the others; with
/// it, every query waits on the first server again.
#[test]
fn a_silent_server_moves_back_unless_order_is_strict() {
    for (strict, expected_silent_queries) in [(false, 1), (true, 3)] {
        let silent = upstream::start_answering(|_| None);
        let up = upstream::start();
        let extra = if strict { "strict-order\n" } else { "" };
        let (_server, port) = start_with("fwd-order", &[silent.port, up.port], extra);
        for i in 0..3 {
            // One query at a time from one client socket: the same shard each time.
            let name = format!("order{i}.test.");
            let reply = ask_udp(port, &query(i, &name), Duration::from_secs(8));
            assert!(reply.is_some(), "strict={strict}: query {i} answered");
        }
        // Three queries may reach different shards, each of which learns on its own;
        // without strict order the silent server is asked at most once per shard.
        let asked = silent.queries.load(Ordering::Relaxed);
        if strict {
            assert_eq!(
                asked, expected_silent_queries,
                "strict order asks it every time"
            );
        } else {
            assert!(asked < 3, "asked the silent server {asked} times");
        }
    }
}

#[test]
fn fast_dns_retry_resends_a_lost_query() {
    let up = upstream::start();
    let (_server, port) = start_with("fwd-fast-retry", &[up.port], "fast-dns-retry=200,3000\n");
    let reply = ask_udp(port, &query(5, "once1.test."), Duration::from_secs(4))
        .expect("the resent query is answered");
    assert_eq!(first_a(&reply), Some("192.0.2.7".parse().unwrap()));
    assert_eq!(up.queries.load(Ordering::Relaxed), 2);
    // Without it the lost query stays lost (the client retries in its own time).
    let (_plain, port) = start("fwd-no-fast-retry", &[up.port]);
    assert!(ask_udp(port, &query(6, "once2.test."), Duration::from_millis(1500)).is_none());
}

#[test]
fn sigusr1_reports_each_server() {
    let up = upstream::start();
    let (server, port) = start("fwd-stats", &[up.port]);
    for i in 0..3 {
        let name = if i == 2 {
            "nx-stats.test.".to_string()
        } else {
            format!("st{i}.test.")
        };
        assert!(ask_udp(port, &query(i, &name), Duration::from_secs(3)).is_some());
    }
    let pid = server.0.id() as i32;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    let log = common::scratch_dir("fwd-stats").join("log");
    let expected = format!(
        "server 127.0.0.1#{}: queries sent 3, retried 0, failed 0, nxdomain replies 1, avg. latency",
        up.port
    );
    let found =
        common::wait_until(|| std::fs::read_to_string(&log).is_ok_and(|t| t.contains(&expected)));
    assert!(found, "no line like {expected:?} in the log");
}

/// `servers.bind` in class CHAOS lists every server in configuration order with the
/// queries sent to it and failed, as dnsmasq does, in one TXT record.
#[test]
fn servers_bind_lists_each_server_with_its_counts() {
    let up = upstream::start();
    let idle = free_port();
    let (_server, port) = start_with(
        "fwd-servers-bind",
        &[up.port],
        &format!("shards=1\nserver=/corp.test/127.0.0.1#{idle}\nserver=::1#{idle}\n"),
    );
    for i in 0..2 {
        let name = format!("sb{i}.test.");
        assert!(ask_udp(port, &query(i, &name), Duration::from_secs(3)).is_some());
    }
    let mut m = Message::new();
    m.set_id(77);
    let mut q = Query::query(Name::from_ascii("servers.bind.").unwrap(), RecordType::TXT);
    q.set_query_class(hickory_proto::rr::DNSClass::CH);
    m.add_query(q);
    let reply = ask_udp(port, &m.to_vec().unwrap(), Duration::from_secs(3)).expect("an answer");
    let reply = Message::from_vec(&reply).unwrap();
    assert!(reply.authoritative());
    let texts: Vec<String> = reply
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            Some(RData::TXT(t)) => Some(
                t.txt_data()
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned()),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    // The first query went to every server for all names at once (as dnsmasq, to measure
    // them); ::1 did not answer but the query was answered, so nothing failed. The second
    // went to the server heard from. The corp.test server was not asked.
    assert_eq!(
        texts,
        [
            format!("127.0.0.1#{} 2 0", up.port),
            format!("127.0.0.1#{idle} 0 0"),
            format!("::1#{idle} 1 0"),
        ]
    );
}

/// `server=ip#port@source` sends from that address; `@interface` through that interface.
#[test]
fn queries_leave_from_the_servers_source_address_or_interface() {
    for (binding, expected_source) in [("@127.0.0.2", "127.0.0.2"), ("@lo", "127.0.0.1")] {
        let up = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        up.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let up_port = up.local_addr().unwrap().port();
        let extra = format!("server=127.0.0.1#{up_port}{binding}\n");
        let (_server, port) = start_with("fwd-source", &[], &extra);
        let asker = std::thread::spawn(move || {
            ask_udp(port, &query(8, "src.test."), Duration::from_secs(5))
        });
        let mut buf = [0u8; 512];
        let (n, from) = up.recv_from(&mut buf).expect("the query arrives");
        assert_eq!(from.ip().to_string(), expected_source, "{binding}");
        let reply = upstream::reply_for(&buf[..n], false).unwrap();
        up.send_to(&reply, from).unwrap();
        let answer = asker.join().unwrap().expect("answered");
        assert_eq!(first_a(&answer), Some("192.0.2.7".parse().unwrap()));
    }
}

/// A scripted upstream on `addr` (UDP only), when it can be bound (port 53 needs root).
fn upstream_at(addr: &str) -> Option<std::net::SocketAddr> {
    let sock = std::net::UdpSocket::bind(addr).ok()?;
    let at = sock.local_addr().ok()?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if let Some(reply) = upstream::reply_for(&buf[..n], false) {
                let _ = sock.send_to(&reply, from);
            }
        }
    });
    Some(at)
}

/// The resolv file is polled: a new nameserver in it is used within seconds, unless
/// --no-poll.
#[test]
fn a_changed_resolv_file_is_read_again_unless_no_poll() {
    let Some(_up) = upstream_at("127.0.0.77:53") else {
        eprintln!("skipped: cannot bind 127.0.0.77:53 (needs root; .ci/run is root)");
        return;
    };
    for no_poll in [false, true] {
        let dir = common::scratch_dir(&format!("fwd-resolv-{no_poll}"));
        let resolv = dir.join("resolv.conf");
        // Nothing answers on 127.0.0.78.
        std::fs::write(&resolv, "nameserver 127.0.0.78\n").unwrap();
        let port = free_port();
        let conf = format!(
            "port={port}\nlisten-address=127.0.0.1\nno-hosts\npid-file=\nuser=root\n\
             keep-in-foreground\nlog-facility={}/log\nresolv-file={}\n{}",
            dir.display(),
            resolv.display(),
            if no_poll { "no-poll\n" } else { "" }
        );
        std::fs::write(dir.join("conf"), conf).unwrap();
        let _server = Running(
            Command::new(RINGMASQ)
                .arg("-C")
                .arg(dir.join("conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let log = dir.join("log");
        assert!(common::wait_until(|| std::fs::read_to_string(&log)
            .is_ok_and(|t| t.contains("using nameserver 127.0.0.78#53"))));
        // A different size and a later time, whatever the file system's clock grain.
        std::thread::sleep(Duration::from_millis(1100));
        std::fs::write(&resolv, "# moved\nnameserver 127.0.0.77\n").unwrap();
        let answered = common::wait_until(|| {
            ask_udp(port, &query(11, "moved.test."), Duration::from_millis(500)).is_some()
        });
        assert_eq!(answered, !no_poll, "no_poll={no_poll}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.contains("using nameserver 127.0.0.77#53"), !no_poll);
    }
}

/// --use-stale-cache: an expired answer is given at once with TTL 0 while a fresh one is
/// fetched for the next client.
#[test]
fn use_stale_cache_answers_from_expired_entries_and_refreshes_them() {
    let up = upstream::start();
    let (_server, port) = start_with("fwd-stale", &[up.port], "use-stale-cache\n");
    let ttl_of = |reply: &[u8]| Message::from_vec(reply).unwrap().answers()[0].ttl();
    // One client socket throughout: the same shard, so the same cache.
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let ask = |id: u16| {
        client
            .send_to(&query(id, "short1.test."), ("127.0.0.1", port))
            .unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = client.recv_from(&mut buf).expect("answered");
        buf[..n].to_vec()
    };
    let first = ask(1);
    assert_eq!(first_a(&first), Some("192.0.2.8".parse().unwrap()));
    assert_eq!(up.queries.load(Ordering::Relaxed), 1);
    // The answer's TTL is 2 s.
    std::thread::sleep(Duration::from_millis(3300));
    let stale = ask(2);
    assert_eq!(first_a(&stale), Some("192.0.2.8".parse().unwrap()));
    assert_eq!(ttl_of(&stale), 0, "a stale answer has TTL 0");
    assert!(
        common::wait_until(|| up.queries.load(Ordering::Relaxed) == 2),
        "refreshed"
    );
    // The upstream counts a query before it answers: give the answer time to be cached.
    std::thread::sleep(Duration::from_millis(300));
    let fresh = ask(3);
    assert!(ttl_of(&fresh) > 0, "the refreshed answer is in the cache");
    assert_eq!(up.queries.load(Ordering::Relaxed), 2);
}

/// --query-port: every upstream query leaves from that one port, and every answer finds
/// its way back to the shard that asked, whichever shard that was.
#[test]
fn query_port_sends_from_one_port_and_every_reply_gets_home() {
    let (up_port, ports) = port_recording_upstream();
    let query_port = free_port();
    let extra = format!("query-port={query_port}\n");
    let (_server, port) = start_with("fwd-query-port", &[up_port], &extra);
    for i in 0..30 {
        // A new client socket each time: the queries spread over the shards.
        let name = format!("qp{i}.test.");
        let reply = ask_udp(port, &query(i, &name), Duration::from_secs(3));
        assert!(reply.is_some(), "query {i} answered");
    }
    let ports = ports.lock().unwrap();
    assert_eq!(ports.len(), 30);
    assert!(ports.iter().all(|&p| p == query_port), "{ports:?}");
}

/// --query-port=0: one port, chosen by the kernel, for every upstream query.
#[test]
fn query_port_zero_uses_one_kernel_chosen_port() {
    let up = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let up_port = up.local_addr().unwrap().port();
    let (_server, port) = start_with("fwd-query-port-0", &[up_port], "query-port=0\n");
    let asker = std::thread::spawn(move || {
        (0..6)
            .map(|i| {
                ask_udp(
                    port,
                    &query(i, &format!("z{i}.test.")),
                    Duration::from_secs(3),
                )
            })
            .all(|r| r.is_some())
    });
    let mut ports = Vec::new();
    let mut buf = [0u8; 1500];
    up.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for _ in 0..6 {
        let (n, from) = up.recv_from(&mut buf).expect("a query arrives");
        ports.push(from.port());
        let reply = upstream::reply_for(&buf[..n], false).unwrap();
        up.send_to(&reply, from).unwrap();
    }
    assert!(asker.join().unwrap(), "every query answered");
    assert!(ports.iter().all(|&p| p == ports[0] && p != 0), "{ports:?}");
}

/// A scripted upstream that also records the source port of every query it gets.
fn port_recording_upstream() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<u16>>>) {
    let up = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = up.local_addr().unwrap().port();
    let ports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = ports.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = up.recv_from(&mut buf) {
            seen.lock().unwrap().push(from.port());
            if let Some(reply) = upstream::reply_for(&buf[..n], false) {
                let _ = up.send_to(&reply, from);
            }
        }
    });
    (port, ports)
}

/// As dnsmasq, one query goes to all its servers from one random port, unless
/// --port-limit allows more.
#[test]
fn one_query_uses_one_source_port_unless_port_limit_allows_more() {
    for (limit, same) in [(1, true), (2, false)] {
        let (a, a_ports) = port_recording_upstream();
        let (b, b_ports) = port_recording_upstream();
        let extra = format!("all-servers\nport-limit={limit}\n");
        let (_server, port) = start_with("fwd-port-limit", &[a, b], &extra);
        let reply = ask_udp(port, &query(1, "pl.test."), Duration::from_secs(3));
        assert!(reply.is_some());
        let both = || {
            (
                a_ports.lock().unwrap().clone(),
                b_ports.lock().unwrap().clone(),
            )
        };
        assert!(common::wait_until(
            || both().0.len() == 1 && both().1.len() == 1
        ));
        let (pa, pb) = both();
        assert_eq!(pa[0] == pb[0], same, "port-limit={limit}: {pa:?} {pb:?}");
    }
}
