//! A scripted upstream DNS server on loopback (UDP and TCP) whose answers depend only on
//! the question, so two servers forwarding to it see the same data. The first label's
//! prefix picks the behaviour:
//!
//! - `nx…`: NXDOMAIN with the SOA of `test.`; `nod…`: NODATA with that SOA;
//! - `fail…`: SERVFAIL; `refuse…`: REFUSED; `tc…`: truncated over UDP, whole over TCP;
//! - `cn…`: a CNAME to `target.test.` and its A record; `multi…`: three A records;
//! - `priv…`: the private address 192.168.1.1; `lo…`: 127.0.0.5; `bogus…`: 198.51.100.99;
//! - `mx…`: an MX record; `drop…`: no reply at all; `wrongid…`: a reply with another ID
//!   first, then the right one; `slow…`: the reply after 1.5 s;
//! - anything else: A 192.0.2.7 / AAAA 2001:db8::7 / TXT "hello" with an NS record in
//!   authority and its glue in additional; other types NODATA with the SOA.
//!
//! Queries with EDNS get an OPT record advertising 4096 bytes.
#![allow(dead_code)]

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running scripted upstream.
pub struct Upstream {
    pub port: u16,
    /// Queries received over UDP and TCP.
    pub queries: Arc<AtomicU64>,
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn soa() -> Record {
    Record::from_rdata(
        name("test."),
        3600,
        RData::SOA(SOA::new(
            name("ns.test."),
            name("host.test."),
            1,
            2,
            3,
            4,
            60,
        )),
    )
}

/// The scripted reply to `query`, or None for no reply.
pub fn reply_for(query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let question = q.queries().first()?.clone();
    let qname = question.name().clone();
    let first = qname
        .iter()
        .next()
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .unwrap_or_default();
    let qtype = question.query_type();
    let mut r = Message::new();
    r.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(q.op_code())
        .set_authoritative(true)
        .set_recursion_desired(q.recursion_desired())
        .set_recursion_available(true);
    r.add_query(question);
    if q.extensions().is_some() {
        let mut e = Edns::new();
        e.set_max_payload(4096);
        r.set_edns(e);
    }
    let a = |ip: [u8; 4], ttl: u32| {
        Record::from_rdata(qname.clone(), ttl, RData::A(A(Ipv4Addr::from(ip))))
    };
    let p = |prefix: &str| first.starts_with(prefix);
    if p("drop") {
        return None;
    } else if p("nx") {
        r.set_response_code(ResponseCode::NXDomain);
        r.add_name_server(soa());
    } else if p("nod") {
        r.add_name_server(soa());
    } else if p("fail") {
        r.set_response_code(ResponseCode::ServFail);
    } else if p("refuse") {
        r.set_response_code(ResponseCode::Refused);
    } else if p("tc") && !tcp {
        r.set_truncated(true);
    } else if p("cn") {
        r.add_answer(Record::from_rdata(
            qname.clone(),
            100,
            RData::CNAME(CNAME(name("target.test."))),
        ));
        if matches!(qtype, RecordType::A) {
            r.add_answer(Record::from_rdata(
                name("target.test."),
                200,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            ));
        }
    } else if p("multi") && qtype == RecordType::A {
        for i in 1..=3 {
            r.add_answer(a([192, 0, 2, i], 300));
        }
    } else if p("short") && qtype == RecordType::A {
        r.add_answer(a([192, 0, 2, 8], 2));
    } else if p("priv6") && qtype == RecordType::AAAA {
        r.add_answer(Record::from_rdata(
            qname.clone(),
            300,
            RData::AAAA(AAAA("fd00::5".parse().unwrap())),
        ));
    } else if p("mapped") && qtype == RecordType::AAAA {
        r.add_answer(Record::from_rdata(
            qname.clone(),
            300,
            RData::AAAA(AAAA("::ffff:192.168.1.1".parse().unwrap())),
        ));
    } else if p("all") && qtype == RecordType::ANY {
        r.add_answer(a([192, 0, 2, 9], 300));
        r.add_answer(Record::from_rdata(
            qname.clone(),
            300,
            RData::AAAA(AAAA("2001:db8::9".parse().unwrap())),
        ));
        r.add_answer(Record::from_rdata(
            qname.clone(),
            300,
            RData::TXT(TXT::new(vec!["any".into()])),
        ));
        r.add_answer(Record::from_rdata(
            qname.clone(),
            300,
            RData::MX(MX::new(5, name("mail.test."))),
        ));
    } else if p("priv") && qtype == RecordType::A {
        r.add_answer(a([192, 168, 1, 1], 300));
    } else if p("lo") && qtype == RecordType::A {
        r.add_answer(a([127, 0, 0, 5], 300));
    } else if p("bogus") && qtype == RecordType::A {
        r.add_answer(a([198, 51, 100, 99], 300));
    } else if p("mx") && qtype == RecordType::MX {
        r.add_answer(Record::from_rdata(
            qname.clone(),
            300,
            RData::MX(MX::new(10, name("mail.test."))),
        ));
    } else {
        match qtype {
            RecordType::A => r.add_answer(a([192, 0, 2, 7], 300)),
            RecordType::AAAA => r.add_answer(Record::from_rdata(
                qname.clone(),
                300,
                RData::AAAA(AAAA("2001:db8::7".parse().unwrap())),
            )),
            RecordType::TXT => r.add_answer(Record::from_rdata(
                qname.clone(),
                300,
                RData::TXT(TXT::new(vec!["hello".into()])),
            )),
            _ => r.add_name_server(soa()),
        };
        if matches!(qtype, RecordType::A | RecordType::AAAA | RecordType::TXT) {
            r.add_name_server(Record::from_rdata(
                name("test."),
                500,
                RData::NS(NS(name("ns.test."))),
            ));
            r.add_additional(Record::from_rdata(
                name("ns.test."),
                500,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 53))),
            ));
        }
    }
    r.to_vec().ok()
}

/// Start the upstream on a free loopback port (the same for UDP and TCP). It serves until
/// the test process ends.
pub fn start() -> Upstream {
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)) {
            break (udp, tcp);
        }
    };
    let port = udp.local_addr().unwrap().port();
    let queries = Arc::new(AtomicU64::new(0));
    let count = queries.clone();
    std::thread::spawn(move || {
        let udp = Arc::new(udp);
        let mut buf = [0u8; 4096];
        let mut seen_once = std::collections::HashSet::new();
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            count.fetch_add(1, Ordering::Relaxed);
            let query = buf[..n].to_vec();
            let first = Message::from_vec(&query)
                .ok()
                .and_then(|m| {
                    m.queries()
                        .first()
                        .map(|q| q.name().to_ascii().to_ascii_lowercase())
                })
                .unwrap_or_default();
            let Some(reply) = reply_for(&query, false) else {
                continue;
            };
            // "once" names are lost the first time they are asked.
            if first.starts_with("once") && seen_once.insert(first.clone()) {
                continue;
            }
            if first.starts_with("wrongid") {
                let mut wrong = reply.clone();
                wrong[0] ^= 0xff;
                let _ = udp.send_to(&wrong, from);
            }
            if first.starts_with("slow") {
                let udp = udp.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(1500));
                    let _ = udp.send_to(&reply, from);
                });
                continue;
            }
            let _ = udp.send_to(&reply, from);
        }
    });
    let count = queries.clone();
    std::thread::spawn(move || {
        for stream in tcp.incoming() {
            let Ok(mut s) = stream else { continue };
            let count = count.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                loop {
                    let mut len = [0u8; 2];
                    if s.read_exact(&mut len).is_err() {
                        return;
                    }
                    let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                    if s.read_exact(&mut q).is_err() {
                        return;
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                    let Some(reply) = reply_for(&q, true) else {
                        return;
                    };
                    let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&reply);
                    if s.write_all(&framed).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Upstream { port, queries }
}

/// Send `query` over UDP to 127.0.0.1:`port` and wait up to `wait` for the reply.
pub fn ask_udp(port: u16, query: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(wait)).ok()?;
    sock.send_to(query, ("127.0.0.1", port)).ok()?;
    let mut buf = [0u8; 65535];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

/// Send `queries` over one TCP connection and read a reply to each.
pub fn ask_tcp(port: u16, queries: &[Vec<u8>], wait: Duration) -> Option<Vec<Vec<u8>>> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    let mut out = Vec::new();
    for q in queries {
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(q);
        s.write_all(&framed).ok()?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).ok()?;
        let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut r).ok()?;
        out.push(r);
    }
    Some(out)
}

/// An upstream on UDP only that answers every query with `answer` (None: never answers).
pub fn start_answering(answer: fn(&[u8]) -> Option<Vec<u8>>) -> Upstream {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    let queries = Arc::new(AtomicU64::new(0));
    let count = queries.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            count.fetch_add(1, Ordering::Relaxed);
            if let Some(reply) = answer(&buf[..n]) {
                let _ = udp.send_to(&reply, from);
            }
        }
    });
    Upstream { port, queries }
}

/// A SERVFAIL for `query`.
pub fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let mut r = query.to_vec();
    r.get_mut(2..4)?.copy_from_slice(&[0x81, 0x82]);
    Some(r)
}
