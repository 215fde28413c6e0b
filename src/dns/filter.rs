//! What dnsmasq does to an upstream reply before it is cached and passed on, in dnsmasq's
//! order: `--bogus-nxdomain` turns it into NXDOMAIN; otherwise `--alias` rewrites its IPv4
//! addresses, `--stop-dns-rebind` empties it when an address is private, and
//! `--filter-A`, `--filter-AAAA` and `--filter-rr` take records of those types out of the
//! answer. Forward path only: never touched by a cache hit.

use super::answer::{in_subnet, is_private};
use super::wire::{self, flag, rcode, rtype};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

/// One `--alias`: addresses in `from`..=`end` (or, without an end, in `from`'s subnet
/// under `mask`) keep their host part and take `to`'s network part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alias {
    pub from: Ipv4Addr,
    pub end: Option<Ipv4Addr>,
    pub to: Ipv4Addr,
    pub mask: Ipv4Addr,
}

impl Alias {
    /// The address `addr` becomes, if this alias applies to it.
    fn rewrite(&self, addr: Ipv4Addr) -> Option<Ipv4Addr> {
        let (a, mask) = (u32::from(addr), u32::from(self.mask));
        let applies = match self.end {
            None => a & mask == u32::from(self.from) & mask,
            Some(end) => (u32::from(self.from)..=u32::from(end)).contains(&a),
        };
        applies.then(|| Ipv4Addr::from((a & !mask) | (u32::from(self.to) & mask)))
    }
}

/// The reply filters of one configuration.
#[derive(Clone, Debug, Default)]
pub struct ReplyFilters {
    pub aliases: Vec<Alias>,
    /// `--bogus-nxdomain` subnets.
    pub bogus_nxdomain: Vec<(IpAddr, u8)>,
    /// `--stop-dns-rebind`.
    pub stop_rebind: bool,
    /// `--rebind-localhost-ok`.
    pub rebind_localhost_ok: bool,
    /// `--rebind-domain-ok` domains, lower case; "" stands for every name, "." for names
    /// without a dot.
    pub rebind_ok: HashSet<String>,
    /// Record types taken out of answers (`--filter-rr`); ANY means: from answers to ANY
    /// queries, all but A, AAAA, MX and CNAME.
    pub removed_types: Vec<u16>,
    /// Address types taken out of answers to other than ANY (`--filter-A`, `--filter-AAAA`).
    pub removed_addresses: Vec<u16>,
}

/// What the filters made of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Passed on, perhaps rewritten.
    Pass,
    /// Turned into NXDOMAIN by `--bogus-nxdomain`; cache it for this long.
    Bogus { ttl: u32 },
    /// Emptied by `--stop-dns-rebind`; not to be cached.
    Rebind,
    /// The queried type is filtered and its records were taken out: a NODATA to cache
    /// for this long.
    Filtered { ttl: u32 },
}

impl ReplyFilters {
    /// Whether any filter is configured.
    pub fn is_empty(&self) -> bool {
        self.aliases.is_empty()
            && self.bogus_nxdomain.is_empty()
            && !self.stop_rebind
            && self.removed_types.is_empty()
            && self.removed_addresses.is_empty()
    }

    /// Filter `reply` (to a query for `name`, lower case without the final dot, of
    /// `qtype`) in place. `log` adds dnsmasq's query-log lines.
    pub fn apply(&self, name: &str, qtype: u16, reply: &mut Vec<u8>, log: bool) -> Verdict {
        if self.is_empty() {
            return Verdict::Pass;
        }
        let Ok(q) = wire::question(reply) else {
            return Verdict::Pass;
        };
        let Ok(records) = wire::records(reply, q.end) else {
            return Verdict::Pass;
        };
        if !self.bogus_nxdomain.is_empty() && wire::header_rcode(reply) != rcode::NXDOMAIN {
            let bogus = records.iter().find(|(section, r)| {
                *section == 1
                    && address_of(reply, r).is_some_and(|ip| {
                        self.bogus_nxdomain
                            .iter()
                            .any(|(n, l)| in_subnet(ip, *n, *l))
                    })
            });
            if let Some((_, r)) = bogus {
                let ttl = r.ttl;
                empty_sections(reply, q.end, &records);
                reply[2] &= !flag::AA;
                reply[3] = (reply[3] & 0xf0) | rcode::NXDOMAIN;
                if log {
                    crate::log::info(format!("config {name} is NXDOMAIN"));
                }
                return Verdict::Bogus { ttl };
            }
        }
        for (section, r) in &records {
            if *section == 2 || r.rtype != rtype::A || r.data_len != 4 {
                continue;
            }
            let at = r.data_at;
            let addr = Ipv4Addr::new(reply[at], reply[at + 1], reply[at + 2], reply[at + 3]);
            if let Some(new) = self.aliases.iter().find_map(|a| a.rewrite(addr)) {
                reply[at..at + 4].copy_from_slice(&new.octets());
                reply[2] &= !flag::AA;
                if log {
                    let owner = owner_text(reply, r, name);
                    crate::log::info(format!("config {owner} is {new}"));
                }
            }
        }
        if self.stop_rebind && matches!(qtype, rtype::A | rtype::AAAA) && !self.rebind_exempt(name)
        {
            let private = records.iter().any(|(section, r)| {
                *section != 2
                    && address_of(reply, r)
                        .is_some_and(|ip| is_private(ip, !self.rebind_localhost_ok))
            });
            if private {
                // dnsmasq has logged the CNAMEs it went through before the address.
                let before = records
                    .iter()
                    .take_while(|(section, r)| *section == 1 && address_of(reply, r).is_none());
                for (_, r) in before.filter(|(_, r)| log && r.rtype == rtype::CNAME) {
                    crate::log::info(format!("reply {} is <CNAME>", owner_text(reply, r, name)));
                }
                crate::log::warn(format!("possible DNS-rebind attack detected: {name}"));
                empty_sections(reply, q.end, &records);
                reply[2] &= !flag::TC;
                return Verdict::Rebind;
            }
        }
        if self.removed_types.is_empty() && self.removed_addresses.is_empty() {
            return Verdict::Pass;
        }
        self.remove_records(reply, qtype)
    }

    /// Whether `name` is under a `--rebind-domain-ok` domain.
    fn rebind_exempt(&self, name: &str) -> bool {
        if self.rebind_ok.is_empty() {
            return false;
        }
        if self.rebind_ok.contains("") || (!name.contains('.') && self.rebind_ok.contains(".")) {
            return true;
        }
        let mut rest = name;
        loop {
            if self.rebind_ok.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return false,
            }
        }
    }

    /// Take the filtered types out of the answer section (re-encoding the reply). An
    /// answer to ANY loses only what `--filter-rr=ANY` removes.
    fn remove_records(&self, reply: &mut Vec<u8>, qtype: u16) -> Verdict {
        use hickory_proto::op::Message;
        let removed = |t: u16| {
            if qtype == rtype::ANY {
                self.removed_types.contains(&t)
                    || (self.removed_types.contains(&rtype::ANY)
                        && !matches!(t, rtype::A | rtype::AAAA | rtype::MX | rtype::CNAME))
            } else {
                self.removed_types.contains(&t) || self.removed_addresses.contains(&t)
            }
        };
        let Ok(records) = wire::question(reply).and_then(|q| wire::records(reply, q.end)) else {
            return Verdict::Pass;
        };
        let gone = records
            .iter()
            .filter(|(section, r)| *section == 1 && removed(r.rtype));
        let Some(ttl) = gone.clone().map(|(_, r)| r.ttl).min() else {
            return Verdict::Pass;
        };
        let queried_type_gone = gone.clone().any(|(_, r)| r.rtype == qtype);
        let Ok(mut m) = Message::from_vec(reply) else {
            return Verdict::Pass;
        };
        let kept: Vec<_> = m
            .take_answers()
            .into_iter()
            .filter(|r| !removed(u16::from(r.record_type())))
            .collect();
        m.insert_answers(kept);
        if let Ok(bytes) = m.to_vec() {
            *reply = bytes;
        }
        if queried_type_gone && qtype != rtype::ANY {
            Verdict::Filtered { ttl }
        } else {
            Verdict::Pass
        }
    }
}

/// A record's owner name as text (`fallback` if it cannot be read).
fn owner_text(msg: &[u8], r: &wire::RecordAt, fallback: &str) -> String {
    let mut owner = wire::NameBuf::default();
    match wire::read_name(msg, r.start, &mut owner) {
        Ok(_) => owner.to_text(),
        Err(_) => fallback.to_string(),
    }
}

/// The address an A or AAAA record holds.
fn address_of(msg: &[u8], r: &wire::RecordAt) -> Option<IpAddr> {
    let d = &msg[r.data_at..r.end()];
    match r.rtype {
        rtype::A => Some(IpAddr::from(<[u8; 4]>::try_from(d).ok()?)),
        rtype::AAAA => Some(IpAddr::from(<[u8; 16]>::try_from(d).ok()?)),
        _ => None,
    }
}

/// Cut a reply down to its header and question, keeping its OPT record.
fn empty_sections(reply: &mut Vec<u8>, question_end: usize, records: &[(u8, wire::RecordAt)]) {
    let opt = records
        .iter()
        .find(|(section, r)| *section == 3 && r.rtype == rtype::OPT)
        .map(|(_, r)| reply[r.start..r.end()].to_vec());
    reply.truncate(question_end);
    let ar = u16::from(opt.is_some());
    reply.extend(opt.unwrap_or_default());
    wire::set_counts(reply, 1, 0, 0, ar);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Message;

    fn reply(name: &str, addrs: &[&str]) -> Vec<u8> {
        use hickory_proto::rr::{Name, RData, Record};
        let q = super::super::answer::test_query(
            name.trim_end_matches('.'),
            hickory_proto::rr::RecordType::A,
        );
        let mut m = Message::from_vec(&q).unwrap();
        m.set_message_type(hickory_proto::op::MessageType::Response)
            .set_authoritative(true);
        for a in addrs {
            let ip: IpAddr = a.parse().unwrap();
            let data = match ip {
                IpAddr::V4(v) => RData::A(v.into()),
                IpAddr::V6(v) => RData::AAAA(v.into()),
            };
            m.add_answer(Record::from_rdata(
                Name::from_ascii(name).unwrap(),
                300,
                data,
            ));
        }
        m.to_vec().unwrap()
    }

    fn answers(bytes: &[u8]) -> Vec<String> {
        let m = Message::from_vec(bytes).unwrap();
        m.answers()
            .iter()
            .map(|r| r.data().unwrap().to_string())
            .collect()
    }

    #[test]
    fn alias_keeps_the_host_part_and_clears_aa() {
        let f = ReplyFilters {
            aliases: vec![Alias {
                from: "1.2.3.0".parse().unwrap(),
                end: None,
                to: "6.7.8.0".parse().unwrap(),
                mask: "255.255.255.0".parse().unwrap(),
            }],
            ..Default::default()
        };
        let mut r = reply("a.test.", &["1.2.3.56", "1.2.4.1"]);
        assert_eq!(f.apply("a.test", rtype::A, &mut r, false), Verdict::Pass);
        assert_eq!(answers(&r), ["6.7.8.56", "1.2.4.1"]);
        assert_eq!(r[2] & flag::AA, 0);
        let range = Alias {
            from: "192.168.0.10".parse().unwrap(),
            end: Some("192.168.0.40".parse().unwrap()),
            to: "10.0.0.0".parse().unwrap(),
            mask: "255.255.255.0".parse().unwrap(),
        };
        assert_eq!(
            range.rewrite("192.168.0.20".parse().unwrap()),
            Some("10.0.0.20".parse().unwrap())
        );
        assert_eq!(range.rewrite("192.168.0.41".parse().unwrap()), None);
    }

    #[test]
    fn bogus_addresses_make_nxdomain_with_nothing_left() {
        let f = ReplyFilters {
            bogus_nxdomain: vec![("64.94.110.0".parse().unwrap(), 24)],
            ..Default::default()
        };
        let mut r = reply("typo.test.", &["64.94.110.11"]);
        assert_eq!(
            f.apply("typo.test", rtype::A, &mut r, false),
            Verdict::Bogus { ttl: 300 }
        );
        assert_eq!(wire::header_rcode(&r), rcode::NXDOMAIN);
        assert_eq!(wire::counts(&r), (1, 0, 0, 0));
        let mut fine = reply("ok.test.", &["64.94.111.1"]);
        assert_eq!(
            f.apply("ok.test", rtype::A, &mut fine, false),
            Verdict::Pass
        );
    }

    #[test]
    fn rebind_protection_spares_listed_domains_and_optionally_localhost() {
        let mut f = ReplyFilters {
            stop_rebind: true,
            rebind_ok: ["home.test".to_string()].into(),
            ..Default::default()
        };
        for (name, addr, blocked) in [
            ("evil.test", "192.168.1.1", true),
            ("evil.test", "::ffff:10.1.1.1", true),
            ("evil.test", "fd00::1", true),
            ("nas.home.test", "192.168.1.1", false),
            ("fine.test", "100.64.0.1", false),
            ("rbl.test", "127.0.0.2", true),
        ] {
            let mut r = reply(&format!("{name}."), &[addr]);
            let v = f.apply(name, rtype::A, &mut r, false);
            assert_eq!(v == Verdict::Rebind, blocked, "{name} {addr}");
            assert_eq!(answers(&r).is_empty(), blocked);
        }
        f.rebind_localhost_ok = true;
        let mut r = reply("rbl.test.", &["127.0.0.2"]);
        assert_eq!(f.apply("rbl.test", rtype::A, &mut r, false), Verdict::Pass);
    }

    #[test]
    fn filtered_types_leave_the_answer() {
        let f = ReplyFilters {
            removed_addresses: vec![rtype::AAAA],
            ..Default::default()
        };
        let mut r = reply("both.test.", &["192.0.2.1", "2001:db8::1"]);
        assert_eq!(f.apply("both.test", rtype::A, &mut r, false), Verdict::Pass);
        assert_eq!(answers(&r), ["192.0.2.1"]);
        let mut r = reply("both.test.", &["192.0.2.1", "2001:db8::1"]);
        assert_eq!(
            f.apply("both.test", rtype::AAAA, &mut r, false),
            Verdict::Filtered { ttl: 300 }
        );
        assert_eq!(answers(&r), ["192.0.2.1"]);
    }
}
