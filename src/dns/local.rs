//! The immutable snapshot of local DNS data a shard answers from: hosts-file names, domain
//! rules (`server=/d/`, `local=/d/`) and the default upstream servers. Built off the answer
//! path; a reload builds a new one and hands it to each shard.

use crate::config::parse::{ServerTarget, Value};
use crate::config::Config;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// Addresses of one name.
#[derive(Clone, Debug, Default)]
pub struct HostAddrs {
    pub addrs: Vec<IpAddr>,
}

/// What to do with names under a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainRule {
    /// Answer locally; unknown names are NXDOMAIN.
    Local,
    /// Forward to these servers.
    Servers(Vec<SocketAddr>),
    /// Use the default servers.
    Default,
}

/// Local data for answering.
#[derive(Clone, Debug, Default)]
pub struct LocalData {
    /// Lower-case name without trailing dot -> addresses.
    pub names: HashMap<String, HostAddrs>,
    /// Address -> canonical name, for PTR answers.
    pub reverse: HashMap<IpAddr, String>,
    /// Lower-case domain ("" for every name) -> rule. Looked up label by label.
    pub rules: HashMap<String, DomainRule>,
    pub upstreams: Vec<SocketAddr>,
    pub local_ttl_secs: u32,
}

/// Limits on what one snapshot may hold, so a hostile file cannot exhaust memory.
pub const MAX_HOST_NAMES: usize = 50_000_000;

impl LocalData {
    /// The rule for the most specific domain containing `name`, if any.
    pub fn rule_for(&self, name: &str) -> Option<&DomainRule> {
        if self.rules.is_empty() {
            return None;
        }
        let mut rest = name;
        loop {
            if let Some(r) = self.rules.get(rest) {
                return Some(r);
            }
            match rest.find('.') {
                Some(i) => rest = &rest[i + 1..],
                None => return self.rules.get(""),
            }
        }
    }

    /// Add hosts-file lines; returns how many names were added.
    pub fn add_hosts(&mut self, lines: &[super::hosts::HostLine]) -> usize {
        let mut added = 0;
        for l in lines {
            for (i, name) in l.names.iter().enumerate() {
                if self.names.len() >= MAX_HOST_NAMES {
                    return added;
                }
                let entry = self.names.entry(name.clone()).or_default();
                if !entry.addrs.contains(&l.addr) {
                    entry.addrs.push(l.addr);
                }
                if i == 0 {
                    self.reverse.entry(l.addr).or_insert_with(|| name.clone());
                }
                added += 1;
            }
        }
        added
    }
}

/// Nameserver lines of a resolv.conf, as upstream addresses on port 53.
pub fn resolv_servers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_ascii_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|a| a.split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Domain rules and plain upstream servers from `server=` and `local=` options, plus
/// `extra` values (from a servers-file).
pub fn server_rules<'a>(
    config: &'a Config,
    extra: impl IntoIterator<Item = &'a Value>,
) -> (HashMap<String, DomainRule>, Vec<SocketAddr>) {
    let mut rules: HashMap<String, DomainRule> = HashMap::new();
    let mut upstreams = Vec::new();
    for v in config
        .values("server")
        .chain(config.values("local"))
        .chain(extra)
    {
        let Value::Server { domains, target } = v else {
            continue;
        };
        let rule = match target {
            ServerTarget::Local => DomainRule::Local,
            ServerTarget::Resolv => DomainRule::Default,
            ServerTarget::Upstream { addr, .. } => DomainRule::Servers(vec![*addr]),
        };
        match domains {
            None => {
                if let DomainRule::Servers(s) = rule {
                    upstreams.extend(s);
                }
            }
            Some(list) => {
                for d in list {
                    // Names without dots (`//`) are not matched by this minimal path yet.
                    let Some(d) = d else { continue };
                    let key = d.to_ascii_lowercase();
                    match (rules.get_mut(&key), &rule) {
                        (Some(DomainRule::Servers(existing)), DomainRule::Servers(new)) => {
                            existing.extend(new)
                        }
                        _ => {
                            rules.insert(key, rule.clone());
                        }
                    }
                }
            }
        }
    }
    (rules, upstreams)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_domain_rule_wins() {
        let mut d = LocalData::default();
        d.rules.insert("example.com".into(), DomainRule::Local);
        d.rules.insert("a.example.com".into(), DomainRule::Default);
        assert_eq!(d.rule_for("x.a.example.com"), Some(&DomainRule::Default));
        assert_eq!(d.rule_for("b.example.com"), Some(&DomainRule::Local));
        assert_eq!(d.rule_for("example.org"), None);
        d.rules.insert(String::new(), DomainRule::Local);
        assert_eq!(d.rule_for("example.org"), Some(&DomainRule::Local));
    }

    #[test]
    fn resolv_conf_nameservers_are_read() {
        let s = resolv_servers(
            "# x\nsearch lan\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\nnameserver bad\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], "10.0.0.1:53".parse().unwrap());
    }
}
