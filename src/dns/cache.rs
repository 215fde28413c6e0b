//! One shard's packet cache of upstream answers, positive and negative. An entry holds the
//! reply as dnsmasq answers from its cache (answer section, or the SOA of a negative
//! answer; AA clear) in wire form; a hit copies those bytes and patches the ID, the RD bit,
//! the question's letter case and every TTL, with no decoding and no allocation.
//!
//! A stored answer is immutable and shared: the shard that fetched it offers the same
//! `Arc<Stored>` to every other shard, so a client whose next query lands on another core
//! (SO_REUSEPORT spreads by source port) still gets a hit, and the bytes exist once.

use super::wire::{self, flag, rcode, rtype, Edns, Question};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Most bytes one cached reply may hold.
pub const MAX_ENTRY_BYTES: usize = 4096;

/// How the cache treats TTLs and what it keeps (dnsmasq's cache options).
#[derive(Clone, Debug)]
pub struct Policy {
    /// Entries this shard keeps (`--cache-size` shared out over the shards); 0 disables.
    pub capacity: usize,
    /// `--neg-ttl`: lifetime of negative answers that carry no SOA (0: not cached).
    pub neg_ttl_secs: u32,
    /// `--no-negcache`.
    pub no_negcache: bool,
    /// `--max-ttl`: largest TTL handed to clients.
    pub max_ttl_secs: u32,
    /// `--min-cache-ttl` and `--max-cache-ttl`.
    pub min_cache_ttl_secs: u32,
    pub max_cache_ttl_secs: u32,
    /// Types cached besides A, AAAA, CNAME, PTR and SRV (`--cache-rr`).
    pub extra_types: Vec<u16>,
    /// UDP size advertised in the OPT record of replies to EDNS queries.
    pub edns_packet_max: u16,
    /// Rotate the addresses of cached answers on every hit (off: `--no-round-robin`).
    pub round_robin: bool,
    /// `--use-stale-cache`: expired answers are still given (TTL 0) for this many seconds
    /// past expiry (0: for ever) while a fresh one is fetched.
    pub stale_secs: Option<u32>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            capacity: 150,
            neg_ttl_secs: 0,
            no_negcache: false,
            max_ttl_secs: u32::MAX,
            min_cache_ttl_secs: 0,
            max_cache_ttl_secs: u32::MAX,
            extra_types: Vec::new(),
            edns_packet_max: 1232,
            round_robin: true,
            stale_secs: None,
        }
    }
}

impl Policy {
    /// Whether answers of this type are cached, as dnsmasq 2.90 caches them.
    pub fn caches_type(&self, t: u16) -> bool {
        matches!(
            t,
            rtype::A | rtype::AAAA | rtype::CNAME | rtype::PTR | rtype::SRV
        ) || self.extra_types.contains(&t)
    }
}

/// Counters a shard reports on SIGUSR1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub insertions: u64,
    /// Live (unexpired) entries pushed out to make room.
    pub evictions: u64,
}

/// The cache index's key: a question's hash under the cache's random seed (clients choose
/// the names that are cached). Two questions with one hash share a place, the later
/// replacing the earlier: a cache may forget anything.
#[derive(Default)]
struct HashKey(u64);

impl Hasher for HashKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; any other bytes are still mixed in.
        self.0 = super::name_table::keyed_hash(bytes, self.0);
    }
    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }
}

/// One cached answer, ready to copy, shared by every shard that stores it. Times are
/// seconds on the process-wide clock.
#[derive(Debug)]
pub struct Stored {
    meta: Meta,
    /// The key (lower-cased question name, type and class), the reply with ID 0 and the
    /// question as first seen, and its TTL fields (offset and TTL, 6 bytes each): one
    /// allocation, so a hit reads one run of memory.
    bytes: Arc<[u8]>,
}

/// What a hit needs besides the bytes, copied into each shard's entry.
#[derive(Clone, Copy, Debug)]
struct Meta {
    origin: Origin,
    stored_at_secs: u64,
    expires_at_secs: u64,
    /// Where a run of same-sized address records of one name lies in the reply, which
    /// answers from the cache rotate as dnsmasq's round robin does.
    rotating: Option<Run>,
    key_len: u16,
    wire_len: u16,
}

impl Meta {
    fn key<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        &bytes[..self.key_len as usize]
    }
    fn wire<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        &bytes[self.key_len as usize..self.ttls_at()]
    }
    fn ttls_at(&self) -> usize {
        self.key_len as usize + self.wire_len as usize
    }
    /// The TTL fields: (offset in the reply, TTL when stored).
    fn ttls<'b>(&self, bytes: &'b [u8]) -> impl Iterator<Item = (usize, u32)> + 'b {
        bytes[self.ttls_at()..].chunks_exact(6).map(|t| {
            (
                usize::from(u16::from_le_bytes([t[0], t[1]])),
                u32::from_le_bytes([t[2], t[3], t[4], t[5]]),
            )
        })
    }
}

/// A reply as stored (ID 0), its TTL fields (offset, TTL) and its lifetime in seconds.
type CacheableForm = (Vec<u8>, Vec<(u16, u32)>, u32);

/// `count` records of `stride` bytes each from offset `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    start: u16,
    stride: u16,
    count: u16,
}

impl Run {
    /// The first run of at least two consecutive A (or AAAA) answers with the same owner
    /// name bytes and length in `msg`.
    fn find(msg: &[u8], question_end: usize) -> Option<Run> {
        let records = wire::records(msg, question_end).ok()?;
        let answers: Vec<_> = records
            .iter()
            .filter(|(s, _)| *s == 1)
            .map(|(_, r)| r)
            .collect();
        let same = |a: &wire::RecordAt, b: &wire::RecordAt| {
            a.rtype == b.rtype
                && a.data_len == b.data_len
                && msg[a.start..a.ttl_at] == msg[b.start..b.ttl_at]
        };
        let mut i = 0;
        while i < answers.len() {
            let first = answers[i];
            let run = answers[i..].iter().take_while(|r| same(first, r)).count();
            if run >= 2 && matches!(first.rtype, rtype::A | rtype::AAAA) {
                return Some(Run {
                    start: first.start as u16,
                    stride: (first.end() - first.start) as u16,
                    count: run as u16,
                });
            }
            i += run;
        }
        None
    }
}

/// Where a cached answer came from, which decides how a hit on it is logged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Origin {
    /// An upstream reply (logged `cached`).
    #[default]
    Upstream,
    /// A NODATA the record-type filters made (logged `config`, as dnsmasq does).
    Filter,
}

/// A cache hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub origin: Origin,
    /// The answer had expired (`--use-stale-cache`): given with TTL 0, to be refreshed.
    pub stale: bool,
}

/// How to keep a negative reply that has no SOA to take a lifetime from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BareNegative {
    pub ttl: u32,
    pub origin: Origin,
}

struct Entry {
    meta: Meta,
    bytes: Arc<[u8]>,
    /// The key's hash under this cache's seed, its place in the index.
    hash: u64,
    /// The snapshot generation under which this entry's question was last found to have
    /// no local answer (`UNCHECKED` until then): under it, a hit needs no local lookup.
    checked: u64,
    /// Set on every hit; the eviction clock passes over referenced entries once.
    referenced: bool,
    /// Hits so far, for the round robin.
    hits: u32,
}

/// A query as the cache answers it: its bytes, parsed question and OPT record, and the
/// largest reply it may get.
#[derive(Clone, Copy)]
pub struct Ask<'a> {
    pub query: &'a [u8],
    pub q: &'a Question,
    pub edns: Option<Edns>,
    pub max_bytes: usize,
}

/// No snapshot generation has been checked for an entry yet.
const UNCHECKED: u64 = u64::MAX;

/// Whether the local data has been consulted for the query being answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalCheck {
    /// Not yet: only a live entry already known to have no local answer under this
    /// snapshot generation may answer.
    Pending(u64),
    /// Done under this generation, and it had no answer: any entry may answer, and is
    /// marked as checked under it.
    Done(u64),
}

/// A shard's cache.
pub struct Cache {
    policy: Policy,
    /// Entries by their key's hash.
    index: HashMap<u64, u32, BuildHasherDefault<HashKey>>,
    entries: Vec<Entry>,
    /// This cache's hash seed.
    seed: u64,
    hand: usize,
    pub stats: Stats,
}

/// A question's key as stored: its lower-cased name, type and class.
fn key_of(q: &Question) -> Vec<u8> {
    let mut key = q.name.wire().to_vec();
    key.extend_from_slice(&q.qtype.to_be_bytes());
    key.extend_from_slice(&q.qclass.to_be_bytes());
    key
}

/// Whether `key` is the key of a question with this name, type and class.
fn is_key_of(key: &[u8], name: &[u8], qtype: u16, qclass: u16) -> bool {
    let [t0, t1] = qtype.to_be_bytes();
    let [c0, c1] = qclass.to_be_bytes();
    key.len() == name.len() + 4
        && key[..name.len()] == *name
        && key[name.len()..] == [t0, t1, c0, c1]
}

impl Cache {
    pub fn new(policy: Policy) -> Cache {
        let capacity = policy.capacity;
        Cache {
            policy,
            index: HashMap::with_capacity_and_hasher(capacity, Default::default()),
            entries: Vec::with_capacity(capacity),
            seed: crate::random::u64(),
            hand: 0,
            stats: Stats::default(),
        }
    }

    /// The hash a question with this name, type and class is indexed by.
    fn hash(&self, name: &[u8], qtype: u16, qclass: u16) -> u64 {
        let kind = (u64::from(qtype) << 16 | u64::from(qclass)).rotate_left(40);
        super::name_table::keyed_hash(name, self.seed ^ kind)
    }

    /// The hash of a stored key (as `key_of` writes it).
    fn key_hash(&self, key: &[u8]) -> u64 {
        let (name, tail) = key.split_at(key.len() - 4);
        let be = |i: usize| u16::from_be_bytes([tail[i], tail[i + 1]]);
        self.hash(name, be(0), be(2))
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Live entries (expired ones included until they are replaced).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forget everything (SIGHUP, `--clear-on-reload`).
    pub fn clear(&mut self) {
        self.index.clear();
        self.entries.clear();
        self.hand = 0;
    }

    /// Answer `query` from the cache into `out` if a live entry exists and fits in
    /// `max_bytes`. `q` and `edns` are the query's parsed question and OPT record.
    pub fn answer(
        &mut self,
        ask: &Ask,
        now_secs: u64,
        out: &mut Vec<u8>,
        check: LocalCheck,
    ) -> Option<Hit> {
        let Ask {
            query,
            q,
            edns,
            max_bytes,
        } = *ask;
        let name = q.name.wire();
        let hash = self.hash(name, q.qtype, q.qclass);
        let &slot = self.index.get(&hash)?;
        let entry = &mut self.entries[slot as usize];
        let e = entry.meta;
        if let LocalCheck::Pending(generation) = check {
            if entry.checked != generation || e.expires_at_secs <= now_secs {
                return None;
            }
        }
        let bytes = &entry.bytes[..];
        if !is_key_of(e.key(bytes), name, q.qtype, q.qclass) {
            return None;
        }
        let opt_bytes = if edns.is_some() {
            wire::OPT_RECORD_BYTES
        } else {
            0
        };
        let stale = e.expires_at_secs <= now_secs;
        let stale_ok = match self.policy.stale_secs {
            None => false,
            Some(0) => true,
            Some(max) => now_secs - e.expires_at_secs <= u64::from(max),
        };
        if (stale && !stale_ok) || e.wire_len as usize + opt_bytes > max_bytes {
            return None;
        }
        entry.referenced = true;
        if let LocalCheck::Done(generation) = check {
            entry.checked = generation;
        }
        let turn = entry.hits;
        entry.hits = entry.hits.wrapping_add(1);
        out.clear();
        out.extend_from_slice(e.wire(bytes));
        out[..2].copy_from_slice(&query[..2]);
        out[2] = (out[2] & !flag::RD) | (query[2] & flag::RD);
        // Same name, so the same length: only the letter case can differ.
        out[wire::HEADER_BYTES..q.end].copy_from_slice(&query[wire::HEADER_BYTES..q.end]);
        let elapsed = now_secs
            .saturating_sub(e.stored_at_secs)
            .min(u64::from(u32::MAX)) as u32;
        for (at, ttl) in e.ttls(bytes) {
            let left = ttl.saturating_sub(elapsed).min(self.policy.max_ttl_secs);
            out[at..at + 4].copy_from_slice(&left.to_be_bytes());
        }
        if let Some(run) = e.rotating {
            let (start, stride) = (run.start as usize, run.stride as usize);
            let by = (turn % u32::from(run.count)) as usize * stride;
            out[start..start + stride * run.count as usize].rotate_right(by);
        }
        if edns.is_some() {
            out.extend_from_slice(&wire::opt_record(self.policy.edns_packet_max));
            out[10..12].copy_from_slice(&1u16.to_be_bytes());
        }
        Some(Hit {
            origin: e.origin,
            stale,
        })
    }

    /// The cacheable form of an upstream `reply` to the query whose question is `q`, if
    /// dnsmasq would cache it. Decodes the reply; never on the hit path.
    pub fn prepare(
        &self,
        q: &Question,
        query_rd: bool,
        reply: &[u8],
        now_secs: u64,
        bare: Option<BareNegative>,
    ) -> Option<Arc<Stored>> {
        if self.policy.capacity == 0 || !query_rd || !self.policy.caches_type(q.qtype) {
            return None;
        }
        let (wire, ttls, lifetime) = self.cacheable_form(q, reply, bare.map(|b| b.ttl))?;
        if lifetime == 0 || wire.len() > MAX_ENTRY_BYTES {
            return None;
        }
        let rotating = match self.policy.round_robin {
            true => Run::find(&wire, q.end),
            false => None,
        };
        let key = key_of(q);
        let mut bytes = Vec::with_capacity(key.len() + wire.len() + 6 * ttls.len());
        bytes.extend_from_slice(&key);
        bytes.extend_from_slice(&wire);
        for (at, ttl) in ttls {
            bytes.extend_from_slice(&at.to_le_bytes());
            bytes.extend_from_slice(&ttl.to_le_bytes());
        }
        Some(Arc::new(Stored {
            meta: Meta {
                origin: bare.map(|b| b.origin).unwrap_or_default(),
                stored_at_secs: now_secs,
                expires_at_secs: now_secs + u64::from(lifetime),
                rotating,
                key_len: key.len() as u16,
                wire_len: wire.len() as u16,
            },
            bytes: bytes.into(),
        }))
    }

    /// Keep `stored`, replacing an entry for the same question (or one whose hash it
    /// shares) or making room.
    pub fn store(&mut self, stored: Arc<Stored>, now_secs: u64) {
        if self.policy.capacity == 0 {
            return;
        }
        self.stats.insertions += 1;
        let hash = self.key_hash(stored.meta.key(&stored.bytes));
        let entry = Entry {
            meta: stored.meta,
            bytes: stored.bytes.clone(),
            hash,
            checked: UNCHECKED,
            referenced: false,
            hits: 0,
        };
        if let Some(&slot) = self.index.get(&hash) {
            self.entries[slot as usize] = entry;
            return;
        }
        if self.entries.len() < self.policy.capacity {
            self.index.insert(hash, self.entries.len() as u32);
            self.entries.push(entry);
            return;
        }
        let slot = self.victim(now_secs);
        let old = std::mem::replace(&mut self.entries[slot], entry);
        self.index.remove(&old.hash);
        self.index.insert(hash, slot as u32);
    }

    /// Prepare and store in one step; returns what was stored. A negative reply without
    /// an SOA is kept as `bare` says if given (else for `--neg-ttl`).
    pub fn insert(
        &mut self,
        q: &Question,
        query_rd: bool,
        reply: &[u8],
        now_secs: u64,
        bare: Option<BareNegative>,
    ) -> Option<Arc<Stored>> {
        let stored = self.prepare(q, query_rd, reply, now_secs, bare)?;
        self.store(stored.clone(), now_secs);
        Some(stored)
    }

    /// The slot to reuse: an expired entry, or the first unreferenced one the clock finds.
    fn victim(&mut self, now_secs: u64) -> usize {
        let n = self.entries.len();
        for _ in 0..2 * n {
            let slot = self.hand;
            self.hand = (self.hand + 1) % n;
            let e = &mut self.entries[slot];
            if e.meta.expires_at_secs <= now_secs {
                return slot;
            }
            if !std::mem::take(&mut e.referenced) {
                self.stats.evictions += 1;
                return slot;
            }
        }
        self.stats.evictions += 1;
        self.hand
    }

    /// The reply reduced to what dnsmasq answers from its cache, the TTL fields in it, and
    /// how long it may be kept.
    fn cacheable_form(
        &self,
        q: &Question,
        reply: &[u8],
        bare_negative_ttl: Option<u32>,
    ) -> Option<CacheableForm> {
        use hickory_proto::op::Message;
        use hickory_proto::rr::RecordType;
        if reply.len() < wire::HEADER_BYTES || reply[2] & flag::TC != 0 {
            return None;
        }
        let rc = wire::header_rcode(reply);
        if rc != rcode::NOERROR && rc != rcode::NXDOMAIN {
            return None;
        }
        let msg = Message::from_vec(reply).ok()?;
        let mut out = Message::new();
        out.set_id(0)
            .set_message_type(hickory_proto::op::MessageType::Response)
            .set_op_code(msg.op_code())
            .set_recursion_desired(true)
            .set_recursion_available(true)
            .set_response_code(msg.response_code());
        out.add_query(msg.queries().first()?.clone());
        let positive = rc == rcode::NOERROR && !msg.answers().is_empty();
        let lifetime;
        if positive {
            let mut min_ttl = u32::MAX;
            for r in msg.answers() {
                let mut r = r.clone();
                let ttl = r.ttl().clamp(
                    self.policy.min_cache_ttl_secs,
                    self.policy.max_cache_ttl_secs,
                );
                r.set_ttl(ttl);
                min_ttl = min_ttl.min(ttl);
                out.add_answer(r);
            }
            lifetime = min_ttl;
        } else {
            if self.policy.no_negcache {
                return None;
            }
            let qname = msg.queries()[0].name().clone();
            let soa = msg
                .name_servers()
                .iter()
                .find(|r| r.record_type() == RecordType::SOA && r.name().zone_of(&qname));
            match soa {
                Some(r) => {
                    let minimum = match r.data() {
                        Some(hickory_proto::rr::RData::SOA(s)) => s.minimum(),
                        _ => return None,
                    };
                    lifetime = r.ttl().min(minimum).clamp(
                        self.policy.min_cache_ttl_secs,
                        self.policy.max_cache_ttl_secs,
                    );
                    let mut r = r.clone();
                    r.set_ttl(r.ttl().min(self.policy.max_cache_ttl_secs));
                    out.add_name_server(r);
                }
                None if bare_negative_ttl.is_some() => {
                    lifetime = bare_negative_ttl.unwrap_or_default().clamp(
                        self.policy.min_cache_ttl_secs,
                        self.policy.max_cache_ttl_secs,
                    )
                }
                None if self.policy.neg_ttl_secs > 0 => lifetime = self.policy.neg_ttl_secs,
                None => return None,
            }
        }
        let bytes = out.to_vec().ok()?;
        let q_end = wire::question(&bytes).ok()?.end;
        if q_end != q.end {
            return None;
        }
        let ttls = wire::records(&bytes, q_end)
            .ok()?
            .into_iter()
            .map(|(_, r)| (r.ttl_at as u16, r.ttl))
            .collect();
        Some((bytes, ttls, lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, Query};
    use hickory_proto::rr::rdata::{A, CNAME, SOA};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(0x4242).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        m.to_vec().unwrap()
    }

    fn reply_to(q: &[u8], answers: Vec<Record>, authority: Vec<Record>, rcode: u8) -> Vec<u8> {
        let qm = Message::from_vec(q).unwrap();
        let mut m = Message::new();
        m.set_id(qm.id())
            .set_message_type(MessageType::Response)
            .set_authoritative(true)
            .set_recursion_desired(true)
            .set_recursion_available(true)
            .set_response_code(hickory_proto::op::ResponseCode::from(0, rcode));
        m.add_query(qm.queries()[0].clone());
        m.add_answers(answers);
        m.add_name_servers(authority);
        m.to_vec().unwrap()
    }

    fn a(name: &str, ttl: u32, ip: [u8; 4]) -> Record {
        Record::from_rdata(
            Name::from_ascii(name).unwrap(),
            ttl,
            RData::A(A::from(std::net::Ipv4Addr::from(ip))),
        )
    }

    fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
        let n = Name::from_ascii(zone).unwrap();
        Record::from_rdata(
            n.clone(),
            ttl,
            RData::SOA(SOA::new(n.clone(), n, 1, 2, 3, 4, minimum)),
        )
    }

    fn hit(c: &mut Cache, q: &[u8], now: u64) -> Option<Message> {
        let question = wire::question(q).unwrap();
        let edns = wire::edns(q, question.end).unwrap();
        let mut out = Vec::new();
        let ask = Ask {
            query: q,
            q: &question,
            edns,
            max_bytes: 4096,
        };
        c.answer(&ask, now, &mut out, LocalCheck::Done(1))
            .map(|_| Message::from_vec(&out).unwrap())
    }

    fn store(c: &mut Cache, q: &[u8], reply: &[u8], now: u64) -> bool {
        c.insert(&wire::question(q).unwrap(), true, reply, now, None)
            .is_some()
    }

    /// A cache holding an answer for www.example.com A (TTL 300) stored at `now`, and the
    /// query it answers.
    fn www_cached(now: u64) -> (Cache, Vec<u8>) {
        let mut c = Cache::new(Policy::default());
        let q = query("www.example.com.", RecordType::A);
        let r = reply_to(
            &q,
            vec![a("www.example.com.", 300, [192, 0, 2, 1])],
            vec![],
            0,
        );
        assert!(store(&mut c, &q, &r, now));
        (c, q)
    }

    #[test]
    fn hit_patches_id_case_and_ttl_and_clears_aa() {
        let (mut c, _) = www_cached(1000);
        let mut q2 = query("WWW.Example.com.", RecordType::A);
        q2[0] = 7;
        let m = hit(&mut c, &q2, 1010).expect("cached");
        assert_eq!(m.id() >> 8, 7);
        assert!(!m.authoritative() && m.recursion_available());
        assert_eq!(m.queries()[0].name().to_ascii(), "WWW.Example.com.");
        assert_eq!(m.answers()[0].ttl(), 290);
        assert!(hit(&mut c, &q2, 1300).is_none(), "expired at its TTL");
    }

    #[test]
    fn a_question_sharing_an_entrys_hash_is_not_given_its_answer() {
        let (mut c, q) = www_cached(0);
        // Another name, and the same name with another type, made to share the entry's
        // place in the index as a hash collision would.
        for other in [
            query("www.example.net.", RecordType::A),
            query("www.example.com.", RecordType::AAAA),
        ] {
            let oq = wire::question(&other).unwrap();
            let oh = c.hash(oq.name.wire(), oq.qtype, oq.qclass);
            c.index.insert(oh, 0);
            assert!(hit(&mut c, &other, 1).is_none());
        }
        assert!(
            hit(&mut c, &q, 1).is_some(),
            "the entry itself still answers"
        );
    }

    #[test]
    fn cname_chain_keeps_each_ttl() {
        let mut c = Cache::new(Policy::default());
        let q = query("alias.test.", RecordType::A);
        let cname = Record::from_rdata(
            Name::from_ascii("alias.test.").unwrap(),
            100,
            RData::CNAME(CNAME(Name::from_ascii("real.test.").unwrap())),
        );
        let r = reply_to(
            &q,
            vec![cname, a("real.test.", 200, [10, 0, 0, 1])],
            vec![],
            0,
        );
        assert!(store(&mut c, &q, &r, 0));
        let m = hit(&mut c, &q, 1).unwrap();
        let ttls: Vec<u32> = m.answers().iter().map(|r| r.ttl()).collect();
        assert_eq!(ttls, vec![99, 199]);
        assert!(
            hit(&mut c, &q, 100).is_none(),
            "lives as long as its shortest TTL"
        );
    }

    #[test]
    fn negative_answers_need_an_soa_of_the_zone() {
        let mut c = Cache::new(Policy::default());
        let q = query("nothere.test.", RecordType::A);
        let nx = reply_to(&q, vec![], vec![soa("test.", 3600, 60)], 3);
        assert!(store(&mut c, &q, &nx, 0));
        let m = hit(&mut c, &q, 1).unwrap();
        assert_eq!(u16::from(m.response_code()), 3);
        assert_eq!(m.name_servers()[0].ttl(), 3599);
        assert!(hit(&mut c, &q, 60).is_none(), "kept for the SOA minimum");
        let mut capped = Cache::new(Policy {
            max_cache_ttl_secs: 250,
            ..Policy::default()
        });
        assert!(store(&mut capped, &q, &nx, 0));
        assert_eq!(
            hit(&mut capped, &q, 0).unwrap().name_servers()[0].ttl(),
            250
        );

        let q = query("9.2.0.192.in-addr.arpa.", RecordType::PTR);
        let foreign = reply_to(&q, vec![], vec![soa("test.", 3600, 60)], 0);
        assert!(!store(&mut c, &q, &foreign, 0), "SOA of another zone");
        let bare = reply_to(&q, vec![], vec![], 3);
        assert!(!store(&mut c, &q, &bare, 0), "no SOA and no neg-ttl");
        let mut with_neg_ttl = Cache::new(Policy {
            neg_ttl_secs: 30,
            ..Policy::default()
        });
        assert!(store(&mut with_neg_ttl, &q, &bare, 0));

        let mut no_neg = Cache::new(Policy {
            no_negcache: true,
            ..Policy::default()
        });
        let q = query("nothere.test.", RecordType::A);
        assert!(!store(&mut no_neg, &q, &nx, 0));
    }

    #[test]
    fn only_dnsmasqs_types_and_recursive_queries_are_cached() {
        let mut c = Cache::new(Policy::default());
        let q = query("mail.test.", RecordType::MX);
        let r = reply_to(&q, vec![], vec![soa("test.", 60, 60)], 0);
        assert!(!store(&mut c, &q, &r, 0));
        let q = query("x.test.", RecordType::A);
        let r = reply_to(&q, vec![a("x.test.", 60, [1, 2, 3, 4])], vec![], 0);
        assert!(c
            .insert(&wire::question(&q).unwrap(), false, &r, 0, None)
            .is_none());
        let servfail = reply_to(&q, vec![], vec![], 2);
        assert!(!store(&mut c, &q, &servfail, 0));
    }

    #[test]
    fn an_answer_stored_by_one_shard_is_a_hit_in_another() {
        let mut fetcher = Cache::new(Policy::default());
        let mut peer = Cache::new(Policy::default());
        let q = query("shared.test.", RecordType::A);
        let r = reply_to(&q, vec![a("shared.test.", 60, [1, 2, 3, 4])], vec![], 0);
        let stored = fetcher
            .insert(&wire::question(&q).unwrap(), true, &r, 10, None)
            .unwrap();
        peer.store(stored, 11);
        assert_eq!(hit(&mut peer, &q, 12).unwrap().answers()[0].ttl(), 58);
    }

    #[test]
    fn ttl_limits_apply() {
        let mut c = Cache::new(Policy {
            max_ttl_secs: 10,
            max_cache_ttl_secs: 100,
            ..Policy::default()
        });
        let q = query("x.test.", RecordType::A);
        let r = reply_to(&q, vec![a("x.test.", 600, [1, 2, 3, 4])], vec![], 0);
        assert!(store(&mut c, &q, &r, 0));
        assert_eq!(hit(&mut c, &q, 0).unwrap().answers()[0].ttl(), 10);
        assert!(hit(&mut c, &q, 100).is_none(), "max-cache-ttl ends it");
    }

    #[test]
    fn edns_queries_get_an_opt_record() {
        let mut c = Cache::new(Policy::default());
        let q = query("x.test.", RecordType::A);
        let r = reply_to(&q, vec![a("x.test.", 60, [1, 2, 3, 4])], vec![], 0);
        store(&mut c, &q, &r, 0);
        let mut m = Message::from_vec(&q).unwrap();
        m.set_edns(hickory_proto::op::Edns::new());
        let m = hit(&mut c, &m.to_vec().unwrap(), 0).unwrap();
        assert_eq!(m.extensions().as_ref().unwrap().max_payload(), 1232);
    }

    #[test]
    fn full_cache_evicts_and_stays_bounded() {
        let mut c = Cache::new(Policy {
            capacity: 4,
            ..Policy::default()
        });
        for i in 0..20 {
            let name = format!("n{i}.test.");
            let q = query(&name, RecordType::A);
            let r = reply_to(&q, vec![a(&name, 60, [1, 2, 3, 4])], vec![], 0);
            assert!(store(&mut c, &q, &r, 0));
        }
        assert_eq!(c.len(), 4);
        assert_eq!(c.stats.evictions, 16);
        assert!(hit(&mut c, &query("n19.test.", RecordType::A), 0).is_some());
        assert!(hit(&mut c, &query("n0.test.", RecordType::A), 0).is_none());
        let disabled = &mut Cache::new(Policy {
            capacity: 0,
            ..Policy::default()
        });
        let q = query("x.test.", RecordType::A);
        let r = reply_to(&q, vec![a("x.test.", 60, [1, 2, 3, 4])], vec![], 0);
        assert!(!store(disabled, &q, &r, 0));
    }

    #[test]
    fn hits_rotate_address_records_unless_round_robin_is_off() {
        use hickory_proto::op::Message;
        use hickory_proto::rr::{rdata::A, Name, RData, Record};
        let q = crate::dns::answer::test_query("rr.test", hickory_proto::rr::RecordType::A);
        let mut m = Message::from_vec(&q).unwrap();
        m.set_message_type(hickory_proto::op::MessageType::Response);
        for i in 1..=3 {
            let owner = Name::from_ascii("rr.test.").unwrap();
            m.add_answer(Record::from_rdata(
                owner,
                60,
                RData::A(A::new(192, 0, 2, i)),
            ));
        }
        let reply = m.to_vec().unwrap();
        let order = |round_robin: bool| -> Vec<Vec<String>> {
            let mut c = Cache::new(Policy {
                round_robin,
                ..Policy::default()
            });
            let question = wire::question(&q).unwrap();
            c.insert(&question, true, &reply, 0, None).unwrap();
            let mut out = Vec::new();
            (0..4)
                .map(|_| {
                    let ask = Ask {
                        query: &q,
                        q: &question,
                        edns: None,
                        max_bytes: 512,
                    };
                    c.answer(&ask, 1, &mut out, LocalCheck::Done(1)).unwrap();
                    let m = Message::from_vec(&out).unwrap();
                    m.answers()
                        .iter()
                        .map(|r| r.data().unwrap().to_string())
                        .collect()
                })
                .collect()
        };
        let first = ["192.0.2.1", "192.0.2.2", "192.0.2.3"];
        let rotated = order(true);
        assert_eq!(rotated[0], first);
        assert_eq!(rotated[1], ["192.0.2.3", "192.0.2.1", "192.0.2.2"]);
        assert_eq!(rotated[2], ["192.0.2.2", "192.0.2.3", "192.0.2.1"]);
        assert_eq!(rotated[3], first);
        assert!(order(false).iter().all(|o| o == &first));
    }
}
