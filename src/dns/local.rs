//! The immutable snapshot of local DNS data a shard answers from: hosts-file names, records
//! from the configuration (`host-record`, `cname`, `mx-host`, `srv-host`, `txt-record`,
//! `ptr-record`, `naptr-record`, `caa-record`, `dns-rr`), domain rules (`server=/d/`,
//! `local=/d/`, `address=/d/`) and the default upstream servers. Built off the answer
//! path; a reload builds a new one and hands it to each shard.

use super::hosts::HostsTable;
use super::name_table::Key;
use crate::config::domain_rules::{Listed, ListedCount};
use crate::config::parse::{ServerTarget, Value};
use crate::config::Config;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Where an address of a name came from; dnsmasq logs it and treats them alike otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A hosts file (`/etc/hosts`, `--addn-hosts`), by index into `LocalData::files`.
    Hosts(u32),
    /// `--host-record` and other configuration.
    Config,
}

/// One address of a name, with its TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalAddr {
    pub addr: IpAddr,
    pub ttl_secs: u32,
    pub source: Source,
}

/// Records of one type from the configuration, kept as hickory rdata.
pub type ConfigRecords = Vec<hickory_proto::rr::RData>;

/// Everything local about one name.
#[derive(Clone, Debug, Default)]
pub struct NameData {
    pub addrs: Vec<LocalAddr>,
    /// `--cname`: target and TTL.
    pub cname: Option<(String, u32)>,
    /// MX, SRV, TXT, PTR, NAPTR, CAA and `dns-rr` records, by type.
    pub records: Vec<(u16, hickory_proto::rr::RData)>,
    /// Whether the name exists for other query types (answered NODATA rather than
    /// forwarded), as dnsmasq treats names given by configuration records. `caa-record`,
    /// `dns-rr` and hosts names do not count.
    pub claims_name: bool,
}

pub use crate::config::domain_rules::{DomainRule, DomainRules, RuleTarget};

/// Local data for answering.
#[derive(Clone, Debug, Default)]
pub struct LocalData {
    /// Tells snapshots apart: each one built gets a new number (`next_generation`).
    pub generation: u64,
    /// Hosts-file names and addresses (millions of them, kept compactly).
    pub hosts: HostsTable,
    /// Lower-case name without trailing dot -> its data from the configuration.
    pub names: HashMap<String, NameData>,
    /// Address -> canonical name, TTL and origin, for PTR answers from the configuration
    /// (these come before the hosts files' own).
    pub reverse: HashMap<IpAddr, (String, u32, Source)>,
    /// The configuration's domain rules (shared by every snapshot: reloads do not reread
    /// the configuration). Looked up label by label, so the cost is the name's label
    /// count whatever the number of rules.
    pub config_rules: Arc<DomainRules>,
    /// Rules read after those (`--servers-file`, `--rev-server`), looked up first.
    pub later_rules: DomainRules,
    pub upstreams: Arc<[SocketAddr]>,
    /// Every upstream server configured or read, once each in order (for `servers.bind`).
    pub listed_servers: Vec<SocketAddr>,
    /// Where queries to a server leave from (`server=ip@source` or `ip@interface`); the
    /// first binding given for an address holds.
    pub send_from: HashMap<SocketAddr, SendFrom>,
    /// `--selfmx` or `--localmx`.
    pub local_mx: Option<LocalMx>,
    /// `--synth-domain` ranges.
    pub synth: Vec<super::synth::Synth>,
    /// `--interface-name`: name (lower case), interface, and family (4 or 6) if limited.
    pub interface_names: Vec<(String, String, Option<u8>)>,
    /// `--dynamic-host`: name (lower case), host parts, interface.
    pub dynamic_hosts: Vec<(String, Option<Ipv4Addr>, Option<Ipv6Addr>, String)>,
    /// Hosts files read, for log lines.
    pub files: Vec<String>,
    pub local_ttl_secs: u32,
    /// `--domain` (first, unqualified form) and `--expand-hosts`.
    pub domain: Option<String>,
    pub expand_hosts: bool,
}

/// A number no snapshot has had before.
pub fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl LocalData {
    /// Whether any `--interface-name` or `--dynamic-host` is configured.
    pub fn has_interface_names(&self) -> bool {
        !self.interface_names.is_empty() || !self.dynamic_hosts.is_empty()
    }

    /// The rule for the most specific domain containing `name`, if any.
    pub fn rule_for(&self, name: &str) -> Option<&DomainRule> {
        let (later, config) = (&self.later_rules, &*self.config_rules);
        if !name.contains('.') {
            if let Some(r) = later.dotless().or(config.dotless()) {
                return Some(r);
            }
        }
        if later.is_empty() && config.is_empty() {
            return None;
        }
        let mut rest = name;
        loop {
            // A name too long for any table may still end in a domain with a rule.
            if let Some(key) = Key::new(rest.as_bytes()) {
                if let Some(r) = later.get_key(&key).or_else(|| config.get_key(&key)) {
                    return Some(r);
                }
            }
            match rest.find('.') {
                Some(i) => rest = &rest[i + 1..],
                None => return later.get("").or_else(|| config.get("")),
            }
        }
    }

    /// Domain rules from configuration text (for tests of what they answer).
    #[cfg(test)]
    pub fn set_rules(&mut self, text: &str) {
        self.config_rules = Config::from_text(text).expect("rules").domain_rules;
    }

    /// Everything local about `name` (lower case, no trailing dot): its hosts-file
    /// addresses first, then what the configuration gives it.
    pub fn name(&self, name: &str) -> Option<Cow<'_, NameData>> {
        let config = self.names.get(name);
        let Some(hosts) = self.hosts.get(name) else {
            return config.map(Cow::Borrowed);
        };
        let ttl_secs = self.local_ttl_secs;
        let mut data = NameData {
            addrs: hosts
                .iter()
                .map(|(addr, file)| LocalAddr {
                    addr,
                    ttl_secs,
                    source: Source::Hosts(file),
                })
                .collect(),
            ..Default::default()
        };
        if let Some(c) = config {
            data.addrs.extend(c.addrs.iter().copied());
            data.cname.clone_from(&c.cname);
            data.records.clone_from(&c.records);
            data.claims_name = c.claims_name;
        }
        Some(Cow::Owned(data))
    }

    /// Whether `name` (lower case, no trailing dot) has any local data, without
    /// gathering it.
    pub fn has_name(&self, name: &str) -> bool {
        self.hosts.get(name).is_some() || self.names.contains_key(name)
    }

    /// The name a PTR query for `addr` gets, with its TTL and origin.
    pub fn reverse_name(&self, addr: IpAddr) -> Option<(Cow<'_, str>, u32, Source)> {
        if let Some((name, ttl_secs, source)) = self.reverse.get(&addr) {
            return Some((Cow::Borrowed(name), *ttl_secs, *source));
        }
        let (name, file) = self.hosts.reverse(addr)?;
        Some((Cow::Owned(name), self.local_ttl_secs, Source::Hosts(file)))
    }

    /// Hosts files given as text, numbered in order (for tests of what they answer).
    #[cfg(test)]
    pub fn set_hosts(&mut self, files: &[&str]) {
        let expand = self.domain.clone().filter(|_| self.expand_hosts);
        let mut b = super::hosts::HostsBuilder::new(expand);
        for (i, f) in files.iter().enumerate() {
            b.add_file(f.as_bytes(), i as u32);
        }
        self.hosts = b.finish();
    }

    /// Add the records the configuration defines. `hostname` is the default MX target.
    pub fn add_config_records(&mut self, config: &Config, hostname: &str) {
        use hickory_proto::rr::rdata::{MX, NAPTR, NULL, PTR, SRV, TXT};
        use hickory_proto::rr::RData;
        let ttl = self.local_ttl_secs;
        let name_of = |s: &str| hickory_proto::rr::Name::from_ascii(format!("{s}.")).ok();
        let mx_target = match config.text("mx-target") {
            Some(Some(t)) => t,
            _ => hostname.to_string(),
        };
        for v in config.values("host-record") {
            let Value::HostRecord {
                names,
                v4,
                v6,
                ttl_secs,
            } = v
            else {
                continue;
            };
            let ttl_secs = ttl_secs.unwrap_or(ttl);
            for (i, n) in names.iter().enumerate() {
                let n = n.to_ascii_lowercase();
                let entry = self.names.entry(n.clone()).or_default();
                entry.claims_name = true;
                for addr in v4.map(IpAddr::V4).into_iter().chain(v6.map(IpAddr::V6)) {
                    entry.addrs.push(LocalAddr {
                        addr,
                        ttl_secs,
                        source: Source::Config,
                    });
                    if i == 0 {
                        self.reverse
                            .insert(addr, (n.clone(), ttl_secs, Source::Config));
                    }
                }
            }
        }
        for v in config.values("cname") {
            let Value::Cname {
                aliases,
                target,
                ttl_secs,
            } = v
            else {
                continue;
            };
            for a in aliases {
                let entry = self.names.entry(a.to_ascii_lowercase()).or_default();
                entry.cname = Some((target.to_ascii_lowercase(), ttl_secs.unwrap_or(ttl)));
                entry.claims_name = true;
            }
        }
        let mut add = |name: &str, rtype: u16, rdata: Option<RData>, claims: bool| {
            if let Some(rdata) = rdata {
                let entry = self.names.entry(name.to_ascii_lowercase()).or_default();
                entry.records.push((rtype, rdata));
                entry.claims_name |= claims;
            }
        };
        use super::wire::rtype;
        for v in config.values("mx-host") {
            if let Value::Mx { name, target, pref } = v {
                let t = target.as_deref().unwrap_or(&mx_target);
                add(
                    name,
                    rtype::MX,
                    name_of(t).map(|t| RData::MX(MX::new(*pref, t))),
                    true,
                );
            }
        }
        for v in config.values("srv-host") {
            if let Value::Srv {
                name,
                target,
                port,
                priority,
                weight,
            } = v
            {
                let rdata = match target {
                    Some(t) => {
                        name_of(t).map(|t| RData::SRV(SRV::new(*priority, *weight, *port, t)))
                    }
                    None => None,
                };
                add(name, rtype::SRV, rdata, true);
            }
        }
        for v in config.values("txt-record") {
            if let Value::Txt { name, strings } = v {
                add(
                    name,
                    rtype::TXT,
                    Some(RData::TXT(TXT::new(strings.clone()))),
                    true,
                );
            }
        }
        for v in config.values("ptr-record") {
            if let Value::Ptr { name, target } = v {
                let rdata = target
                    .as_deref()
                    .and_then(name_of)
                    .map(|t| RData::PTR(PTR(t)));
                add(name, rtype::PTR, rdata, true);
            }
        }
        for v in config.values("naptr-record") {
            if let Value::Naptr {
                name,
                order,
                pref,
                flags,
                service,
                regexp,
                replacement,
            } = v
            {
                let replacement = match replacement {
                    Some(r) => name_of(r),
                    None => Some(hickory_proto::rr::Name::root()),
                };
                let rdata = replacement.map(|r| {
                    RData::NAPTR(NAPTR::new(
                        *order,
                        *pref,
                        flags.as_bytes().into(),
                        service.as_bytes().into(),
                        regexp.as_bytes().into(),
                        r,
                    ))
                });
                add(name, rtype::NAPTR, rdata, true);
            }
        }
        for v in config.values("caa-record") {
            if let Value::Caa {
                name,
                flags,
                tag,
                value,
            } = v
            {
                // Kept as raw rdata: dnsmasq sends the tag and value exactly as given.
                let rdata = Some(RData::Unknown {
                    code: hickory_proto::rr::RecordType::CAA,
                    rdata: NULL::with(caa_bytes(*flags, tag, value)),
                });
                add(name, rtype::CAA, rdata, false);
            }
        }
        for v in config.values("dns-rr") {
            if let Value::DnsRr {
                name,
                rr_type,
                data,
            } = v
            {
                let rdata = RData::Unknown {
                    code: hickory_proto::rr::RecordType::from(*rr_type),
                    rdata: if data.is_empty() {
                        NULL::new()
                    } else {
                        NULL::with(data.clone())
                    },
                };
                add(name, *rr_type, Some(rdata), false);
            }
        }
        self.interface_names = config
            .values("interface-name")
            .filter_map(|v| match v {
                Value::InterfaceName {
                    name,
                    interface,
                    family,
                } => Some((name.to_ascii_lowercase(), interface.clone(), *family)),
                _ => None,
            })
            .collect();
        self.dynamic_hosts = config
            .values("dynamic-host")
            .filter_map(|v| match v {
                Value::DynamicHost {
                    name,
                    v4,
                    v6,
                    interface,
                } => Some((name.to_ascii_lowercase(), *v4, *v6, interface.clone())),
                _ => None,
            })
            .collect();
        self.synth = config
            .values("synth-domain")
            .filter_map(|v| match v {
                Value::SynthDomain {
                    name,
                    start,
                    end,
                    prefix,
                } => Some(super::synth::Synth::new(
                    name,
                    *start,
                    *end,
                    prefix.as_deref(),
                )),
                _ => None,
            })
            .collect();
        // --selfmx / --localmx: answered for every name with addresses from hosts files
        // or --host-record that has no MX of its own (see `local_mx`).
        self.local_mx = if config.has("selfmx") {
            Some(LocalMx::ToItself)
        } else if config.has("localmx") {
            Some(LocalMx::To(mx_target.clone()))
        } else {
            None
        };
    }
}

/// CAA rdata in wire form (RFC 8659): flags, tag length, tag, value.
fn caa_bytes(flags: u8, tag: &str, value: &str) -> Vec<u8> {
    let mut b = vec![flags, tag.len() as u8];
    b.extend_from_slice(tag.as_bytes());
    b.extend_from_slice(value.as_bytes());
    b
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

/// The reverse-lookup zones covering `addr/prefix`, as dnsmasq makes them for
/// `--rev-server`: the prefix is rounded up to a whole label (8 bits for IPv4, a 4-bit
/// nibble for IPv6) and every zone of that length inside the subnet is listed.
pub fn reverse_zones(addr: IpAddr, prefix: u8) -> Vec<String> {
    let (bits, step, total, suffix) = match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 8u32, 32u32, "in-addr.arpa"),
        IpAddr::V6(a) => (u128::from(a), 4, 128, "ip6.arpa"),
    };
    let prefix = u32::from(prefix).min(total);
    let label_bits = prefix.div_ceil(step) * step;
    let network = bits & u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    let count = 1u128 << (label_bits - prefix);
    (0..count)
        .map(|k| {
            let zone = network | k.checked_shl(128 - label_bits).unwrap_or(0);
            let mut labels: Vec<String> = (0..label_bits / step)
                .map(|i| {
                    let v = (zone >> (128 - step * (i + 1))) & ((1 << step) - 1);
                    if step == 8 {
                        v.to_string()
                    } else {
                        format!("{v:x}")
                    }
                })
                .collect();
            labels.reverse();
            labels.push(suffix.to_string());
            labels.join(".")
        })
        .collect()
}

/// The MX every local machine gets (`--selfmx`, `--localmx`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalMx {
    /// To the machine itself.
    ToItself,
    /// To this host (`--mx-target`, else this machine's name).
    To(String),
}

/// Where queries to one upstream server leave from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendFrom {
    /// Source address, and port if not 0.
    pub source: Option<SocketAddr>,
    /// Interface (SO_BINDTODEVICE).
    pub interface: Option<String>,
}

/// The `@source` and `@interface` bindings of the servers in `values`.
pub fn send_from<'a>(values: impl IntoIterator<Item = &'a Value>) -> HashMap<SocketAddr, SendFrom> {
    let mut out = HashMap::new();
    for v in values {
        if let Value::Server {
            target:
                ServerTarget::Upstream {
                    addr,
                    source,
                    interface,
                },
            ..
        } = v
        {
            if source.is_some() || interface.is_some() {
                out.entry(*addr).or_insert_with(|| SendFrom {
                    source: *source,
                    interface: interface.clone(),
                });
            }
        }
    }
    out
}

/// What `server=`, `rev-server=`, `local=` and `address=` options (and servers-files) say.
#[derive(Debug, Default)]
pub struct ServerRules {
    /// Servers for every name.
    pub upstreams: Vec<SocketAddr>,
    /// Every server named, for names or for domains, once each in the order given.
    pub listed: Vec<SocketAddr>,
    /// What `--rev-server` lines and `--domain`'s `local` stand for: (option, value) of
    /// the `server=` and `local=` lines they imply, to be added after the rest.
    pub implied: Vec<(&'static str, Value)>,
}

/// The `local=` line a `--domain=<domain>,<subnet>,local` stands for, as dnsmasq reads
/// it: the domain and the subnet's reverse zones, answered here only.
fn domain_locals(value: &Value) -> Option<Value> {
    let Value::Domain {
        name: Some(name),
        range: Some((start, end)),
        local: true,
        ..
    } = value
    else {
        return None;
    };
    // The subnet's prefix: the bits its first and last address share.
    let host_bits = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (u32::from(*s) ^ u32::from(*e)).count_ones(),
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(*s) ^ u128::from(*e)).count_ones(),
        _ => return None,
    };
    let total = if start.is_ipv4() { 32 } else { 128 };
    // The zones, then the domain: the order dnsmasq adds them in.
    let mut domains: Vec<Option<String>> = reverse_zones(*start, (total - host_bits) as u8)
        .into_iter()
        .map(Some)
        .collect();
    domains.push(Some(name.clone()));
    Some(Value::Server {
        domains: Some(domains),
        target: ServerTarget::Local,
    })
}

/// --rev-server is --server for the reverse zones of a subnet: the `server=` value a
/// `--rev-server` value stands for.
fn rev_server_as_server(value: &Value) -> Option<Value> {
    let Value::RevServer {
        addr,
        prefix_len,
        target,
    } = value
    else {
        return None;
    };
    Some(Value::Server {
        domains: Some(
            reverse_zones(*addr, *prefix_len)
                .into_iter()
                .map(Some)
                .collect(),
        ),
        target: target.clone(),
    })
}

/// The `server=` lines of the configuration, `--rev-server`'s as the lines they stand
/// for, in the order given, then `extra`'s (a servers file's entries).
pub fn server_lines<'a>(
    config: &'a Config,
    extra: impl IntoIterator<Item = &'a Value> + 'a,
) -> impl Iterator<Item = Cow<'a, Value>> + 'a {
    let (server, rev) = (
        crate::config::options::id("server"),
        crate::config::options::id("rev-server"),
    );
    config
        .entries
        .iter()
        .filter(move |e| e.id == server || e.id == rev)
        .map(|e| &e.value)
        .chain(extra)
        .filter_map(|v| match v {
            Value::RevServer { .. } => rev_server_as_server(v).map(Cow::Owned),
            Value::Server { .. } => Some(Cow::Borrowed(v)),
            _ => None,
        })
}

/// The upstream servers the configuration and `extra` (a servers file's entries) name.
pub fn server_rules<'a>(
    config: &'a Config,
    extra: impl IntoIterator<Item = &'a Value> + Clone,
) -> ServerRules {
    let mut upstreams = Vec::new();
    let mut listed = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut implied: Vec<(&'static str, Value)> = config
        .values("rev-server")
        .chain(extra.clone())
        .filter_map(rev_server_as_server)
        .map(|v| ("server", v))
        .collect();
    implied.extend(
        config
            .values("domain")
            .filter_map(domain_locals)
            .map(|v| ("local", v)),
    );
    let given: Vec<&Value> = config.values("server").chain(extra).collect();
    for v in given.into_iter().chain(implied.iter().map(|(_, v)| v)) {
        let Value::Server {
            domains,
            target: ServerTarget::Upstream { addr, .. },
        } = v
        else {
            continue;
        };
        if seen.insert(*addr) {
            listed.push(*addr);
        }
        if domains.is_none() {
            upstreams.push(*addr);
        }
    }
    ServerRules {
        upstreams,
        listed,
        implied,
    }
}

/// Upstream servers named at start, as dnsmasq names them.
const SERVERS_LOGGED: usize = 30;

/// Domains answered here only named at start; the rest are counted.
const LOCALS_LOGGED: usize = 8;

/// The lines dnsmasq logs of one `server=` value naming an upstream server: one, or one
/// per domain.
fn upstream_log_lines(value: &Value) -> Vec<String> {
    let Value::Server {
        domains,
        target: ServerTarget::Upstream {
            addr, interface, ..
        },
    } = value
    else {
        return Vec::new();
    };
    let at = format!("{}#{}", addr.ip(), addr.port());
    match (domains, interface) {
        (None, Some(i)) => vec![format!("using nameserver {at}(via {i})")],
        (None, None) => vec![format!("using nameserver {at}")],
        (Some(domains), _) => domains
            .iter()
            .map(|d| match d {
                Some(d) => format!("using nameserver {at} for domain {d} "),
                None => format!("using nameserver {at} for unqualified names "),
            })
            .collect(),
    }
}

/// The lines dnsmasq logs of its servers once it has read them: each upstream server
/// `lines` names (`server=` values and what `--rev-server` implies, in order, then the
/// resolv file's `resolved` servers), then each domain rule of `rules` (the last given
/// first), with dnsmasq's limits and its counts of the rest. `no_resolv`: no resolv
/// file is read, so a configuration without servers is warned of.
pub fn server_log_lines<'a>(
    lines: impl IntoIterator<Item = Cow<'a, Value>>,
    resolved: &[SocketAddr],
    rules: &[&DomainRules],
    no_resolv: bool,
) -> Vec<String> {
    // Only as many as are named, and one more to know there are more: a million
    // `server=` lines are not formatted.
    let servers: Vec<String> = lines
        .into_iter()
        .flat_map(|v| upstream_log_lines(&v))
        .chain(
            resolved
                .iter()
                .map(|a| format!("using nameserver {}#{}", a.ip(), a.port())),
        )
        .take(SERVERS_LOGGED + 1)
        .collect();
    let mut out = Vec::new();
    if servers.is_empty() && no_resolv {
        out.push("warning: no upstream servers configured".to_string());
    }
    let more = servers.len() > SERVERS_LOGGED;
    out.extend(servers.into_iter().take(SERVERS_LOGGED));
    if more {
        out.push("more servers are defined but not logged".to_string());
    }
    let mut tally = RuleTally::default();
    for rules in rules {
        tally.walk(rules, &mut out);
    }
    let RuleTally { count, locals } = tally;
    if locals > LOCALS_LOGGED {
        out.push(format!(
            "using {} more local addresses",
            locals - LOCALS_LOGGED
        ));
    }
    if count.saturating_sub(1) > SERVERS_LOGGED {
        out.push(format!(
            "using {} more nameservers",
            count - SERVERS_LOGGED - 1
        ));
    }
    out
}

/// dnsmasq's count of the domain rules it lists at start, its off-by-one included: a
/// domain answered here only is counted apart while fewer than SERVERS_LOGGED others
/// have been. Past that, every rule is only counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RuleTally {
    count: usize,
    locals: usize,
}

impl RuleTally {
    /// Go on with `rules` (listed the last given first), adding to `out` the lines that
    /// name a domain. Where the rest can only be counted, it is counted from
    /// `listed_count` rather than walked.
    fn walk(&mut self, rules: &DomainRules, out: &mut Vec<String>) {
        let mut seen = ListedCount::default();
        for (at, kind) in rules.listed_last() {
            seen.add(kind, 1);
            self.step(rules, at, kind, out);
        }
        let all = rules.listed_count();
        let rest = ListedCount {
            local_only: all.local_only - seen.local_only,
            other: all.other - seen.other,
        };
        // Nothing is left where the last domains were all of them.
        if self.count > SERVERS_LOGGED {
            // All the rest is counted.
            self.count += rest.local_only + rest.other;
        } else if rest.other == 0 && (self.locals >= LOCALS_LOGGED || rest.local_only == 0) {
            // Only local domains are left, none of them named.
            self.locals += rest.local_only;
        } else {
            for (at, kind) in rules.listed_rest() {
                self.step(rules, at, kind, out);
            }
        }
    }

    fn step(&mut self, rules: &DomainRules, at: u32, kind: Listed, out: &mut Vec<String>) {
        // A rule for subdomains only (`/*.d/`) shows as `.d`.
        let shown = |domain: String| match domain.strip_prefix('*') {
            Some(rest) => rest.to_string(),
            None => domain,
        };
        self.count += 1;
        if self.count > SERVERS_LOGGED {
            return;
        }
        match kind {
            Listed::LocalOnly => {
                self.count -= 1;
                self.locals += 1;
                if self.locals <= LOCALS_LOGGED {
                    out.push(format!(
                        "using only locally-known addresses for {}",
                        shown(rules.domain_at(at))
                    ));
                }
            }
            Listed::Standard => out.push(format!(
                "using standard nameservers for {}",
                shown(rules.domain_at(at))
            )),
            Listed::Address => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{DomainRules, RuleTally};

    /// Rules of `count` domains, each line local (`weight` in 10) or not; some domains
    /// given twice, so their rule changes after it is first listed.
    fn rule_text(count: usize, local_weight: u64, seed: u64) -> String {
        let mut state = seed;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let mut text = String::new();
        for i in 0..count {
            let d = match next(8) {
                0 if i > 0 => next(i as u64) as usize,
                _ => i,
            };
            let line = match (next(10) < local_weight, next(3)) {
                (true, 0) => format!("local=/d{d}.test/"),
                (true, 1) => format!("address=/d{d}.test/"),
                (true, _) => format!("server=/d{d}.test/"),
                (false, 0) => format!("server=/d{d}.test/#"),
                (false, 1) => format!("address=/d{d}.test/10.0.0.1"),
                (false, _) => format!("address=/d{d}.test/#"),
            };
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    fn rules(text: &str) -> std::sync::Arc<DomainRules> {
        crate::config::Config::from_text(text)
            .expect("config")
            .domain_rules
    }

    /// dnsmasq's listing, walked domain by domain.
    fn walked(tables: &[&DomainRules]) -> (RuleTally, Vec<String>) {
        let (mut tally, mut out) = (RuleTally::default(), Vec::new());
        for rules in tables {
            for (at, kind) in rules.listed() {
                tally.step(rules, at, kind, &mut out);
            }
        }
        (tally, out)
    }

    #[test]
    fn rule_listing_counted_without_a_walk_is_the_walk() {
        for count in [0, 1, 9, 31, 40, 63, 64, 65, 70, 100, 300] {
            for local_weight in [0, 3, 8, 9, 10] {
                for seed in 0..4 {
                    let a = rules(&rule_text(count, local_weight, seed));
                    let b = rules(&rule_text(count / 2, 10 - local_weight, seed + 7));
                    let tables = [&*a, &*b];
                    let (mut tally, mut out) = (RuleTally::default(), Vec::new());
                    for rules in tables {
                        tally.walk(rules, &mut out);
                    }
                    let what = format!("{count} domains, {local_weight} in 10 local, seed {seed}");
                    assert_eq!((tally, out), walked(&tables), "{what}");
                }
            }
        }
    }

    #[test]
    fn reverse_zones_round_up_to_whole_labels() {
        let z = |a: &str, p| super::reverse_zones(a.parse().unwrap(), p);
        assert_eq!(z("192.168.7.9", 16), ["168.192.in-addr.arpa"]);
        let twenty = z("10.0.0.0", 20);
        assert_eq!(twenty.len(), 16);
        assert_eq!(twenty[0], "0.0.10.in-addr.arpa");
        assert_eq!(twenty[15], "15.0.10.in-addr.arpa");
        assert_eq!(z("1.2.3.4", 32), ["4.3.2.1.in-addr.arpa"]);
        assert_eq!(z("1.2.3.4", 0), ["in-addr.arpa"]);
        assert_eq!(
            z("fd00::", 14),
            [
                "0.0.d.f.ip6.arpa",
                "1.0.d.f.ip6.arpa",
                "2.0.d.f.ip6.arpa",
                "3.0.d.f.ip6.arpa"
            ]
        );
    }

    use super::*;

    fn rule(target: RuleTarget) -> DomainRule {
        DomainRule {
            target: Some(target),
            ..Default::default()
        }
    }

    #[test]
    fn most_specific_domain_rule_wins() {
        let mut d = LocalData::default();
        d.set_rules("local=/example.com/\nserver=/a.example.com/#\n");
        assert_eq!(
            d.rule_for("x.a.example.com"),
            Some(&rule(RuleTarget::Default))
        );
        assert_eq!(d.rule_for("b.example.com"), Some(&rule(RuleTarget::Local)));
        assert_eq!(d.rule_for("example.org"), None);
        d.set_rules("local=/example.com/\nserver=/#/\n");
        assert_eq!(d.rule_for("example.org"), Some(&rule(RuleTarget::Local)));
    }

    #[test]
    fn resolv_conf_nameservers_are_read() {
        let s = resolv_servers(
            "# x\nsearch lan\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\nnameserver bad\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], "10.0.0.1:53".parse().unwrap());
    }

    #[test]
    fn a_name_gets_hosts_addresses_then_configured_ones() {
        let mut d = LocalData {
            local_ttl_secs: 9,
            ..Default::default()
        };
        d.set_hosts(&["10.0.0.1 both only-hosts\n"]);
        d.names
            .entry("both".into())
            .or_default()
            .addrs
            .push(LocalAddr {
                addr: "10.0.0.2".parse().unwrap(),
                ttl_secs: 30,
                source: Source::Config,
            });
        let both: Vec<_> = d
            .name("both")
            .unwrap()
            .addrs
            .iter()
            .map(|a| (a.addr.to_string(), a.ttl_secs))
            .collect();
        assert_eq!(
            both,
            [("10.0.0.1".to_string(), 9), ("10.0.0.2".to_string(), 30)]
        );
        assert_eq!(d.name("only-hosts").unwrap().addrs.len(), 1);
        assert!(d.name("neither").is_none());
        assert_eq!(
            d.reverse_name("10.0.0.1".parse().unwrap()),
            Some(("both".into(), 9, Source::Hosts(0)))
        );
    }
}
