//! The answer engine of one shard, free of I/O: a query's bytes in; a reply to send, a
//! forward to make, or a drop out. Order as in dnsmasq: local data and domain rules, then
//! the cache, then the upstream servers. The cache-hit path reads the question in place
//! and copies stored bytes; only local answers and forwarding decode or allocate.

use super::cache::{Ask, BareNegative, Cache, Hit, LocalCheck, Origin, Policy};
use super::chaos;
use super::filter::{ReplyFilters, Verdict};
use super::lease_names::LeaseNames;
use super::local::{DomainRule, LocalData, LocalMx, NameData, RuleTarget, Source};
use super::name_table;
use super::upstream::Tally;
use super::wire::{self, flag, rcode, rtype, Question};
use hickory_proto::op::{Edns as HEdns, Message, MessageType, OpCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, TXT};
use hickory_proto::rr::{Name, RData, Record};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Most CNAMEs followed through local data for one answer.
const MAX_CNAME_CHAIN: usize = 10;
/// Largest reply to a UDP client that sent no EDNS (RFC 1035).
pub const PLAIN_UDP_BYTES: usize = 512;

/// Switches that change answers, from the configuration.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--domain-needed`.
    pub domain_needed: bool,
    /// `--bogus-priv`.
    pub bogus_priv: bool,
    /// `--log-queries`.
    pub log_queries: bool,
    /// `--filterwin2k`: SOA, SRV and underscore ANY queries are not forwarded.
    pub filterwin2k: bool,
    /// `--ignore-address`: upstream replies with these addresses are not believed.
    pub ignore_addresses: Vec<(IpAddr, u8)>,
    /// `--alias`, `--bogus-nxdomain`, `--stop-dns-rebind`, `--filter-rr` and kin.
    pub filters: ReplyFilters,
    /// `--localise-queries`.
    pub localise_queries: bool,
    /// CHAOS TXT queries in `bind.` are answered (off: `--no-ident`).
    pub ident: bool,
    /// `--cache-size`, the total over shards, for `cachesize.bind`.
    pub cache_size: u64,
}

/// What to do with one query.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Send these bytes back to the client.
    Reply(&'a [u8]),
    /// Forward the query to these servers.
    Forward(Arc<[SocketAddr]>),
    /// Send these (expired, `--use-stale-cache`) bytes back, and forward the query to
    /// these servers to refresh the cache; their answer goes to no client.
    ReplyAndRefresh(&'a [u8], Arc<[SocketAddr]>),
    /// Not a query we answer (a response, or too short to have an ID): count and drop.
    Drop,
}

/// Queries by outcome, for SIGUSR1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub local: u64,
    pub cached: u64,
    pub forwarded: u64,
    pub refused: u64,
    pub malformed: u64,
}

/// One shard's answer state: the local snapshot, its cache and a reusable reply buffer.
pub struct Engine {
    pub local: Arc<LocalData>,
    pub cache: Cache,
    pub options: Options,
    pub counters: Counters,
    /// Answers this engine fetched and cached, for the runtime to offer the other shards.
    pub fills: Vec<Arc<super::cache::Stored>>,
    out: Vec<u8>,
    /// Local answers given with round robin on, to rotate their address sets.
    local_turn: usize,
    /// The host's addresses by interface, with prefix lengths, for `--interface-name`
    /// and `--localise-queries`; kept current by the runtime.
    pub interface_addrs: Vec<(String, IpAddr, u8)>,
    /// Every shard's record of each upstream server, for `servers.bind`; set by the
    /// runtime.
    pub tallies: Option<TallySource>,
    /// DHCP clients' names, when a DHCP server runs; set by the runtime.
    pub lease_names: Option<Arc<LeaseNames>>,
    /// Whether the hosts table was looked up since the last `plan` (so the next batch is
    /// likely to look it up too).
    hosts_looked_up: bool,
    /// Per query of the planned batch: where it is, and what the hosts table holds for
    /// its name (as many as a batch has queries).
    planned: Vec<(usize, Planned)>,
    /// The snapshot the planned lookups were made in (its address).
    planned_in: usize,
    /// The planned batch's hosts keys, while `plan` looks them up (kept for the room).
    plan_keys: Vec<Option<name_table::ShortKey>>,
    /// The planned query being answered.
    planned_at: Option<usize>,
}

/// Where an engine reads every shard's per-server counts from.
pub type TallySource = Box<dyn Fn() -> Vec<(SocketAddr, Tally)>>;

/// A reply with only a header and the question (if any), with this response code.
fn header_reply(out: &mut Vec<u8>, query: &[u8], question_end: Option<usize>, code: u8) {
    out.clear();
    out.extend_from_slice(&query[..question_end.unwrap_or(wire::HEADER_BYTES)]);
    out[2] = (out[2] | flag::QR) & !(flag::AA | flag::TC);
    out[3] = flag::RA | code;
    let qd = u16::from(question_end.is_some());
    wire::set_counts(out, qd, 0, 0, 0);
}

/// Most addresses of one family a hosts name is answered with by `Engine::hosts_reply`;
/// names with more take the general path.
const MAX_FAST_HOSTS_ADDRS: usize = 16;

/// Hosts tables smaller than this stay in the caches: their lookups are not planned.
const PLAN_MIN_HOSTS_NAMES: usize = 1 << 16;

/// What `Engine::plan` found for one query of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Planned {
    /// Its name has no hosts key (too long, or not plain text): looked up as it comes.
    Unkeyed,
    /// Not in the hosts table.
    Missing,
    /// In the hosts table, with this value (`HostsTable::addrs`).
    Found(u32),
}

/// The question name of `query` as dotted text in `buf`, straight from its labels
/// before the query is checked, with `dotted`'s rule for the bytes of a label: for
/// planning lookups. A malformed query costs only a wasted prefetch (a planned key is
/// used only for a query that then parses), and a name `dotted` refuses has no key.
fn query_name_text<'b>(query: &[u8], buf: &'b mut NameText) -> Option<&'b [u8]> {
    // The labels' bytes in one copy, their length bytes then made dots, and one check of
    // them all: label by label, every label's end would be a branch mispredicted when
    // names vary, and a batch of block-list names varies.
    let wire = query.get(wire::HEADER_BYTES..)?;
    let labels_bytes = wire.get(1..).unwrap_or_default();
    let copied = labels_bytes.len().min(buf.len());
    buf[..copied].copy_from_slice(&labels_bytes[..copied]);
    let (mut root, mut labels) = (0usize, 0usize);
    loop {
        let len = usize::from(*wire.get(root)?);
        if len == 0 {
            break;
        }
        root += 1 + len;
        labels += 1;
        // The next length byte's place in the text (past the last label, cut off below).
        if let Some(b) = buf.get_mut(root - 1) {
            *b = b'.';
        }
    }
    let text = buf.get(..root.saturating_sub(1))?;
    // Every byte printable, and no dots but those put between labels.
    let unprintable = text.iter().fold(false, |u, b| u | !b.is_ascii_graphic());
    let dots = text.iter().filter(|&&b| b == b'.').count();
    (!unprintable && dots + 1 == labels.max(1)).then_some(text)
}

/// Room for a name in dotted text, on the stack.
type NameText = [u8; wire::MAX_NAME_BYTES + 1];

/// The question name as lower-case dotted text without the final dot, if every label is
/// plain printable text (names that are not cannot be local).
fn dotted<'b>(q: &Question, buf: &'b mut NameText) -> Option<&'b str> {
    let mut len = 0;
    for label in wire::labels(q.name.wire()) {
        if len > 0 {
            buf[len] = b'.';
            len += 1;
        }
        for &b in label {
            if !b.is_ascii_graphic() || b == b'.' {
                return None;
            }
            buf[len] = b;
            len += 1;
        }
    }
    std::str::from_utf8(&buf[..len]).ok()
}

impl Engine {
    pub fn new(local: Arc<LocalData>, policy: Policy, options: Options) -> Engine {
        Engine {
            local,
            cache: Cache::new(policy),
            options,
            counters: Counters::default(),
            fills: Vec::new(),
            local_turn: 0,
            interface_addrs: Vec::new(),
            tallies: None,
            lease_names: None,
            hosts_looked_up: false,
            planned: Vec::new(),
            planned_in: 0,
            plan_keys: Vec::new(),
            planned_at: None,
            out: Vec::with_capacity(super::cache::MAX_ENTRY_BYTES + 64),
        }
    }

    /// Decide what to do with `query` from `client`, at `now_secs` on the shard's clock.
    /// Over `tcp` a reply may be as large as DNS allows; over UDP, as the client's EDNS
    /// size (512 without EDNS).
    pub fn query(
        &mut self,
        query: &[u8],
        client: SocketAddr,
        now_secs: u64,
        tcp: bool,
    ) -> Action<'_> {
        let planned_at = self.planned_at.take();
        if query.len() < wire::HEADER_BYTES || query[2] & flag::QR != 0 {
            self.counters.malformed += 1;
            return Action::Drop;
        }
        if (query[2] >> 3) & 0x0f != 0 {
            header_reply(&mut self.out, query, None, rcode::NOTIMP);
            return Action::Reply(&self.out);
        }
        // A question is a 260-byte value: bound once, not moved through combinators.
        let Ok(q) = wire::question(query) else {
            return self.malformed(query);
        };
        let Ok(edns) = wire::edns(query, q.end) else {
            return self.malformed(query);
        };
        let limit = match (tcp, edns) {
            (true, _) => u16::MAX as usize,
            (false, Some(e)) => (e.udp_size as usize).clamp(
                PLAIN_UDP_BYTES,
                self.cache.policy().edns_packet_max as usize,
            ),
            (false, None) => PLAIN_UDP_BYTES,
        };
        let mut text: NameText = [0; wire::MAX_NAME_BYTES + 1];
        if self.options.log_queries {
            crate::log::info(format!(
                "query[{}] {} from {}",
                wire::type_name(q.qtype),
                wire::question_text(query, &q),
                client.ip()
            ));
        }
        if q.qclass == chaos::CLASS_CHAOS {
            let name = dotted(&q, &mut text);
            return self.chaos_reply(query, &q, name, edns.is_some(), limit);
        }
        // A name already found to have no local answer under this snapshot is answered
        // from the cache without looking at the local data again (a million hosts names
        // would otherwise cost every hit a lookup). Interface names change without a new
        // snapshot, so with any configured the local data always comes first.
        let ask = Ask {
            query,
            q: &q,
            edns,
            max_bytes: limit,
        };
        let generation = self.local_generation();
        if query[2] & flag::RD != 0 && !self.local.has_interface_names() {
            let check = LocalCheck::Pending(generation);
            if let Some(hit) = self.cache.answer(&ask, now_secs, &mut self.out, check) {
                self.note_hit(hit);
                return Action::Reply(&self.out);
            }
        }
        // A planned hosts lookup (a batch of block-list names) needs no text of the name:
        // where nothing else could answer first, it is made now, and not again below.
        let planned = self.planned_lookup(planned_at, query);
        let planned_first =
            !self.local.has_interface_names() && self.local.names.is_empty() && planned.is_some();
        if planned_first && self.hosts_reply(query, planned, &q, None, edns.is_some(), limit) {
            return Action::Reply(&self.out);
        }
        // Past the cache: the name as text, for the local data.
        let name = dotted(&q, &mut text);
        // dnsmasq neither caches nor answers from its cache an --interface-name name
        // whose interface lacks the asked family.
        let mut uncached = false;
        if self.local.has_interface_names() {
            let found =
                name.and_then(|n| interface_answer(&self.local, &self.interface_addrs, n, q.qtype));
            if let Some(mut outcome) = found {
                if self.options.localise_queries {
                    localise(&mut outcome.answers, &self.interface_addrs, client.ip());
                }
                if !outcome.answers.is_empty() {
                    return self.local_reply(query, &q, edns.is_some(), limit, &outcome);
                }
                // dnsmasq logs that the interface has no such address, then goes on.
                uncached = true;
                if self.options.log_queries {
                    outcome.log(&wire::question_text(query, &q), q.qtype);
                }
            }
        }
        if !planned_first
            && name.is_some_and(|n| {
                self.hosts_reply(query, planned, &q, Some(n), edns.is_some(), limit)
            })
        {
            return Action::Reply(&self.out);
        }
        if let Some(outcome) = name.and_then(|n| self.lease_answer(n, q.qtype)) {
            return self.local_reply(query, &q, edns.is_some(), limit, &outcome);
        }
        let bogus_priv = self.options.bogus_priv;
        if let Some(mut outcome) =
            name.and_then(|n| local_answer(&self.local, n, q.qtype, bogus_priv))
        {
            if self.options.localise_queries {
                localise(&mut outcome.answers, &self.interface_addrs, client.ip());
            }
            if self.cache.policy().round_robin {
                self.local_turn = self.local_turn.wrapping_add(1);
                rotate_address_runs(&mut outcome.answers, self.local_turn);
            }
            return self.local_reply(query, &q, edns.is_some(), limit, &outcome);
        }
        let hit = match query[2] & flag::RD {
            0 => None,
            _ if uncached => None,
            _ => {
                let check = LocalCheck::Done(generation);
                self.cache.answer(&ask, now_secs, &mut self.out, check)
            }
        };
        let mut stale = false;
        if let Some(hit) = hit {
            self.note_hit(hit);
            if !hit.stale {
                return Action::Reply(&self.out);
            }
            // Given now; fetched again below, the reply already in `out`.
            stale = true;
        }
        if self.options.filterwin2k && win2k_noise(name.unwrap_or(""), q.qtype) {
            let mut outcome = Outcome::negative(rcode::NOERROR, "config");
            outcome.authoritative = true;
            return self.local_reply(query, &q, edns.is_some(), limit, &outcome);
        }
        let rule = name.and_then(|n| self.local.rule_for(n));
        let dotless = q.name.label_count() == 1;
        let servers = match rule.and_then(|r| r.target.as_ref()) {
            Some(RuleTarget::Servers(s)) => s.clone(),
            _ if self.options.domain_needed
                && dotless
                && matches!(q.qtype, rtype::A | rtype::AAAA) =>
            {
                // A plain name known here (without the family asked) is NODATA, else
                // NXDOMAIN, as dnsmasq.
                let known = name.is_some_and(|n| self.local.has_name(n));
                let code = if known {
                    rcode::NOERROR
                } else {
                    rcode::NXDOMAIN
                };
                let outcome = Outcome::negative(code, "config");
                return self.local_reply(query, &q, edns.is_some(), limit, &outcome);
            }
            _ if self.options.bogus_priv && is_private_reverse(name.unwrap_or("")) => {
                let mut outcome = Outcome::negative(rcode::NXDOMAIN, "config");
                outcome.authoritative = true;
                outcome.reverse = true;
                return self.local_reply(query, &q, edns.is_some(), limit, &outcome);
            }
            _ if self.local.upstreams.is_empty() => {
                if stale {
                    return Action::Reply(&self.out);
                }
                self.counters.refused += 1;
                header_reply(&mut self.out, query, Some(q.end), rcode::REFUSED);
                return Action::Reply(&self.out);
            }
            _ => self.local.upstreams.clone(),
        };
        self.counters.forwarded += 1;
        if stale {
            return Action::ReplyAndRefresh(&self.out, servers);
        }
        if self.options.log_queries {
            if let Some(first) = servers.first() {
                crate::log::info(format!(
                    "forwarded {} to {}#{}",
                    wire::question_text(query, &q),
                    first.ip(),
                    first.port()
                ));
            }
        }
        Action::Forward(servers)
    }

    /// What the cache's local checks are valid under: this snapshot and the lease names
    /// as they are (the snapshot's number in the low half, the names' in the high).
    fn local_generation(&self) -> u64 {
        let leases = self
            .lease_names
            .as_deref()
            .map_or(0, LeaseNames::generation);
        self.local.generation ^ (leases << 32)
    }

    /// The answer a DHCP client's name (A) or address (PTR) gets, where neither the hosts
    /// files nor the configuration know it: those come first, as in dnsmasq, but lease
    /// names come before domain rules (`local=/lan/` with `domain=lan` is the usual set-up).
    /// Other types, and AAAA, go on as for a hosts-file name.
    fn lease_answer(&self, name: &str, qtype: u16) -> Option<Outcome> {
        let leases = self.lease_names.as_deref().filter(|l| !l.is_empty())?;
        // The lease map first: most names are not in it, and only a hit needs the
        // (costlier) check that the local data does not know the name already.
        let (rdata, reverse) = match qtype {
            rtype::A | rtype::ANY => {
                let addr = leases.address(name)?;
                if self.local.has_name(name) {
                    return None;
                }
                (RData::A(A(addr)), false)
            }
            rtype::PTR => {
                let ip = reverse_address(name)?;
                let IpAddr::V4(v4) = ip else {
                    return None;
                };
                let target = leases.name_of(v4)?;
                if self.local.reverse_name(ip).is_some() {
                    return None;
                }
                (RData::PTR(PTR(fqdn(&target)?)), true)
            }
            _ => return None,
        };
        Some(Outcome {
            rcode: rcode::NOERROR,
            authoritative: true,
            answers: vec![Record::from_rdata(fqdn(name)?, leases.ttl_secs, rdata)],
            additional: Vec::new(),
            source: "DHCP".into(),
            address_sources: Vec::new(),
            reverse,
        })
    }

    /// Answer an A or AAAA query for a hosts-file name straight into `out`, as the
    /// general path (`local_answer`, `build_reply`) would answer it but without building
    /// records: block lists make this the busiest local answer. False, with nothing done,
    /// where the general path is needed: the configuration gives the name data too, the
    /// name has no address of the family asked (that goes upstream, as in dnsmasq), the
    /// query is logged or localised, or the reply would not fit (checked before anything
    /// is written or the round robin turns).
    /// `planned` is what `plan` found for the query, if it was planned (Some(None): not in
    /// the table); then `name`, the question's as text, may be left out where the
    /// configuration gives no other local names.
    fn hosts_reply(
        &mut self,
        query: &[u8],
        planned: Option<Option<u32>>,
        q: &Question,
        name: Option<&str>,
        edns: bool,
        limit: usize,
    ) -> bool {
        let v4 = match q.qtype {
            rtype::A => true,
            rtype::AAAA => false,
            _ => return false,
        };
        if self.options.log_queries || self.options.localise_queries {
            return false;
        }
        self.hosts_looked_up = true;
        let found = match (planned, name) {
            (Some(value), _) => value.map(|v| self.local.hosts.addrs(v)),
            (None, Some(name)) => self.local.hosts.get(name),
            (None, None) => None,
        };
        let Some(addrs) = found else {
            return false;
        };
        let elsewhere = match name {
            Some(name) => self.local.names.contains_key(name),
            None => !self.local.names.is_empty(),
        };
        if elsewhere {
            return false;
        }
        let mut found = [IpAddr::V4(Ipv4Addr::UNSPECIFIED); MAX_FAST_HOSTS_ADDRS];
        let mut count = 0;
        for (addr, _) in addrs.iter().filter(|(a, _)| a.is_ipv4() == v4) {
            if count == found.len() {
                return false;
            }
            found[count] = addr;
            count += 1;
        }
        let addr_bytes = if v4 { 4 } else { 16 };
        let opt_bytes = if edns { wire::OPT_RECORD_BYTES } else { 0 };
        if count == 0 || q.end + count * (12 + addr_bytes) + opt_bytes > limit {
            return false;
        }
        let found = &mut found[..count];
        if self.cache.policy().round_robin {
            self.local_turn = self.local_turn.wrapping_add(1);
            found.rotate_right(self.local_turn % count);
        }
        let out = &mut self.out;
        out.clear();
        out.extend_from_slice(&query[..q.end]);
        out[2] = flag::QR | flag::AA | (query[2] & flag::RD);
        out[3] = flag::RA | (query[3] & flag::CD);
        wire::set_counts(out, 1, count as u16, 0, u16::from(edns));
        let ttl = self.local.local_ttl_secs.to_be_bytes();
        for addr in found.iter() {
            // The owner is the question's name, by pointer to it.
            out.extend_from_slice(&[0xc0, wire::HEADER_BYTES as u8]);
            out.extend_from_slice(&q.qtype.to_be_bytes());
            out.extend_from_slice(&[0, 1]);
            out.extend_from_slice(&ttl);
            match addr {
                IpAddr::V4(a) => {
                    out.extend_from_slice(&[0, 4]);
                    out.extend_from_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    out.extend_from_slice(&[0, 16]);
                    out.extend_from_slice(&a.octets());
                }
            }
        }
        if edns {
            out.extend_from_slice(&wire::opt_record(self.cache.policy().edns_packet_max));
        }
        self.counters.local += 1;
        true
    }

    /// Get ready to answer a batch of `queries` with `query_planned`: in a hosts table too
    /// big for the caches each lookup misses twice (index line, then name), so the
    /// batch's names are looked up now, all together, their misses overlapping, and each
    /// query then answered with what was found for it. Only while hosts names are being
    /// asked for (the last batch looked some up), so that a batch of cache hits pays
    /// nothing.
    pub fn plan<'q>(&mut self, queries: impl Iterator<Item = &'q [u8]>) {
        self.planned.clear();
        if !std::mem::take(&mut self.hosts_looked_up)
            || self.local.hosts.len() < PLAN_MIN_HOSTS_NAMES
        {
            return;
        }
        let mut text: NameText = [0; wire::MAX_NAME_BYTES + 1];
        let mut scratch = [0; name_table::MAX_KEY_BYTES];
        self.plan_keys.clear();
        for query in queries {
            let key = query_name_text(query, &mut text)
                .and_then(|name| name_table::ShortKey::new_in(name, &mut scratch));
            let planned = if key.is_some() {
                Planned::Missing
            } else {
                Planned::Unkeyed
            };
            self.planned.push((query.as_ptr() as usize, planned));
            self.plan_keys.push(key);
        }
        let (keys, planned) = (&self.plan_keys, &mut self.planned);
        let key = |i: usize| keys.get(i).and_then(Option::as_ref);
        self.local.hosts.get_batch(keys.len(), key, |i, value| {
            if let Some(value) = value {
                planned[i].1 = Planned::Found(value);
            }
        });
        self.planned_in = Arc::as_ptr(&self.local) as usize;
    }

    /// `query` (the `i`th of the batch given to `plan`), answered as `query` does, with
    /// its hosts lookup already made.
    pub fn query_planned(
        &mut self,
        i: usize,
        query: &[u8],
        client: SocketAddr,
        now_secs: u64,
        tcp: bool,
    ) -> Action<'_> {
        self.planned_at = Some(i);
        self.query(query, client, now_secs, tcp)
    }

    /// What `plan` found in the hosts table for `query`, if it is planned query `i` and
    /// its name had a key: Some(None) for a name not there. Only in the snapshot the
    /// lookup was made in.
    fn planned_lookup(&self, i: Option<usize>, query: &[u8]) -> Option<Option<u32>> {
        if self.planned_in != Arc::as_ptr(&self.local) as usize {
            return None;
        }
        match self.planned.get(i?) {
            Some(&(at, planned)) if at == query.as_ptr() as usize => match planned {
                Planned::Unkeyed => None,
                Planned::Missing => Some(None),
                Planned::Found(value) => Some(Some(value)),
            },
            _ => None,
        }
    }

    /// Hand the reply the last `query` gave over to `buf` without copying it; the engine
    /// keeps `buf`'s storage for its next reply.
    pub fn take_reply(&mut self, buf: &mut Vec<u8>) {
        std::mem::swap(&mut self.out, buf);
    }

    /// FORMERR for a query that cannot be read past its header.
    fn malformed(&mut self, query: &[u8]) -> Action<'_> {
        self.counters.malformed += 1;
        header_reply(&mut self.out, query, None, rcode::FORMERR);
        Action::Reply(&self.out)
    }

    /// Count and log an answer given from the cache (now in `out`).
    fn note_hit(&mut self, hit: Hit) {
        self.counters.cached += 1;
        if self.options.log_queries {
            let kind = match (hit.origin, hit.stale) {
                (Origin::Upstream, false) => "cached",
                (Origin::Upstream, true) => "cached-stale",
                (Origin::Filter, _) => "config",
            };
            log_answers(kind, &self.out, true);
        }
    }

    /// Whether `name` (lower case) is an `--interface-name` or `--dynamic-host` name.
    fn is_interface_name(&self, name: &str) -> bool {
        self.local.interface_names.iter().any(|(n, _, _)| n == name)
            || self
                .local
                .dynamic_hosts
                .iter()
                .any(|(n, _, _, _)| n == name)
    }

    /// The answer to a CHAOS-class query: TXT in `bind.` as dnsmasq gives it, else NOTIMP.
    fn chaos_reply(
        &mut self,
        query: &[u8],
        q: &Question,
        name: Option<&str>,
        edns: bool,
        limit: usize,
    ) -> Action<'_> {
        let answerable = self.options.ident && q.qtype == rtype::TXT;
        let servers = match (name, &self.tallies) {
            (Some(n), Some(tallies)) if answerable && n.eq_ignore_ascii_case("servers.bind") => {
                // Read every shard's counts (a lock each) only when they are asked for.
                let tallies = tallies();
                self.local
                    .listed_servers
                    .iter()
                    .map(|s| {
                        let t = tallies.iter().find(|(a, _)| a == s).map(|(_, t)| t);
                        (*s, t.map_or(0, |t| t.queries), t.map_or(0, |t| t.failed))
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let figures = chaos::Figures {
            cache_size: self.options.cache_size,
            insertions: self.cache.stats.insertions,
            evictions: self.cache.stats.evictions,
            misses: self.counters.forwarded,
            hits: self.counters.cached + self.counters.local,
            servers,
        };
        let text = name
            .filter(|_| answerable)
            .and_then(|n| chaos::text(&n.to_ascii_lowercase(), &figures));
        let (Some(text), Some(owner)) = (text, name.and_then(fqdn)) else {
            let outcome = Outcome::negative(rcode::NOTIMP, "config");
            let edns_size = edns.then_some(self.cache.policy().edns_packet_max);
            build_reply(&mut self.out, query, q.end, &outcome, edns_size, limit);
            return Action::Reply(&self.out);
        };
        let mut record = Record::from_rdata(owner, 0, RData::TXT(TXT::new(text)));
        record.set_dns_class(hickory_proto::rr::DNSClass::CH);
        let mut outcome = Outcome::negative(rcode::NOERROR, "config");
        outcome.authoritative = true;
        outcome.answers.push(record);
        self.local_reply(query, q, edns, limit, &outcome)
    }

    /// Count, log and put in wire form an answer decided locally.
    fn local_reply(
        &mut self,
        query: &[u8],
        q: &Question,
        edns: bool,
        limit: usize,
        outcome: &Outcome,
    ) -> Action<'_> {
        self.counters.local += 1;
        if self.options.log_queries {
            outcome.log(&wire::question_text(query, q), q.qtype);
        }
        let edns_size = edns.then_some(self.cache.policy().edns_packet_max);
        build_reply(&mut self.out, query, q.end, outcome, edns_size, limit);
        Action::Reply(&self.out)
    }

    /// Take an upstream reply to `query`: cache it and return the bytes for the client
    /// (the client's ID restored, EDNS size rewritten to ours), or None to drop it.
    pub fn upstream_reply(&mut self, query: &[u8], reply: &[u8], now_secs: u64) -> Option<Vec<u8>> {
        let q = wire::question(query).ok()?;
        let mut out = reply.to_vec();
        out[..2].copy_from_slice(&query[..2]);
        if let Ok(Some(e)) = wire::edns(&out, q.end) {
            let size = self.cache.policy().edns_packet_max.to_be_bytes();
            let class_at = wire::skip_name(&out, e.at).ok()? + 2;
            out[class_at..class_at + 2].copy_from_slice(&size);
        }
        // The name, for the filters and the interface names, only where they need it.
        let mut text: NameText = [0; wire::MAX_NAME_BYTES + 1];
        let name = match self.options.filters.is_empty() && !self.local.has_interface_names() {
            true => String::new(),
            false => dotted(&q, &mut text).unwrap_or("").to_ascii_lowercase(),
        };
        let log = self.options.log_queries;
        // dnsmasq logs an answer to ANY as it came, before --filter-rr=ANY.
        if log && q.qtype == rtype::ANY {
            log_answers("reply", &out, false);
        }
        let (bare, logged_as) = match self.options.filters.apply(&name, q.qtype, &mut out, log) {
            Verdict::Pass => (None, "reply"),
            Verdict::Bogus { ttl } => (
                Some(BareNegative {
                    ttl,
                    origin: Origin::Upstream,
                }),
                "",
            ),
            Verdict::Filtered { ttl } => (
                Some(BareNegative {
                    ttl,
                    origin: Origin::Filter,
                }),
                "config",
            ),
            // dnsmasq logs nothing of an answer it refused as a rebind attack.
            Verdict::Rebind => (None, ""),
        };
        let rd = query[2] & flag::RD != 0 && !self.is_interface_name(&name);
        let stored = self.cache.insert(&q, rd, &out, now_secs, bare);
        let cached = stored.is_some();
        if let Some(stored) = stored {
            self.fills.push(stored);
        }
        if log && q.qtype != rtype::ANY && !logged_as.is_empty() {
            log_answers(logged_as, &out, cached);
        }
        Some(out)
    }
}

/// `--localise-queries`: of a name's several addresses, keep those on the subnet of the
/// interface the client is on, if any are. The interface is the one whose subnet holds the
/// client's address, which for the directly attached clients this is meant for is the
/// interface the query came in on.
fn localise(records: &mut Vec<Record>, host: &[(String, IpAddr, u8)], client: IpAddr) {
    if records.len() < 2 {
        return;
    }
    let nets: Vec<(IpAddr, u8)> = host
        .iter()
        .filter(|(_, a, p)| in_subnet(client, *a, *p))
        .map(|(_, a, p)| (*a, *p))
        .collect();
    let address = |r: &Record| match r.data() {
        Some(RData::A(a)) => Some(IpAddr::V4(a.0)),
        Some(RData::AAAA(a)) => Some(IpAddr::V6(a.0)),
        _ => None,
    };
    let local =
        |r: &Record| address(r).is_some_and(|ip| nets.iter().any(|(n, p)| in_subnet(ip, *n, *p)));
    if records.iter().any(local) {
        records.retain(|r| address(r).is_none() || local(r));
    }
}

/// Rotate each run of address records of one name by `turn`: local answers take turns
/// at which address comes first, as dnsmasq's round robin does.
fn rotate_address_runs(records: &mut [Record], turn: usize) {
    let mut i = 0;
    while i < records.len() {
        let (name, rtype) = (records[i].name().clone(), records[i].record_type());
        let run = records[i..]
            .iter()
            .take_while(|r| r.record_type() == rtype && *r.name() == name)
            .count();
        if run > 1 && rtype.is_ip_addr() {
            records[i..i + run].rotate_right(turn % run);
        }
        i += run;
    }
}

/// Queries Windows hosts make that the public DNS has no use for (`--filterwin2k`).
fn win2k_noise(name: &str, qtype: u16) -> bool {
    qtype == rtype::SOA || qtype == rtype::SRV || (qtype == rtype::ANY && name.contains('_'))
}

/// Whether an upstream reply is taken as the answer to `query` (as sent, with our ID):
/// it matches the query and holds no `--ignore-address`.
pub fn believable(query: &[u8], reply: &[u8], ignore: &[(IpAddr, u8)]) -> bool {
    reply_matches(query, reply) && !holds_address(reply, ignore)
}

/// Whether an upstream reply holds an A or AAAA answer in one of `subnets`
/// (`--ignore-address`): such a reply is not believed, as if it never came.
pub fn holds_address(reply: &[u8], subnets: &[(IpAddr, u8)]) -> bool {
    if subnets.is_empty() {
        return false;
    }
    let Ok(q) = wire::question(reply) else {
        return false;
    };
    let Ok(records) = wire::records(reply, q.end) else {
        return false;
    };
    records
        .iter()
        .filter(|(section, _)| *section == 1)
        .filter_map(|(_, r)| {
            let d = &reply[r.data_at..r.end()];
            match r.rtype {
                rtype::A => Some(IpAddr::from(<[u8; 4]>::try_from(d).ok()?)),
                rtype::AAAA => Some(IpAddr::from(<[u8; 16]>::try_from(d).ok()?)),
                _ => None,
            }
        })
        .any(|ip| subnets.iter().any(|(net, len)| in_subnet(ip, *net, *len)))
}

/// The IPv4 netmask of a `prefix`-bit network.
fn v4_mask(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

/// The IPv6 netmask of a `prefix`-bit network.
fn v6_mask(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

/// Whether `addr` lies in `net`/`prefix`.
pub fn in_subnet(addr: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = v4_mask(prefix);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = v6_mask(prefix);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Whether `name` is a reverse lookup in a private range (`--bogus-priv`).
fn is_private_reverse(name: &str) -> bool {
    reverse_address(name).is_some_and(|a| is_private(a, true))
}

/// dnsmasq's private ranges: RFC 1918, link-local, the test networks, broadcast, and (when
/// `include_localhost`) 127/8 and 0/8; for IPv6 loopback, unspecified, link-local,
/// site-local, unique-local and documentation addresses.
pub fn is_private(addr: IpAddr, include_localhost: bool) -> bool {
    match addr {
        IpAddr::V4(a) => {
            let [o1, o2, o3, _] = a.octets();
            (include_localhost && (o1 == 127 || o1 == 0))
                || a.is_private()
                || a.is_link_local()
                || a.is_broadcast()
                || [[192, 0, 2], [198, 51, 100], [203, 0, 113]].contains(&[o1, o2, o3])
        }
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => is_private(
            IpAddr::V4(a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)),
            include_localhost,
        ),
        IpAddr::V6(a) => {
            let s = a.segments();
            (include_localhost && a.is_loopback())
                || a.is_unspecified()
                || s[0] & 0xffc0 == 0xfe80
                || s[0] & 0xffc0 == 0xfec0
                || s[0] & 0xfe00 == 0xfc00
                || (s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

/// A locally decided answer, before it is put in wire form.
struct Outcome {
    rcode: u8,
    authoritative: bool,
    answers: Vec<Record>,
    additional: Vec<Record>,
    /// Where the answer came from, for the query log (`config`, a hosts file name).
    source: String,
    /// Addresses that came from elsewhere than `source` (a name in a hosts file and in
    /// the configuration), each logged with its own origin as dnsmasq does.
    address_sources: Vec<(IpAddr, String)>,
    /// A PTR answer from hosts or `host-record` addresses, or `--bogus-priv`'s NXDOMAIN,
    /// logged by address (a domain rule's answer to a reverse name is logged by name).
    reverse: bool,
}

impl Outcome {
    fn negative(rcode: u8, source: &str) -> Outcome {
        Outcome {
            rcode,
            authoritative: false,
            answers: Vec::new(),
            additional: Vec::new(),
            source: source.to_string(),
            address_sources: Vec::new(),
            reverse: false,
        }
    }

    fn log(&self, name: &str, qtype: u16) {
        if self.answers.is_empty() {
            let what = match (self.rcode, qtype) {
                (rcode::NXDOMAIN, _) => "NXDOMAIN",
                (_, rtype::A) => "NODATA-IPv4",
                (_, rtype::AAAA) => "NODATA-IPv6",
                _ => "NODATA",
            };
            let shown = match reverse_address(&name.to_ascii_lowercase()) {
                Some(addr) if self.reverse && qtype == rtype::PTR => addr.to_string(),
                _ => name.to_string(),
            };
            crate::log::info(format!("config {shown} is {what}"));
        }
        for r in &self.answers {
            let owner = r.name().to_ascii();
            let owner = owner.trim_end_matches('.');
            // The queried name is logged as the client wrote it, as dnsmasq does.
            let shown = if owner.eq_ignore_ascii_case(name) {
                name
            } else {
                owner
            };
            let data = match r.data() {
                Some(RData::A(_) | RData::AAAA(_)) => log_data(r),
                Some(RData::PTR(p)) if self.reverse => {
                    p.to_ascii().trim_end_matches('.').to_string()
                }
                _ => format!("<{}>", r.record_type()),
            };
            let shown = match (self.reverse, reverse_address(&shown.to_ascii_lowercase())) {
                (true, Some(addr)) => addr.to_string(),
                _ => shown.to_string(),
            };
            let source = match r.data().and_then(|d| d.ip_addr()) {
                Some(ip) => self
                    .address_sources
                    .iter()
                    .find(|(a, _)| *a == ip)
                    .map_or(&self.source, |(_, s)| s),
                None => &self.source,
            };
            crate::log::info(format!("{source} {shown} is {data}"));
        }
    }
}

/// How dnsmasq shows one answer record in the query log.
fn log_data(r: &Record) -> String {
    match r.data() {
        Some(RData::A(a)) => a.to_string(),
        Some(RData::AAAA(a)) => a.to_string(),
        Some(RData::PTR(p)) => p.to_ascii().trim_end_matches('.').to_string(),
        Some(RData::TXT(t)) => t.to_string(),
        _ => format!("<{}>", r.record_type()),
    }
}

/// Log the answers of a reply as dnsmasq does (`reply x is 1.2.3.4`, `cached x is NXDOMAIN`).
/// A negative answer to a reverse lookup is shown by address where it is `cached` (it
/// carried an SOA of its zone, or `--neg-ttl` applies), else by name, as dnsmasq shows it.
pub fn log_answers(kind: &str, reply: &[u8], cached: bool) {
    use hickory_proto::rr::RecordType;
    let Ok(m) = Message::from_vec(reply) else {
        return;
    };
    if m.truncated() {
        crate::log::info(format!("{kind} is truncated"));
        return;
    }
    let Some(q) = m.queries().first() else {
        return;
    };
    let what = match u16::from(m.response_code()) as u8 {
        rcode::NOERROR | rcode::NXDOMAIN => None,
        rcode::SERVFAIL => Some("SERVFAIL"),
        rcode::REFUSED => Some("REFUSED"),
        _ => return,
    };
    if let Some(error) = what {
        crate::log::info(format!("{kind} error is {error}"));
        return;
    }
    let nodata = |t: RecordType| match t {
        RecordType::A => "NODATA-IPv4",
        RecordType::AAAA => "NODATA-IPv6",
        _ => "NODATA",
    };
    // dnsmasq shows reverse lookups by address, and their NODATA by family.
    let shown = |n: &Name| -> String {
        let text = n.to_ascii().trim_end_matches('.').to_ascii_lowercase();
        match reverse_address(&text) {
            Some(ip) if q.query_type() == RecordType::PTR => ip.to_string(),
            _ => n.to_ascii().trim_end_matches('.').to_string(),
        }
    };
    let nodata = |t: RecordType, n: &Name| match t {
        RecordType::PTR => {
            match reverse_address(&n.to_ascii().trim_end_matches('.').to_ascii_lowercase()) {
                Some(IpAddr::V4(_)) => "NODATA-IPv4",
                Some(IpAddr::V6(_)) => "NODATA-IPv6",
                None => "NODATA",
            }
        }
        other => nodata(other),
    };
    for r in m.answers() {
        // dnsmasq shows no data at all in answers to ANY.
        let data = match q.query_type() {
            RecordType::ANY => format!("<{}>", r.record_type()),
            _ => log_data(r),
        };
        crate::log::info(format!("{kind} {} is {data}", shown(r.name())));
    }
    // An answer that ends in a CNAME (or is empty) says what the last name lacks; dnsmasq
    // says nothing of an empty answer to ANY.
    let last = match m.answers().last() {
        None if q.query_type() == RecordType::ANY => None,
        None => Some(q.name().clone()),
        Some(r) => match r.data() {
            Some(RData::CNAME(c)) if q.query_type() != RecordType::CNAME => Some(c.0.clone()),
            _ => None,
        },
    };
    if let Some(n) = last {
        let by_name = q.query_type() == RecordType::PTR && !cached;
        let what = match u16::from(m.response_code()) as u8 {
            rcode::NXDOMAIN => "NXDOMAIN",
            _ if by_name => "NODATA",
            _ => nodata(q.query_type(), &n),
        };
        let name = match by_name {
            true => n.to_ascii().trim_end_matches('.').to_string(),
            false => shown(&n),
        };
        crate::log::info(format!("{kind} {name} is {what}"));
    }
}

/// Put `outcome` in wire form as the reply to `query`, whose question ends at `q_end`,
/// with an OPT record advertising `edns_size` if given; truncated with TC if it does not
/// fit in `limit` bytes.
fn build_reply(
    out: &mut Vec<u8>,
    query: &[u8],
    q_end: usize,
    outcome: &Outcome,
    edns_size: Option<u16>,
    limit: usize,
) {
    // Only the header and question matter; the query's other records (its OPT) are
    // dropped so hickory decodes exactly what the reply echoes.
    let mut head = query[..q_end].to_vec();
    wire::set_counts(&mut head, 1, 0, 0, 0);
    let Ok(msg) = Message::from_vec(&head) else {
        header_reply(out, query, Some(q_end), rcode::SERVFAIL);
        return;
    };
    let mut r = Message::new();
    r.set_id(msg.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(outcome.authoritative)
        .set_recursion_desired(msg.recursion_desired())
        .set_recursion_available(true)
        .set_checking_disabled(msg.checking_disabled())
        .set_response_code(hickory_proto::op::ResponseCode::from(0, outcome.rcode));
    if let Some(q) = msg.queries().first() {
        r.add_query(q.clone());
    }
    r.add_answers(outcome.answers.iter().cloned());
    r.add_additionals(outcome.additional.iter().cloned());
    if let Some(size) = edns_size {
        let mut e = HEdns::new();
        e.set_max_payload(size).set_version(0);
        r.set_edns(e);
    }
    match r.to_vec() {
        Ok(bytes) if bytes.len() <= limit => {
            out.clear();
            out.extend_from_slice(&bytes);
        }
        _ => {
            header_reply(out, query, Some(q_end), outcome.rcode);
            out[2] |= flag::TC;
        }
    }
}

fn fqdn(name: &str) -> Option<Name> {
    Name::from_ascii(format!("{name}.")).ok()
}

/// The names and addresses an interface's current addresses give: `--interface-name`
/// (the addresses themselves, link-local IPv6 left out, TTL `--local-ttl`) and
/// `--dynamic-host` (each address's network part with the configured host part, TTL 0).
/// In configuration order, so the first name for an address is its reverse name.
fn interface_records<'a>(
    local: &'a LocalData,
    addrs: &'a [(String, IpAddr, u8)],
) -> impl Iterator<Item = (&'a str, IpAddr, u32)> + 'a {
    let named = local
        .interface_names
        .iter()
        .flat_map(move |(name, iface, family)| {
            addrs.iter().filter_map(move |(i, a, _)| {
                let fam = if a.is_ipv4() { 4 } else { 6 };
                let link_local = matches!(a, IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80);
                (i == iface && family.is_none_or(|f| f == fam) && !link_local).then_some((
                    name.as_str(),
                    *a,
                    local.local_ttl_secs,
                ))
            })
        });
    let dynamic = local
        .dynamic_hosts
        .iter()
        .flat_map(move |(name, v4, v6, iface)| {
            addrs.iter().filter_map(move |(i, a, prefix)| {
                if i != iface {
                    return None;
                }
                let joined = match a {
                    IpAddr::V4(a) => {
                        let mask = v4_mask(*prefix);
                        IpAddr::V4(((u32::from(*a) & mask) | (u32::from((*v4)?) & !mask)).into())
                    }
                    IpAddr::V6(a) => {
                        let mask = v6_mask(*prefix);
                        IpAddr::V6(((u128::from(*a) & mask) | (u128::from((*v6)?) & !mask)).into())
                    }
                };
                Some((name.as_str(), joined, 0))
            })
        });
    named.chain(dynamic)
}

/// The `--interface-name` / `--dynamic-host` answer for `name`: its addresses (none: an
/// empty outcome, which dnsmasq logs and then forwards), or for a reverse name of one of
/// them, the first name given for it.
fn interface_answer(
    local: &LocalData,
    addrs: &[(String, IpAddr, u8)],
    name: &str,
    qtype: u16,
) -> Option<Outcome> {
    let mut outcome = Outcome::negative(rcode::NOERROR, "config");
    outcome.authoritative = true;
    if qtype == rtype::PTR {
        let ip = reverse_address(name)?;
        let (owner, _, ttl) = interface_records(local, addrs).find(|(_, a, _)| *a == ip)?;
        outcome.answers.push(Record::from_rdata(
            fqdn(name)?,
            ttl,
            RData::PTR(PTR(fqdn(owner)?)),
        ));
        outcome.reverse = true;
        return Some(outcome);
    }
    if !matches!(qtype, rtype::A | rtype::AAAA) {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let configured = local.interface_names.iter().any(|(n, _, _)| *n == lower)
        || local.dynamic_hosts.iter().any(|(n, _, _, _)| *n == lower);
    if !configured {
        return None;
    }
    for (_, a, ttl) in interface_records(local, addrs).filter(|(n, _, _)| *n == lower) {
        let data = match a {
            IpAddr::V4(v) if qtype == rtype::A => RData::A(A(v)),
            IpAddr::V6(v) if qtype == rtype::AAAA => RData::AAAA(AAAA(v)),
            _ => continue,
        };
        outcome
            .answers
            .push(Record::from_rdata(fqdn(name)?, ttl, data));
    }
    Some(outcome)
}

/// The `--synth-domain` answer for `name`, if it is a synthesized name and `qtype` its
/// address family (other types go upstream, as dnsmasq).
fn synthesized(local: &LocalData, name: &str, qtype: u16) -> Option<Outcome> {
    if local.synth.is_empty() || !matches!(qtype, rtype::A | rtype::AAAA) {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let addr = local.synth.iter().find_map(|s| s.address(&lower))?;
    let data = match addr {
        IpAddr::V4(a) if qtype == rtype::A => RData::A(A(a)),
        IpAddr::V6(a) if qtype == rtype::AAAA => RData::AAAA(AAAA(a)),
        _ => return None,
    };
    let mut outcome = Outcome::negative(rcode::NOERROR, "config");
    outcome.authoritative = true;
    outcome
        .answers
        .push(Record::from_rdata(fqdn(name)?, local.local_ttl_secs, data));
    Some(outcome)
}

/// Address records of `data` matching `qtype`.
fn address_records(
    owner: &Name,
    data: &NameData,
    qtype: u16,
    out: &mut Vec<Record>,
) -> Option<Source> {
    let mut source = None;
    for a in &data.addrs {
        let rdata = match (a.addr, qtype) {
            (IpAddr::V4(v4), rtype::A | rtype::ANY) => RData::A(A(v4)),
            (IpAddr::V6(v6), rtype::AAAA | rtype::ANY) => RData::AAAA(AAAA(v6)),
            _ => continue,
        };
        source.get_or_insert(a.source);
        out.push(Record::from_rdata(owner.clone(), a.ttl_secs, rdata));
    }
    source
}

/// The local answer for `name` and `qtype`, if local data or a domain rule decides it.
fn local_answer(local: &LocalData, name: &str, qtype: u16, bogus_priv: bool) -> Option<Outcome> {
    let source_name = |s: Option<Source>| match s {
        Some(Source::Hosts(i)) => local
            .files
            .get(i as usize)
            .cloned()
            .unwrap_or_else(|| "hosts".into()),
        _ => "config".to_string(),
    };
    let data = local.name(name);
    let data = data.as_deref();
    let rule = local.rule_for(name);
    if data.is_none() && rule.is_none() && qtype != rtype::PTR {
        // The common case for forwarded and cached names: nothing local, nothing built.
        return synthesized(local, name, qtype);
    }
    let owner = fqdn(name)?;
    let mut answers = Vec::new();
    let mut additional = Vec::new();
    let mut source = None;
    let mut reverse = false;
    if let Some(d) = data {
        if let Some((target, ttl)) = &d.cname {
            let t = fqdn(target)?;
            answers.push(Record::from_rdata(
                owner.clone(),
                *ttl,
                RData::CNAME(CNAME(t.clone())),
            ));
            let mut next = (target.clone(), t);
            for _ in 0..MAX_CNAME_CHAIN {
                if qtype == rtype::CNAME {
                    break;
                }
                let Some(td) = local.name(&next.0) else {
                    break;
                };
                if let Some((t2, ttl2)) = &td.cname {
                    let n2 = fqdn(t2)?;
                    answers.push(Record::from_rdata(
                        next.1.clone(),
                        *ttl2,
                        RData::CNAME(CNAME(n2.clone())),
                    ));
                    next = (t2.clone(), n2);
                    continue;
                }
                address_records(&next.1, &td, qtype, &mut answers);
                for (t, rd) in &td.records {
                    if *t == qtype {
                        answers.push(Record::from_rdata(
                            next.1.clone(),
                            local.local_ttl_secs,
                            rd.clone(),
                        ));
                    }
                }
                break;
            }
            return Some(Outcome {
                rcode: rcode::NOERROR,
                authoritative: true,
                answers,
                additional,
                source: "config".into(),
                address_sources: Vec::new(),
                reverse: false,
            });
        }
        if matches!(qtype, rtype::A | rtype::AAAA | rtype::ANY) {
            source = address_records(&owner, d, qtype, &mut answers);
        }
        for (t, rd) in &d.records {
            if *t == qtype || qtype == rtype::ANY {
                answers.push(Record::from_rdata(
                    owner.clone(),
                    local.local_ttl_secs,
                    rd.clone(),
                ));
                let target = match rd {
                    RData::MX(mx) => Some(mx.exchange()),
                    RData::SRV(srv) => Some(srv.target()),
                    _ => None,
                };
                if let Some(t) = target {
                    let tn = t.to_ascii().trim_end_matches('.').to_ascii_lowercase();
                    if let Some(td) = local.name(&tn) {
                        address_records(t, &td, rtype::A, &mut additional);
                        address_records(t, &td, rtype::AAAA, &mut additional);
                    }
                }
            }
        }
        // --selfmx / --localmx: a local machine without an MX of its own gets one
        // (preference 1, no additional records, as dnsmasq).
        let has_mx = d.records.iter().any(|(t, _)| *t == rtype::MX);
        if let (rtype::MX, Some(mx), false, false) =
            (qtype, &local.local_mx, d.addrs.is_empty(), has_mx)
        {
            let target = match mx {
                LocalMx::ToItself => owner.clone(),
                LocalMx::To(t) => fqdn(t)?,
            };
            answers.push(Record::from_rdata(
                owner.clone(),
                local.local_ttl_secs,
                RData::MX(hickory_proto::rr::rdata::MX::new(1, target)),
            ));
        }
    }
    if qtype == rtype::PTR {
        if let Some((target, ttl, from)) =
            reverse_address(name).and_then(|ip| local.reverse_name(ip))
        {
            answers.push(Record::from_rdata(
                owner.clone(),
                ttl,
                RData::PTR(PTR(fqdn(&target)?)),
            ));
            reverse = true;
            source = Some(from);
        } else if let Some(target) =
            reverse_address(name).and_then(|ip| local.synth.iter().find_map(|s| s.name(ip)))
        {
            answers.push(Record::from_rdata(
                owner.clone(),
                local.local_ttl_secs,
                RData::PTR(PTR(fqdn(&target)?)),
            ));
            reverse = true;
        }
    }
    if !answers.is_empty() {
        let address_sources = data
            .map(|d| {
                d.addrs
                    .iter()
                    .filter(|a| source.is_some_and(|s| s != a.source))
                    .map(|a| (a.addr, source_name(Some(a.source))))
                    .collect()
            })
            .unwrap_or_default();
        return Some(Outcome {
            rcode: rcode::NOERROR,
            authoritative: true,
            answers,
            additional,
            source: source_name(source),
            address_sources,
            reverse,
        });
    }
    if let Some(d) = data {
        // As dnsmasq: the other address family of a hosts-file name or a --host-record
        // is left to the upstream servers; other types are NODATA only for names the
        // configuration defines records for.
        let known = if matches!(qtype, rtype::A | rtype::AAAA) {
            d.claims_name && d.addrs.is_empty()
        } else {
            d.claims_name
        };
        if known {
            let src = source_name(d.addrs.first().map(|a| a.source));
            return Some(Outcome::negative(rcode::NOERROR, &src));
        }
    }
    let rule: &DomainRule = rule?;
    let addr = match qtype {
        rtype::A => rule.v4.map(|a| RData::A(A(a))),
        rtype::AAAA => rule.v6.map(|a| RData::AAAA(AAAA(a))),
        _ => None,
    };
    if let Some(rd) = addr {
        return Some(Outcome {
            rcode: rcode::NOERROR,
            authoritative: true,
            answers: vec![Record::from_rdata(owner, local.local_ttl_secs, rd)],
            additional,
            source: "config".into(),
            address_sources: Vec::new(),
            reverse: false,
        });
    }
    match rule.target {
        Some(RuleTarget::NxDomain) => Some(Outcome::negative(rcode::NXDOMAIN, "config")),
        Some(RuleTarget::Local) => {
            let exists = data.is_some_and(|d| d.claims_name || !d.addrs.is_empty());
            let code = if exists {
                rcode::NOERROR
            } else {
                rcode::NXDOMAIN
            };
            let mut outcome = Outcome::negative(code, "config");
            // A private reverse name with no upstream of its own is --bogus-priv's, which
            // answers authoritatively.
            outcome.authoritative = bogus_priv && is_private_reverse(name);
            outcome.reverse = outcome.authoritative;
            Some(outcome)
        }
        _ => None,
    }
}

/// Whether `reply` answers `query`: same ID and the same question, letter case aside.
pub fn reply_matches(query: &[u8], reply: &[u8]) -> bool {
    let (Ok(q), Ok(r)) = (wire::question(query), wire::question(reply)) else {
        return false;
    };
    reply[..2] == query[..2]
        && reply[2] & flag::QR != 0
        && q.end == r.end
        && q.name.wire() == r.name.wire()
        && q.qtype == r.qtype
        && q.qclass == r.qclass
}

/// The address a reverse-lookup name stands for (`4.3.2.1.in-addr.arpa`, nibble `ip6.arpa`).
pub fn reverse_address(name: &str) -> Option<IpAddr> {
    if let Some(v4) = name.strip_suffix(".in-addr.arpa") {
        let mut parts = [0u8; 4];
        let mut n = 0;
        for p in v4.split('.') {
            if n == 4 || p.is_empty() || p.len() > 3 {
                return None;
            }
            parts[n] = p.parse().ok()?;
            n += 1;
        }
        if n == 0 {
            return None;
        }
        // As dnsmasq: missing low-order octets are zero (`2.1.in-addr.arpa` is 1.2.0.0).
        parts[..n].reverse();
        return Some(IpAddr::V4(Ipv4Addr::from(parts)));
    }
    let v6 = name.strip_suffix(".ip6.arpa")?;
    let mut value = 0u128;
    let mut n = 0;
    for p in v6.split('.').rev() {
        if p.len() != 1 || n == 32 {
            return None;
        }
        value = (value << 4) | u128::from(u8::from_str_radix(p, 16).ok()?);
        n += 1;
    }
    (n == 32).then_some(IpAddr::V6(Ipv6Addr::from(value)))
}

/// A query for the tests of this module and its users.
#[cfg(test)]
pub fn test_query(name: &str, qtype: hickory_proto::rr::RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(0x1234).set_recursion_desired(true);
    m.add_query(hickory_proto::op::Query::query(
        Name::from_ascii(name).unwrap(),
        qtype,
    ));
    m.to_vec().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;

    const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5000);

    fn local() -> LocalData {
        let mut d = LocalData {
            local_ttl_secs: 7,
            ..Default::default()
        };
        d.set_hosts(&["127.0.0.1 localhost\n::1 localhost\n10.1.2.3 Printer.lan\n"]);
        d.upstreams = Arc::from(["192.0.2.53:53".parse::<SocketAddr>().unwrap()]);
        d
    }

    fn engine(d: LocalData) -> Engine {
        let options = Options {
            ident: true,
            ..Options::default()
        };
        Engine::new(Arc::new(d), Policy::default(), options)
    }

    fn ask(e: &mut Engine, name: &str, t: RecordType) -> Message {
        match e.query(&test_query(name, t), CLIENT, 0, false) {
            Action::Reply(b) => Message::from_vec(b).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn hosts_name_is_answered_authoritatively_with_local_ttl() {
        let m = ask(&mut engine(local()), "LocalHost.", RecordType::A);
        assert_eq!(m.id(), 0x1234);
        assert!(m.authoritative() && m.recursion_available() && m.recursion_desired());
        assert_eq!(m.answers().len(), 1);
        assert_eq!(m.answers()[0].ttl(), 7);
        assert_eq!(
            m.answers()[0].data(),
            Some(&RData::A(A(Ipv4Addr::LOCALHOST)))
        );
        assert_eq!(m.queries()[0].name().to_ascii(), "LocalHost.", "case kept");
    }

    #[test]
    fn local_address_sets_take_turns_unless_round_robin_is_off() {
        let mut d = local();
        d.set_hosts(&[
            "127.0.0.1 localhost\n::1 localhost\n10.1.2.3 Printer.lan\n",
            "10.9.0.1 rr.lan\n10.9.0.2 rr.lan\n10.9.0.3 rr.lan\n",
        ]);
        let d = Arc::new(d);
        let firsts = |round_robin: bool| {
            let policy = Policy {
                round_robin,
                ..Policy::default()
            };
            let mut e = Engine::new(d.clone(), policy, Options::default());
            (0..3)
                .map(|_| {
                    let m = ask(&mut e, "rr.lan", RecordType::A);
                    assert_eq!(m.answers().len(), 3);
                    m.answers()[0].data().unwrap().to_string()
                })
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(firsts(true).len(), 3);
        assert_eq!(firsts(false).len(), 1);
    }

    #[test]
    fn chaos_txt_in_bind_is_answered_unless_no_ident() {
        let chaos = |e: &mut Engine, name: &str| {
            let mut q = test_query(name, RecordType::TXT);
            let n = q.len();
            q[n - 2..].copy_from_slice(&chaos::CLASS_CHAOS.to_be_bytes());
            match e.query(&q, "127.0.0.1:5353".parse().unwrap(), 0, false) {
                Action::Reply(r) => Message::from_vec(r).unwrap(),
                other => panic!("{other:?}"),
            }
        };
        let mut e = engine(local());
        let m = chaos(&mut e, "version.bind");
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert!(m.authoritative());
        let txt = m.answers()[0].data().unwrap().to_string();
        assert!(txt.starts_with("ringmasq-"), "{txt}");
        assert_eq!(m.answers()[0].dns_class(), hickory_proto::rr::DNSClass::CH);
        let m = chaos(&mut e, "hostname.bind");
        assert_eq!(m.response_code(), ResponseCode::NotImp);
        e.options.ident = false;
        let m = chaos(&mut e, "version.bind");
        assert_eq!(m.response_code(), ResponseCode::NotImp);
    }

    #[test]
    fn edns_queries_get_an_edns_reply() {
        let mut m = Message::from_vec(&test_query("localhost.", RecordType::A)).unwrap();
        let mut edns = HEdns::new();
        edns.set_max_payload(4096);
        m.set_edns(edns);
        let mut e = engine(local());
        let Action::Reply(b) = e.query(&m.to_vec().unwrap(), CLIENT, 0, false) else {
            panic!()
        };
        let r = Message::from_vec(b).unwrap();
        assert_eq!(r.extensions().as_ref().map(|e| e.max_payload()), Some(1232));
        let plain = ask(&mut e, "localhost.", RecordType::A);
        assert!(
            plain.extensions().is_none(),
            "no OPT record for a query without one"
        );
    }

    #[test]
    fn a_hosts_name_without_the_family_asked_goes_upstream() {
        let mut e = engine(local());
        let q = test_query("printer.lan.", RecordType::AAAA);
        assert!(matches!(e.query(&q, CLIENT, 0, false), Action::Forward(_)));
        let q = test_query("printer.lan.", RecordType::A);
        assert!(matches!(e.query(&q, CLIENT, 0, false), Action::Reply(_)));
    }

    #[test]
    fn reverse_lookup_gives_canonical_name() {
        let m = ask(
            &mut engine(local()),
            "3.2.1.10.in-addr.arpa.",
            RecordType::PTR,
        );
        assert_eq!(
            m.answers()[0].data(),
            Some(&RData::PTR(PTR(Name::from_ascii("printer.lan.").unwrap())))
        );
    }

    #[test]
    fn unknown_names_are_forwarded_and_local_domains_are_nxdomain() {
        let mut d = local();
        let ups = d.upstreams.clone();
        d.set_rules("local=/lan/\n");
        let mut e = engine(d);
        assert_eq!(
            e.query(&test_query("example.com.", RecordType::A), CLIENT, 0, false),
            Action::Forward(ups)
        );
        let m = ask(&mut e, "nothere.lan.", RecordType::A);
        assert_eq!(m.response_code(), ResponseCode::NXDomain);
        assert!(!m.authoritative());
    }

    #[test]
    fn address_rules_answer_their_family_and_forward_the_other() {
        let mut d = local();
        d.set_rules("address=/ads.test/0.0.0.0\n");
        let mut e = engine(d);
        let m = ask(&mut e, "x.ads.test.", RecordType::A);
        assert_eq!(
            m.answers()[0].data(),
            Some(&RData::A(A(Ipv4Addr::UNSPECIFIED)))
        );
        assert!(matches!(
            e.query(
                &test_query("x.ads.test.", RecordType::AAAA),
                CLIENT,
                0,
                false
            ),
            Action::Forward(_)
        ));
    }

    #[test]
    fn no_upstream_means_refused() {
        let mut d = local();
        d.upstreams = Arc::from([]);
        let m = ask(&mut engine(d), "example.com.", RecordType::A);
        assert_eq!(m.response_code(), ResponseCode::Refused);
    }

    #[test]
    fn domain_needed_and_bogus_priv_keep_queries_home() {
        let mut e = engine(local());
        e.options.domain_needed = true;
        e.options.bogus_priv = true;
        assert_eq!(
            ask(&mut e, "plainname.", RecordType::A).response_code(),
            ResponseCode::NXDomain
        );
        let m = ask(&mut e, "9.9.168.192.in-addr.arpa.", RecordType::PTR);
        assert_eq!(m.response_code(), ResponseCode::NXDomain);
        assert!(matches!(
            e.query(
                &test_query("4.3.2.1.in-addr.arpa.", RecordType::PTR),
                CLIENT,
                0,
                false
            ),
            Action::Forward(_)
        ));
    }

    #[test]
    fn malformed_input_is_formerr_or_dropped() {
        let mut e = engine(local());
        assert_eq!(e.query(&[0u8; 5], CLIENT, 0, false), Action::Drop);
        let mut resp = test_query("x.", RecordType::A);
        resp[2] |= 0x80;
        assert_eq!(e.query(&resp, CLIENT, 0, false), Action::Drop);
        let mut garbage = test_query("x.", RecordType::A);
        garbage.truncate(14);
        let Action::Reply(b) = e.query(&garbage, CLIENT, 0, false) else {
            panic!()
        };
        let m = Message::from_vec(b).unwrap();
        assert_eq!(m.response_code(), ResponseCode::FormErr);
        assert_eq!(m.id(), 0x1234);
        assert_eq!(e.counters.malformed, 3);
    }

    #[test]
    fn hosts_answers_written_directly_match_the_general_encoding() {
        let mut d = local();
        d.set_hosts(&["10.0.0.1 multi\n10.0.0.2 multi\n::5 multi\n0.0.0.0 ads.example\n"]);
        let policy = Policy {
            round_robin: false,
            ..Policy::default()
        };
        let mut e = Engine::new(Arc::new(d), policy, Options::default());
        for (name, t, edns, cd) in [
            ("multi.", RecordType::A, false, false),
            ("multi.", RecordType::AAAA, true, false),
            ("ads.example.", RecordType::A, true, true),
        ] {
            let mut m = Message::from_vec(&test_query(name, t)).unwrap();
            m.set_checking_disabled(cd);
            if edns {
                m.set_edns(HEdns::new());
            }
            let query = m.to_vec().unwrap();
            let q = wire::question(&query).unwrap();
            let outcome = local_answer(&e.local, name.trim_end_matches('.'), u16::from(t), false)
                .expect("a local answer");
            let mut general = Vec::new();
            let edns_size = edns.then_some(e.cache.policy().edns_packet_max);
            build_reply(&mut general, &query, q.end, &outcome, edns_size, 4096);
            let before = e.counters.local;
            let Action::Reply(direct) = e.query(&query, CLIENT, 0, false) else {
                panic!("a reply for {name}")
            };
            assert_eq!(direct, &general[..], "{name} {t}: the same bytes");
            assert_eq!(e.counters.local, before + 1);
        }
    }

    #[test]
    fn a_planned_key_is_made_only_of_a_name_dotted_would_give() {
        let mut query = vec![0u8; wire::HEADER_BYTES];
        query.extend_from_slice(b"\x03a.b\x07example\x00\x00\x01\x00\x01");
        let mut text: NameText = [0; wire::MAX_NAME_BYTES + 1];
        // The label "a.b" is not the two labels "a" and "b".
        assert_eq!(query_name_text(&query, &mut text), None);
        let good = test_query("Ads.Example.", RecordType::A);
        assert_eq!(query_name_text(&good, &mut text), Some(&b"Ads.Example"[..]));
        // Cut anywhere, a query gives no name or a name (never a panic): the whole name
        // only once its root is there.
        for cut in 0..good.len() {
            let name = query_name_text(&good[..cut], &mut text).map(<[u8]>::to_vec);
            let whole = cut > wire::HEADER_BYTES + 12;
            assert_eq!(name.is_some(), whole, "cut at {cut}");
        }
        let root = test_query(".", RecordType::NS);
        assert_eq!(query_name_text(&root, &mut text), Some(&b""[..]));
    }

    #[test]
    fn a_planned_batch_is_answered_as_queries_one_by_one() {
        // Big enough for lookups to be planned.
        let mut hosts = String::new();
        for i in 0..PLAN_MIN_HOSTS_NAMES {
            hosts += &format!("0.0.0.0 ads{i}.example\n");
        }
        // A name too long for a planned key is looked up as it comes.
        let long = format!("{}example", "long-label.".repeat(8));
        hosts += &format!("10.9.8.7 Mixed.Case.example\n::7 ads5.example\n10.1.1.1 {long}\n");
        let mut d = local();
        d.set_hosts(&[hosts.as_str()]);
        let long_query = format!("{long}.");
        let batch: Vec<Vec<u8>> = [
            ("ads1.example.", RecordType::A),
            ("ADS70000.EXAMPLE.", RecordType::A),
            ("mixed.CASE.example.", RecordType::A),
            ("ads5.example.", RecordType::AAAA),
            ("not-there.example.", RecordType::A),
            ("ads2.example.", RecordType::MX),
            (long_query.as_str(), RecordType::A),
        ]
        .iter()
        .map(|&(n, t)| test_query(n, t))
        .collect();
        // With other local data for a hosts name (here a CNAME for ads2), planned
        // lookups still give way to it.
        let mut with_names = d.clone();
        with_names.names.insert(
            "ads1.example".into(),
            NameData {
                cname: Some(("printer.lan".into(), 60)),
                ..Default::default()
            },
        );
        let d = Arc::new(d);
        let with_names = Arc::new(with_names);
        let replies = |e: &mut Engine, planned: bool| -> Vec<String> {
            if planned {
                // The first batch only shows that hosts names are asked for.
                e.plan(batch.iter().map(|q| &q[..]));
                let _ = e.query_planned(0, &batch[0], CLIENT, 0, false);
                e.plan(batch.iter().map(|q| &q[..]));
            }
            (0..batch.len())
                .map(|i| {
                    let action = match planned {
                        true => e.query_planned(i, &batch[i], CLIENT, 0, false),
                        false => e.query(&batch[i], CLIENT, 0, false),
                    };
                    format!("{action:?}")
                })
                .collect()
        };
        let one_by_one = replies(
            &mut Engine::new(d.clone(), Policy::default(), Options::default()),
            false,
        );
        let mut e = Engine::new(with_names.clone(), Policy::default(), Options::default());
        let named = replies(&mut e, true);
        assert_ne!(named, one_by_one, "the CNAME answers ads1");
        let mut e = Engine::new(with_names, Policy::default(), Options::default());
        assert_eq!(named, replies(&mut e, false));
        let mut e = Engine::new(d, Policy::default(), Options::default());
        assert_eq!(replies(&mut e, true), one_by_one);
        let planned: Vec<bool> = e
            .planned
            .iter()
            .map(|(_, p)| *p != Planned::Unkeyed)
            .collect();
        assert_eq!(
            planned,
            [true, true, true, true, true, true, false],
            "all but the long name"
        );
        // A planned place given with another query than the one planned there (Mixed.Case,
        // 10.9.8.7) is answered for the query given.
        e.plan(batch.iter().map(|q| &q[..]));
        let other = test_query("ads3.example.", RecordType::A);
        let Action::Reply(b) = e.query_planned(2, &other, CLIENT, 0, false) else {
            panic!("a reply");
        };
        let m = Message::from_vec(b).unwrap();
        assert_eq!(m.queries()[0].name().to_ascii(), "ads3.example.");
        assert_eq!(
            m.answers()[0].data(),
            Some(&RData::A(A(Ipv4Addr::UNSPECIFIED)))
        );
    }

    #[test]
    fn a_planned_lookup_is_not_used_under_another_snapshot() {
        // `first` takes the first address slot, so that the same name's value differs
        // between the two snapshots.
        let big = |first: &str, addr: &str| {
            let mut hosts = format!("{first}\n");
            for i in 0..PLAN_MIN_HOSTS_NAMES {
                hosts += &format!("{addr} ads{i}.example\n");
            }
            let mut d = local();
            d.set_hosts(&[hosts.as_str()]);
            Arc::new(d)
        };
        let old = big("", "0.0.0.0");
        let mut e = Engine::new(old, Policy::default(), Options::default());
        let batch = [test_query("ads7.example.", RecordType::A)];
        e.plan(batch.iter().map(|q| &q[..]));
        let _ = e.query_planned(0, &batch[0], CLIENT, 0, false);
        e.plan(batch.iter().map(|q| &q[..]));
        assert!(matches!(e.planned[0].1, Planned::Found(_)));
        // A reload swaps the snapshot after the batch was planned: the answer comes from
        // the new one.
        e.local = big("10.0.0.1 other.example", "10.0.0.7");
        let Action::Reply(b) = e.query_planned(0, &batch[0], CLIENT, 0, false) else {
            panic!("a reply");
        };
        let m = Message::from_vec(b).unwrap();
        let answers: Vec<_> = m.answers().iter().map(|r| r.data().cloned()).collect();
        assert_eq!(answers, [Some(RData::A(A(Ipv4Addr::new(10, 0, 0, 7))))]);
    }

    #[test]
    fn a_cached_name_that_a_new_snapshot_makes_local_is_answered_locally() {
        let mut first = local();
        first.generation = 1;
        let mut e = engine(first);
        let q = test_query("ads.example.com.", RecordType::A);
        let mut upstream = Message::from_vec(&q).unwrap();
        upstream
            .set_message_type(MessageType::Response)
            .add_answer(Record::from_rdata(
                Name::from_ascii("ads.example.com.").unwrap(),
                600,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            ));
        e.upstream_reply(&q, &upstream.to_vec().unwrap(), 0)
            .unwrap();
        for _ in 0..2 {
            let m = ask(&mut e, "ads.example.com.", RecordType::A);
            assert_eq!(
                m.answers()[0].data(),
                Some(&RData::A(A(Ipv4Addr::new(192, 0, 2, 1))))
            );
        }
        assert_eq!(e.counters.cached, 2);
        // A reload blocks the name; the cache is kept (as after an inotify change).
        let mut blocking = local();
        blocking.generation = 2;
        blocking.set_hosts(&["0.0.0.0 ads.example.com\n"]);
        e.local = Arc::new(blocking);
        let m = ask(&mut e, "ads.example.com.", RecordType::A);
        assert!(m.authoritative());
        assert_eq!(
            m.answers()[0].data(),
            Some(&RData::A(A(Ipv4Addr::UNSPECIFIED)))
        );
        assert_eq!(e.counters.cached, 2, "the cached answer was not given");
    }

    #[test]
    fn forwarded_replies_are_cached_and_then_answered_from_cache() {
        let mut e = engine(local());
        let q = test_query("www.example.com.", RecordType::A);
        let mut upstream = Message::from_vec(&q).unwrap();
        upstream
            .set_id(999)
            .set_message_type(MessageType::Response)
            .add_answer(Record::from_rdata(
                Name::from_ascii("www.example.com.").unwrap(),
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            ));
        let relayed = e
            .upstream_reply(&q, &upstream.to_vec().unwrap(), 0)
            .unwrap();
        assert_eq!(wire::id(&relayed), 0x1234);
        let m = ask(&mut e, "www.example.com.", RecordType::A);
        assert_eq!(m.answers()[0].ttl(), 60);
        assert_eq!(e.counters.cached, 1);
    }

    #[test]
    fn replies_match_only_their_query() {
        let q = test_query("Example.com.", RecordType::A);
        let mut r = q.clone();
        r[2] |= 0x80;
        assert!(reply_matches(&q, &r));
        let mut wrong_id = r.clone();
        wrong_id[1] ^= 1;
        assert!(!reply_matches(&q, &wrong_id));
        let other = test_query("example.org.", RecordType::A);
        let mut other_reply = other.clone();
        other_reply[2] |= 0x80;
        assert!(!reply_matches(&q, &other_reply));
        assert!(!reply_matches(&q, &q), "a query is not a reply");
    }

    #[test]
    fn ignored_addresses_are_found_in_answers_only() {
        let mut m = Message::new();
        m.set_id(1).set_message_type(MessageType::Response);
        m.add_query(hickory_proto::op::Query::query(
            Name::from_ascii("x.test.").unwrap(),
            RecordType::A,
        ));
        m.add_answer(Record::from_rdata(
            Name::from_ascii("x.test.").unwrap(),
            60,
            RData::A(A::new(192, 0, 2, 3)),
        ));
        m.add_additional(Record::from_rdata(
            Name::from_ascii("ns.test.").unwrap(),
            60,
            RData::A(A::new(203, 0, 113, 9)),
        ));
        let reply = m.to_vec().unwrap();
        let net = |a: &str, l| vec![(a.parse().unwrap(), l)];
        assert!(holds_address(&reply, &net("192.0.2.3", 32)));
        assert!(holds_address(&reply, &net("192.0.2.0", 24)));
        assert!(!holds_address(&reply, &net("203.0.113.9", 32)));
        assert!(!holds_address(&reply, &[]));
        assert!(win2k_noise("_ldap._tcp.dc.test", rtype::SRV));
        assert!(win2k_noise("_x.test", rtype::ANY));
        assert!(!win2k_noise("x.test", rtype::ANY));
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
        assert_eq!(reverse_address("1.2.3.4.5.in-addr.arpa"), None);
    }
}
