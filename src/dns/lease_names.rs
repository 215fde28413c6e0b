//! DHCP clients' names, for DNS: written by the DHCP server as leases begin and end, read
//! by every shard. One concurrent map (dashmap) shared by all, so a client's name answers
//! on every shard the moment its lease is granted and stops when it ends. A generation
//! number, bumped whenever a name is added, tells each shard's cache that an answer it
//! holds may now be shadowed by a lease name. (A name that goes needs no bump: lease
//! names are answered from here, never cached.)
//!
//! As dnsmasq: a lease with a hostname gives the bare name and, where a `--domain`
//! applies, the qualified one (`--dhcp-fqdn`: only the qualified one); a PTR query for
//! the address gets the qualified name if there is one. The first lease to claim a name
//! keeps it while it lasts.

use crate::config::parse::Value;
use crate::config::Config;
use dashmap::DashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The `--domain`s that qualify DHCP clients' names: those given for an address range
/// or subnet (the first whose range holds the address), else the plain one, as dnsmasq's
/// get_domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Domains {
    plain: Option<String>,
    ranged: Vec<(String, u32, u32)>,
    /// `--domain=<domain>,<interface>`: the domain for the subnets the interface has
    /// (found by `add_interface_subnets`).
    interfaced: Vec<(String, String)>,
}

impl Domains {
    pub fn from_config(config: &Config) -> Domains {
        let mut d = Domains::default();
        let lower = |n: &str| n.trim_end_matches('.').to_ascii_lowercase();
        for v in config.values("domain") {
            match v {
                Value::Domain {
                    name: Some(n),
                    range: None,
                    interface: None,
                    ..
                } if d.plain.is_none() => d.plain = Some(lower(n)),
                Value::Domain {
                    name: Some(n),
                    range: Some((IpAddr::V4(a), IpAddr::V4(b))),
                    ..
                } => d.ranged.push((lower(n), u32::from(*a), u32::from(*b))),
                Value::Domain {
                    name: Some(n),
                    range: None,
                    interface: Some(i),
                    ..
                } => d.interfaced.push((lower(n), i.clone())),
                _ => {}
            }
        }
        d
    }

    /// Give the domains named for an interface the IPv4 subnets it has now, as
    /// `subnets` finds them (address, prefix length).
    pub fn add_interface_subnets(&mut self, subnets: impl Fn(&str) -> Vec<(Ipv4Addr, u8)>) {
        for (domain, iface) in &self.interfaced {
            for (addr, prefix) in subnets(iface) {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(prefix.min(32)))
                    .unwrap_or(0);
                let start = u32::from(addr) & mask;
                self.ranged.push((domain.clone(), start, start | !mask));
            }
        }
    }

    /// A single domain for every address.
    pub fn plain(domain: Option<&str>) -> Domains {
        Domains {
            plain: domain.map(|d| d.trim_end_matches('.').to_ascii_lowercase()),
            ..Default::default()
        }
    }

    /// The domain for a client with this address.
    pub fn for_addr(&self, addr: Ipv4Addr) -> Option<&str> {
        let a = u32::from(addr);
        self.ranged
            .iter()
            .find(|(_, start, end)| (*start..=*end).contains(&a))
            .map(|(d, _, _)| d.as_str())
            .or(self.plain.as_deref())
    }
}

/// Why a lease was not given one of its names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Another lease holds it.
    OtherLease(String),
    /// Another source gives it another address: the name, and where (`/etc/hosts with
    /// address 10.0.0.5`).
    Elsewhere(String, String),
}

/// The names of the leases in force: at most two a lease, so the lease store's limit
/// (`MAX_LEASES`) bounds them.
#[derive(Debug, Default)]
pub struct LeaseNames {
    /// Lower-case name, without a final dot -> the address it answers with.
    forward: DashMap<String, Ipv4Addr>,
    /// Address -> the names it holds in `forward` (qualified one first).
    reverse: DashMap<Ipv4Addr, Vec<String>>,
    count: AtomicUsize,
    generation: AtomicU64,
    /// `--domain`s, which qualify the names.
    domains: Domains,
    /// `--dhcp-fqdn`.
    fqdn_only: bool,
    /// `--dhcp-ttl`, else `--local-ttl`.
    pub ttl_secs: u32,
}

impl LeaseNames {
    pub fn new(domains: Domains, fqdn_only: bool, ttl_secs: u32) -> LeaseNames {
        LeaseNames {
            domains,
            fqdn_only,
            ttl_secs,
            ..LeaseNames::default()
        }
    }

    /// Give `addr` the names for `hostname`, or none; whatever names it had go. A name
    /// `elsewhere` says another source gives another address (the hosts files: it
    /// describes where) is not given, as in dnsmasq. Returns the names not given, and why.
    pub fn set(
        &self,
        addr: Ipv4Addr,
        hostname: Option<&str>,
        elsewhere: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<Refused> {
        let mut added = false;
        if let Some((_, old)) = self.reverse.remove(&addr) {
            for name in old {
                self.forward.remove_if(&name, |_, a| *a == addr);
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let mut taken = Vec::new();
        if let Some(host) = hostname.filter(|h| !h.is_empty()) {
            let bare = host.trim_end_matches('.').to_ascii_lowercase();
            let mut names = Vec::with_capacity(2);
            match self.domains.for_addr(addr) {
                Some(d) if !bare.contains('.') => names.push(format!("{bare}.{d}")),
                _ => {}
            }
            if !self.fqdn_only || names.is_empty() {
                names.push(bare);
            }
            let mut held = Vec::with_capacity(names.len());
            for name in names {
                if let Some(there) = elsewhere(&name) {
                    taken.push(Refused::Elsewhere(name, there));
                    continue;
                }
                match self.forward.entry(name) {
                    dashmap::Entry::Occupied(e) if *e.get() != addr => {
                        taken.push(Refused::OtherLease(e.key().clone()))
                    }
                    dashmap::Entry::Occupied(e) => held.push(e.key().clone()),
                    dashmap::Entry::Vacant(e) => {
                        held.push(e.key().clone());
                        e.insert(addr);
                        self.count.fetch_add(1, Ordering::Relaxed);
                        added = true;
                    }
                }
            }
            if !held.is_empty() {
                self.reverse.insert(addr, held);
            }
        }
        if added {
            self.generation.fetch_add(1, Ordering::Release);
        }
        taken
    }

    /// The address `name` (lower case, no final dot) answers with.
    pub fn address(&self, name: &str) -> Option<Ipv4Addr> {
        self.forward.get(name).map(|a| *a)
    }

    /// The name a PTR query for `addr` gets.
    pub fn name_of(&self, addr: Ipv4Addr) -> Option<String> {
        self.reverse.get(&addr).and_then(|n| n.first().cloned())
    }

    /// Whether no lease has a name (the shards skip the map then).
    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    /// A number that changes whenever a name is added.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No other source has any name.
    fn nowhere(_: &str) -> Option<String> {
        None
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn a_lease_name_answers_bare_and_qualified_and_goes_with_the_lease() {
        let names = LeaseNames::new(Domains::plain(Some("Lan")), false, 0);
        let before = names.generation();
        assert!(names
            .set(ip("10.0.0.5"), Some("Laptop"), &nowhere)
            .is_empty());
        assert_eq!(names.address("laptop"), Some(ip("10.0.0.5")));
        assert_eq!(names.address("laptop.lan"), Some(ip("10.0.0.5")));
        assert_eq!(names.name_of(ip("10.0.0.5")).as_deref(), Some("laptop.lan"));
        assert_ne!(names.generation(), before);
        let before = names.generation();
        names.set(ip("10.0.0.5"), None, &nowhere);
        assert_eq!(names.generation(), before);
        assert_eq!(names.address("laptop"), None);
        assert_eq!(names.name_of(ip("10.0.0.5")), None);
        assert!(names.is_empty());
    }

    #[test]
    fn with_dhcp_fqdn_only_the_qualified_name_answers() {
        let names = LeaseNames::new(Domains::plain(Some("lan")), true, 0);
        names.set(ip("10.0.0.5"), Some("laptop"), &nowhere);
        assert_eq!(names.address("laptop"), None);
        assert_eq!(names.address("laptop.lan"), Some(ip("10.0.0.5")));
    }

    #[test]
    fn a_domain_for_a_range_or_subnet_qualifies_its_addresses_only() {
        let config = Config::from_text(
            "domain=lan\ndomain=lab.lan,10.0.1.0/24\ndomain=guest.lan,10.0.2.10,10.0.2.20\n",
        )
        .unwrap();
        let names = LeaseNames::new(Domains::from_config(&config), false, 0);
        names.set(ip("10.0.1.7"), Some("scope"), &nowhere);
        names.set(ip("10.0.2.15"), Some("visitor"), &nowhere);
        names.set(ip("10.0.2.30"), Some("desk"), &nowhere);
        assert_eq!(names.address("scope.lab.lan"), Some(ip("10.0.1.7")));
        assert_eq!(names.address("visitor.guest.lan"), Some(ip("10.0.2.15")));
        assert_eq!(names.address("desk.lan"), Some(ip("10.0.2.30")));
        assert_eq!(names.address("desk.guest.lan"), None);
    }

    #[test]
    fn a_name_another_source_gives_another_address_is_not_given() {
        let names = LeaseNames::new(Domains::plain(Some("lan")), false, 0);
        let hosts =
            |n: &str| (n == "nas.lan").then(|| "/etc/hosts with address 10.0.0.9".to_string());
        assert_eq!(
            names.set(ip("10.0.0.5"), Some("nas"), &hosts),
            vec![Refused::Elsewhere(
                "nas.lan".into(),
                "/etc/hosts with address 10.0.0.9".into()
            )]
        );
        assert_eq!(names.address("nas.lan"), None);
        assert_eq!(names.address("nas"), Some(ip("10.0.0.5")));
    }

    #[test]
    fn the_first_lease_keeps_a_name_another_asks_for() {
        let names = LeaseNames::new(Domains::default(), false, 0);
        names.set(ip("10.0.0.5"), Some("printer"), &nowhere);
        assert_eq!(
            names.set(ip("10.0.0.6"), Some("printer"), &nowhere),
            vec![Refused::OtherLease("printer".to_string())]
        );
        assert_eq!(names.address("printer"), Some(ip("10.0.0.5")));
        assert_eq!(names.name_of(ip("10.0.0.6")), None);
        // When the first lease ends the name is free for a later one.
        names.set(ip("10.0.0.5"), None, &nowhere);
        assert!(names
            .set(ip("10.0.0.6"), Some("printer"), &nowhere)
            .is_empty());
        assert_eq!(names.address("printer"), Some(ip("10.0.0.6")));
    }

    #[test]
    fn a_renamed_lease_loses_its_old_name() {
        let names = LeaseNames::new(Domains::default(), false, 0);
        names.set(ip("10.0.0.5"), Some("old"), &nowhere);
        names.set(ip("10.0.0.5"), Some("new"), &nowhere);
        assert_eq!(names.address("old"), None);
        assert_eq!(names.address("new"), Some(ip("10.0.0.5")));
    }

    #[test]
    fn a_domain_for_an_interface_covers_its_subnets() {
        let config = Config::from_text("domain=lan\ndomain=wifi.lan,lo\n").unwrap();
        let mut d = Domains::from_config(&config);
        d.add_interface_subnets(|name| match name {
            "lo" => vec![(Ipv4Addr::new(10, 3, 0, 1), 24)],
            _ => vec![],
        });
        assert_eq!(d.for_addr(Ipv4Addr::new(10, 3, 0, 77)), Some("wifi.lan"));
        assert_eq!(d.for_addr(Ipv4Addr::new(10, 4, 0, 77)), Some("lan"));
    }
}
