//! The queries a run sends: from a file in dnsperf's format (`name TYPE` per line), from
//! the names of a hosts file, or generated with a random prefix (so every query misses the
//! server's cache). Each is kept in wire form with ID 0, ready to copy.

use std::fmt;

/// Record types the query files may name.
const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("NAPTR", 35),
    ("DS", 43),
    ("DNSKEY", 48),
    ("HTTPS", 65),
    ("ANY", 255),
    ("CAA", 257),
];

/// A line that could not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// The number of a type name (`AAAA`, `type28`), case-insensitive.
pub fn type_number(name: &str) -> Option<u16> {
    let upper = name.to_ascii_uppercase();
    if let Some(n) = upper.strip_prefix("TYPE") {
        return n.parse().ok();
    }
    TYPES.iter().find(|(t, _)| *t == upper).map(|(_, n)| *n)
}

/// A query for `name` of type `qtype` in wire form, ID 0, RD set; with an OPT record
/// advertising `edns` bytes if given. None if the name is not a valid DNS name.
pub fn encode(name: &str, qtype: u16, edns: Option<u16>) -> Option<Vec<u8>> {
    let mut m = vec![
        0,
        0,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        u8::from(edns.is_some()),
    ];
    let name = name.trim_end_matches('.');
    let mut total = 1;
    if !name.is_empty() {
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return None;
            }
            total += label.len() + 1;
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
    }
    if total > 255 {
        return None;
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    if let Some(size) = edns {
        m.extend_from_slice(&[0, 0, 41]);
        m.extend_from_slice(&size.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    Some(m)
}

/// Queries from dnsperf's data format: `name TYPE` per line (TYPE defaults to A), `#`
/// comments and blank lines skipped. Returns the queries and the lines that were bad.
pub fn from_dnsperf(text: &str, edns: Option<u16>) -> (Vec<Vec<u8>>, Vec<BadLine>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let name = fields.next().unwrap_or("");
        let qtype = match fields.next() {
            None => Some(1),
            Some(t) => type_number(t),
        };
        match qtype.and_then(|t| encode(name, t, edns)) {
            Some(q) => out.push(q),
            None => bad.push(BadLine {
                line: i + 1,
                reason: format!("not a query: {line}"),
            }),
        }
    }
    (out, bad)
}

/// A-record queries for every name of a hosts file (`address name [name...]`).
pub fn from_hosts(text: &str, edns: Option<u16>) -> (Vec<Vec<u8>>, Vec<BadLine>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut fields = line.split_whitespace();
        let Some(addr) = fields.next() else {
            continue;
        };
        let qtype = if addr.contains(':') { 28 } else { 1 };
        for name in fields {
            match encode(name, qtype, edns) {
                Some(q) => out.push(q),
                None => bad.push(BadLine {
                    line: i + 1,
                    reason: format!("not a name: {name}"),
                }),
            }
        }
    }
    (out, bad)
}

/// Makes queries whose first label is random hex, under `domain`, so that each one is new
/// to the server (a cache miss).
pub struct RandomNames {
    domain: String,
    qtype: u16,
    edns: Option<u16>,
    state: u64,
}

impl RandomNames {
    pub fn new(domain: &str, qtype: u16, edns: Option<u16>, seed: u64) -> RandomNames {
        RandomNames {
            domain: domain.trim_matches('.').to_string(),
            qtype,
            edns,
            state: seed | 1,
        }
    }

    /// The next query, with the number it was made from.
    pub fn next_query(&mut self) -> (u64, Vec<u8>) {
        // xorshift64*: fast and good enough to spread names.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let r = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (r, self.query_for(r))
    }

    /// The query `next_query` gave with this number.
    pub fn query_for(&self, r: u64) -> Vec<u8> {
        let name = format!("{r:016x}.{}", self.domain);
        encode(&name, self.qtype, self.edns).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnsperf_lines_become_queries_and_bad_lines_are_reported() {
        let text =
            "# comment\nexample.com A\nexample.net AAAA\n\nplain.org\nbad..name A\nx.org BOGUS\n";
        let (q, bad) = from_dnsperf(text, None);
        assert_eq!(q.len(), 3);
        assert_eq!(&q[0][12..25], b"\x07example\x03com\x00");
        assert_eq!(&q[1][q[1].len() - 4..], &[0, 28, 0, 1]);
        assert_eq!(&q[2][q[2].len() - 4..], &[0, 1, 0, 1], "type defaults to A");
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [6, 7]);
    }

    #[test]
    fn hosts_names_are_asked_in_their_family_and_edns_adds_an_opt_record() {
        let (q, bad) = from_hosts("10.0.0.1 a.lan b\n::1 six # comment\n", Some(1232));
        assert!(bad.is_empty());
        assert_eq!(q.len(), 3);
        assert_eq!(q[2][11], 1, "ARCOUNT 1 for the OPT record");
        assert!(q[2].ends_with(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(type_number("aaaa"), Some(28));
        assert_eq!(type_number("TYPE65"), Some(65));
    }

    #[test]
    fn random_names_differ() {
        let mut g = RandomNames::new("bench.test", 1, None, 7);
        let (ra, a) = g.next_query();
        let (_, b) = g.next_query();
        assert_ne!(a, b);
        assert!(a.len() > 12 + 17);
        assert_eq!(
            g.query_for(ra),
            a,
            "a query can be made again from its number"
        );
    }
}
