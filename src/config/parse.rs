//! One parser per value kind: turns an option's argument into a typed `Value`, or an error
//! worded as dnsmasq words it (plus the detail of what exactly is wrong).

use super::error::ConfigError;
use super::lexer::unhide;
use super::options::{Kind, OptionSpec};
use super::values::*;
use crate::dhcp::option_catalog::{self, ValueType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// dnsmasq's catch-all message for a value it cannot use.
const GENERIC: &str = "error";

/// Where an upstream query for a domain goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerTarget {
    /// Forward to this server.
    Upstream {
        addr: SocketAddr,
        /// Source address or port to send from.
        source: Option<SocketAddr>,
        /// Interface to send through (`@eth0`).
        interface: Option<String>,
    },
    /// Answer locally only (`server=/d/` or `local=/d/`).
    Local,
    /// Use the ordinary upstream servers (`server=/d/#`).
    Resolv,
}

/// Domains a rule applies to. `None` in the list means "names without a dot" (`//`);
/// `Some("")` means every name (`#`).
pub type Domains = Vec<Option<String>>;

/// What `--address` answers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AddressAnswer {
    /// NXDOMAIN (`address=/d/`).
    NxDomain,
    /// The null address for every family (`address=/d/#`).
    Null,
    Addr(IpAddr),
}

/// A `dhcp-range`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpRange {
    pub tags: Vec<TagMatch>,
    pub set_tag: Option<String>,
    pub start: IpAddr,
    pub end: IpAddr,
    /// `static`, `proxy`, `ra-only`, `slaac`, ... (modes given by keyword).
    pub modes: Vec<String>,
    pub netmask: Option<Ipv4Addr>,
    pub broadcast: Option<Ipv4Addr>,
    pub prefix_len: Option<u8>,
    pub lease: Option<LeaseTime>,
}

/// A `dhcp-host`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DhcpHost {
    pub macs: Vec<Hex>,
    pub client_id: Option<Vec<u8>>,
    /// `id:*`: ignore the client id for this host.
    pub ignore_client_id: bool,
    pub set_tags: Vec<String>,
    pub tags: Vec<TagMatch>,
    pub addr: Option<Ipv4Addr>,
    pub addrs6: Vec<(Ipv6Addr, Option<u8>)>,
    pub hostname: Option<String>,
    pub lease: Option<LeaseTime>,
    pub ignore: bool,
}

/// A `dhcp-option` or `dhcp-match`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpOption {
    pub tags: Vec<TagMatch>,
    pub vendor: Option<String>,
    pub encap: Option<u32>,
    pub vi_encap: Option<u32>,
    pub v6: bool,
    pub number: u16,
    /// Encoded value; empty for an option with no value.
    pub data: Vec<u8>,
    /// How a `dhcp-match` value is compared with the option a client sends.
    pub matching: MatchKind,
}

/// How dnsmasq compares a `dhcp-match` value with the option sent, by the value's form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MatchKind {
    /// Numbers and addresses: one element of the option, read as an array of them.
    #[default]
    Element,
    /// Text: anywhere in the option.
    Text,
    /// Colon-separated hex: the option's first bytes, `*` bytes matching anything (bit
    /// `len - 1 - i` of `mask` set for byte `i`).
    Hex { mask: u64 },
}

/// A typed option value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Flag,
    Text(Option<String>),
    TextList(Vec<String>),
    Uint(u64),
    Addresses(Vec<IpAddr>),
    AddrPrefix {
        addr: IpAddr,
        prefix_len: u8,
    },
    Server {
        domains: Option<Domains>,
        target: ServerTarget,
    },
    Address {
        domains: Domains,
        answer: AddressAnswer,
    },
    RebindOk(Domains),
    RevServer {
        addr: IpAddr,
        prefix_len: u8,
        target: ServerTarget,
    },
    Domain {
        name: Option<String>,
        range: Option<(IpAddr, IpAddr)>,
        interface: Option<String>,
        local: bool,
    },
    SynthDomain {
        name: String,
        start: IpAddr,
        end: IpAddr,
        prefix: Option<String>,
    },
    Mx {
        name: String,
        target: Option<String>,
        pref: u16,
    },
    Srv {
        name: String,
        target: Option<String>,
        port: u16,
        priority: u16,
        weight: u16,
    },
    Txt {
        name: String,
        strings: Vec<String>,
    },
    Ptr {
        name: String,
        target: Option<String>,
    },
    Naptr {
        name: String,
        order: u16,
        pref: u16,
        flags: String,
        service: String,
        regexp: String,
        replacement: Option<String>,
    },
    Caa {
        name: String,
        flags: u8,
        tag: String,
        value: String,
    },
    DnsRr {
        name: String,
        rr_type: u16,
        data: Vec<u8>,
    },
    Cname {
        aliases: Vec<String>,
        target: String,
        ttl_secs: Option<u32>,
    },
    HostRecord {
        names: Vec<String>,
        v4: Option<Ipv4Addr>,
        v6: Option<Ipv6Addr>,
        ttl_secs: Option<u32>,
    },
    InterfaceName {
        name: String,
        interface: String,
        family: Option<u8>,
    },
    DynamicHost {
        name: String,
        v4: Option<Ipv4Addr>,
        v6: Option<Ipv6Addr>,
        interface: String,
    },
    Alias {
        from: Ipv4Addr,
        from_end: Option<Ipv4Addr>,
        to: Ipv4Addr,
        mask: Ipv4Addr,
    },
    LogTarget(LogTarget),
    LogQueries {
        extra: bool,
    },
    RrTypes(Vec<u16>),
    DhcpRange(DhcpRange),
    DhcpHost(Box<DhcpHost>),
    DhcpOption(DhcpOption),
    DhcpBoot {
        tags: Vec<TagMatch>,
        file: String,
        server_name: Option<String>,
        server: Option<String>,
    },
    DhcpMac {
        tag: String,
        mac: Hex,
    },
    DhcpClassMatch {
        tag: String,
        data: Vec<u8>,
        enterprise: Option<u32>,
    },
    DhcpNameMatch {
        tag: String,
        name: String,
        wildcard: bool,
    },
    Tags(Vec<TagMatch>),
    TagIf {
        tags: Vec<TagMatch>,
        set: Vec<String>,
    },
    PxePrompt {
        tags: Vec<TagMatch>,
        prompt: String,
        timeout_secs: u8,
    },
    PxeService {
        tags: Vec<TagMatch>,
        arch: u16,
        menu: String,
        basename: Option<String>,
        server: Option<String>,
    },
    DhcpRelay {
        local: IpAddr,
        /// None: relay by broadcast on `interface`.
        server: Option<IpAddr>,
        /// `#port` after the server (None: the DHCP server port).
        port: Option<u16>,
        interface: Option<String>,
    },
    SharedNetwork {
        on: String,
        addr: IpAddr,
    },
    Bridge {
        interface: String,
        aliases: Vec<String>,
    },
    AltPort {
        server: u16,
        client: u16,
    },
    ReplyDelay {
        tags: Vec<TagMatch>,
        delay_secs: u32,
    },
    RaParam {
        interface: String,
        mtu: Option<String>,
        high_priority: Option<bool>,
        interval_secs: u32,
        lifetime_secs: Option<u32>,
    },
    Duid {
        enterprise: u32,
        duid: Vec<u8>,
    },
    TftpRoot {
        dir: String,
        interface: Option<String>,
    },
    TftpUniqueRoot {
        by_mac: bool,
    },
    PortRange(u16, u16),
    AuthServer {
        name: String,
        interfaces: Vec<String>,
    },
    AuthZone {
        domain: String,
        parts: Vec<String>,
    },
    AuthSoa(Vec<String>),
    TrustAnchor {
        name: String,
        key_tag: u16,
        algorithm: u8,
        digest_type: u8,
        digest: Vec<u8>,
    },
    Sets {
        domains: Domains,
        sets: Vec<String>,
    },
    AddMac {
        format: Option<String>,
    },
    AddSubnet(Vec<String>),
    Numbers(Vec<u64>),
    Connmark {
        mark: u32,
        mask: u32,
        patterns: Vec<String>,
    },
}

/// Where log lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    File(String),
    Facility(i32),
}

fn bad(message: &str, detail: impl Into<String>) -> ConfigError {
    ConfigError::bad(message).with_detail(detail)
}

/// Parse one option's argument.
pub fn parse(spec: &OptionSpec, arg: Option<&str>) -> Result<Value, ConfigError> {
    let a = arg.unwrap_or("");
    let what = |detail: &str| format!("--{}={}: {}", spec.long, unhide(a), detail);
    match spec.kind {
        Kind::Flag => Ok(Value::Flag),
        Kind::Text | Kind::ConfFile | Kind::ServersFile => Ok(Value::Text(arg.map(unhide))),
        Kind::TextList | Kind::ConfDir => {
            Ok(Value::TextList(fields(a).into_iter().map(unhide).collect()))
        }
        Kind::Uint => uint(a)
            .map(Value::Uint)
            .ok_or_else(|| bad(GENERIC, what("not a number"))),
        Kind::Port => uint16(a)
            .map(|p| Value::Uint(p.into()))
            .ok_or_else(|| bad(GENERIC, what("not a port number 0-65535"))),
        Kind::PositiveUint => match uint(a) {
            Some(v) if v > 0 && !a.is_empty() => Ok(Value::Uint(v)),
            _ => Err(bad(GENERIC, what("must be a number above zero"))),
        },
        Kind::CacheSize => uint(a)
            .filter(|_| arg.is_some())
            .map(|v| Value::Uint(v.min(5_000_000)))
            .ok_or_else(|| bad(GENERIC, what("not a number"))),
        Kind::Addresses => {
            parse_addresses(a).ok_or_else(|| bad(GENERIC, what("not an IP address")))
        }
        Kind::AddrPrefix => {
            parse_addr_prefix(a).ok_or_else(|| bad(GENERIC, what("expected <ipaddr>[/<prefix>]")))
        }
        Kind::Server => parse_server_rule(spec.long, a),
        Kind::RevServer => parse_rev_server(a),
        Kind::Domain => parse_domain(a, false),
        Kind::SynthDomain => parse_domain(a, true),
        Kind::MxHost => parse_mx(a),
        Kind::MxTarget => domain(a)
            .map(|t| Value::Text(Some(t)))
            .ok_or_else(|| bad("bad MX target", what("not a domain name"))),
        Kind::SrvHost => parse_srv(a),
        Kind::TxtRecord => parse_txt(a),
        Kind::PtrRecord => parse_ptr(a),
        Kind::NaptrRecord => parse_naptr(a),
        Kind::CaaRecord => parse_caa(a),
        Kind::DnsRr => parse_dns_rr(a),
        Kind::Cname => parse_cname(a),
        Kind::HostRecord => parse_host_record(a),
        Kind::InterfaceName => parse_interface_name(a, false),
        Kind::DynamicHost => parse_interface_name(a, true),
        Kind::Alias => parse_alias(a),
        Kind::LogFacility => parse_log_facility(a),
        Kind::LogQueries => Ok(Value::LogQueries {
            extra: a == "extra",
        }),
        Kind::LogAsync => match arg {
            None => Ok(Value::Uint(5)),
            Some(v) => uint(v)
                .map(|n| Value::Uint(n.min(100)))
                .ok_or_else(|| bad(GENERIC, what("not a queue length"))),
        },
        Kind::AddMac => match arg.map(unhide).as_deref() {
            None | Some("base64") | Some("text") => Ok(Value::AddMac {
                format: arg.map(unhide),
            }),
            Some(_) => Err(bad(GENERIC, what("expected base64 or text"))),
        },
        Kind::AddSubnet => parse_add_subnet(arg),
        Kind::RrType => parse_rr_types(a),
        Kind::UseStaleCache => match arg {
            None => Ok(Value::Uint(0)),
            Some(v) => uint(v)
                .map(Value::Uint)
                .ok_or_else(|| bad(GENERIC, what("not a number of seconds"))),
        },
        Kind::FastDnsRetry => {
            parse_numbers(arg, 2).ok_or_else(|| bad(GENERIC, what("expected <ms>[,<ms>]")))
        }
        Kind::DnssecLimits => {
            parse_numbers(arg, 8).ok_or_else(|| bad(GENERIC, what("expected numbers")))
        }
        Kind::LocalService => match arg.map(unhide).as_deref() {
            None | Some("net") | Some("host") => Ok(Value::Text(arg.map(unhide))),
            Some(_) => Err(bad(GENERIC, what("expected net or host"))),
        },
        Kind::DhcpRange => parse_dhcp_range(a),
        Kind::DhcpHost => parse_dhcp_host(a),
        Kind::DhcpOption => parse_dhcp_option(a, false).map(Value::DhcpOption),
        Kind::DhcpMatch => parse_dhcp_option(a, true).map(Value::DhcpOption),
        Kind::DhcpBoot => parse_dhcp_boot(a),
        Kind::DhcpMac => parse_dhcp_mac(a),
        Kind::DhcpClassMatch => parse_class_match(spec.long, a),
        Kind::DhcpNameMatch => parse_name_match(a),
        Kind::TagList => Ok(Value::Tags(
            arg.map(|v| {
                fields(v)
                    .into_iter()
                    .map(|f| TagMatch::new(tag_match(f).unwrap_or(f)))
                    .collect()
            })
            .unwrap_or_default(),
        )),
        Kind::TagIf => parse_tag_if(a),
        Kind::PxePrompt => parse_pxe_prompt(a),
        Kind::PxeService => parse_pxe_service(a),
        Kind::DhcpProxy => parse_dhcp_proxy(arg),
        Kind::DhcpRelay => parse_dhcp_relay(a),
        Kind::SharedNetwork => parse_shared_network(a),
        Kind::BridgeInterface => parse_bridge(a),
        Kind::AltPort => parse_alt_port(arg),
        Kind::ReplyDelay => parse_reply_delay(a),
        Kind::RaParam => parse_ra_param(a),
        Kind::DhcpDuid => parse_duid(a),
        Kind::TftpRoot => {
            let (dir, iface) = split_once_trim(a, ',');
            Ok(Value::TftpRoot {
                dir: unhide(dir),
                interface: iface.map(unhide),
            })
        }
        Kind::TftpUniqueRoot => match arg.map(|v| unhide(v).to_ascii_lowercase()).as_deref() {
            None | Some("ip") => Ok(Value::TftpUniqueRoot { by_mac: false }),
            Some("mac") => Ok(Value::TftpUniqueRoot { by_mac: true }),
            Some(_) => Err(bad(GENERIC, what("expected ip or mac"))),
        },
        Kind::TftpPortRange => {
            let (start, end) = split_once_trim(a, ',');
            match (uint16(start), end.and_then(uint16)) {
                (Some(s), Some(e)) => Ok(Value::PortRange(s.min(e), s.max(e))),
                _ => Err(bad("bad port range", what("expected <start>,<end>"))),
            }
        }
        Kind::AuthServer => parse_auth_server(a),
        Kind::AuthZone => parse_auth_zone(a),
        Kind::AuthSoa => Ok(Value::AuthSoa(fields(a).into_iter().map(unhide).collect())),
        Kind::TrustAnchor => parse_trust_anchor(a),
        Kind::DnssecCheck => match arg.map(unhide).as_deref() {
            None | Some("no") => Ok(Value::Text(arg.map(unhide))),
            Some(_) => Err(bad(
                "bad value for dnssec-check-unsigned",
                what("expected no"),
            )),
        },
        Kind::IpSet => parse_sets(a),
        Kind::ConnmarkAllowlist => parse_connmark(a),
        Kind::HexMask => Ok(Value::Text(arg.map(unhide))),
        Kind::ConnmarkMask => match arg {
            None => Ok(Value::Uint(u64::from(u32::MAX))),
            Some(m) => uint(m)
                .filter(|&v| v > 0 && !m.is_empty())
                .map(Value::Uint)
                .ok_or_else(|| bad(GENERIC, what("expected a decimal mask above zero"))),
        },
        Kind::Umbrella => Ok(Value::Text(arg.map(unhide))),
        Kind::LuaScript => Err(bad(
            "recompile with HAVE_LUASCRIPT defined to enable Lua scripts",
            what("Lua lease scripts are not supported"),
        )),
    }
}

fn parse_addresses(a: &str) -> Option<Value> {
    fields(a)
        .into_iter()
        .map(ip)
        .collect::<Option<Vec<_>>>()
        .map(Value::Addresses)
}

fn parse_addr_prefix(a: &str) -> Option<Value> {
    let (addr, prefix) = split_once_trim(a, '/');
    let addr = ip(addr)?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = match prefix {
        Some(p) => uint(p).filter(|&v| v <= max)? as u8,
        None => max as u8,
    };
    Some(Value::AddrPrefix { addr, prefix_len })
}

/// Parse the `/d1/d2/` part of a rule; returns the domains and what follows the last `/`.
fn parse_domain_list(a: &str) -> Result<(Domains, &str), ConfigError> {
    let body = &a[1..];
    let Some(last) = body.rfind('/') else {
        return Err(bad(GENERIC, format!("{a}: domain list must end with /")));
    };
    let mut domains = Vec::new();
    for part in body[..last].split('/') {
        let part = part.trim_start_matches('.');
        if part == "#" {
            domains.push(Some(String::new()));
        } else if part.is_empty() {
            domains.push(None);
        } else {
            let d =
                domain(part).ok_or_else(|| bad(GENERIC, format!("{part}: not a domain name")))?;
            domains.push(Some(d));
        }
    }
    Ok((domains, body[last + 1..].trim_start_matches(' ')))
}

/// Parse `addr[#port][@source[#port]|@interface]`, or a host name to resolve.
pub fn parse_upstream(s: &str) -> Result<ServerTarget, ConfigError> {
    let s = unhide(s);
    let (main, source) = split_once_trim(&s, '@');
    let (host, port) = split_once_trim(main, '#');
    let port = match port {
        Some(p) => uint16(p).ok_or_else(|| bad("bad port", format!("{s}: bad port")))?,
        None => 53,
    };
    let (host, scope) = split_once_trim(host, '%');
    let addr: IpAddr = match host.parse() {
        Ok(ip) => ip,
        Err(_) if host.contains('/') || host.is_empty() => {
            return Err(bad(
                "Name or service not known",
                format!("{host}: not an address or host name"),
            ));
        }
        Err(_) => {
            let resolved = (host, port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut it| it.next());
            match resolved {
                Some(sa) => sa.ip(),
                None => {
                    return Err(bad(
                        "Name or service not known",
                        format!("{host}: cannot resolve"),
                    ))
                }
            }
        }
    };
    if let (Some(scope), IpAddr::V6(_)) = (scope, addr) {
        if crate::config::interface_index(scope).is_none() {
            return Err(bad(
                "bad interface name",
                format!("{scope}: no such interface"),
            ));
        }
    }
    let mut interface = None;
    let mut source_addr = None;
    if let Some(src) = source {
        let (src, iface_then_addr) = split_once_trim(src, '@');
        let (src_host, src_port) = split_once_trim(iface_then_addr.unwrap_or(src), '#');
        if iface_then_addr.is_some() {
            interface = Some(src.to_string());
        }
        let sport = match src_port {
            Some(p) => uint16(p).ok_or_else(|| bad("bad port", format!("{s}: bad source port")))?,
            None => 0,
        };
        let parsed = match addr {
            IpAddr::V4(_) => ipv4(src_host).map(IpAddr::V4),
            IpAddr::V6(_) => ipv6(src_host).map(IpAddr::V6),
        };
        match parsed {
            Some(ip) => source_addr = Some(SocketAddr::new(ip, sport)),
            None if interface.is_some() => {
                return Err(bad("interface can only be specified once", s.clone()));
            }
            None => interface = Some(src_host.to_string()),
        }
    }
    Ok(ServerTarget::Upstream {
        addr: SocketAddr::new(addr, port),
        source: source_addr,
        interface,
    })
}

fn parse_server_rule(option: &str, a: &str) -> Result<Value, ConfigError> {
    let a = a.trim_end_matches(' ');
    if option == "rebind-domain-ok" {
        if !a.starts_with('/') {
            let name = a.trim_start_matches('.');
            let d = if name == "#" {
                Some(String::new())
            } else {
                Some(domain(name).ok_or_else(|| bad(GENERIC, format!("{a}: not a domain")))?)
            };
            return Ok(Value::RebindOk(vec![d]));
        }
        let (domains, _) = parse_domain_list(a)?;
        return Ok(Value::RebindOk(domains));
    }
    let (domains, rest) = if a.starts_with('/') && a[1..].contains('/') {
        let (d, rest) = parse_domain_list(a)?;
        (Some(d), rest)
    } else if a.starts_with('/') && option == "address" {
        return Err(bad(
            "Bad address in --address",
            format!("{a}: domain list must end with /"),
        ));
    } else {
        (None, a)
    };
    match option {
        "address" => {
            // Without /domain/ the rule covers every name, as in dnsmasq 2.90.
            let domains = domains.unwrap_or_else(|| vec![Some(String::new())]);
            let answer = match rest {
                "" => AddressAnswer::NxDomain,
                "#" => AddressAnswer::Null,
                other => AddressAnswer::Addr(ip(other).ok_or_else(|| {
                    bad(
                        "Bad address in --address",
                        format!("{other}: not an IP address"),
                    )
                })?),
            };
            Ok(Value::Address { domains, answer })
        }
        _ => {
            let target = match rest {
                "" => ServerTarget::Local,
                "#" => ServerTarget::Resolv,
                other => parse_upstream(other)?,
            };
            Ok(Value::Server { domains, target })
        }
    }
}

fn parse_rev_server(a: &str) -> Result<Value, ConfigError> {
    let (net, server) = split_once_trim(a, ',');
    let (addr, prefix) = split_once_trim(net, '/');
    let addr = ip(addr).ok_or_else(|| bad(GENERIC, format!("{addr}: not an IP address")))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = match prefix {
        Some(p) => uint(p).ok_or_else(|| bad(GENERIC, format!("{a}: bad prefix length")))?,
        None => max,
    };
    if prefix_len > max {
        let msg = if addr.is_ipv4() {
            "bad IPv4 prefix length"
        } else {
            "bad IPv6 prefix length"
        };
        return Err(bad(msg, format!("{a}: prefix longer than the address")));
    }
    let target = match server {
        None | Some("") => ServerTarget::Local,
        Some("#") => ServerTarget::Resolv,
        Some(s) => parse_upstream(s)?,
    };
    Ok(Value::RevServer {
        addr,
        prefix_len: prefix_len as u8,
        target,
    })
}

fn mask_v4(addr: Ipv4Addr, len: u32) -> (Ipv4Addr, Ipv4Addr) {
    let host_bits = if len >= 32 { 0 } else { u32::MAX >> len };
    let a = u32::from(addr);
    (
        Ipv4Addr::from(a & !host_bits),
        Ipv4Addr::from(a | host_bits),
    )
}

fn parse_domain(a: &str, synth: bool) -> Result<Value, ConfigError> {
    if a == "#" && !synth {
        return Ok(Value::Domain {
            name: None,
            range: None,
            interface: None,
            local: false,
        });
    }
    let (name, range) = split_once_trim(a, ',');
    let name = domain(name).ok_or_else(|| bad(GENERIC, format!("{name}: not a domain name")))?;
    let Some(range) = range else {
        if synth {
            return Err(bad(GENERIC, format!("{a}: needs an address range")));
        }
        return Ok(Value::Domain {
            name: Some(name),
            range: None,
            interface: None,
            local: false,
        });
    };
    let first = fields(range)[0];
    if !synth && !first.contains('/') && ip(first).is_none() {
        return Ok(Value::Domain {
            name: Some(name),
            range: None,
            interface: Some(unhide(first)),
            local: false,
        });
    }
    let range_err = || bad(GENERIC, format!("{a}: bad address range"));
    let (start, end, third, local);
    if let (net, Some(len_and_rest)) = split_once_trim(range, '/') {
        let (len, rest) = split_once_trim(len_and_rest, ',');
        let len = uint(len).ok_or_else(range_err)? as u32;
        third = rest;
        match ip(net).ok_or_else(range_err)? {
            IpAddr::V4(v4) => {
                let (s, e) = mask_v4(v4, len);
                start = IpAddr::V4(s);
                end = IpAddr::V4(e);
                local = matches!(rest, Some("local"));
                if !synth && rest.is_some() && !local {
                    return Err(range_err());
                }
            }
            IpAddr::V6(v6) => {
                if len > 128 {
                    return Err(range_err());
                }
                let bits = u128::from(v6);
                let host = if len == 128 { 0 } else { u128::MAX >> len };
                start = IpAddr::V6(Ipv6Addr::from(bits & !host));
                end = IpAddr::V6(Ipv6Addr::from(bits | host));
                local = matches!(rest, Some("local"));
                if !synth && rest.is_some() && !local {
                    return Err(range_err());
                }
            }
        }
    } else {
        let f = fields(range);
        let s = ip(f[0]).ok_or_else(range_err)?;
        let e = match f.get(1) {
            Some(e) => ip(e)
                .filter(|e| e.is_ipv4() == s.is_ipv4())
                .ok_or_else(range_err)?,
            None => s,
        };
        start = s;
        end = e;
        third = f.get(2).copied();
        local = false;
    }
    if synth {
        let prefix = match third {
            Some(p) => {
                let p = domain(p)
                    .filter(|p| p.len() <= 63 - 46)
                    .ok_or_else(|| bad("bad prefix", format!("{p}: bad prefix")))?;
                Some(p)
            }
            None => None,
        };
        return Ok(Value::SynthDomain {
            name,
            start,
            end,
            prefix,
        });
    }
    Ok(Value::Domain {
        name: Some(name),
        range: Some((start, end)),
        interface: None,
        local,
    })
}

fn parse_mx(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    let pref = match f.get(2) {
        Some(p) => {
            uint16(p).ok_or_else(|| bad("bad MX preference", format!("{p}: not 0-65535")))?
        }
        None => 1,
    };
    let name = domain(f[0]).ok_or_else(|| bad("bad MX name", format!("{}: not a domain", f[0])))?;
    let target = match f.get(1) {
        Some(t) => Some(domain(t).ok_or_else(|| bad("bad MX name", format!("{t}: not a domain")))?),
        None => None,
    };
    Ok(Value::Mx { name, target, pref })
}

fn parse_srv(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    let name =
        domain(f[0]).ok_or_else(|| bad("bad SRV record", format!("{}: not a domain", f[0])))?;
    let target = match f.get(1) {
        Some(t) => {
            Some(domain(t).ok_or_else(|| bad("bad SRV target", format!("{t}: not a domain")))?)
        }
        None => None,
    };
    let num = |i: usize, msg: &str, default: u16| -> Result<u16, ConfigError> {
        match f.get(i) {
            Some(v) => uint16(v).ok_or_else(|| bad(msg, format!("{v}: not 0-65535"))),
            None => Ok(default),
        }
    };
    Ok(Value::Srv {
        name,
        target,
        port: num(2, "invalid port number", 1)?,
        priority: num(3, "invalid priority", 0)?,
        weight: num(4, "invalid weight", 0)?,
    })
}

fn parse_txt(a: &str) -> Result<Value, ConfigError> {
    let (name, rest) = split_once_trim(a, ',');
    let name =
        domain(name).ok_or_else(|| bad("bad TXT record", format!("{name}: not a domain")))?;
    let strings = rest
        .map(|r| r.split(',').map(unhide).collect())
        .unwrap_or_default();
    Ok(Value::Txt { name, strings })
}

fn parse_ptr(a: &str) -> Result<Value, ConfigError> {
    let (name, target) = split_once_trim(a, ',');
    let err = || bad("bad PTR record", format!("{a}: not a domain"));
    let name = domain(name).ok_or_else(err)?;
    let target = match target {
        Some(t) => Some(domain(t).ok_or_else(err)?),
        None => None,
    };
    Ok(Value::Ptr { name, target })
}

fn parse_naptr(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    let err = || {
        bad(
            "bad NAPTR record",
            format!("{a}: expected name,order,pref,flags,service,regexp[,replacement]"),
        )
    };
    if f.len() < 6 {
        return Err(err());
    }
    let name = domain(f[0]).ok_or_else(err)?;
    let order = uint16(f[1]).ok_or_else(err)?;
    let pref = uint16(f[2]).ok_or_else(err)?;
    let replacement = match f.get(6) {
        Some(r) => Some(domain(r).ok_or_else(err)?),
        None => None,
    };
    Ok(Value::Naptr {
        name,
        order,
        pref,
        flags: unhide(f[3]),
        service: unhide(f[4]),
        regexp: unhide(f[5]),
        replacement,
    })
}

fn parse_caa(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    let err = || {
        bad(
            "bad CAA record",
            format!("{a}: expected name,flags,tag,value"),
        )
    };
    if f.len() < 4 {
        return Err(err());
    }
    let flags = uint(f[1]).ok_or_else(err)? as u8;
    let name = domain(f[0]).ok_or_else(err)?;
    Ok(Value::Caa {
        name,
        flags,
        tag: unhide(f[2]),
        value: unhide(&f[3..].join(",")),
    })
}

fn parse_dns_rr(a: &str) -> Result<Value, ConfigError> {
    let f: Vec<&str> = {
        let (name, rest) = split_once_trim(a, ',');
        match rest {
            Some(r) => {
                let (t, data) = split_once_trim(r, ',');
                let mut v = vec![name, t];
                v.extend(data);
                v
            }
            None => vec![name],
        }
    };
    let err = || {
        bad(
            "bad RR record",
            format!("{a}: expected name,type-number[,hex-data]"),
        )
    };
    let rr_type = f.get(1).and_then(|t| uint(t)).ok_or_else(err)? as u16;
    let name = domain(f[0]).ok_or_else(err)?;
    let data = match f.get(2) {
        Some(d) => hex(d, None, false).ok_or_else(err)?.bytes,
        None => Vec::new(),
    };
    Ok(Value::DnsRr {
        name,
        rr_type,
        data,
    })
}

fn parse_cname(a: &str) -> Result<Value, ConfigError> {
    let mut f = fields(a);
    let err = || bad("bad CNAME", format!("{a}: expected alias,...,target[,ttl]"));
    if f.len() < 2 {
        return Err(err());
    }
    let mut ttl_secs = None;
    if f.len() > 2 {
        if let Some(t) = uint(f[f.len() - 1]) {
            ttl_secs = Some(t.min(u32::MAX.into()) as u32);
            f.pop();
        }
    }
    let target = domain(f[f.len() - 1]).ok_or_else(err)?;
    let aliases = f[..f.len() - 1]
        .iter()
        .map(|x| domain(x))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(err)?;
    Ok(Value::Cname {
        aliases,
        target,
        ttl_secs,
    })
}

fn parse_host_record(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    if f.len() < 2 {
        return Err(bad(
            "Bad host-record",
            format!("{a}: expected name,address"),
        ));
    }
    let (mut names, mut v4, mut v6, mut ttl) = (Vec::new(), None, None, None);
    for x in f {
        if x.bytes().all(|b| b.is_ascii_digit()) {
            ttl = Some(uint(x).unwrap_or(0).min(u32::MAX.into()) as u32);
        } else if let Some(a4) = ipv4(x) {
            v4 = Some(a4);
        } else if let Some(a6) = ipv6(x) {
            v6 = Some(a6);
        } else {
            names.push(
                domain(x)
                    .ok_or_else(|| bad("Bad name in host-record", format!("{x}: not a domain")))?,
            );
        }
    }
    Ok(Value::HostRecord {
        names,
        v4,
        v6,
        ttl_secs: ttl,
    })
}

fn parse_interface_name(a: &str, dynamic: bool) -> Result<Value, ConfigError> {
    let msg = if dynamic {
        "bad dynamic host"
    } else {
        "bad interface name"
    };
    let f = fields(a);
    let err = || {
        bad(
            msg,
            format!(
                "{a}: expected name,{}interface",
                if dynamic { "address," } else { "" }
            ),
        )
    };
    if f.len() < 2 {
        return Err(err());
    }
    let name = domain(f[0]).ok_or_else(err)?;
    let (mut v4, mut v6) = (None, None);
    let mut i = 1;
    while i + 1 < f.len() {
        if let Some(x) = ipv4(f[i]) {
            v4 = Some(x);
        } else if let Some(x) = ipv6(f[i]) {
            v6 = Some(x);
        } else {
            break;
        }
        i += 1;
    }
    let (iface, fam) = split_once_trim(f[i], '/');
    let family = match fam {
        None => None,
        Some("4") => Some(4),
        Some("6") => Some(6),
        Some(_) => return Err(bad(GENERIC, format!("{a}: family must be /4 or /6"))),
    };
    if dynamic {
        if v4.is_none() && v6.is_none() {
            return Err(bad("missing address in dynamic host", a.to_string()));
        }
        if family.is_some() {
            return Err(err());
        }
        return Ok(Value::DynamicHost {
            name,
            v4,
            v6,
            interface: unhide(iface),
        });
    }
    if v4.is_some() || v6.is_some() || i + 1 < f.len() {
        return Err(err());
    }
    Ok(Value::InterfaceName {
        name,
        interface: unhide(iface),
        family,
    })
}

fn parse_alias(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    let missing = || {
        bad(
            "missing address in alias",
            format!("{a}: expected old,new[,mask]"),
        )
    };
    if f.len() < 2 {
        return Err(missing());
    }
    let (from, from_end) = split_once_trim(f[0], '-');
    let from = ipv4(from).ok_or_else(missing)?;
    let to = ipv4(f[1]).ok_or_else(missing)?;
    let mask = match f.get(2) {
        Some(m) => ipv4(m).ok_or_else(missing)?,
        None => Ipv4Addr::BROADCAST,
    };
    let from_end = match from_end {
        Some(e) => {
            let e = ipv4(e).ok_or_else(|| bad("invalid alias range", a.to_string()))?;
            let m = u32::from(mask);
            if u32::from(from) & m != u32::from(e) & m || u32::from(from) > u32::from(e) {
                return Err(bad("invalid alias range", a.to_string()));
            }
            Some(e)
        }
        None => None,
    };
    Ok(Value::Alias {
        from,
        from_end,
        to,
        mask,
    })
}

/// Syslog facility names and their numbers (LOG_xxx values).
pub const FACILITIES: &[(&str, i32)] = &[
    ("kern", 0),
    ("user", 8),
    ("mail", 16),
    ("daemon", 24),
    ("auth", 32),
    ("syslog", 40),
    ("lpr", 48),
    ("news", 56),
    ("uucp", 64),
    ("cron", 72),
    ("authpriv", 80),
    ("ftp", 88),
    ("local0", 128),
    ("local1", 136),
    ("local2", 144),
    ("local3", 152),
    ("local4", 160),
    ("local5", 168),
    ("local6", 176),
    ("local7", 184),
    ("security", 32),
];

fn parse_log_facility(a: &str) -> Result<Value, ConfigError> {
    let a = unhide(a);
    if a == "-" {
        return Ok(Value::LogTarget(LogTarget::Stderr));
    }
    if a.contains('/') {
        return Ok(Value::LogTarget(LogTarget::File(a)));
    }
    FACILITIES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&a))
        .map(|(_, v)| Value::LogTarget(LogTarget::Facility(*v)))
        .ok_or_else(|| bad("bad log facility", format!("{a}: not a syslog facility")))
}

fn parse_add_subnet(arg: Option<&str>) -> Result<Value, ConfigError> {
    let Some(a) = arg else {
        return Ok(Value::AddSubnet(Vec::new()));
    };
    let f = fields(a);
    for part in f.iter().take(2) {
        let (addr, len) = split_once_trim(part, '/');
        let ok = match len {
            Some(l) => ip(addr).is_some() && uint(l).is_some(),
            None => uint(addr).is_some(),
        };
        if !ok {
            return Err(bad(
                GENERIC,
                format!("--add-subnet={a}: expected <prefix> or <addr>/<prefix>"),
            ));
        }
    }
    Ok(Value::AddSubnet(f.into_iter().map(unhide).collect()))
}

fn parse_rr_types(a: &str) -> Result<Value, ConfigError> {
    let mut out = Vec::new();
    for t in fields(a) {
        let t = unhide(t);
        let n = if let Some(n) = uint16(&t).filter(|_| !t.is_empty()) {
            n
        } else {
            let rt: hickory_proto::rr::RecordType = t
                .to_ascii_uppercase()
                .parse()
                .map_err(|_| bad("bad RR type", format!("{t}: unknown record type")))?;
            if matches!(rt, hickory_proto::rr::RecordType::Unknown(_)) {
                return Err(bad("bad RR type", format!("{t}: unknown record type")));
            }
            u16::from(rt)
        };
        out.push(n);
    }
    Ok(Value::RrTypes(out))
}

fn parse_numbers(arg: Option<&str>, max: usize) -> Option<Value> {
    let Some(a) = arg else {
        return Some(Value::Numbers(Vec::new()));
    };
    let v = fields(a)
        .into_iter()
        .map(uint)
        .collect::<Option<Vec<_>>>()?;
    (v.len() <= max).then_some(Value::Numbers(v))
}

fn is_range_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c == ' ' || c == '.' || c == ':' || c.is_ascii_hexdigit())
}

fn parse_dhcp_range(a: &str) -> Result<Value, ConfigError> {
    let err = |d: &str| bad("bad dhcp-range", format!("--dhcp-range={}: {d}", unhide(a)));
    let all = fields(a);
    let mut tags = Vec::new();
    let mut set_tag = None;
    let mut i = 0;
    while i + 1 < all.len() && !is_range_word(all[i]) {
        if let Some(t) = tag_match(all[i]) {
            if !t.is_empty() {
                tags.push(TagMatch::new(t));
            }
        } else if set_tag.is_some() {
            return Err(bad("only one tag allowed", format!("--dhcp-range={a}")));
        } else {
            set_tag = Some(set_name(all[i]).to_string());
        }
        i += 1;
    }
    let f: Vec<&str> = all[i..].iter().take(8).copied().collect();
    if f.len() < 2 {
        return Err(err("needs a start address and an end address or mode"));
    }
    let mut modes = Vec::new();
    let (mut netmask, mut broadcast, mut prefix_len) = (None, None, None);
    let start;
    let mut end;
    let mut pos;
    if let Some(s4) = ipv4(f[0]) {
        start = IpAddr::V4(s4);
        end = start;
        match f[1] {
            "static" | "proxy" => modes.push(f[1].to_string()),
            other => end = IpAddr::V4(ipv4(other).ok_or_else(|| err("bad end address"))?),
        }
        pos = 2;
        if let Some(m) = f.get(2).filter(|m| m.contains('.')).and_then(|m| ipv4(m)) {
            let (IpAddr::V4(s), IpAddr::V4(e)) = (start, end) else {
                unreachable!()
            };
            let mask = u32::from(m);
            if u32::from(s) & mask != u32::from(e) & mask {
                return Err(bad("inconsistent DHCP range", format!("--dhcp-range={a}")));
            }
            netmask = Some(m);
            pos = 3;
            if let Some(b) = f.get(3).filter(|b| b.contains('.')).and_then(|b| ipv4(b)) {
                broadcast = Some(b);
                pos = 4;
            }
        }
    } else if let Some(s6) = ipv6(f[0]) {
        start = IpAddr::V6(s6);
        end = start;
        pos = 1;
        let mut template = false;
        while pos < f.len() {
            match f[pos] {
                "static" | "ra-only" | "slaac" | "ra-names" | "ra-advrouter" | "ra-stateless"
                | "off-link" => modes.push(f[pos].to_string()),
                w if w.starts_with("constructor:") => {
                    template = true;
                    modes.push(w.to_string());
                }
                w if pos == 1 && ipv6(w).is_some() => end = IpAddr::V6(ipv6(w).unwrap_or(s6)),
                _ => break,
            }
            pos += 1;
        }
        let mut plen = 64u64;
        if let Some(p) = f
            .get(pos)
            .and_then(|p| uint(p))
            .filter(|&p| p <= 128 && !f[pos].is_empty())
        {
            plen = p;
            pos += 1;
        }
        let ra = modes.iter().any(|m| m.starts_with("ra-") || m == "slaac");
        if plen > 64 && ra {
            return Err(bad(
                "prefix length must be exactly 64 for RA subnets",
                a.to_string(),
            ));
        } else if plen > 64 && template {
            return Err(bad(
                "prefix length must be exactly 64 for subnet constructors",
                a.to_string(),
            ));
        } else if plen < 64 {
            return Err(bad("prefix length must be at least 64", a.to_string()));
        }
        let IpAddr::V6(e6) = end else { unreachable!() };
        let host = if plen >= 128 { 0 } else { u128::MAX >> plen };
        if u128::from(s6) & !host != u128::from(e6) & !host {
            return Err(bad("inconsistent DHCPv6 range", a.to_string()));
        }
        if template && u128::from(s6) & !host != 0 {
            return Err(bad(
                "prefix must be zero with \"constructor:\" argument",
                a.to_string(),
            ));
        }
        prefix_len = Some(plen as u8);
    } else {
        return Err(err("start is not an IP address"));
    }
    let mut lease = None;
    if pos < f.len() {
        if pos != f.len() - 1 {
            return Err(err("unexpected fields after the lease time"));
        }
        match f[pos] {
            "deprecated" => modes.push("deprecated".into()),
            // As dnsmasq: an empty lease time (`start,end,`) is the default one.
            "" => {}
            w => lease = Some(LeaseTime::parse(w).ok_or_else(|| err("bad lease time"))?),
        }
    }
    let (start, end) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) if u32::from(s) > u32::from(e) => (end, start),
        (IpAddr::V6(s), IpAddr::V6(e)) if u128::from(s) > u128::from(e) => (end, start),
        other => other,
    };
    Ok(Value::DhcpRange(DhcpRange {
        tags,
        set_tag,
        start,
        end,
        modes,
        netmask,
        broadcast,
        prefix_len,
        lease,
    }))
}

fn parse_dhcp_host(a: &str) -> Result<Value, ConfigError> {
    let mut h = DhcpHost::default();
    // dnsmasq takes an empty field (`mac,,addr`, a trailing comma) as saying nothing.
    for x in fields(a).into_iter().filter(|x| !x.trim().is_empty()) {
        if x.contains(':') || x.contains('\u{E001}') {
            let lower = x.get(..3).map(|p| p.to_ascii_lowercase());
            if lower.as_deref() == Some("id:") {
                let id = &x[3..];
                if id.starts_with('*') {
                    h.ignore_client_id = true;
                } else if id.contains(':') {
                    h.client_id = Some(
                        hex(id, None, false)
                            .ok_or_else(|| bad("bad hex constant", x.to_string()))?
                            .bytes,
                    );
                } else {
                    h.client_id = Some(unhide(id).into_bytes());
                }
            } else if let Some(t) = x.strip_prefix("net:").or_else(|| x.strip_prefix("set:")) {
                h.set_tags.push(t.to_string());
            } else if let Some(t) = x.strip_prefix("tag:") {
                h.tags.push(TagMatch::new(t));
            } else if x.starts_with('[') && x.ends_with(']') && x.len() >= 2 {
                let inner = &x[1..x.len() - 1];
                let (addr, pref) = split_once_trim(inner, '/');
                let a6 = ipv6(addr).ok_or_else(|| bad("bad IPv6 address", x.to_string()))?;
                let pref = match pref {
                    Some(p) => {
                        let p = uint(p)
                            .filter(|&p| p <= 128)
                            .ok_or_else(|| bad("bad IPv6 prefix", x.to_string()))?;
                        Some(p as u8)
                    }
                    None => None,
                };
                h.addrs6.push((a6, pref));
            } else {
                h.macs.push(
                    hex(x, Some(16), true).ok_or_else(|| bad("bad hex constant", x.to_string()))?,
                );
            }
        } else if let Some(a4) = ipv4(x).filter(|_| x.contains('.') || x.contains('\u{E003}')) {
            h.addr = Some(a4);
        } else {
            let body = x.trim_start_matches(' ');
            let numeric_lease = body.len() > 1 && duration_secs(body).is_some();
            if x == "infinite" {
                h.lease = Some(LeaseTime::Infinite);
            } else if x == "ignore" {
                h.ignore = true;
            } else if numeric_lease || (body.len() == 1 && body.bytes().all(|b| b.is_ascii_digit()))
            {
                h.lease = LeaseTime::parse(body);
            } else {
                let name = domain(x)
                    .filter(|n| legal_hostname(n))
                    .ok_or_else(|| bad("bad DHCP host name", x.to_string()))?;
                h.hostname = Some(name);
            }
        }
    }
    Ok(Value::DhcpHost(Box::new(h)))
}

/// What shape a `dhcp-option` value has, decided character by character as dnsmasq does.
struct Shape {
    addr: bool,
    addr6: bool,
    hex: bool,
    dec: bool,
    dots: usize,
    found_digit: bool,
}

fn shape(v: &str, matching: bool) -> Shape {
    let mut s = Shape {
        addr: true,
        addr6: true,
        hex: true,
        dec: true,
        dots: 0,
        found_digit: false,
    };
    let mut found_colon = false;
    let chars: Vec<char> = v.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            ',' => {
                s.dec = false;
                s.hex = false;
            }
            ':' => {
                s.dec = false;
                s.addr = false;
                found_colon = true;
            }
            '/' => {
                s.addr6 = false;
                s.dec = false;
                s.hex = false;
                if i == 0 {
                    s.addr = false;
                }
            }
            '.' => {
                s.dec = false;
                s.hex = false;
                s.dots += 1;
            }
            '-' => {
                s.hex = false;
                s.addr = false;
                s.addr6 = false;
            }
            ' ' => {
                s.dec = false;
                s.hex = false;
            }
            '0'..='9' => s.found_digit = true,
            _ => {
                s.addr = false;
                let last = i + 1 == chars.len();
                if !(last && s.dec && matches!(c, 'b' | 's' | 'i')) {
                    s.dec = false;
                }
                if !(c.is_ascii_hexdigit() || (c == '*' && matching)) {
                    s.hex = false;
                    if c != '[' && c != ']' {
                        s.addr6 = false;
                    }
                }
            }
        }
    }
    if !s.found_digit {
        s.dec = false;
        s.addr = false;
    }
    if !found_colon {
        s.addr6 = false;
    }
    s
}

fn parse_dhcp_option(a: &str, matching: bool) -> Result<DhcpOption, ConfigError> {
    let err = |m: &str| bad(m, format!("--dhcp-option={}", unhide(a)));
    let mut o = DhcpOption {
        tags: Vec::new(),
        vendor: None,
        encap: None,
        vi_encap: None,
        v6: false,
        number: 0,
        data: Vec::new(),
        matching: MatchKind::Element,
    };
    let mut rest = Some(a);
    let mut value_type = ValueType::Any;
    let mut ok = false;
    let mut value: Option<&str> = None;
    while let Some(r) = rest {
        let (field, tail) = split_once_trim(r, ',');
        rest = tail;
        if field.bytes().all(|b| b.is_ascii_digit()) {
            o.number = uint16(field).unwrap_or(u16::MAX);
            ok = true;
        } else if let Some(name) = field.strip_prefix("option:") {
            if let Some(info) = option_catalog::by_name(option_catalog::V4, name) {
                o.number = info.number;
                value_type = info.value;
                ok = !info.internal || matching;
            }
        } else if let Some(name) = field.strip_prefix("option6:") {
            o.v6 = true;
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
                o.number = uint16(name).unwrap_or(u16::MAX);
                ok = true;
            } else if let Some(info) = option_catalog::by_name(option_catalog::V6, name) {
                o.number = info.number;
                value_type = info.value;
                ok = !info.internal || matching;
            }
        } else if let Some(v) = field.strip_prefix("vendor:") {
            o.vendor = Some(unhide(v));
            continue;
        } else if let Some(e) = field.strip_prefix("encap:") {
            o.encap = Some(uint(e).unwrap_or(0) as u32);
            continue;
        } else if let Some(e) = field.strip_prefix("vi-encap:") {
            o.vi_encap = Some(uint(e).unwrap_or(0) as u32);
            if matching {
                ok = true;
                value = rest;
                break;
            }
            continue;
        } else {
            let name = tag_match(field).unwrap_or_else(|| set_name(field));
            o.tags.push(TagMatch::new(name));
            continue;
        }
        value = rest;
        break;
    }
    if !ok {
        return Err(err("bad dhcp-option"));
    }
    if o.v6 && (o.vendor.is_some() || o.encap.is_some()) {
        return Err(err("unsupported encapsulation for IPv6 option"));
    }
    if value_type == ValueType::Any
        && o.vendor.is_none()
        && o.encap.is_none()
        && o.vi_encap.is_none()
    {
        let table = if o.v6 {
            option_catalog::V6
        } else {
            option_catalog::V4
        };
        if let Some(info) = option_catalog::by_number(table, o.number) {
            value_type = info.value;
        }
    }
    if let Some(v) = value {
        (o.data, o.matching) = encode_option_value(v, value_type, &o, matching).map_err(&err)?;
    }
    let limit = if o.vi_encap.is_some() {
        250
    } else if o.vendor.is_some() || o.encap.is_some() {
        253
    } else {
        255
    };
    if !o.v6 && o.data.len() > limit {
        return Err(err("dhcp-option too long"));
    }
    if matching && o.vendor.is_some() {
        return Err(err("inappropriate vendor:"));
    }
    if matching && (o.encap.is_some() || o.tags.len() != 1) {
        return Err(err("illegal dhcp-match"));
    }
    Ok(o)
}

fn encode_option_value(
    v: &str,
    value_type: ValueType,
    o: &DhcpOption,
    matching: bool,
) -> Result<(Vec<u8>, MatchKind), &'static str> {
    let s = shape(v, matching);
    let (mut is_addr, mut is_addr6, mut is_hex, mut is_dec, mut is_string) =
        (s.addr, s.addr6, s.hex, s.dec, true);
    match value_type {
        ValueType::AddrList => {
            is_string = false;
            is_dec = false;
            is_hex = false;
            if !o.v6 && (!is_addr || s.dots == 0) {
                return Err("bad IP address");
            }
            if o.v6 && !is_addr6 {
                return Err("bad IPv6 address");
            }
        }
        ValueType::Name | ValueType::Rfc1035Names | ValueType::CStrings => {
            is_addr = false;
            is_addr6 = false;
            is_dec = false;
            is_hex = false;
        }
        _ => {}
    }
    let digs = v.matches(':').count() + 1;
    if s.found_digit && value_type == ValueType::Time && !v.is_empty() {
        let secs = duration_secs(v)
            .or_else(|| uint(v.trim_end_matches(|c: char| c.is_ascii_alphabetic())))
            .unwrap_or(0);
        return Ok(((secs as u32).to_be_bytes().to_vec(), MatchKind::Element));
    }
    if is_hex && digs > 1 {
        return hex(v, None, matching)
            .map(|h| {
                let mask = h.wildcard_mask;
                (h.bytes, MatchKind::Hex { mask })
            })
            .ok_or("bad hex constant");
    }
    if is_dec {
        let (num, width) = match v.chars().last() {
            Some('b') => (&v[..v.len() - 1], Some(1)),
            Some('s') => (&v[..v.len() - 1], Some(2)),
            Some('i') => (&v[..v.len() - 1], Some(4)),
            _ => (v, None),
        };
        let n = uint(num).unwrap_or(0) as u32;
        let len = width.unwrap_or(match value_type {
            ValueType::Dec(w) => w as usize,
            _ if n & 0xffff_0000 != 0 => 4,
            _ if n & 0xff00 != 0 => 2,
            _ => 1,
        });
        return Ok((
            n.to_be_bytes()[4 - len.min(4)..].to_vec(),
            MatchKind::Element,
        ));
    }
    if is_addr && !o.v6 {
        let mut out = Vec::new();
        if o.number == 120 && o.vendor.is_none() && o.encap.is_none() && o.vi_encap.is_none() {
            out.push(1);
        }
        for part in fields(v) {
            let (addr, slash) = split_once_trim(part, '/');
            let a4 = ipv4(addr).ok_or("bad IPv4 address")?;
            match slash {
                None => out.extend(a4.octets()),
                Some(n) => {
                    let n = uint(n).unwrap_or(0) as usize;
                    out.push(n as u8);
                    out.extend(&a4.octets()[..n.div_ceil(8).min(4)]);
                }
            }
        }
        return Ok((out, MatchKind::Element));
    }
    if is_addr6 && o.v6 {
        let mut out = Vec::new();
        for part in fields(v) {
            let p = part.trim_start_matches('[').trim_end_matches(']');
            out.extend(ipv6(p).ok_or("bad IPv6 address")?.octets());
        }
        return Ok((out, MatchKind::Element));
    }
    if is_string {
        let encode_names = (!o.v6
            && matches!(o.number, 119 | 120)
            && o.vendor.is_none()
            && o.encap.is_none()
            && o.vi_encap.is_none())
            || (o.v6 && value_type == ValueType::Rfc1035Names);
        if encode_names {
            let mut out = Vec::new();
            if !o.v6 && o.number == 120 {
                out.push(0);
            }
            for name in fields(v).into_iter().filter(|n| !n.is_empty()) {
                if name != "." {
                    let d = domain(name).ok_or("bad domain in dhcp-option")?;
                    for label in d.split('.') {
                        out.push(label.len() as u8);
                        out.extend(label.as_bytes());
                    }
                }
                out.push(0);
            }
            return Ok((out, MatchKind::Element));
        }
        return Ok((unhide(v).into_bytes(), MatchKind::Text));
    }
    Ok((unhide(v).into_bytes(), MatchKind::Text))
}

fn parse_dhcp_boot(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    let (tags, rest) = leading_tags(&f);
    if rest.is_empty() {
        return Err(bad(GENERIC, format!("--dhcp-boot={a}: needs a file name")));
    }
    Ok(Value::DhcpBoot {
        tags,
        file: unhide(rest[0]),
        server_name: rest.get(1).map(|s| unhide(s)),
        server: rest.get(2).map(|s| unhide(s)),
    })
}

fn parse_dhcp_mac(a: &str) -> Result<Value, ConfigError> {
    let (tag, mac) = split_once_trim(a, ',');
    let mac = mac
        .and_then(|m| hex(m, Some(16), true))
        .ok_or_else(|| bad(GENERIC, format!("--dhcp-mac={a}: expected set:<tag>,<mac>")))?;
    Ok(Value::DhcpMac {
        tag: set_name(tag).to_string(),
        mac,
    })
}

fn parse_class_match(option: &str, a: &str) -> Result<Value, ConfigError> {
    let err = || {
        bad(
            GENERIC,
            format!("--{option}={a}: expected set:<tag>,<value>"),
        )
    };
    let (tag, rest) = split_once_trim(a, ',');
    let rest = rest.ok_or_else(err)?;
    let (first, second) = split_once_trim(rest, ',');
    let (enterprise, value) = match second {
        Some(v) => {
            let Some(e) = first
                .strip_prefix("enterprise:")
                .filter(|_| option == "dhcp-vendorclass")
            else {
                return Err(err());
            };
            (Some(uint(e).unwrap_or(0) as u32), v)
        }
        None => (None, first),
    };
    // Hex only with a colon in it, as dnsmasq 2.90 reads these: `abc` is text.
    let hexlike = value.chars().any(|c| c.is_ascii_hexdigit())
        && value.contains(':')
        && value.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
    let agent = matches!(option, "dhcp-circuitid" | "dhcp-remoteid" | "dhcp-subscrid");
    let data = if agent && hexlike {
        hex(value, None, false).map(|h| h.bytes).unwrap_or_default()
    } else {
        unhide(value).into_bytes()
    };
    Ok(Value::DhcpClassMatch {
        tag: set_name(tag).to_string(),
        data,
        enterprise,
    })
}

fn parse_name_match(a: &str) -> Result<Value, ConfigError> {
    let (tag, name) = split_once_trim(a, ',');
    match name.filter(|n| !n.is_empty()) {
        Some(n) => {
            let wildcard = n.ends_with('*');
            Ok(Value::DhcpNameMatch {
                tag: set_name(tag).to_string(),
                name: unhide(n.trim_end_matches('*')),
                wildcard,
            })
        }
        None => Err(bad(
            GENERIC,
            format!("--dhcp-name-match={a}: expected set:<tag>,<name>"),
        )),
    }
}

fn parse_tag_if(a: &str) -> Result<Value, ConfigError> {
    let (mut tags, mut set) = (Vec::new(), Vec::new());
    for x in fields(a) {
        if x.len() < 5 {
            set.clear();
            break;
        }
        if let Some(s) = x.strip_prefix("set:") {
            set.push(s.to_string());
        } else if let Some(t) = x.strip_prefix("tag:") {
            tags.push(TagMatch::new(t));
        } else {
            set.clear();
            break;
        }
    }
    if set.is_empty() {
        return Err(bad(
            "bad tag-if",
            format!("--tag-if={a}: expected set:<tag>[,...][,tag:<tag>...]"),
        ));
    }
    Ok(Value::TagIf { tags, set })
}

fn parse_pxe_prompt(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    let (tags, rest) = leading_tags(&f);
    let prompt = rest
        .first()
        .ok_or_else(|| bad(GENERIC, format!("--pxe-prompt={a}: needs a prompt")))?;
    let timeout_secs = rest
        .get(1)
        .and_then(|t| uint(t))
        .map(|t| t as u8)
        .unwrap_or(255);
    Ok(Value::PxePrompt {
        tags,
        prompt: unhide(prompt),
        timeout_secs,
    })
}

/// PXE client system types by name, in their numeric order.
const PXE_ARCHES: &[&str] = &[
    "x86PC",
    "PC98",
    "IA64_EFI",
    "Alpha",
    "Arc_x86",
    "Intel_Lean_Client",
    "IA32_EFI",
    "x86-64_EFI",
    "Xscale_EFI",
    "BC_EFI",
    "ARM32_EFI",
    "ARM64_EFI",
];

fn parse_pxe_service(a: &str) -> Result<Value, ConfigError> {
    let err = || {
        bad(
            GENERIC,
            format!("--pxe-service={a}: expected <CSA>,<menu text>[,<basename>|<type>][,<server>]"),
        )
    };
    let f = fields(a);
    let (tags, rest) = leading_tags(&f);
    if rest.len() < 2 {
        return Err(err());
    }
    let arch = match PXE_ARCHES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(rest[0]))
    {
        Some(i) => i as u16,
        None => uint(rest[0]).ok_or_else(err)? as u16,
    };
    Ok(Value::PxeService {
        tags,
        arch,
        menu: unhide(rest[1]),
        basename: rest.get(2).map(|s| unhide(s)),
        server: rest.get(3).map(|s| unhide(s)),
    })
}

fn parse_dhcp_proxy(arg: Option<&str>) -> Result<Value, ConfigError> {
    let Some(a) = arg else {
        return Ok(Value::Addresses(Vec::new()));
    };
    fields(a)
        .into_iter()
        .map(|f| ipv4(f).map(IpAddr::V4))
        .collect::<Option<Vec<_>>>()
        .map(Value::Addresses)
        .ok_or_else(|| bad("bad dhcp-proxy address", format!("--dhcp-proxy={a}")))
}

fn parse_dhcp_relay(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    let err = || bad("Bad dhcp-relay", format!("--dhcp-relay={a}"));
    let local = ip(f[0]).ok_or_else(err)?;
    let second = f.get(1).filter(|s| !s.is_empty()).ok_or_else(err)?;
    let (addr, port) = match second.split_once('#') {
        Some((a, p)) => (a, Some(p)),
        None => (*second, None),
    };
    // dnsmasq reads the port as atoi does: digits up to the first other character.
    let port = port.map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u16>().unwrap_or(0)
    });
    match ip(addr) {
        Some(server) => Ok(Value::DhcpRelay {
            local,
            server: Some(server),
            port,
            interface: f.get(2).map(|s| unhide(s)),
        }),
        // No server: the second field is the interface to broadcast on.
        None => Ok(Value::DhcpRelay {
            local,
            server: None,
            port: None,
            interface: Some(unhide(second)),
        }),
    }
}

fn parse_shared_network(a: &str) -> Result<Value, ConfigError> {
    let err = || bad("bad shared-network", format!("--shared-network={a}"));
    let (on, addr) = split_once_trim(a, ',');
    let addr = addr.and_then(ip).ok_or_else(err)?;
    let on_ok = match ip(on) {
        Some(x) => x.is_ipv4() == addr.is_ipv4(),
        None => crate::config::interface_index(on).is_some(),
    };
    if !on_ok {
        return Err(err());
    }
    Ok(Value::SharedNetwork {
        on: unhide(on),
        addr,
    })
}

/// Longest interface name Linux allows.
const IF_NAME_MAX: usize = 15;

fn parse_bridge(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    if f.len() < 2 || f[0].len() > IF_NAME_MAX {
        return Err(bad(
            "bad bridge-interface",
            format!("--bridge-interface={a}"),
        ));
    }
    let aliases = f[1..]
        .iter()
        .filter(|x| !x.is_empty() && x.len() <= IF_NAME_MAX)
        .map(|x| unhide(x))
        .collect();
    Ok(Value::Bridge {
        interface: unhide(f[0]),
        aliases,
    })
}

fn parse_alt_port(arg: Option<&str>) -> Result<Value, ConfigError> {
    let Some(a) = arg else {
        return Ok(Value::AltPort {
            server: 1067,
            client: 1068,
        });
    };
    let (s, c) = split_once_trim(a, ',');
    let err = || bad("invalid port number", format!("--dhcp-alternate-port={a}"));
    let server = uint16(s).ok_or_else(err)?;
    let client = match c {
        Some(c) => uint16(c).ok_or_else(err)?,
        None => server.wrapping_add(1),
    };
    Ok(Value::AltPort { server, client })
}

fn parse_reply_delay(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    let (tags, rest) = leading_tags(&f);
    let delay = rest
        .first()
        .and_then(|d| uint(d))
        .ok_or_else(|| bad(GENERIC, format!("--dhcp-reply-delay={a}")))?;
    Ok(Value::ReplyDelay {
        tags,
        delay_secs: delay.min(u32::MAX.into()) as u32,
    })
}

fn parse_ra_param(a: &str) -> Result<Value, ConfigError> {
    let err = || bad("bad RA-params", format!("--ra-param={a}"));
    let f = fields(a);
    if f.len() < 2 {
        return Ok(Value::RaParam {
            interface: unhide(f[0]),
            mtu: None,
            high_priority: None,
            interval_secs: 0,
            lifetime_secs: None,
        });
    }
    let mut i = 1;
    let mut mtu = None;
    if f[i].len() >= 4 && f[i][..4].eq_ignore_ascii_case("mtu:") {
        let m = &f[i][4..];
        if f.len() <= i + 1 {
            return Err(err());
        }
        if let Some(n) = uint(m) {
            if n < 1280 {
                return Err(err());
            }
        }
        mtu = Some(unhide(m));
        i += 1;
    }
    let mut high_priority = None;
    let lower = f[i].to_ascii_lowercase();
    if lower.starts_with("high") || lower.starts_with("low") {
        high_priority = Some(lower.starts_with("high"));
        i += 1;
    }
    let interval = f.get(i).and_then(|x| uint(x)).ok_or_else(err)?;
    let lifetime = match f.get(i + 1) {
        Some(l) => Some(uint(l).ok_or_else(err)? as u32),
        None => None,
    };
    Ok(Value::RaParam {
        interface: unhide(f[0]),
        mtu,
        high_priority,
        interval_secs: interval as u32,
        lifetime_secs: lifetime,
    })
}

fn parse_duid(a: &str) -> Result<Value, ConfigError> {
    let err = || bad("bad DUID", format!("--dhcp-duid={a}"));
    let (e, d) = split_once_trim(a, ',');
    let enterprise = uint(e).ok_or_else(err)? as u32;
    let duid = d.and_then(|d| hex(d, None, false)).ok_or_else(err)?.bytes;
    Ok(Value::Duid { enterprise, duid })
}

fn parse_auth_server(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    for x in &f[1..] {
        if ip(x).is_none() {
            if let (_, Some(fam)) = split_once_trim(x, '/') {
                if fam != "4" && fam != "6" {
                    return Err(bad(
                        GENERIC,
                        format!("--auth-server={a}: family must be /4 or /6"),
                    ));
                }
            }
        }
    }
    Ok(Value::AuthServer {
        name: unhide(f[0]),
        interfaces: f[1..].iter().map(|x| unhide(x)).collect(),
    })
}

fn parse_auth_zone(a: &str) -> Result<Value, ConfigError> {
    let f = fields(a);
    for x in &f[1..] {
        let (body, prefix) = split_once_trim(x, '/');
        let plen = match prefix {
            Some(p) => {
                Some(uint(p).ok_or_else(|| bad(GENERIC, format!("--auth-zone={a}: bad prefix")))?)
            }
            None => None,
        };
        let body = body.strip_prefix("exclude:").unwrap_or(body);
        if ip(body).is_none() && plen.is_some_and(|p| p != 4 && p != 6) {
            return Err(bad(
                GENERIC,
                format!("--auth-zone={a}: interface family must be /4 or /6"),
            ));
        }
    }
    Ok(Value::AuthZone {
        domain: unhide(f[0]),
        parts: f[1..].iter().map(|x| unhide(x)).collect(),
    })
}

fn parse_trust_anchor(a: &str) -> Result<Value, ConfigError> {
    let err = || bad("bad trust anchor", format!("--trust-anchor={a}"));
    let mut f = fields(a);
    if f.len() > 1 && matches!(f[1], "IN" | "CH" | "HS") {
        f.remove(1);
    }
    if f.len() < 5 {
        return Err(err());
    }
    let key_tag = uint16(f[1]).ok_or_else(err)?;
    let algorithm = uint8(f[2]).ok_or_else(err)?;
    let digest_type = uint8(f[3]).ok_or_else(err)?;
    let name = domain(f[0]).ok_or_else(err)?;
    let hex_text: String = unhide(&f[4..].join(","))
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let digest = hex(&hex_text, None, false)
        .ok_or_else(|| bad("bad HEX in trust anchor", a.to_string()))?
        .bytes;
    Ok(Value::TrustAnchor {
        name,
        key_tag,
        algorithm,
        digest_type,
        digest,
    })
}

fn parse_sets(a: &str) -> Result<Value, ConfigError> {
    let err = || bad(GENERIC, format!("{a}: expected /<domain>/<set>[,<set>...]"));
    let (domains, rest) = if a.starts_with('/') {
        parse_domain_list(a)?
    } else {
        (vec![Some(String::new())], a)
    };
    if rest.is_empty() {
        return Err(err());
    }
    Ok(Value::Sets {
        domains,
        sets: fields(rest).into_iter().map(unhide).collect(),
    })
}

fn parse_connmark(a: &str) -> Result<Value, ConfigError> {
    let err = || {
        bad(
            GENERIC,
            format!("--connmark-allowlist={a}: expected <mark>[/<mask>][,<pattern>...]"),
        )
    };
    let f = fields(a);
    let (mark, mask) = split_once_trim(f[0], '/');
    let nonzero = |s: &str| uint(s).filter(|&v| v > 0 && v < u64::from(u32::MAX) && !s.is_empty());
    let mark = nonzero(mark).ok_or_else(err)? as u32;
    let mask = match mask {
        Some(m) => nonzero(m).ok_or_else(err)? as u32,
        None => u32::MAX,
    };
    if f[1..].iter().any(|p| p.contains('/')) {
        return Err(err());
    }
    Ok(Value::Connmark {
        mark,
        mask,
        patterns: f[1..].iter().map(|p| unhide(p)).collect(),
    })
}
