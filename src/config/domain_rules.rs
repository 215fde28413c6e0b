//! Domain rules as read (`server=/d/...`, `local=/d/`, `address=/d/...`, and the
//! `server=` lines of a `--servers-file`): for each domain, what its lines said, combined as
//! dnsmasq combines them, kept compactly because a block list gives a million of them. A
//! `NameTable` maps each domain to one of the few distinct rules such lists hold.

use super::parse::{AddressAnswer, ServerTarget, Value};
use crate::dns::name_table::{self, NameTable};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Most domains one table takes, so a hostile file cannot exhaust memory.
pub const MAX_RULE_DOMAINS: usize = 50_000_000;

/// What to do with names under a domain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DomainRule {
    /// `address=/d/1.2.3.4` (or `#`, which is 0.0.0.0 and ::).
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
    pub target: Option<RuleTarget>,
}

/// Where queries under a domain go when no address rule answers them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RuleTarget {
    /// `local=/d/` or `server=/d/`: answered locally; unknown names are NXDOMAIN.
    Local,
    /// `address=/d/`: NXDOMAIN for every name and type.
    NxDomain,
    /// `server=/d/ip`: these servers.
    Servers(Arc<[SocketAddr]>),
    /// `server=/d/#`: the default servers.
    Default,
}

/// Whether a `server`, `local` or `address` value is a rule for domains.
pub fn for_domains(value: &Value) -> bool {
    matches!(
        value,
        Value::Server {
            domains: Some(_),
            ..
        } | Value::Address { .. }
    )
}

/// What one source's lines for a domain said. Kinds combine whatever their order, as in
/// dnsmasq: `address=/d/` (NXDOMAIN) over `local=/d/` over `server=` lines; `server=`
/// lines among themselves and address lines among themselves in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Lines {
    /// The `server=` lines: a local or `#` line replaces what came before, an upstream
    /// address adds to the addresses before it.
    server: Option<RuleTarget>,
    /// No `server=` line replaced earlier ones: this source's addresses add to those of
    /// the sources read before it.
    adds: bool,
    local: bool,
    nxdomain: bool,
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
}

impl Lines {
    fn apply(&mut self, action: &Action) {
        match action {
            Action::Local => self.local = true,
            Action::Server(target) => {
                let (next, adds) = match (target, self.server.take()) {
                    (ServerTarget::Local, _) => (RuleTarget::Local, false),
                    (ServerTarget::Resolv, _) => (RuleTarget::Default, false),
                    (ServerTarget::Upstream { addr, .. }, Some(RuleTarget::Servers(s))) => (
                        RuleTarget::Servers(s.iter().copied().chain([*addr]).collect()),
                        self.adds,
                    ),
                    (ServerTarget::Upstream { addr, .. }, None) => {
                        (RuleTarget::Servers(Arc::from([*addr])), true)
                    }
                    (ServerTarget::Upstream { addr, .. }, Some(_)) => {
                        (RuleTarget::Servers(Arc::from([*addr])), false)
                    }
                };
                self.server = Some(next);
                self.adds = adds;
            }
            Action::Address(answer) => match answer {
                AddressAnswer::NxDomain => self.nxdomain = true,
                AddressAnswer::Null => {
                    self.v4 = Some(Ipv4Addr::UNSPECIFIED);
                    self.v6 = Some(Ipv6Addr::UNSPECIFIED);
                }
                AddressAnswer::Addr(IpAddr::V4(a)) => self.v4 = Some(*a),
                AddressAnswer::Addr(IpAddr::V6(a)) => self.v6 = Some(*a),
            },
        }
    }

    /// The rule these lines give, read after `before` (an earlier source's rule for the
    /// same domain, if any).
    fn rule(&self, before: Option<&DomainRule>) -> DomainRule {
        let server = match (&self.server, before.and_then(|b| b.target.as_ref())) {
            (Some(RuleTarget::Servers(mine)), Some(RuleTarget::Servers(theirs))) if self.adds => {
                Some(RuleTarget::Servers(
                    theirs.iter().chain(mine.iter()).copied().collect(),
                ))
            }
            (Some(t), _) => Some(t.clone()),
            (None, earlier) => earlier.cloned(),
        };
        let target = if self.nxdomain {
            Some(RuleTarget::NxDomain)
        } else if self.local {
            Some(RuleTarget::Local)
        } else {
            server
        };
        DomainRule {
            v4: self.v4.or(before.and_then(|b| b.v4)),
            v6: self.v6.or(before.and_then(|b| b.v6)),
            target,
        }
    }
}

/// Domain rules by lower-case domain ("" for every name), and the rule for names
/// without a dot (`//`).
#[derive(Clone, Debug, Default)]
pub struct DomainRules {
    names: NameTable,
    /// Distinct rules; each domain's value indexes one.
    rules: Vec<DomainRule>,
    /// The lines each rule came from (empty for rules merged by `over`).
    lines: Vec<Lines>,
    dotless: Option<(DomainRule, Lines)>,
    /// Domains left out: there were more than `MAX_RULE_DOMAINS`.
    pub dropped: usize,
}

impl DomainRules {
    /// The rule given for exactly `domain` (lower case, no trailing dot).
    pub fn get(&self, domain: &str) -> Option<&DomainRule> {
        self.names
            .get(domain.as_bytes())
            .map(|i| &self.rules[i as usize])
    }

    /// The rule for names without a dot.
    pub fn dotless(&self) -> Option<&DomainRule> {
        self.dotless.as_ref().map(|(r, _)| r)
    }

    /// Domains with a rule.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.dotless.is_none()
    }

    /// The rules of these lines' domains when they are read after `earlier` (a servers
    /// file after the configuration): look here first, then in `earlier`.
    pub fn over(&self, earlier: &DomainRules) -> DomainRules {
        let mut names = NameTable::default();
        names.reserve(self.names.len(), 0);
        let mut rules = Vec::new();
        let mut ids: HashMap<DomainRule, u32> = HashMap::new();
        for at in self.names.records() {
            let domain = self.names.name_at(at);
            let lines = &self.lines[self.names.value_at(at) as usize];
            let rule = lines.rule(earlier.get(domain));
            let next = rules.len() as u32;
            let id = *ids.entry(rule.clone()).or_insert(next);
            if id == next {
                rules.push(rule);
            }
            let bytes = domain.as_bytes();
            // Domains come from a table within the same limits: none is refused.
            let _ = names.find_or_insert(bytes, name_table::hash(bytes), id);
        }
        names.shrink();
        DomainRules {
            names,
            rules,
            lines: Vec::new(),
            dotless: self.dotless.as_ref().map(|(_, lines)| {
                let rule = lines.rule(earlier.dotless());
                (rule, lines.clone())
            }),
            dropped: self.dropped,
        }
    }
}

/// Whether `d` is a domain the general reader takes as it is: lower-case letters, digits
/// and hyphens in labels of 1 to 63, joined by dots.
fn plain_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Transitions `Builder` remembers.
const MAX_RECENT: usize = 8;

/// What a rule line does, whatever its domains.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    /// `local=/d/`.
    Local,
    /// `server=/d/...`.
    Server(ServerTarget),
    /// `address=/d/...`.
    Address(AddressAnswer),
}

/// Builds `DomainRules` from rule lines in the order read.
#[derive(Default)]
pub struct Builder {
    names: NameTable,
    /// Distinct `Lines` values, each domain's value indexing one.
    lines: Vec<Lines>,
    ids: HashMap<Lines, u32>,
    dotless: Option<Lines>,
    /// Recent transitions (lines before, the value's action, lines after): a block list
    /// gives the same few over and over, and this spares hashing `Lines` for each.
    recent: Vec<(u32, Action, u32)>,
    /// Values added.
    values: usize,
    /// Domains left out: the table was full.
    pub dropped: usize,
}

impl Builder {
    /// Make room for about `domains` more domains of `bytes` name bytes in all.
    pub fn reserve(&mut self, domains: usize, bytes: usize) {
        self.names.reserve(domains, bytes);
    }

    /// Take a rule line of the plainest shape straight into the table, as the general
    /// reader would take it but without building its value: one of `options` (of
    /// `address`, `local` and `server`), one lower-case domain of letters, digits,
    /// hyphens and inner dots, and after it nothing, `#` or (for `address`) an address.
    /// False for any other line, which is left to the general reader. Block lists are
    /// written this way, a million lines at a time.
    pub fn add_plain_line(&mut self, raw: &str, options: &[&str]) -> bool {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let Some((option, arg)) = raw.split_once('=') else {
            return false;
        };
        if !options.contains(&option) {
            return false;
        }
        let Some((domain, rest)) = arg.strip_prefix('/').and_then(|a| a.split_once('/')) else {
            return false;
        };
        if !plain_domain(domain) {
            return false;
        }
        let action = match (option, rest) {
            ("local", "") => Action::Local,
            ("server", "") => Action::Server(ServerTarget::Local),
            ("server", "#") => Action::Server(ServerTarget::Resolv),
            ("address", "") => Action::Address(AddressAnswer::NxDomain),
            ("address", "#") => Action::Address(AddressAnswer::Null),
            ("address", addr)
                if addr
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':') =>
            {
                match addr.parse::<IpAddr>() {
                    Ok(a) => Action::Address(AddressAnswer::Addr(a)),
                    Err(_) => return false,
                }
            }
            _ => return false,
        };
        self.values += 1;
        self.apply(domain, &action);
        true
    }

    /// How many values were added (lines read).
    pub fn lines_read(&self) -> usize {
        self.values
    }

    /// Apply a value of the `server`, `local` or `address` option (`option`) to each of
    /// its domains.
    pub fn add(&mut self, option: &str, value: &Value) {
        self.values += 1;
        let (domains, action) = match value {
            Value::Server {
                domains: Some(d), ..
            } if option == "local" => (d, Action::Local),
            Value::Server {
                domains: Some(d),
                target,
            } => (d, Action::Server(target.clone())),
            Value::Address { domains, answer } => (domains, Action::Address(answer.clone())),
            _ => return,
        };
        for d in domains {
            match d {
                None => self
                    .dotless
                    .get_or_insert_with(Lines::default)
                    .apply(&action),
                Some(d) => self.apply(&d.to_ascii_lowercase(), &action),
            }
        }
    }

    fn apply(&mut self, domain: &str, action: &Action) {
        let bytes = domain.as_bytes();
        if self.names.len() >= MAX_RULE_DOMAINS {
            self.dropped += 1;
            return;
        }
        if self.lines.is_empty() {
            self.intern(Lines::default());
        }
        // Id 0 is the empty `Lines`, which a new domain starts from.
        let at = match self.names.find_or_insert(bytes, name_table::hash(bytes), 0) {
            Ok(Ok(at)) | Ok(Err(at)) => at,
            Err(_) => {
                self.dropped += 1;
                return;
            }
        };
        let before = self.names.value_at(at);
        let known = self
            .recent
            .iter()
            .find(|(b, a, _)| *b == before && a == action);
        let id = match known {
            Some(&(_, _, after)) => after,
            None => {
                let mut lines = self.lines[before as usize].clone();
                lines.apply(action);
                let after = self.intern(lines);
                if self.recent.len() == MAX_RECENT {
                    self.recent.remove(0);
                }
                self.recent.push((before, action.clone(), after));
                after
            }
        };
        self.names.set_value(at, id);
    }

    fn intern(&mut self, lines: Lines) -> u32 {
        if let Some(&id) = self.ids.get(&lines) {
            return id;
        }
        let id = self.lines.len() as u32;
        self.lines.push(lines.clone());
        self.ids.insert(lines, id);
        id
    }

    /// The rules the lines added give.
    pub fn finish(self) -> DomainRules {
        let mut names = self.names;
        names.shrink();
        DomainRules {
            names,
            rules: self.lines.iter().map(|l| l.rule(None)).collect(),
            lines: self.lines,
            dotless: self.dotless.map(|l| (l.rule(None), l)),
            dropped: self.dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn rules(text: &str) -> Arc<DomainRules> {
        Config::from_text(text).expect("config").domain_rules
    }

    fn servers(list: &[&str]) -> Option<RuleTarget> {
        let addrs: Vec<SocketAddr> = list.iter().map(|a| a.parse().unwrap()).collect();
        Some(RuleTarget::Servers(addrs.into()))
    }

    #[test]
    fn address_beats_local_beats_server_in_any_order() {
        let r = rules(
            "address=/a.test/\nserver=/a.test/10.0.0.1\n\
             local=/b.test/\nserver=/b.test/10.0.0.1\n\
             server=/c.test/10.0.0.1\nlocal=/c.test/\n\
             server=/d.test/10.0.0.1\naddress=/d.test/192.0.2.1\n",
        );
        assert_eq!(r.get("a.test").unwrap().target, Some(RuleTarget::NxDomain));
        assert_eq!(r.get("b.test").unwrap().target, Some(RuleTarget::Local));
        assert_eq!(r.get("c.test").unwrap().target, Some(RuleTarget::Local));
        let d = r.get("d.test").unwrap();
        assert_eq!(d.v4, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(d.target, servers(&["10.0.0.1:53"]));
    }

    #[test]
    fn server_lines_add_addresses_until_one_replaces_them() {
        let r = rules(
            "server=/a.test/10.0.0.1\nserver=/a.test/10.0.0.2\n\
             server=/b.test/10.0.0.1\nserver=/b.test/#\n\
             server=/c.test/#\nserver=/c.test/10.0.0.3\n\
             address=/e.test/#\naddress=/e.test/::5\n",
        );
        assert_eq!(
            r.get("a.test").unwrap().target,
            servers(&["10.0.0.1:53", "10.0.0.2:53"])
        );
        assert_eq!(r.get("b.test").unwrap().target, Some(RuleTarget::Default));
        assert_eq!(r.get("c.test").unwrap().target, servers(&["10.0.0.3:53"]));
        let e = r.get("e.test").unwrap();
        assert_eq!(e.v4, Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(e.v6, Some("::5".parse().unwrap()));
        assert_eq!(
            r.get("x.a.test"),
            None,
            "only the domain itself: lookups walk the labels"
        );
    }

    #[test]
    fn several_domains_a_dotless_rule_and_every_name() {
        let r = rules("address=/one.test/two.test/0.0.0.0\nserver=//10.0.0.9\nlocal=/#/\n");
        assert_eq!(r.get("one.test"), r.get("two.test"));
        assert_eq!(r.dotless().unwrap().target, servers(&["10.0.0.9:53"]));
        assert_eq!(r.get("").unwrap().target, Some(RuleTarget::Local));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn plain_lines_read_as_the_general_reader_reads_them() {
        let lines = [
            "address=/ads.example.com/0.0.0.0",
            "address=/ads.example.com/::1",
            "address=/null.example/#",
            "address=/nx.example/",
            "local=/lan/",
            "server=/lan/10.0.0.1",
            "server=/home.example/",
            "server=/use-default.example/#",
            "address=/Mixed.Case.example/1.2.3.4",
            "address=/two.example/three.example/10.0.0.3",
            "server=/x-1.example/#\r",
            "address=/.lead.example/10.0.0.4",
        ];
        let fast = Config::from_text(&lines.join("\n"))
            .expect("config")
            .domain_rules;
        let mut general = Builder::default();
        for line in lines {
            let line = line.trim_end_matches('\r');
            let (option, arg) = line.split_once('=').unwrap();
            let spec = &crate::config::options::OPTIONS[crate::config::options::id(option)];
            general.add(
                option,
                &crate::config::parse::parse(spec, Some(arg)).unwrap(),
            );
        }
        let general = general.finish();
        assert_eq!(fast.len(), general.len());
        for d in [
            "ads.example.com",
            "null.example",
            "nx.example",
            "lan",
            "home.example",
            "use-default.example",
            "mixed.case.example",
            "two.example",
            "three.example",
            "x-1.example",
            "lead.example",
        ] {
            assert_eq!(fast.get(d), general.get(d), "{d}");
            assert!(fast.get(d).is_some(), "{d}");
        }
        assert!(Config::from_text("address=/bad.example/300.1.1.1").is_err());
    }

    #[test]
    fn later_rules_read_over_the_configuration() {
        let config = rules("server=/a.test/10.0.0.1\naddress=/b.test/\nlocal=/c.test/\n");
        let mut file = Builder::default();
        for line in ["/a.test/10.0.0.2", "/b.test/#", "/d.test/10.0.0.4"] {
            let spec = &crate::config::options::OPTIONS[crate::config::options::id("server")];
            file.add(
                "server",
                &crate::config::parse::parse(spec, Some(line)).unwrap(),
            );
        }
        let later = file.finish().over(&config);
        assert_eq!(
            later.get("a.test").unwrap().target,
            servers(&["10.0.0.1:53", "10.0.0.2:53"])
        );
        assert_eq!(
            later.get("b.test").unwrap().target,
            Some(RuleTarget::Default)
        );
        assert_eq!(
            later.get("c.test"),
            None,
            "not in the later lines: the configuration's"
        );
        assert_eq!(
            later.get("d.test").unwrap().target,
            servers(&["10.0.0.4:53"])
        );
    }
}
