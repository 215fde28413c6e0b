//! Primitive value parsers shared by the option parsers: field splitting, integers,
//! domain names, hex strings and MAC addresses, durations, addresses and tags.

use super::lexer::unhide;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest DNS name, in text form.
pub const MAX_NAME_CHARS: usize = 1025;
/// Longest DNS label.
pub const MAX_LABEL_CHARS: usize = 63;

/// Split `s` at the first `sep`: the head loses trailing spaces, the tail leading ones.
pub fn split_once_trim(s: &str, sep: char) -> (&str, Option<&str>) {
    match s.find(sep) {
        Some(i) => (
            s[..i].trim_end_matches(' '),
            Some(s[i + sep.len_utf8()..].trim_start_matches(' ')),
        ),
        None => (s, None),
    }
}

/// Split a comma list into trimmed fields (quoted commas do not split).
pub fn fields(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = Some(s);
    while let Some(r) = rest {
        let (head, tail) = split_once_trim(r, ',');
        out.push(head);
        rest = tail;
    }
    out
}

/// A decimal integer made only of digits (empty counts as 0, as in dnsmasq).
pub fn uint(s: &str) -> Option<u64> {
    let s = unhide(s);
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.is_empty() {
        return Some(0);
    }
    // Saturate like atoi would misbehave on overflow: anything huge is simply large.
    Some(s.parse::<u64>().unwrap_or(u64::MAX))
}

/// A decimal integer 0..=65535.
pub fn uint16(s: &str) -> Option<u16> {
    uint(s).and_then(|v| u16::try_from(v).ok())
}

/// A decimal integer 0..=255.
pub fn uint8(s: &str) -> Option<u8> {
    uint(s).and_then(|v| u8::try_from(v).ok())
}

/// Check and normalise a domain name as dnsmasq does: trailing dot removed, labels of at
/// most 63 characters, no control characters, not only spaces. Returns the lower-case-kept
/// name (dnsmasq keeps case; comparisons are case-insensitive).
pub fn domain(s: &str) -> Option<String> {
    let s = unhide(s);
    // dnsmasq 2.90 accepts an empty name wherever it expects one.
    if s.is_empty() {
        return Some(String::new());
    }
    if s.len() > MAX_NAME_CHARS {
        return None;
    }
    let name = s.strip_suffix('.').unwrap_or(&s);
    let mut visible = s.ends_with('.');
    for label in name.split('.') {
        if label.chars().count() > MAX_LABEL_CHARS {
            return None;
        }
        for c in label.chars() {
            if c.is_ascii_control() {
                return None;
            }
            if c != ' ' {
                visible = true;
            }
        }
    }
    if !visible {
        return None;
    }
    Some(name.to_string())
}

/// A host name as DHCP allows it: letters, digits and inner hyphens in each label.
pub fn legal_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// An IPv4 address as `inet_pton` reads it (four decimal parts).
pub fn ipv4(s: &str) -> Option<Ipv4Addr> {
    unhide(s).parse().ok()
}

/// An IPv6 address as `inet_pton` reads it.
pub fn ipv6(s: &str) -> Option<Ipv6Addr> {
    unhide(s).parse().ok()
}

/// An IPv4 or IPv6 address.
pub fn ip(s: &str) -> Option<IpAddr> {
    unhide(s).parse().ok()
}

/// Bytes parsed from hex such as `01:02:0a` or `0102*a`, with a wildcard mask (bit set for
/// each `*` byte, first byte highest) and an optional leading `type-` (MAC addresses).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Hex {
    pub bytes: Vec<u8>,
    pub wildcard_mask: u64,
    pub hw_type: Option<u16>,
}

/// Parse hex the way dnsmasq does for MACs, client ids and option data: groups separated by
/// `:`, `-` or space; a group of several digit pairs gives several bytes; `*` is a wildcard
/// byte. `allow_type` accepts a first group ending in `-` as the hardware type.
pub fn hex(s: &str, max_len: Option<usize>, allow_type: bool) -> Option<Hex> {
    let s = unhide(s);
    let mut out = Hex::default();
    let mut rest: &str = &s;
    let mut type_allowed = allow_type;
    loop {
        if max_len.is_some_and(|m| out.bytes.len() >= m) {
            break;
        }
        let end = rest.find([':', '-', ' ']).unwrap_or(rest.len());
        let group = &rest[..end];
        if !group.chars().all(|c| c == '*' || c.is_ascii_hexdigit()) {
            return None;
        }
        let sep = rest[end..].chars().next();
        if !group.is_empty() {
            if sep == Some('-') && out.bytes.is_empty() && type_allowed {
                out.hw_type = Some(u16::from_str_radix(group, 16).unwrap_or(u16::MAX));
                type_allowed = false;
            } else if group == "*" {
                out.bytes.push(0);
                out.wildcard_mask = (out.wildcard_mask << 1) | 1;
            } else {
                if group.contains('*') {
                    return None;
                }
                let digits = group.as_bytes();
                let pairs = digits.len().div_ceil(2);
                for p in 0..pairs {
                    let chunk = &group[p * 2..(p * 2 + 2).min(digits.len())];
                    out.bytes.push(u8::from_str_radix(chunk, 16).ok()?);
                    out.wildcard_mask <<= 1;
                    if max_len.is_some_and(|m| out.bytes.len() >= m) {
                        break;
                    }
                }
            }
        }
        match sep {
            None => break,
            Some(c) => rest = &rest[end + c.len_utf8()..],
        }
    }
    Some(out)
}

/// A duration with dnsmasq's suffixes: `s`, `m`, `h`, `d`, `w` (either case), or plain
/// seconds. Returns seconds; `None` for anything else.
pub fn duration_secs(s: &str) -> Option<u64> {
    let (digits, factor) = match s.chars().last()? {
        'w' | 'W' => (&s[..s.len() - 1], 7 * 24 * 3600),
        'd' | 'D' => (&s[..s.len() - 1], 24 * 3600),
        'h' | 'H' => (&s[..s.len() - 1], 3600),
        'm' | 'M' => (&s[..s.len() - 1], 60),
        's' | 'S' => (&s[..s.len() - 1], 1),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().map(|v| v.saturating_mul(factor))
}

/// A lease time: a duration, or `infinite`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseTime {
    Secs(u32),
    Infinite,
}

/// Leases shorter than two minutes confuse some clients; dnsmasq raises them to this.
pub const MIN_LEASE_SECS: u32 = 120;

impl LeaseTime {
    /// Parse `infinite` or a duration, raising short leases to the minimum.
    pub fn parse(s: &str) -> Option<LeaseTime> {
        if s == "infinite" {
            return Some(LeaseTime::Infinite);
        }
        let secs = duration_secs(s)?;
        Some(LeaseTime::Secs(
            u32::try_from(secs).unwrap_or(u32::MAX).max(MIN_LEASE_SECS),
        ))
    }
}

/// A `tag:` (or legacy `net:`) prefix.
pub fn tag_match(s: &str) -> Option<&str> {
    s.strip_prefix("tag:").or_else(|| s.strip_prefix("net:"))
}

/// The name from a `set:` prefix, or the whole text (dnsmasq's legacy untagged form).
pub fn set_name(s: &str) -> &str {
    s.strip_prefix("set:").unwrap_or(s)
}

/// A tag to match, possibly negated (`tag:!name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagMatch {
    pub name: String,
    pub negated: bool,
}

impl TagMatch {
    pub fn new(name: &str) -> TagMatch {
        match name.strip_prefix('!') {
            Some(n) => TagMatch {
                name: n.to_string(),
                negated: true,
            },
            None => TagMatch {
                name: name.to_string(),
                negated: false,
            },
        }
    }
}

/// Leading `tag:` fields of a list, and the fields after them.
pub fn leading_tags<'a>(list: &[&'a str]) -> (Vec<TagMatch>, Vec<&'a str>) {
    let n = list.iter().take_while(|f| tag_match(f).is_some()).count();
    let tags = list[..n]
        .iter()
        .filter_map(|f| tag_match(f))
        .map(TagMatch::new)
        .collect();
    (tags, list[n..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_trim_around_commas() {
        assert_eq!(fields("a , b,c "), vec!["a", "b", "c "]);
        assert_eq!(fields(""), vec![""]);
    }

    #[test]
    fn uint_accepts_digits_only() {
        assert_eq!(uint("53"), Some(53));
        assert_eq!(uint(""), Some(0));
        assert_eq!(uint("-1"), None);
        assert_eq!(uint("5x"), None);
        assert_eq!(uint16("65536"), None);
        assert_eq!(uint16("65535"), Some(65535));
    }

    #[test]
    fn durations_take_suffixes() {
        assert_eq!(duration_secs("45m"), Some(2700));
        assert_eq!(duration_secs("12h"), Some(43200));
        assert_eq!(duration_secs("3d"), Some(259200));
        assert_eq!(duration_secs("2w"), Some(1209600));
        assert_eq!(duration_secs("600"), Some(600));
        assert_eq!(duration_secs("12x"), None);
        assert_eq!(duration_secs("h"), None);
        assert_eq!(LeaseTime::parse("infinite"), Some(LeaseTime::Infinite));
        assert_eq!(
            LeaseTime::parse("30"),
            Some(LeaseTime::Secs(MIN_LEASE_SECS))
        );
    }

    #[test]
    fn hex_reads_macs_with_wildcards_and_type() {
        let h = hex("11:22:33:*:55:66", Some(16), true).unwrap();
        assert_eq!(h.bytes, vec![0x11, 0x22, 0x33, 0, 0x55, 0x66]);
        assert_eq!(h.wildcard_mask, 0b000100);
        let t = hex("6-00:0b:0c:0d:0e:0f", Some(16), true).unwrap();
        assert_eq!(t.hw_type, Some(6));
        assert_eq!(t.bytes.len(), 6);
        assert!(hex("11:zz", None, false).is_none());
        assert!(hex("1*", None, false).is_none());
        assert_eq!(hex("0102ab", None, false).unwrap().bytes, vec![1, 2, 0xab]);
    }

    #[test]
    fn domains_are_checked() {
        assert_eq!(domain("example.com."), Some("example.com".to_string()));
        assert_eq!(domain(""), Some(String::new()));
        assert!(domain(&"a".repeat(64)).is_none());
        assert!(domain("bad\x01name").is_none());
    }

    #[test]
    fn tags_parse_negation() {
        let (tags, rest) = leading_tags(&["tag:a", "tag:!b", "option:router", "1.2.3.4"]);
        assert_eq!(
            tags,
            vec![
                TagMatch::new("a"),
                TagMatch {
                    name: "b".into(),
                    negated: true
                }
            ]
        );
        assert_eq!(rest, vec!["option:router", "1.2.3.4"]);
    }
}
