//! `--synth-domain`: names made from addresses in a range and back. Without a `*` the
//! label is the prefix and the address with its dots (or colons) as dashes
//! (`host-192-168-0-56.example`); with `prefix*` it is the prefix and the address's offset
//! from the start of the range (`n-3.example`). Free of I/O.

use std::net::{IpAddr, Ipv6Addr};

/// One `--synth-domain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synth {
    /// Lower case, no final dot.
    pub domain: String,
    pub start: IpAddr,
    pub end: IpAddr,
    /// The label's prefix, without the `*`.
    pub prefix: String,
    /// `prefix*`: labels number the addresses from the start of the range.
    pub sequential: bool,
}

fn as_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

impl Synth {
    pub fn new(domain: &str, start: IpAddr, end: IpAddr, prefix: Option<&str>) -> Synth {
        let prefix = prefix.unwrap_or("");
        let sequential = prefix.ends_with('*');
        Synth {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
            start,
            end,
            prefix: prefix.trim_end_matches('*').to_ascii_lowercase(),
            sequential,
        }
    }

    fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.start.is_ipv4()
            && (as_u128(self.start)..=as_u128(self.end)).contains(&as_u128(a))
    }

    /// The address `name` (lower case, no final dot) stands for, if it is one of ours.
    pub fn address(&self, name: &str) -> Option<IpAddr> {
        let (label, domain) = name.split_once('.')?;
        if domain != self.domain {
            return None;
        }
        let body = label.strip_prefix(self.prefix.as_str())?;
        let addr = if self.sequential {
            let offset: u128 = body.parse().ok()?;
            let n = as_u128(self.start).checked_add(offset)?;
            match self.start {
                IpAddr::V4(_) => IpAddr::V4(u32::try_from(n).ok()?.into()),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
            }
        } else if self.start.is_ipv4() {
            body.replace('-', ".").parse().ok()?
        } else {
            let text = body.replace('-', ":");
            // A leading zero stands in for a leading "::" (labels cannot start with '-').
            let text = match text.strip_prefix("0::") {
                Some(rest) if self.prefix.is_empty() => format!("::{rest}"),
                _ => text,
            };
            IpAddr::V6(text.parse().ok()?)
        };
        self.contains(addr).then_some(addr)
    }

    /// The name `addr` has, if it is in our range.
    pub fn name(&self, addr: IpAddr) -> Option<String> {
        if !self.contains(addr) {
            return None;
        }
        let body = if self.sequential {
            (as_u128(addr) - as_u128(self.start)).to_string()
        } else {
            let text = addr.to_string().replace(['.', ':'], "-");
            match text.starts_with('-') && self.prefix.is_empty() {
                true => format!("0{text}"),
                false => text,
            }
        };
        Some(format!("{}{body}.{}", self.prefix, self.domain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn dashed_names_map_to_addresses_in_range_and_back() {
        let s = Synth::new(
            "syn.lan",
            ip("192.168.7.0"),
            ip("192.168.7.255"),
            Some("host-"),
        );
        assert_eq!(
            s.address("host-192-168-7-56.syn.lan"),
            Some(ip("192.168.7.56"))
        );
        assert_eq!(s.address("host-192-168-8-1.syn.lan"), None);
        assert_eq!(s.address("host-192-168-7-56.other.lan"), None);
        assert_eq!(
            s.name(ip("192.168.7.56")).as_deref(),
            Some("host-192-168-7-56.syn.lan")
        );
        assert_eq!(s.name(ip("10.0.0.1")), None);
        let six = Synth::new("six.lan", ip("fd00::"), ip("fd00::ff"), None);
        assert_eq!(six.address("fd00--5.six.lan"), Some(ip("fd00::5")));
        assert_eq!(six.name(ip("fd00::5")).as_deref(), Some("fd00--5.six.lan"));
        let low = Synth::new("low.lan", ip("::"), ip("::ff"), None);
        assert_eq!(low.name(ip("::1")).as_deref(), Some("0--1.low.lan"));
        assert_eq!(low.address("0--1.low.lan"), Some(ip("::1")));
    }

    #[test]
    fn sequential_names_count_from_the_start() {
        let s = Synth::new("seq.lan", ip("10.5.0.10"), ip("10.5.0.20"), Some("n-*"));
        assert_eq!(s.address("n-3.seq.lan"), Some(ip("10.5.0.13")));
        assert_eq!(s.address("n-11.seq.lan"), None);
        assert_eq!(s.name(ip("10.5.0.13")).as_deref(), Some("n-3.seq.lan"));
    }
}
