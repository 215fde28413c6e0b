//! Hosts-file parsing (`/etc/hosts`, `--addn-hosts`): `address name [name...]` per line,
//! comments after `#`, IPv4 and IPv6, names matched without regard to case.

use std::net::IpAddr;

/// One usable hosts-file line: an address and its names (the first is canonical).
#[derive(Debug, PartialEq, Eq)]
pub struct HostLine {
    pub addr: IpAddr,
    pub names: Vec<String>,
}

/// What reading a hosts file produced: good lines, and bad ones as (line number, text).
#[derive(Debug, Default)]
pub struct Parsed {
    pub lines: Vec<HostLine>,
    pub bad: Vec<(usize, String)>,
}

/// Parse hosts-file text. Bad lines are reported, not fatal, as in dnsmasq.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let mut words = line.split_ascii_whitespace();
        let Some(first) = words.next() else { continue };
        let Ok(addr) = first.parse::<IpAddr>() else {
            out.bad.push((n + 1, raw.to_string()));
            continue;
        };
        let mut names = Vec::new();
        for w in words {
            let name = w.trim_end_matches('.').to_ascii_lowercase();
            if crate::config::values::domain(&name).is_some_and(|d| !d.is_empty()) {
                names.push(name);
            } else {
                out.bad.push((n + 1, raw.to_string()));
            }
        }
        if !names.is_empty() {
            out.lines.push(HostLine { addr, names });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_addresses_names_and_comments() {
        let p = parse("# comment\n127.0.0.1 localhost\n::1\tip6-localhost  ip6-loopback # x\n\n10.0.0.1 Host.Example.COM.\n");
        assert_eq!(p.lines.len(), 3);
        assert_eq!(p.lines[1].names, vec!["ip6-localhost", "ip6-loopback"]);
        assert_eq!(p.lines[2].names, vec!["host.example.com"]);
        assert!(p.bad.is_empty());
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let p = parse("127.0.0.1 ok\nnot-an-address name\n");
        assert_eq!(p.lines.len(), 1);
        assert_eq!(p.bad, vec![(2, "not-an-address name".to_string())]);
    }
}
