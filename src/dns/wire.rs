//! Views over DNS wire bytes (RFC 1035 section 4): the header, the question, names with
//! compression, resource records and the EDNS OPT record. Nothing here allocates, so the
//! cache-hit path can use it; building whole messages is left to hickory-proto.

/// Bytes in a DNS header.
pub const HEADER_BYTES: usize = 12;
/// Longest name in wire form (RFC 1035 2.3.4).
pub const MAX_NAME_BYTES: usize = 255;
/// Most compression pointers followed in one name, so a pointer loop ends.
const MAX_POINTER_HOPS: usize = 64;

/// Record types this crate names.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const NAPTR: u16 = 35;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const DNSKEY: u16 = 48;
    pub const ANY: u16 = 255;
    pub const CAA: u16 = 257;
}

/// Response codes this crate sets or reads.
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
}

/// Header flag bits in byte 2 and byte 3.
pub mod flag {
    pub const QR: u8 = 0x80;
    pub const AA: u8 = 0x04;
    pub const TC: u8 = 0x02;
    pub const RD: u8 = 0x01;
    pub const RA: u8 = 0x80;
    /// Checking disabled (DNSSEC), in the fourth header byte.
    pub const CD: u8 = 0x10;
}

/// Why bytes are not a usable message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its own counts and lengths say.
    Truncated,
    /// A label with reserved bits, a name over 255 bytes, or a pointer loop.
    BadName,
    /// Not exactly one question.
    QuestionCount,
}

fn be16(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
}

fn be32(msg: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(msg.get(at..at + 4)?.try_into().ok()?))
}

/// The message ID.
pub fn id(msg: &[u8]) -> u16 {
    be16(msg, 0).unwrap_or(0)
}

/// The response code in the header.
pub fn header_rcode(msg: &[u8]) -> u8 {
    msg.get(3).map_or(0, |b| b & 0x0f)
}

/// Section counts: (questions, answers, authority, additional).
pub fn counts(msg: &[u8]) -> (u16, u16, u16, u16) {
    (
        be16(msg, 4).unwrap_or(0),
        be16(msg, 6).unwrap_or(0),
        be16(msg, 8).unwrap_or(0),
        be16(msg, 10).unwrap_or(0),
    )
}

/// Set the four section counts.
pub fn set_counts(msg: &mut [u8], qd: u16, an: u16, ns: u16, ar: u16) {
    msg[4..6].copy_from_slice(&qd.to_be_bytes());
    msg[6..8].copy_from_slice(&an.to_be_bytes());
    msg[8..10].copy_from_slice(&ns.to_be_bytes());
    msg[10..12].copy_from_slice(&ar.to_be_bytes());
}

/// A name in lower-case wire form (length-prefixed labels, ending with the root), held
/// inline so reading one never allocates.
#[derive(Clone, Copy)]
pub struct NameBuf {
    bytes: [u8; MAX_NAME_BYTES],
    len: u8,
}

impl Default for NameBuf {
    fn default() -> Self {
        NameBuf {
            bytes: [0; MAX_NAME_BYTES],
            len: 0,
        }
    }
}

impl NameBuf {
    /// The wire bytes, root label included.
    pub fn wire(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Number of labels, the root not counted.
    pub fn label_count(&self) -> usize {
        labels(self.wire()).count()
    }

    /// The name in presentation form without the trailing dot (`.` alone for the root).
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.len as usize);
        for label in labels(self.wire()) {
            if !out.is_empty() {
                out.push('.');
            }
            for &b in label {
                if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("\\{b:03}"));
                }
            }
        }
        if out.is_empty() {
            out.push('.');
        }
        out
    }
}

/// The labels of an uncompressed wire name, root excluded.
pub fn labels(wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let len = *wire.get(at)? as usize;
        if len == 0 {
            return None;
        }
        let label = wire.get(at + 1..at + 1 + len)?;
        at += 1 + len;
        Some(label)
    })
}

/// Read the (possibly compressed) name at `at` into `out`, lower-cased. Returns the offset
/// just past the name where it starts (not where a pointer leads).
pub fn read_name(msg: &[u8], at: usize, out: &mut NameBuf) -> Result<usize, WireError> {
    let mut pos = at;
    let mut end = None;
    let mut hops = 0;
    let mut len = 0usize;
    loop {
        let b = *msg.get(pos).ok_or(WireError::Truncated)?;
        match b & 0xc0 {
            0x00 => {
                let n = b as usize;
                if len + 1 + n > MAX_NAME_BYTES {
                    return Err(WireError::BadName);
                }
                out.bytes[len] = b;
                if n == 0 {
                    out.len = (len + 1) as u8;
                    return Ok(end.unwrap_or(pos + 1));
                }
                let label = msg.get(pos + 1..pos + 1 + n).ok_or(WireError::Truncated)?;
                for (dst, src) in out.bytes[len + 1..len + 1 + n].iter_mut().zip(label) {
                    *dst = src.to_ascii_lowercase();
                }
                len += 1 + n;
                pos += 1 + n;
            }
            0xc0 => {
                let target = (be16(msg, pos).ok_or(WireError::Truncated)? & 0x3fff) as usize;
                hops += 1;
                if hops > MAX_POINTER_HOPS || target >= pos {
                    return Err(WireError::BadName);
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return Err(WireError::BadName),
        }
    }
}

/// Offset just past the name at `at` where it is uncompressed, whole and no longer than
/// `MAX_NAME_BYTES`; None for anything else (`read_name` says what).
fn plain_name_end(msg: &[u8], at: usize) -> Option<usize> {
    let mut pos = at;
    loop {
        match *msg.get(pos)? {
            0 => break,
            b if b & 0xc0 == 0 => pos += 1 + b as usize,
            _ => return None,
        }
    }
    (pos + 1 - at <= MAX_NAME_BYTES).then_some(pos + 1)
}

/// Offset just past the (possibly compressed) name at `at`, without reading it.
pub fn skip_name(msg: &[u8], at: usize) -> Result<usize, WireError> {
    let mut pos = at;
    loop {
        let b = *msg.get(pos).ok_or(WireError::Truncated)?;
        match b & 0xc0 {
            0x00 if b == 0 => return Ok(pos + 1),
            0x00 => pos += 1 + b as usize,
            0xc0 if pos + 1 < msg.len() => return Ok(pos + 2),
            0xc0 => return Err(WireError::Truncated),
            _ => return Err(WireError::BadName),
        }
    }
}

/// The question name of `msg` as the client wrote it (letter case kept), for log lines.
pub fn question_text(msg: &[u8], q: &Question) -> String {
    let mut out = String::new();
    for label in labels(msg.get(HEADER_BYTES..q.end - 4).unwrap_or_default()) {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&String::from_utf8_lossy(label));
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// The one question of a query.
#[derive(Clone, Copy)]
pub struct Question {
    /// The name, lower-cased.
    pub name: NameBuf,
    pub qtype: u16,
    pub qclass: u16,
    /// Offset just past the question.
    pub end: usize,
}

/// Read the single question of `msg`. Queries may not compress their question name.
pub fn question(msg: &[u8]) -> Result<Question, WireError> {
    if msg.len() < HEADER_BYTES {
        return Err(WireError::Truncated);
    }
    if counts(msg).0 != 1 {
        return Err(WireError::QuestionCount);
    }
    let mut name = NameBuf::default();
    let after = match plain_name_end(msg, HEADER_BYTES) {
        // The usual name, read in one pass (length bytes are below 64, so lower-casing
        // leaves them as they are) rather than label by label.
        Some(end) => {
            for (dst, src) in name.bytes.iter_mut().zip(&msg[HEADER_BYTES..end]) {
                *dst = src.to_ascii_lowercase();
            }
            name.len = (end - HEADER_BYTES) as u8;
            end
        }
        None => read_name(msg, HEADER_BYTES, &mut name)?,
    };
    if after != HEADER_BYTES + name.len as usize {
        return Err(WireError::BadName);
    }
    let qtype = be16(msg, after).ok_or(WireError::Truncated)?;
    let qclass = be16(msg, after + 2).ok_or(WireError::Truncated)?;
    Ok(Question {
        name,
        qtype,
        qclass,
        end: after + 4,
    })
}

/// One resource record's place in a message.
#[derive(Clone, Copy, Debug)]
pub struct RecordAt {
    /// Where the owner name starts.
    pub start: usize,
    pub rtype: u16,
    pub class: u16,
    /// Where the TTL field is.
    pub ttl_at: usize,
    pub ttl: u32,
    /// Where the data starts, and its length.
    pub data_at: usize,
    pub data_len: usize,
}

impl RecordAt {
    /// Offset just past the record.
    pub fn end(&self) -> usize {
        self.data_at + self.data_len
    }
}

/// Read the record starting at `at`.
pub fn record(msg: &[u8], at: usize) -> Result<RecordAt, WireError> {
    let fixed = skip_name(msg, at)?;
    let rtype = be16(msg, fixed).ok_or(WireError::Truncated)?;
    let class = be16(msg, fixed + 2).ok_or(WireError::Truncated)?;
    let ttl = be32(msg, fixed + 4).ok_or(WireError::Truncated)?;
    let data_len = be16(msg, fixed + 8).ok_or(WireError::Truncated)? as usize;
    let data_at = fixed + 10;
    if data_at + data_len > msg.len() {
        return Err(WireError::Truncated);
    }
    Ok(RecordAt {
        start: at,
        rtype,
        class,
        ttl_at: fixed + 4,
        ttl,
        data_at,
        data_len,
    })
}

/// The sections of a message after its question: every record with the section it is in
/// (1 answer, 2 authority, 3 additional). Stops at the first malformed record.
pub fn records(msg: &[u8], question_end: usize) -> Result<Vec<(u8, RecordAt)>, WireError> {
    let (_, an, ns, ar) = counts(msg);
    let mut out = Vec::with_capacity((an + ns + ar) as usize);
    let mut at = question_end;
    for (section, count) in [(1u8, an), (2, ns), (3, ar)] {
        for _ in 0..count {
            let r = record(msg, at)?;
            at = r.end();
            out.push((section, r));
        }
    }
    Ok(out)
}

/// What a query's OPT record says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    /// The DNSSEC OK bit.
    pub dnssec_ok: bool,
    /// Where the OPT record starts in the message.
    pub at: usize,
}

/// The OPT record of a message whose question ends at `question_end`, looked for only
/// where it belongs (the additional section), without allocating.
pub fn edns(msg: &[u8], question_end: usize) -> Result<Option<Edns>, WireError> {
    let (_, an, ns, ar) = counts(msg);
    let mut at = question_end;
    for i in 0..(an as usize + ns as usize + ar as usize) {
        let r = record(msg, at)?;
        if i >= an as usize + ns as usize && r.rtype == rtype::OPT {
            return Ok(Some(Edns {
                udp_size: r.class,
                dnssec_ok: r.ttl & 0x8000 != 0,
                at,
            }));
        }
        at = r.end();
    }
    Ok(None)
}

/// Bytes in an OPT record without options.
pub const OPT_RECORD_BYTES: usize = 11;

/// An OPT record advertising `udp_size`, with no options.
pub fn opt_record(udp_size: u16) -> [u8; OPT_RECORD_BYTES] {
    let s = udp_size.to_be_bytes();
    [0, 0, 41, s[0], s[1], 0, 0, 0, 0, 0, 0]
}

/// The type's name as dnsmasq logs it (`A`, `AAAA`, `type=65` for unknown ones).
pub fn type_name(t: u16) -> std::borrow::Cow<'static, str> {
    let known = match t {
        rtype::A => "A",
        rtype::NS => "NS",
        rtype::CNAME => "CNAME",
        rtype::SOA => "SOA",
        rtype::PTR => "PTR",
        rtype::MX => "MX",
        rtype::TXT => "TXT",
        rtype::AAAA => "AAAA",
        rtype::SRV => "SRV",
        rtype::NAPTR => "NAPTR",
        rtype::OPT => "OPT",
        rtype::DS => "DS",
        rtype::DNSKEY => "DNSKEY",
        rtype::ANY => "ANY",
        rtype::CAA => "CAA",
        13 => "HINFO",
        29 => "LOC",
        46 => "RRSIG",
        47 => "NSEC",
        50 => "NSEC3",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        252 => "AXFR",
        251 => "IXFR",
        _ => return format!("type={t}").into(),
    };
    known.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` (dotted, no trailing dot) of type `qtype`.
    pub fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.').filter(|l| !l.is_empty()) {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m
    }

    #[test]
    fn question_is_read_lower_cased() {
        let q = question(&query("WWW.Example.COM", rtype::AAAA)).unwrap();
        assert_eq!(q.name.to_text(), "www.example.com");
        assert_eq!(q.qtype, rtype::AAAA);
        assert_eq!(q.name.label_count(), 3);
        assert_eq!(q.end, HEADER_BYTES + 17 + 4);
    }

    #[test]
    fn root_question_reads_as_dot() {
        let q = question(&query("", rtype::NS)).unwrap();
        assert_eq!(q.name.to_text(), ".");
        assert_eq!(q.name.label_count(), 0);
    }

    #[test]
    fn malformed_questions_are_errors_not_panics() {
        let good = query("a.example", rtype::A);
        for cut in 0..good.len() {
            assert!(question(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut two = good.clone();
        two[5] = 2;
        assert_eq!(question(&two).err(), Some(WireError::QuestionCount));
        let mut reserved = good.clone();
        reserved[12] = 0x41;
        assert_eq!(question(&reserved).err(), Some(WireError::BadName));
        let mut pointer = good[..12].to_vec();
        pointer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(question(&pointer).err(), Some(WireError::BadName));
    }

    #[test]
    fn a_question_reads_as_read_name_reads_it() {
        // Up to the longest name allowed (255 bytes on the wire) and one past it.
        let longest = format!(
            "{}.{}",
            vec!["Ab".repeat(31) + "c"; 3].join("."),
            "d".repeat(61)
        );
        let past = format!("{longest}e");
        for name in [
            "",
            "a",
            "Z.b",
            "ads.Example.CO.uk",
            "x-y_z.0.9",
            &longest,
            &past,
        ] {
            let m = query(name, rtype::A);
            let mut general = NameBuf::default();
            let read = read_name(&m, HEADER_BYTES, &mut general);
            match question(&m) {
                Ok(q) => {
                    assert_eq!(read, Ok(q.end - 4), "{name}");
                    assert_eq!(q.name.wire(), general.wire(), "{name}");
                }
                Err(e) => assert_eq!(read.err(), Some(e), "{name}"),
            }
        }
        assert!(question(&query(&longest, rtype::A)).is_ok());
        assert_eq!(
            question(&query(&past, rtype::A)).err(),
            Some(WireError::BadName)
        );
    }

    #[test]
    fn compression_loops_end() {
        // An answer whose name points at itself, and one that points forward.
        let mut m = query("a", rtype::A);
        let at = m.len();
        m.extend_from_slice(&[0xc0, at as u8]);
        let mut n = NameBuf::default();
        assert_eq!(read_name(&m, at, &mut n).err(), Some(WireError::BadName));
        let mut fwd = query("a", rtype::A);
        let at = fwd.len();
        fwd.extend_from_slice(&[0xc0, (at + 2) as u8, 0]);
        assert_eq!(read_name(&fwd, at, &mut n).err(), Some(WireError::BadName));
    }

    #[test]
    fn names_over_255_bytes_are_refused() {
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(
            question(&query(&long, rtype::A)).err(),
            Some(WireError::BadName)
        );
    }

    #[test]
    fn compressed_answer_names_are_followed() {
        let mut m = query("host.example", rtype::A);
        m[7] = 1;
        let at = m.len();
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
        let r = record(&m, at).unwrap();
        assert_eq!((r.rtype, r.ttl, r.data_len), (rtype::A, 60, 4));
        let mut n = NameBuf::default();
        assert_eq!(read_name(&m, at, &mut n), Ok(at + 2));
        assert_eq!(n.to_text(), "host.example");
        assert_eq!(records(&m, question(&m).unwrap().end).unwrap().len(), 1);
    }

    #[test]
    fn edns_is_found_in_the_additional_section() {
        let mut m = query("example", rtype::A);
        let end = m.len();
        assert_eq!(edns(&m, end), Ok(None));
        m[11] = 1;
        m.extend_from_slice(&opt_record(4096));
        m[end + 7] = 0x80; // DO bit
        assert_eq!(
            edns(&m, end),
            Ok(Some(Edns {
                udp_size: 4096,
                dnssec_ok: true,
                at: end
            }))
        );
    }

    #[test]
    fn unknown_types_are_named_as_dnsmasq_does() {
        assert_eq!(type_name(rtype::AAAA), "AAAA");
        assert_eq!(type_name(4000), "type=4000");
    }
}
