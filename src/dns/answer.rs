//! The answer decision, free of I/O: a query's bytes and the local snapshot in, a reply to
//! send, a forward to make, or a drop out.

use super::local::{DomainRule, LocalData};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Bytes in a DNS header.
pub const HEADER_BYTES: usize = 12;
/// UDP payload size advertised in EDNS replies (dnsmasq's `--edns-packet-max` default).
pub const EDNS_PACKET_MAX: u16 = 1232;

/// What to do with one query.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send these bytes back to the client.
    Reply(Vec<u8>),
    /// Forward the query to these servers in order.
    Forward(Vec<SocketAddr>),
    /// Not a query we answer (a response, or too short to have an ID): count and drop.
    Drop,
}

/// A reply with only a header and the question, with this response code.
fn error_reply(query: &[u8], rcode: ResponseCode) -> Vec<u8> {
    let mut out = query[..HEADER_BYTES].to_vec();
    out[2] = (out[2] | 0x80) & !0x04 & 0xf9; // QR set, AA and TC cleared, keep opcode and RD
    out[3] = 0x80 | (u16::from(rcode) as u8 & 0x0f); // RA set
    out[4..12].fill(0);
    out
}

/// Decide what to do with `query`.
pub fn decide(query: &[u8], local: &LocalData) -> Decision {
    if query.len() < HEADER_BYTES || query[2] & 0x80 != 0 {
        return Decision::Drop;
    }
    let Ok(msg) = Message::from_vec(query) else {
        return Decision::Reply(error_reply(query, ResponseCode::FormErr));
    };
    if msg.op_code() != OpCode::Query {
        return Decision::Reply(error_reply(query, ResponseCode::NotImp));
    }
    let [question] = msg.queries() else {
        return Decision::Reply(error_reply(query, ResponseCode::FormErr));
    };
    let name = question
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let qtype = question.query_type();
    let ttl = local.local_ttl_secs;

    let answers: Option<Vec<RData>> = match qtype {
        RecordType::A | RecordType::AAAA | RecordType::ANY => local.names.get(&name).map(|h| {
            h.addrs
                .iter()
                .filter_map(|a| match (a, qtype) {
                    (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => Some(RData::A(A(*v4))),
                    (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => {
                        Some(RData::AAAA(AAAA(*v6)))
                    }
                    _ => None,
                })
                .collect()
        }),
        RecordType::PTR => reverse_address(&name)
            .and_then(|ip| local.reverse.get(&ip))
            .and_then(|target| Name::from_ascii(format!("{target}.")).ok())
            .map(|n| vec![RData::PTR(PTR(n))]),
        _ => None,
    };
    if let Some(rdatas) = answers {
        return Decision::Reply(reply(&msg, ResponseCode::NoError, rdatas, ttl));
    }
    match local.rule_for(&name) {
        Some(DomainRule::Local) => {
            Decision::Reply(reply(&msg, ResponseCode::NXDomain, Vec::new(), ttl))
        }
        Some(DomainRule::Servers(s)) => Decision::Forward(s.clone()),
        Some(DomainRule::Default) | None if local.upstreams.is_empty() => {
            Decision::Reply(error_reply(query, ResponseCode::Refused))
        }
        Some(DomainRule::Default) | None => Decision::Forward(local.upstreams.clone()),
    }
}

/// Where the question section of a single-question message ends, if it is well formed.
pub fn question_end(msg: &[u8]) -> Option<usize> {
    let mut i = HEADER_BYTES;
    loop {
        let len = *msg.get(i)? as usize;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        i += 1 + len;
    }
    let end = i + 1 + 4;
    (end <= msg.len()).then_some(end)
}

/// Whether `reply` answers `query`: same ID and the same question, letter case aside.
pub fn reply_matches(query: &[u8], reply: &[u8]) -> bool {
    let (Some(q), Some(r)) = (question_end(query), question_end(reply)) else {
        return false;
    };
    reply[..2] == query[..2]
        && reply[2] & 0x80 != 0
        && query[HEADER_BYTES..q].eq_ignore_ascii_case(&reply[HEADER_BYTES..r])
}

/// An authoritative local reply with these answers.
fn reply(query: &Message, rcode: ResponseCode, rdatas: Vec<RData>, ttl: u32) -> Vec<u8> {
    let mut r = Message::new();
    r.set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(rcode);
    if query.extensions().is_some() {
        // Answer EDNS with EDNS, advertising our packet size, as dnsmasq does.
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PACKET_MAX).set_version(0);
        r.set_edns(edns);
    }
    if let Some(q) = query.queries().first() {
        r.add_query(q.clone());
        for rd in rdatas {
            r.add_answer(Record::from_rdata(q.name().clone(), ttl, rd));
        }
    }
    r.to_vec().unwrap_or_else(|_| Vec::new())
}

/// The address a reverse-lookup name stands for (`4.3.2.1.in-addr.arpa`, nibble `ip6.arpa`).
pub fn reverse_address(name: &str) -> Option<IpAddr> {
    if let Some(v4) = name.strip_suffix(".in-addr.arpa") {
        let parts: Vec<u8> = v4
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let [d, c, b, a] = parts[..] else { return None };
        return Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
    }
    let v6 = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = v6
        .split('.')
        .map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 1))
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let value = nibbles
        .iter()
        .rev()
        .fold(0u128, |acc, n| (acc << 4) | u128::from(*n));
    Some(IpAddr::V6(Ipv6Addr::from(value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::hosts;
    use hickory_proto::op::Query;

    fn query(name: &str, qtype: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(0x1234).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        m.to_vec().unwrap()
    }

    fn local() -> LocalData {
        let mut d = LocalData {
            local_ttl_secs: 7,
            ..Default::default()
        };
        d.add_hosts(
            &hosts::parse("127.0.0.1 localhost\n::1 localhost\n10.1.2.3 Printer.lan\n").lines,
        );
        d.upstreams.push("192.0.2.53:53".parse().unwrap());
        d
    }

    fn answer(bytes: Decision) -> Message {
        match bytes {
            Decision::Reply(b) => Message::from_vec(&b).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn hosts_name_is_answered_authoritatively_with_local_ttl() {
        let m = answer(decide(&query("LocalHost.", RecordType::A), &local()));
        assert_eq!(m.id(), 0x1234);
        assert!(m.authoritative() && m.recursion_available() && m.recursion_desired());
        assert_eq!(m.answers().len(), 1);
        assert_eq!(m.answers()[0].ttl(), 7);
        assert_eq!(
            m.answers()[0].data(),
            Some(&RData::A(A(Ipv4Addr::LOCALHOST)))
        );
    }

    #[test]
    fn edns_queries_get_an_edns_reply() {
        let mut m = Message::from_vec(&query("localhost.", RecordType::A)).unwrap();
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        m.set_edns(edns);
        let r = answer(decide(&m.to_vec().unwrap(), &local()));
        assert_eq!(
            r.extensions().as_ref().map(|e| e.max_payload()),
            Some(EDNS_PACKET_MAX)
        );
        let plain = answer(decide(&query("localhost.", RecordType::A), &local()));
        assert!(
            plain.extensions().is_none(),
            "no OPT record for a query without one"
        );
    }

    #[test]
    fn known_name_without_that_family_is_nodata() {
        let m = answer(decide(&query("printer.lan.", RecordType::AAAA), &local()));
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert!(m.answers().is_empty());
    }

    #[test]
    fn reverse_lookup_gives_canonical_name() {
        let m = answer(decide(
            &query("3.2.1.10.in-addr.arpa.", RecordType::PTR),
            &local(),
        ));
        assert_eq!(
            m.answers()[0].data(),
            Some(&RData::PTR(PTR(Name::from_ascii("printer.lan.").unwrap())))
        );
    }

    #[test]
    fn unknown_names_are_forwarded_and_local_domains_are_nxdomain() {
        let mut d = local();
        assert_eq!(
            decide(&query("example.com.", RecordType::A), &d),
            Decision::Forward(d.upstreams.clone())
        );
        d.rules.insert("lan".into(), DomainRule::Local);
        let m = answer(decide(&query("nothere.lan.", RecordType::A), &d));
        assert_eq!(m.response_code(), ResponseCode::NXDomain);
    }

    #[test]
    fn no_upstream_means_refused() {
        let mut d = local();
        d.upstreams.clear();
        let m = answer(decide(&query("example.com.", RecordType::A), &d));
        assert_eq!(m.response_code(), ResponseCode::Refused);
    }

    #[test]
    fn malformed_input_is_formerr_or_dropped() {
        assert_eq!(decide(&[0u8; 5], &local()), Decision::Drop);
        let mut resp = query("x.", RecordType::A);
        resp[2] |= 0x80;
        assert_eq!(decide(&resp, &local()), Decision::Drop);
        let mut garbage = query("x.", RecordType::A);
        garbage.truncate(14);
        let m = answer(decide(&garbage, &local()));
        assert_eq!(m.response_code(), ResponseCode::FormErr);
        assert_eq!(m.id(), 0x1234);
    }

    #[test]
    fn replies_match_only_their_query() {
        let q = query("Example.com.", RecordType::A);
        let mut r = q.clone();
        r[2] |= 0x80;
        assert!(reply_matches(&q, &r));
        let mut wrong_id = r.clone();
        wrong_id[1] ^= 1;
        assert!(!reply_matches(&q, &wrong_id));
        let other = query("example.org.", RecordType::A);
        let mut other_reply = other.clone();
        other_reply[2] |= 0x80;
        assert!(!reply_matches(&q, &other_reply));
        assert!(!reply_matches(&q, &q), "a query is not a reply");
    }

    #[test]
    fn reverse_names_parse() {
        assert_eq!(
            reverse_address("1.0.0.127.in-addr.arpa"),
            Some("127.0.0.1".parse().unwrap())
        );
        let six = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa";
        assert_eq!(reverse_address(six), Some("::1".parse().unwrap()));
        assert_eq!(reverse_address("x.in-addr.arpa"), None);
    }
}
