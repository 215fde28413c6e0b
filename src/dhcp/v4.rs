//! DHCPv4 (RFC 2131, options of RFC 2132) as dnsmasq answers it, as a pure state machine:
//! a request's bytes, the interface it came in on and the time go in; the reply's bytes,
//! where they go and dnsmasq's log lines come out, and the lease changes are made in the
//! `LeaseStore`. The caller commits the store before it sends the replies of a batch
//! (group commit), so no ACK goes out for a lease that is not on disk. No sockets here.
//!
//! Covered so far: dynamic and static `--dhcp-range`s with their tags, `--dhcp-host`
//! (MACs with wildcards, `id:`, address, name, lease time, `ignore`, `set:` and `tag:`),
//! `--dhcp-option`s with tags, the tag sources (`--dhcp-vendorclass`, `--dhcp-userclass`,
//! `--dhcp-mac`, relay agent ids, `--dhcp-match`, `--dhcp-name-match`, `known`) and
//! `--tag-if` (see `tags`), `--dhcp-ignore`, `--dhcp-ignore-names`, `--dhcp-broadcast`,
//! `--dhcp-generate-names`, `--dhcp-boot`, `--dhcp-no-override`, `--domain`,
//! `--dhcp-authoritative`, `--dhcp-lease-max`, `--dhcp-ignore-clid`,
//! `--dhcp-sequential-ip`, relays (giaddr, option 82 given back), BOOTP (static hosts,
//! `--bootp-dynamic`, the 64-byte vendor area), ping checks of a dynamic pick (asked of
//! the runtime: `PingCheck`), dnsmasq's choice of address, replies fitted to the size the
//! client takes (option overload), and PXE (`pxe`: the boot menu, proxy ranges, boot
//! servers; requests to the PXE port come in with `Interface::pxe`).

use super::host_files::FromFiles;
use super::lease_file::{HwAddr, Lease, MAX_HW_BYTES};
use super::lease_store::LeaseStore;
use super::log_detail;
use super::option_catalog;
use super::pxe::{self, Pxe};
use super::script;
use super::tags::{self, TagIf, Tags};
use crate::config::parse::{DhcpHost, DhcpOption as ConfiguredOption, MatchKind, Value};
use crate::config::values::{legal_hostname, Hex, LeaseTime, TagMatch};
use crate::config::Config;
use crate::dns::lease_names::Domains;
use dhcproto::v4::{self, DhcpOption, Message, MessageType, OptionCode, UnknownOption};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// The server's port; replies to relays go to it too.
pub const SERVER_PORT: u16 = 67;
/// The client's port.
pub const CLIENT_PORT: u16 = 68;

/// dnsmasq's lease time where none is configured: one hour.
const DEFAULT_LEASE_SECS: u32 = 3600;

/// A `--dhcp-host` address a client declined is not offered again for this long (as
/// dnsmasq's DECLINE_BACKOFF).
const DECLINE_HOLD_SECS: u64 = 600;

/// Most declined host addresses remembered.
const MAX_DECLINED: usize = 4096;

/// `--dhcp-lease-max`'s default.
const DEFAULT_LEASE_MAX: usize = 1000;

/// The interface a request came in on.
#[derive(Clone, Debug)]
pub struct Interface {
    pub name: String,
    /// Its (first) IPv4 address and netmask.
    pub addr: Ipv4Addr,
    pub netmask: Ipv4Addr,
    /// The address the request was sent to, if one of ours (a relay's or a renewing
    /// client's request): the server is known by it.
    pub reached_at: Option<Ipv4Addr>,
    /// A loopback interface: addresses handed out through it are not ping-checked.
    pub loopback: bool,
    /// The request came to the PXE port (`pxe::PORT`), not the DHCP server's: only PXE
    /// clients are answered there, and back where they sent from.
    pub pxe: bool,
}

/// An address to ping before it is offered: the runtime sends the echo, holds the
/// request back, and hands the request in again once `Server::ping_result` has what
/// came of it (a reply within `PING_WAIT_SECS`, or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingCheck {
    pub addr: Ipv4Addr,
    /// The client's address hash (`--dhcp-sequential-ip` offers an address checked for
    /// one client to no other).
    pub client_hash: u32,
}

/// How long a ping check waits for an echo reply (dnsmasq's PING_WAIT).
pub const PING_WAIT_SECS: u64 = 3;

/// How long a ping check's answer stands (dnsmasq's PING_CACHE_TIME).
const PING_CACHE_SECS: u64 = 30;

/// Most ping answers remembered.
const MAX_PING_RECORDS: usize = 4096;

/// Where a reply goes (RFC 2131 4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// To the relay agent, port 67.
    Relay(Ipv4Addr),
    /// To the address the client already has (ciaddr), port 68.
    Client(Ipv4Addr),
    /// To 255.255.255.255, port 68.
    Broadcast,
    /// To an address the client has not configured yet, port 68: unicast to its hardware
    /// address (the runtime adds the ARP entry first, as dnsmasq does on Linux).
    Hardware { addr: Ipv4Addr, hwaddr: HwAddr },
    /// Back to the port the request came from (answers on the PXE port): at its source
    /// address, or at this one (the client's own, where it gave it).
    Sender(Option<Ipv4Addr>),
}

/// What answering one request gave.
#[derive(Debug, Default)]
pub struct Outcome {
    pub reply: Option<(Vec<u8>, Destination)>,
    /// `--dhcp-reply-delay`: send the reply no sooner than this many seconds after the
    /// request came (0: at once).
    pub delay_secs: u32,
    /// dnsmasq's log lines for it (`DHCPDISCOVER(eth0) 52:54:00:..`).
    pub log: Vec<String>,
    /// No answer yet: this address is to be ping-checked first (see `PingCheck`).
    pub ping: Option<PingCheck>,
    /// With a lease-change script: what the request said of its client, for the script
    /// calls of the lease changes it made.
    pub script: Option<Arc<script::Request>>,
}

/// The lease times a reply gives.
#[derive(Clone, Copy, Debug)]
enum Times {
    /// None (BOOTP, or an INFORM from a client without a lease).
    None,
    /// The lease's length, with T1 and T2; a renewal's T1 and T2 come `fuzz` seconds
    /// early (at most an eighth of T1), as dnsmasq spreads renewals out.
    Lease(LeaseTime, u16),
    /// An INFORM's answer to a client with a lease: what is left of it, and no T1/T2.
    Left(u32),
}

/// A `--dhcp-range` for IPv4 (its tags in `V4Config::range_tags`, by `index`).
#[derive(Clone, Copy, Debug)]
struct Range {
    index: usize,
    start: u32,
    end: u32,
    netmask: Option<Ipv4Addr>,
    broadcast: Option<Ipv4Addr>,
    lease: LeaseTime,
    /// `static`: only `--dhcp-host` addresses are given out.
    static_only: bool,
    /// `proxy`: no addresses at all, only PXE boot information (proxy DHCP); `start` is
    /// the subnet's address.
    proxy: bool,
}

/// A configured DHCPv4 option (not vendor-encapsulated).
#[derive(Clone, Debug)]
struct Configured {
    number: u8,
    data: Vec<u8>,
    forced: bool,
    tags: Vec<TagMatch>,
}

impl Configured {
    fn new(o: &ConfiguredOption, forced: bool) -> Configured {
        Configured {
            number: o.number as u8,
            data: o.data.clone(),
            forced,
            tags: o.tags.clone(),
        }
    }
}

/// Where an encapsulated option goes: `vendor:` (option 43, for clients whose vendor
/// class holds the text), `encap:` (inside that option) or `vi-encap:` (option 125,
/// under that enterprise number).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Carrier {
    Vendor(String),
    Encap(u8),
    ViEncap(u32),
    /// `--pxe-prompt`: option 43, for PXE clients (any `--dhcp-pxe-vendor` class).
    Pxe,
}

/// A configured option sent inside another (see `Carrier`).
#[derive(Clone, Debug)]
struct Encapsulated {
    carrier: Carrier,
    number: u8,
    data: Vec<u8>,
    forced: bool,
    tags: Vec<TagMatch>,
}

impl Encapsulated {
    fn new(o: &ConfiguredOption, forced: bool) -> Option<Encapsulated> {
        let carrier = match (&o.vendor, o.encap, o.vi_encap) {
            (Some(class), _, _) => Carrier::Vendor(class.clone()),
            (_, Some(outer), _) => Carrier::Encap(u8::try_from(outer).ok()?),
            (_, _, Some(enterprise)) => Carrier::ViEncap(enterprise),
            _ => return None,
        };
        (!o.v6).then(|| Encapsulated {
            carrier,
            number: o.number as u8,
            data: o.data.clone(),
            forced,
            tags: o.tags.clone(),
        })
    }
}

/// What a `--dhcp-match` compares its value with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MatchOn {
    /// The option of this number.
    Option(u8),
    /// `vi-encap:`: each vendor class option 124 (RFC 3925) gives for this enterprise.
    VendorClasses(u32),
}

/// What a `--dhcp-vendorclass`, `--dhcp-userclass`, `--dhcp-circuitid`,
/// `--dhcp-remoteid` or `--dhcp-subscrid` looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClassKind {
    Vendor,
    User,
    /// A relay agent sub-option (option 82): circuit-id 1, remote-id 2, subscriber-id 6.
    Agent(u8),
}

/// A `--dhcp-boot`.
#[derive(Clone, Debug)]
struct Boot {
    tags: Vec<TagMatch>,
    file: String,
    server_name: Option<String>,
    server: Option<Ipv4Addr>,
    /// A TFTP server given by name, found in the hosts files (`resolve_boot_servers`).
    tftp_name: Option<String>,
}

/// The DHCPv4 part of the configuration.
#[derive(Clone, Debug, Default)]
pub struct V4Config {
    ranges: Vec<Range>,
    /// Per range: the tags it needs (`tag:`), and the one it sets (`set:`).
    range_tags: Vec<(Vec<TagMatch>, Option<String>)>,
    hosts: Vec<DhcpHost>,
    /// The addresses `--dhcp-host`s give.
    reserved: HashSet<Ipv4Addr>,
    options: Vec<Configured>,
    /// `vendor:`, `encap:` and `vi-encap:` options, in configuration order.
    encapsulated: Vec<Encapsulated>,
    tag_if: Vec<TagIf>,
    /// `--dhcp-mac`: tag, MAC pattern.
    macs: Vec<(String, Hex)>,
    classes: Vec<(ClassKind, String, Vec<u8>)>,
    /// `--dhcp-match`: tag, what it looks at, value (empty: its presence), and how the
    /// value is compared.
    matches: Vec<(String, MatchOn, Vec<u8>, MatchKind)>,
    /// `--dhcp-name-match`: tag, name, whether it ends in `*`.
    name_matches: Vec<(String, String, bool)>,
    ignore: Vec<Vec<TagMatch>>,
    ignore_names: Vec<Vec<TagMatch>>,
    broadcast: Vec<Vec<TagMatch>>,
    generate_names: Vec<Vec<TagMatch>>,
    /// `--dhcp-proxy`: relays (none listed: every relay) whose address is given as the
    /// server identifier.
    proxy: Option<Vec<Ipv4Addr>>,
    /// `--dhcp-client-update`: clients with an FQDN option update their own A records.
    client_update: bool,
    /// `--shared-network`: interface name or relay address, and an address whose
    /// network's ranges serve its clients too.
    shared: Vec<(String, Ipv4Addr)>,
    /// `--bootp-dynamic`: BOOTP clients with these tags get dynamic addresses.
    bootp_dynamic: Vec<Vec<TagMatch>>,
    boots: Vec<Boot>,
    /// `--pxe-service`, `--pxe-prompt`, `--dhcp-pxe-vendor`.
    pxe: Pxe,
    no_override: bool,
    /// `--dhcp-rapid-commit`.
    rapid_commit: bool,
    /// `--dhcp-reply-delay`: tags, seconds.
    reply_delays: Vec<(Vec<TagMatch>, u32)>,
    domains: Domains,
    authoritative: bool,
    lease_max: usize,
    ignore_client_id: bool,
    sequential: bool,
    /// `--dhcp-script`: requests are described for it (`Outcome::script`).
    scripted: bool,
    /// Ping an address before offering it (unless `--no-ping`).
    ping: bool,
    /// `--quiet-dhcp` without `--log-dhcp`: routine exchanges are not logged.
    quiet: bool,
    /// `--log-dhcp`: each exchange's detail is logged too (`log_detail`).
    log_detail: bool,
    /// The DNS server's port: 0 means no DNS, so no DNS-server option by default.
    dns_port: u16,
}

impl V4Config {
    /// Add what the host and option files gave (`host_files`): their hosts and options
    /// come after the configuration's own.
    pub fn add_files(&mut self, files: FromFiles) {
        self.reserved
            .extend(files.hosts.iter().filter_map(|h| h.addr));
        self.hosts.extend(files.hosts);
        let options = files.options.iter().filter(|o| plain_v4(o));
        self.options
            .extend(options.map(|o| Configured::new(o, false)));
        self.encapsulated.extend(
            files
                .options
                .iter()
                .filter_map(|o| Encapsulated::new(o, false)),
        );
    }

    /// From the configuration alone (`add_files` adds the host and option files).
    pub fn from_config(config: &Config) -> V4Config {
        let mut range_tags = Vec::new();
        let ranges = config
            .values("dhcp-range")
            .filter_map(|v| match v {
                Value::DhcpRange(r) => match (r.start, r.end) {
                    (IpAddr::V4(s), IpAddr::V4(e)) => {
                        range_tags.push((r.tags.clone(), r.set_tag.clone()));
                        Some(Range {
                            index: range_tags.len() - 1,
                            start: u32::from(s),
                            end: u32::from(e),
                            netmask: r.netmask,
                            broadcast: r.broadcast,
                            lease: r.lease.unwrap_or(LeaseTime::Secs(DEFAULT_LEASE_SECS)),
                            static_only: r.modes.iter().any(|m| m == "static"),
                            proxy: r.modes.iter().any(|m| m == "proxy"),
                        })
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let hosts: Vec<DhcpHost> = config
            .values("dhcp-host")
            .filter_map(|v| match v {
                Value::DhcpHost(h) => Some((**h).clone()),
                _ => None,
            })
            .collect();
        let reserved = hosts.iter().filter_map(|h| h.addr).collect();
        // Options and encapsulated ones in the order given, forced or not (the order
        // decides which of two for one option is sent, and the order sent).
        const OPTION_LINES: [&str; 3] = ["dhcp-option", "dhcp-option-force", "pxe-prompt"];
        let lines = || config.values_of(&OPTION_LINES);
        let options = lines()
            .filter_map(|(name, v)| match v {
                Value::DhcpOption(o) if plain_v4(o) => {
                    Some(Configured::new(o, name == "dhcp-option-force"))
                }
                _ => None,
            })
            .collect();
        let encapsulated = lines()
            .filter_map(|(name, v)| match v {
                Value::DhcpOption(o) => Encapsulated::new(o, name == "dhcp-option-force"),
                Value::PxePrompt {
                    tags,
                    prompt,
                    timeout_secs,
                } => Some(Encapsulated {
                    carrier: Carrier::Pxe,
                    number: pxe::MENU_PROMPT,
                    data: std::iter::once(*timeout_secs)
                        .chain(prompt.bytes())
                        .collect(),
                    forced: false,
                    tags: tags.clone(),
                }),
                _ => None,
            })
            .collect();
        let domains = Domains::from_config(config);
        let lease_max = match config.last("dhcp-lease-max") {
            Some(Value::Uint(n)) => *n as usize,
            _ => DEFAULT_LEASE_MAX,
        };
        let tag_lists = |name: &str| -> Vec<Vec<TagMatch>> {
            config
                .values(name)
                .filter_map(|v| match v {
                    Value::Tags(t) => Some(t.clone()),
                    _ => None,
                })
                .collect()
        };
        let tag_if = config
            .values("tag-if")
            .filter_map(|v| match v {
                Value::TagIf { tags, set } => Some(TagIf {
                    when: tags.clone(),
                    set: set.clone(),
                }),
                _ => None,
            })
            .collect();
        let macs = config
            .values("dhcp-mac")
            .filter_map(|v| match v {
                Value::DhcpMac { tag, mac } => Some((tag.clone(), mac.clone())),
                _ => None,
            })
            .collect();
        let classes = [
            ("dhcp-vendorclass", ClassKind::Vendor),
            ("dhcp-userclass", ClassKind::User),
            ("dhcp-circuitid", ClassKind::Agent(1)),
            ("dhcp-remoteid", ClassKind::Agent(2)),
            ("dhcp-subscrid", ClassKind::Agent(6)),
        ]
        .iter()
        .flat_map(|&(name, kind)| {
            config.values(name).filter_map(move |v| match v {
                // Enterprise numbers namespace vendor classes in DHCPv6 only.
                Value::DhcpClassMatch {
                    tag,
                    data,
                    enterprise: None,
                } => Some((kind, tag.clone(), data.clone())),
                _ => None,
            })
        })
        .collect();
        let matches = config
            .values("dhcp-match")
            .filter_map(|v| match v {
                Value::DhcpOption(o) if !o.v6 => {
                    let on = match o.vi_encap {
                        Some(enterprise) => MatchOn::VendorClasses(enterprise),
                        None if plain_v4(o) => MatchOn::Option(o.number as u8),
                        None => return None,
                    };
                    Some((o.tags.first()?.name.clone(), on, o.data.clone(), o.matching))
                }
                _ => None,
            })
            .collect();
        let name_matches = config
            .values("dhcp-name-match")
            .filter_map(|v| match v {
                Value::DhcpNameMatch {
                    tag,
                    name,
                    wildcard,
                } => Some((tag.clone(), name.clone(), *wildcard)),
                _ => None,
            })
            .collect();
        let boots = config
            .values("dhcp-boot")
            .filter_map(|v| match v {
                Value::DhcpBoot {
                    tags,
                    file,
                    server_name,
                    server,
                } => Some(Boot {
                    tags: tags.clone(),
                    file: file.clone(),
                    server_name: server_name.clone(),
                    server: server.as_deref().and_then(|s| s.parse().ok()),
                    tftp_name: server.clone().filter(|s| s.parse::<Ipv4Addr>().is_err()),
                }),
                _ => None,
            })
            .collect();
        V4Config {
            ranges,
            range_tags,
            hosts,
            reserved,
            options,
            encapsulated,
            tag_if,
            macs,
            classes,
            matches,
            name_matches,
            ignore: tag_lists("dhcp-ignore"),
            ignore_names: tag_lists("dhcp-ignore-names"),
            broadcast: tag_lists("dhcp-broadcast"),
            generate_names: tag_lists("dhcp-generate-names"),
            bootp_dynamic: tag_lists("bootp-dynamic"),
            client_update: config.has("dhcp-client-update"),
            proxy: config.has("dhcp-proxy").then(|| {
                config
                    .values("dhcp-proxy")
                    .filter_map(|v| match v {
                        Value::Addresses(a) => Some(a.clone()),
                        _ => None,
                    })
                    .flatten()
                    .filter_map(|a| match a {
                        IpAddr::V4(v4) => Some(v4),
                        IpAddr::V6(_) => None,
                    })
                    .collect()
            }),
            shared: config
                .values("shared-network")
                .filter_map(|v| match v {
                    Value::SharedNetwork {
                        on,
                        addr: IpAddr::V4(a),
                    } => Some((on.clone(), *a)),
                    _ => None,
                })
                .collect(),
            boots,
            pxe: Pxe::from_config(config),
            no_override: config.has("dhcp-no-override"),
            rapid_commit: config.has("dhcp-rapid-commit"),
            reply_delays: config
                .values("dhcp-reply-delay")
                .filter_map(|v| match v {
                    Value::ReplyDelay { tags, delay_secs } => Some((tags.clone(), *delay_secs)),
                    _ => None,
                })
                .collect(),
            domains,
            authoritative: config.has("dhcp-authoritative"),
            lease_max,
            ignore_client_id: config.has("dhcp-ignore-clid"),
            sequential: config.has("dhcp-sequential-ip"),
            scripted: config.has("dhcp-script"),
            ping: !config.has("no-ping"),
            quiet: config.has("quiet-dhcp") && !config.has("log-dhcp"),
            log_detail: config.has("log-dhcp"),
            dns_port: config.uint_or("port", 53) as u16,
        }
    }

    /// The `--domain`s, which qualify clients' names.
    pub fn domains(&self) -> &Domains {
        &self.domains
    }

    pub fn domains_mut(&mut self) -> &mut Domains {
        &mut self.domains
    }

    /// Give `--dhcp-boot`s whose TFTP server is named, and `--pxe-service`s whose boot
    /// server is, the address `lookup` finds for it (dnsmasq looks in the hosts files).
    /// Returns the names not found: those give no server address.
    pub fn resolve_boot_servers(
        &mut self,
        lookup: impl Fn(&str) -> Option<Ipv4Addr>,
    ) -> Vec<String> {
        let mut missing = self.pxe.resolve(&lookup);
        let named = self.boots.iter_mut().map(|b| (&b.tftp_name, &mut b.server));
        missing.extend(pxe::resolve_named(named, &lookup));
        missing
    }

    /// Ping-check no address (`--no-ping`, or no way to ping here).
    pub fn without_ping(&mut self) {
        self.ping = false;
    }

    /// Whether addresses are ping-checked before they are offered.
    pub fn pings(&self) -> bool {
        self.ping
    }

    /// Whether any IPv4 range is configured (else DHCPv4 is off).
    pub fn is_enabled(&self) -> bool {
        !self.ranges.is_empty()
    }

    /// Whether PXE clients are served (a `--pxe-service` or `--pxe-prompt`): then the
    /// PXE port is listened on too.
    pub fn serves_pxe(&self) -> bool {
        self.pxe.enabled()
    }

    /// The lines dnsmasq logs at start for its ranges, in its order (the last given
    /// first): `DHCP, IP range 10.0.0.10 -- 10.0.0.99, lease time 2h`.
    pub fn range_lines(&self) -> Vec<String> {
        self.ranges
            .iter()
            .rev()
            .map(|r| {
                let time = match r.lease {
                    LeaseTime::Secs(secs) => log_detail::pretty_time(secs),
                    LeaseTime::Infinite => "infinite".into(),
                };
                let start = Ipv4Addr::from(r.start);
                if r.proxy {
                    format!("DHCP, proxy on subnet {start}")
                } else if r.static_only {
                    format!("DHCP, static leases only on {start}, lease time {time}")
                } else {
                    let end = Ipv4Addr::from(r.end);
                    format!("DHCP, IP range {start} -- {end}, lease time {time}")
                }
            })
            .collect()
    }
}

/// A configured option this server sends as it is: DHCPv4, no vendor or encapsulation.
fn plain_v4(o: &ConfiguredOption) -> bool {
    !o.v6
        && o.vendor.is_none()
        && o.encap.is_none()
        && o.vi_encap.is_none()
        && (1..255).contains(&o.number)
}

/// A subnet a request is for: a range, with the mask and broadcast address it uses, and
/// the address this server is known by there.
#[derive(Clone, Copy, Debug)]
struct Subnet {
    range: Range,
    netmask: Ipv4Addr,
    broadcast: Ipv4Addr,
    /// The server's identifier here.
    local: Ipv4Addr,
    /// The interface's own address: the identifier where no subnet fits the request.
    interface_addr: Ipv4Addr,
    /// The server identifier given: `local`, or the relay's address where `--dhcp-proxy`
    /// names it (so that the client's later requests come through the relay too).
    id: Ipv4Addr,
}

impl Subnet {
    fn contains(&self, addr: Ipv4Addr) -> bool {
        let m = u32::from(self.netmask);
        u32::from(addr) & m == self.range.start & m
    }

    fn in_range(&self, addr: Ipv4Addr) -> bool {
        (self.range.start..=self.range.end).contains(&u32::from(addr))
    }
}

/// What a request's tags decide: the `--dhcp-host` that applies, the tags in force
/// (`--tag-if` applied; the range's own is added where options are chosen), and whether
/// `--dhcp-ignore` matched.
#[derive(Debug)]
struct Classified<'c> {
    host: Option<&'c DhcpHost>,
    tags: Tags,
    ignored: bool,
    /// The relay agent information option (82) as the relay sent it: every reply
    /// carries it back, last (RFC 3046).
    agent: Option<Vec<u8>>,
    /// A PXE client (while PXE is served): what it says of itself.
    pxe: Option<pxe::Client>,
}

/// Who a client is: its client identifier (unless ignored) and hardware address.
#[derive(Clone, Debug)]
struct Client {
    hwaddr: HwAddr,
    client_id: Option<Vec<u8>>,
}

impl Client {
    fn mac_text(&self) -> String {
        self.hwaddr.to_string()
    }
}

/// The DHCPv4 server. See the module comment.
#[derive(Debug)]
pub struct Server {
    config: V4Config,
    /// Declined addresses and when they may be offered again.
    declined: HashMap<Ipv4Addr, u64>,
    /// Added to every address hash, and bumped by each decline of a dynamic address, so
    /// that the next picks land elsewhere (dnsmasq's addr_epoch).
    addr_epoch: u32,
    /// Ping checks' answers: when, for which client's hash, and whether it answered.
    pings: HashMap<Ipv4Addr, PingRecord>,
}

#[derive(Clone, Copy, Debug)]
struct PingRecord {
    at_secs: u64,
    client_hash: u32,
    in_use: bool,
}

/// dnsmasq's reason texts for a DHCPNAK.
const NAK_WRONG_NETWORK: &str = "wrong network";
const NAK_WRONG_ADDRESS: &str = "wrong address";
const NAK_NOT_AVAILABLE: &str = "address not available";
const NAK_NO_LEASE: &str = "lease not found";

impl Server {
    pub fn new(config: V4Config) -> Server {
        Server {
            config,
            declined: HashMap::new(),
            addr_epoch: 0,
            pings: HashMap::new(),
        }
    }

    /// What a ping check found: whether `check.addr` answered. An address that did is
    /// passed over (and the next picks moved along, as dnsmasq does) for
    /// `PING_CACHE_SECS`; one that did not may be offered meanwhile without another.
    pub fn ping_result(&mut self, check: PingCheck, in_use: bool, now_secs: u64) {
        if self.pings.len() >= MAX_PING_RECORDS {
            self.pings
                .retain(|_, r| now_secs.saturating_sub(r.at_secs) <= PING_CACHE_SECS);
            if self.pings.len() >= MAX_PING_RECORDS {
                // All fresh: the oldest answers go first.
                let mut ages: Vec<u64> = self.pings.values().map(|r| r.at_secs).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                self.pings.retain(|_, r| r.at_secs > cut);
            }
        }
        if in_use && !self.config.sequential {
            self.addr_epoch = self.addr_epoch.wrapping_add(1);
        }
        self.pings.insert(
            check.addr,
            PingRecord {
                at_secs: now_secs,
                client_hash: check.client_hash,
                in_use,
            },
        );
    }

    /// Whether a dynamic pick `addr` may be offered to the client of `hash` as far as
    /// ping checks go: Ok(true) it may, Ok(false) it is in use (or, with
    /// `--dhcp-sequential-ip`, checked for another client), Err a check is needed.
    fn ping_allows(
        &self,
        addr: Ipv4Addr,
        hash: u32,
        loopback: bool,
        now_secs: u64,
    ) -> Result<bool, ()> {
        if !self.config.ping || loopback {
            return Ok(true);
        }
        match self.pings.get(&addr) {
            Some(r) if now_secs.saturating_sub(r.at_secs) <= PING_CACHE_SECS => {
                Ok(!r.in_use && (!self.config.sequential || r.client_hash == hash))
            }
            _ => Err(()),
        }
    }

    /// Answer from this configuration from now on (SIGHUP re-read the host and option
    /// files); declined addresses stay held back.
    pub fn reconfigure(&mut self, config: V4Config) {
        self.config = config;
    }

    /// Answer one request (a UDP payload to port 67) that came in on `iface`.
    pub fn handle(
        &mut self,
        packet: &[u8],
        iface: &Interface,
        now_secs: u64,
        store: &mut LeaseStore,
    ) -> Outcome {
        let mut out = Outcome::default();
        let Some(msg) = decode_request(packet) else {
            return out;
        };
        if msg.opcode() != v4::Opcode::BootRequest || msg.hlen() as usize > MAX_HW_BYTES {
            return out;
        }
        let kind = msg.opts().msg_type();
        if kind.is_none() && (msg.hlen() == 0 || u8::from(msg.htype()) == 0) {
            // BOOTP needs a hardware address.
            return out;
        }
        let hwaddr = HwAddr {
            htype: u8::from(msg.htype()),
            bytes: msg.chaddr()[..msg.hlen() as usize].to_vec(),
        };
        let client_id = match msg.opts().get(OptionCode::ClientIdentifier) {
            Some(DhcpOption::ClientIdentifier(id)) if !self.config.ignore_client_id => {
                Some(id.clone()).filter(|id| !id.is_empty())
            }
            _ => None,
        };
        let client = Client { hwaddr, client_id };
        let relay = msg.giaddr();
        let Some(network) = self.subnet(iface, relay, None) else {
            return out;
        };
        let class = self.classify(packet, &msg, &client, iface, network);
        // A PXE client may get boot information alone (proxy DHCP, a boot server's
        // answer); nothing else is answered on a proxy range or at the PXE port.
        let answered = self.pxe_answer(packet, &msg, &client, iface, &class, &mut out);
        if answered || network.range.proxy || iface.pxe {
            if self.config.log_detail {
                let mut detail = Outcome::default();
                self.log_request(packet, &msg, network, &mut detail);
                out.log.splice(0..0, detail.log);
            }
            self.finish(packet, &msg, &mut out, true);
            return out;
        }
        // The range used is the first on the network whose tags the request has.
        let Some(subnet) = self.subnet_where(iface, relay, Some(&class.tags), |s| !s.range.proxy)
        else {
            if kind == Some(MessageType::Discover) {
                problem(
                    &mut out,
                    "DHCPDISCOVER",
                    &iface.name,
                    &client,
                    "no address available",
                );
            }
            return out;
        };
        // Copied out so the server may be changed (a decline) while they are in use.
        let host = class.host.cloned();
        let class = Classified {
            host: host.as_ref(),
            ..class
        };
        // As dnsmasq: what a request says is kept for the script when it takes an
        // address (selecting or rebooting), not when it renews one (ciaddr set).
        if self.config.scripted && msg.ciaddr().is_unspecified() {
            out.script = Some(Arc::new(self.script_request(packet, &class, subnet)));
        }
        if self.config.log_detail {
            self.log_request(packet, &msg, subnet, &mut out);
        }
        let name = iface.name.as_str();
        let Some(kind) = kind else {
            self.bootp(
                &msg,
                &client,
                subnet,
                (name, iface.loopback),
                &class,
                now_secs,
                store,
                &mut out,
            );
            if self.config.log_detail {
                self.log_reply(packet, &msg, &mut out, false);
            }
            return out;
        };
        match kind {
            MessageType::Discover => self.discover(
                &msg,
                &client,
                subnet,
                (name, iface.loopback),
                &class,
                now_secs,
                store,
                &mut out,
            ),
            MessageType::Request => self.request(
                &msg,
                &client,
                subnet,
                (name, iface.reached_at.is_some()),
                &class,
                now_secs,
                store,
                &mut out,
            ),
            MessageType::Release => self.release(&msg, &client, subnet, name, store, &mut out),
            MessageType::Decline => {
                self.decline(&msg, &client, subnet, name, now_secs, store, &mut out)
            }
            MessageType::Inform => self.inform(
                &msg, &client, subnet, name, &class, now_secs, store, &mut out,
            ),
            _ => {}
        }
        self.finish(packet, &msg, &mut out, false);
        out
    }

    /// A DHCP reply made to fit the size the client takes (see `fit`), and its detail
    /// logged with `--log-dhcp` (`boot_only`: a PXE answer, whose options are not
    /// chosen from those asked for).
    fn finish(&self, packet: &[u8], msg: &Message, out: &mut Outcome, boot_only: bool) {
        if let Some((reply, _)) = &mut out.reply {
            // As dnsmasq: the size option counts the IP and UDP headers; at least the
            // 576 bytes every client takes.
            let max = match raw_option(packet, 57) {
                Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b]))
                    .saturating_sub(28)
                    .clamp(MIN_MESSAGE_BYTES, MAX_MESSAGE_BYTES),
                _ => MIN_MESSAGE_BYTES,
            };
            // No overload for clients without a request list (BOOTP-like, as dnsmasq
            // has it), nor under --dhcp-no-override.
            let overload = raw_option(packet, 55).is_some() && !self.config.no_override;
            let (fitted, dropped) = fit(reply, max, overload);
            *reply = fitted;
            for code in dropped {
                out.log.push(format!(
                    "cannot send DHCP/BOOTP option {code}: no space left in packet"
                ));
            }
        }
        if self.config.log_detail {
            self.log_reply(packet, msg, out, boot_only);
        }
    }

    /// What dnsmasq answers a PXE client with boot information alone: a boot server's
    /// ACK to a REQUEST or INFORM that names a menu item (option 43's sub-option 71),
    /// and proxy DHCP's OFFER to a DISCOVER (or ACK to a REQUEST at the PXE port) on a
    /// proxy range. True if the request was one of these (answered or not).
    #[allow(clippy::too_many_arguments)]
    fn pxe_answer(
        &self,
        packet: &[u8],
        msg: &Message,
        client: &Client,
        iface: &Interface,
        class: &Classified,
        out: &mut Outcome,
    ) -> bool {
        let Some(pc) = &class.pxe else {
            return false;
        };
        let kind = msg.opts().msg_type();
        let item = raw_option(packet, 43)
            .and_then(|o| sub_option(o, pxe::BOOT_ITEM))
            .filter(|i| i.len() >= 4);
        if let (Some(MessageType::Request | MessageType::Inform), Some(item)) = (kind, item) {
            self.boot_server_answer(packet, msg, client, iface, pc, item, class, out);
            return true;
        }
        let Some(arch) = pc.arch else {
            return false;
        };
        let asks = match kind {
            Some(MessageType::Discover) => true,
            Some(MessageType::Request) => iface.pxe,
            _ => false,
        };
        let proxy = asks
            .then(|| self.subnet_where(iface, msg.giaddr(), Some(&class.tags), |s| s.range.proxy))
            .flatten();
        let Some(proxy) = proxy else {
            return false;
        };
        self.proxy_answer(packet, msg, client, iface, pc, arch, proxy, class, out);
        true
    }

    /// A boot server's answer to the client that picked menu item `item` (type and
    /// layer): the boot file of that item's service, from this server.
    #[allow(clippy::too_many_arguments)]
    fn boot_server_answer(
        &self,
        packet: &[u8],
        msg: &Message,
        client: &Client,
        iface: &Interface,
        pc: &pxe::Client,
        item: &[u8],
        class: &Classified,
        out: &mut Outcome,
    ) {
        if class.ignored {
            return;
        }
        let boot_type = u16::from_be_bytes([item[0], item[1]]);
        let layer = u16::from_be_bytes([item[2], item[3]]);
        if layer & 0x8000 != 0 {
            out.log.push("PXE BIS not supported".to_string());
            return;
        }
        let ciaddr = believed_ciaddr(packet, msg);
        let subnet = self.subnet_where(iface, msg.giaddr(), Some(&class.tags), |s| {
            s.contains(ciaddr)
        });
        let service = self.config.pxe.service_of_type(boot_type);
        let (Some(subnet), Some(service)) = (subnet, service) else {
            return;
        };
        let Some(file) = service.boot_file(layer) else {
            return;
        };
        let mut r = reply_header(msg);
        r.set_yiaddr(ciaddr);
        r.set_siaddr(service.boot_server(subnet.local));
        r.set_fname_str(&file);
        let mut vendor = vec![pxe::BOOT_ITEM, 4];
        vendor.extend_from_slice(&item[..4]);
        vendor.extend(self.vendor_sub_options(&class.tags, raw_option(packet, 60)));
        let r = self.pxe_reply(r, MessageType::Ack, subnet.local, pc, Some(vendor), class);
        self.routine(
            out,
            format!("PXE({}) {ciaddr} {} {file}", iface.name, client.mac_text()),
        );
        self.log_tags(msg, class, subnet, out);
        let to = match iface.pxe {
            true => Destination::Sender(None),
            false => self.destination(msg, ciaddr, client, false, class),
        };
        out.reply = Some((r, to));
    }

    /// Proxy DHCP's answer to a PXE client of system type `arch` on the `proxy` range:
    /// no address, only where to boot from (the menu, or a boot file).
    #[allow(clippy::too_many_arguments)]
    fn proxy_answer(
        &self,
        packet: &[u8],
        msg: &Message,
        client: &Client,
        iface: &Interface,
        pc: &pxe::Client,
        arch: u16,
        proxy: Subnet,
        class: &Classified,
        out: &mut Outcome,
    ) {
        let tags = self.tags_with_range(class, proxy);
        let discover = msg.opts().msg_type() == Some(MessageType::Discover);
        let local = proxy.local;
        let ciaddr = believed_ciaddr(packet, msg);
        let mut r = reply_header(msg);
        if discover || ciaddr.is_unspecified() {
            r.set_flags(r.flags().set_broadcast());
        } else {
            r.set_ciaddr(ciaddr);
        }
        // UEFI clients are sent on to the PXE port.
        let redirect = arch >= 6;
        if redirect {
            r.set_siaddr(local);
        }
        let sole = self.config.pxe.sole_uefi_service(arch, &tags);
        if let (Some(s), true) = (sole, iface.pxe) {
            let server = s.boot_server(local);
            r.set_siaddr(server);
            match &s.server_name {
                Some(name) => r.set_sname_str(name),
                None => r.set_sname_str(server.to_string()),
            };
            if let Some(file) = s.boot_file(0) {
                r.set_fname_str(file);
            }
        } else if let (None, Some(boot)) = (sole, self.boot_for(&tags)) {
            // For iPXE, and for a menu with no items.
            if let Some(server) = boot.server {
                r.set_siaddr(server);
            }
            r.set_fname_str(&boot.file);
        }
        let vendor = ((iface.pxe && sole.is_none()) || !redirect).then(|| {
            let configured = self.vendor_sub_options(&tags, raw_option(packet, 60));
            let mut data = match self.pxe_menu(arch, &tags, local, &configured) {
                Ok(menu) => menu,
                Err(pxe::MenuTooLarge) => {
                    out.log.push("PXE menu too large".to_string());
                    Vec::new()
                }
            };
            data.extend(configured);
            data
        });
        let kind = match discover {
            true => MessageType::Offer,
            false => MessageType::Ack,
        };
        let r = self.pxe_reply(r, kind, local, pc, vendor, class);
        let what = match class.ignored {
            true => "proxy-ignored",
            false => "proxy",
        };
        self.routine(
            out,
            format!("PXE({}) {} {what}", iface.name, client.mac_text()),
        );
        self.log_tags(msg, class, proxy, out);
        if class.ignored {
            return;
        }
        out.delay_secs = self.reply_delay(msg, proxy, class, out);
        let to = match (iface.pxe, msg.giaddr().is_unspecified()) {
            (true, _) => Destination::Sender(Some(ciaddr).filter(|a| !a.is_unspecified())),
            (false, false) => Destination::Relay(msg.giaddr()),
            (false, true) => Destination::Broadcast,
        };
        out.reply = Some((r, to));
    }

    /// A PXE reply's options, in dnsmasq's order: message type, server, the vendor
    /// class the client gave (of the configured ones), its machine id, the vendor
    /// option's sub-options (`vendor`, ended) and the relay's agent option.
    fn pxe_reply(
        &self,
        mut r: Message,
        kind: MessageType,
        server: Ipv4Addr,
        pc: &pxe::Client,
        vendor: Option<Vec<u8>>,
        class: &Classified,
    ) -> Vec<u8> {
        let opts = r.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        opts.insert(DhcpOption::ServerIdentifier(server));
        let mut raw = pc.given_back();
        if let Some(mut data) = vendor.filter(|d| !d.is_empty()) {
            data.push(255);
            raw.push((43, data));
        }
        for (code, data) in raw {
            opts.insert(DhcpOption::Unknown(UnknownOption::new(
                OptionCode::from(code),
                data,
            )));
        }
        echo_agent(&mut r, class.agent.as_deref());
        split_sub_options(&reordered(&encode(&r), &[53, 54, 60, 97, 43]), 43)
    }

    /// The PXE menu's sub-options (see `Pxe::menu`) as bytes, for a client whose
    /// configured option 43 sub-options are `configured` (a prompt among them is the
    /// menu's).
    fn pxe_menu(
        &self,
        arch: u16,
        tags: &Tags,
        local: Ipv4Addr,
        configured: &[u8],
    ) -> Result<Vec<u8>, pxe::MenuTooLarge> {
        let menu = self
            .config
            .pxe
            .menu(arch, tags, local, pxe_prompt_in(configured))?;
        Ok(tlvs(menu.iter().map(|(n, d)| (*n, &d[..]))))
    }

    /// The `--dhcp-boot` for these tags, as dnsmasq's find_boot picks it: the first
    /// whose tags match, else the first untagged one.
    fn boot_for(&self, tags: &Tags) -> Option<&Boot> {
        let boots = &self.config.boots;
        boots
            .iter()
            .find(|b| tags.matches(&b.tags, false))
            .or_else(|| boots.iter().find(|b| tags.matches(&b.tags, true)))
    }

    /// The tags in force for a request: its own and the range's, latest first, as
    /// dnsmasq lists them.
    fn tags_in_force(&self, class: &Classified, subnet: Subnet) -> Vec<String> {
        let mut tags: Vec<String> = class.tags.iter().map(str::to_string).collect();
        if let Some(tag) = &self.config.range_tags[subnet.range.index].1 {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        tags.reverse();
        tags
    }

    /// `--log-dhcp`'s "tags" line.
    fn log_tags(&self, msg: &Message, class: &Classified, subnet: Subnet, out: &mut Outcome) {
        if self.config.log_detail {
            let tags = self.tags_in_force(class, subnet).join(", ");
            out.log.push(format!("{} tags: {tags}", msg.xid()));
        }
    }

    /// `--log-dhcp`'s lines of what a request is and brings, before it is answered.
    fn log_request(&self, packet: &[u8], msg: &Message, subnet: Subnet, out: &mut Outcome) {
        let xid = msg.xid();
        let range = subnet.range;
        let start = Ipv4Addr::from(range.start);
        out.log.push(if range.static_only || range.proxy {
            format!("{xid} available DHCP subnet: {start}/{}", subnet.netmask)
        } else {
            format!(
                "{xid} available DHCP range: {start} -- {}",
                Ipv4Addr::from(range.end)
            )
        });
        if let Some(v) = raw_option(packet, 60) {
            out.log
                .push(format!("{xid} vendor class: {}", log_detail::printable(v)));
        }
        if let Some(v) = raw_option(packet, 77) {
            let v = rfc3004_uncounted(v);
            out.log
                .push(format!("{xid} user class: {}", log_detail::printable(&v)));
        }
        if let Some(name) = client_name(msg) {
            out.log.push(format!("{xid} client provides name: {name}"));
        }
    }

    /// `--log-dhcp`'s lines of the reply: the options asked for, the boot fields, and
    /// every option sent. And every line of dnsmasq's log_packet (`DHCPOFFER(eth0) ..`)
    /// gets the transaction id in front.
    fn log_reply(&self, packet: &[u8], msg: &Message, out: &mut Outcome, boot_only: bool) {
        let xid = msg.xid();
        for line in &mut out.log {
            let packet_line = line.split_once('(').is_some_and(|(kind, _)| {
                !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_uppercase())
            });
            if packet_line {
                *line = format!("{xid} {line}");
            }
        }
        let Some((reply, _)) = &out.reply else {
            return;
        };
        let mut lines = Vec::new();
        // The options asked for are logged where the reply's options are chosen from
        // them: not for a NAK, nor for PXE's boot information (whose vendor class is
        // the PXE one).
        let nak = raw_option(reply, 53) == Some(&[6][..]);
        if let (Some(list), false) = (raw_option(packet, 55), nak || boot_only) {
            lines.extend(log_detail::requested(xid, list));
        }
        let field = |bytes: &[u8]| {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            log_detail::printable(&bytes[..end])
        };
        if reply.len() >= FIXED_BYTES {
            // Fields that carry options (overload) have those logged instead.
            let overloaded =
                raw_option(reply, OVERLOAD).map_or(0, |f| f.first().copied().unwrap_or(0));
            for (range, bit, what) in [(FILE, 1u8, "bootfile name"), (SNAME, 2, "server name")] {
                if overloaded & bit != 0 {
                    lines.extend(log_detail::sent(xid, &options_in(&reply[range])));
                    continue;
                }
                let text = field(&reply[range]);
                if !text.is_empty() {
                    lines.push(format!("{xid} {what}: {text}"));
                }
            }
            let siaddr = Ipv4Addr::new(reply[20], reply[21], reply[22], reply[23]);
            if !siaddr.is_unspecified() {
                lines.push(format!("{xid} next server: {siaddr}"));
            }
            let broadcast = reply[10] & 0x80 != 0;
            if broadcast && reply[12..16] == [0, 0, 0, 0] {
                lines.push(format!("{xid} broadcast response"));
            }
            lines.extend(log_detail::sent(xid, &options_of(reply)));
        }
        out.log.extend(lines);
    }

    /// What the lease-change script is told of a request: the tags in force (the
    /// range's too; latest first, as dnsmasq lists them) and what the client and relay
    /// sent.
    fn script_request(&self, packet: &[u8], class: &Classified, subnet: Subnet) -> script::Request {
        let tags = self.tags_in_force(class, subnet);
        let option = |code: u8| raw_option(packet, code).map(<[u8]>::to_vec);
        let agent = |code: u8| sub_option(class.agent.as_deref()?, code).map(<[u8]>::to_vec);
        let mut user_classes = Vec::new();
        if let Some(v) = raw_option(packet, 77) {
            let mut at = 0;
            while let Some(&len) = v.get(at) {
                match v.get(at + 1..at + 1 + usize::from(len)) {
                    Some(class) => user_classes.push(class.to_vec()),
                    None => break,
                }
                at += 1 + usize::from(len);
            }
        }
        script::Request {
            tags,
            supplied_hostname: option(12),
            vendor_class: option(60),
            user_classes,
            requested_options: option(55),
            circuit_id: agent(1),
            remote_id: agent(2),
            subscriber_id: agent(6),
            mud_url: option(161),
        }
    }

    /// The tags of a request, set as dnsmasq sets them: the interface's name, relay agent
    /// ids, `--dhcp-mac`, `--dhcp-match`, vendor and user classes, `known` (or
    /// `known-othernet`) for a client a `--dhcp-host` is for, `--dhcp-name-match`, the
    /// host's own `set:` tags, then `--tag-if`; and the host and `--dhcp-ignore` with them.
    fn classify<'s>(
        &'s self,
        packet: &[u8],
        msg: &Message,
        client: &Client,
        iface: &Interface,
        network: Subnet,
    ) -> Classified<'s> {
        let c = &self.config;
        let mut tags = Tags::new();
        tags.set(&iface.name);
        let agent = raw_option(packet, 82);
        let user_class = raw_option(packet, 77).map(rfc3004_uncounted);
        for (kind, tag, data) in &c.classes {
            let hit = match kind {
                ClassKind::Agent(sub) => agent
                    .and_then(|a| sub_option(a, *sub))
                    .is_some_and(|v| v == &data[..]),
                ClassKind::Vendor => raw_option(packet, 60).is_some_and(|v| contains(v, data)),
                ClassKind::User => user_class.as_ref().is_some_and(|v| contains(v, data)),
            };
            if hit {
                tags.set(tag);
            }
        }
        for (tag, mac) in &c.macs {
            if mac_matches(mac, &client.hwaddr) {
                tags.set(tag);
            }
        }
        for (tag, on, value, kind) in &c.matches {
            let hit = match *on {
                MatchOn::Option(number) => {
                    raw_option(packet, number).is_some_and(|v| option_matches(value, *kind, v))
                }
                MatchOn::VendorClasses(enterprise) => raw_option(packet, 124).is_some_and(|o| {
                    vendor_classes(o, enterprise).any(|v| option_matches(value, *kind, v))
                }),
            };
            if hit {
                tags.set(tag);
            }
        }
        let filter = tags::run_tag_if(&c.tag_if, &tags);
        let mut host = self.find_host(client, Some(network), None, &filter);
        if host.is_some() {
            tags.set("known");
        } else if self.find_host(client, None, None, &filter).is_some() {
            tags.set("known-othernet");
        }
        let sent = client_name(msg);
        if let Some(name) = &sent {
            for (tag, pattern, wildcard) in &c.name_matches {
                let prefix = name.get(..pattern.len());
                if prefix.is_some_and(|p| p.eq_ignore_ascii_case(pattern))
                    && (name.len() == pattern.len() || *wildcard)
                {
                    tags.set(tag);
                }
            }
        }
        if host.is_none() {
            // Known by the name it sends: only hosts given by name alone, so that no
            // client takes another's address by claiming its name.
            let bare = sent
                .as_deref()
                .and_then(|n| n.split('.').next())
                .filter(|n| !n.is_empty());
            let filter = tags::run_tag_if(&c.tag_if, &tags);
            host = bare
                .and_then(|n| self.find_host(client, Some(network), Some(n), &filter))
                .filter(|h| h.client_id.is_none() && h.macs.is_empty());
            if host.is_some() {
                tags.set("known");
            }
        }
        for t in host.iter().flat_map(|h| &h.set_tags) {
            tags.set(t);
        }
        if msg.opts().msg_type().is_none() {
            // BOOTP: the boot file asked for is a tag, and so is `bootp`.
            let file = msg.fname().unwrap_or_default();
            let file = String::from_utf8_lossy(file);
            let file = file.trim_end_matches('\0');
            if !file.is_empty() {
                tags.set(file);
            }
            tags.set("bootp");
        }
        let tags = tags::run_tag_if(&c.tag_if, &tags);
        let ignored = c.ignore.iter().any(|list| tags.matches(list, false));
        Classified {
            host,
            tags,
            ignored,
            agent: agent.map(<[u8]>::to_vec),
            pxe: c.pxe.client(
                raw_option(packet, 60),
                raw_option(packet, 93),
                raw_option(packet, 97),
            ),
        }
    }

    /// The range a request is for: on the receiving interface's network, or on the
    /// relay's (giaddr) for relayed requests; with `tags`, the first whose `tag:`s match.
    /// The first of any kind: a proxy range first means no addresses are given there.
    fn subnet(&self, iface: &Interface, relay: Ipv4Addr, tags: Option<&Tags>) -> Option<Subnet> {
        self.subnet_where(iface, relay, tags, |_| true)
    }

    /// `subnet`, of the ranges `pick` takes.
    fn subnet_where(
        &self,
        iface: &Interface,
        relay: Ipv4Addr,
        tags: Option<&Tags>,
        pick: impl Fn(&Subnet) -> bool,
    ) -> Option<Subnet> {
        let (net_addr, default_mask) = if relay.is_unspecified() {
            (iface.addr, iface.netmask)
        } else {
            (relay, Ipv4Addr::new(255, 255, 255, 0))
        };
        // `--shared-network`: the networks of more addresses share this one's clients,
        // named by the interface (direct requests) or the relay's address.
        let shared = self.config.shared.iter().filter_map(|(on, addr)| {
            let here = if relay.is_unspecified() {
                *on == iface.name
            } else {
                on.parse::<Ipv4Addr>().is_ok_and(|a| a == relay)
            };
            here.then_some(*addr)
        });
        let networks: Vec<Ipv4Addr> = std::iter::once(net_addr).chain(shared).collect();
        self.config.ranges.iter().find_map(|range| {
            let needs = &self.config.range_tags[range.index].0;
            if tags.is_some_and(|t| !t.matches(needs, true)) {
                return None;
            }
            let netmask = range.netmask.unwrap_or(default_mask);
            let m = u32::from(netmask);
            let on_network = networks
                .iter()
                .any(|&n| range.start & m == u32::from(n) & m);
            let subnet = on_network.then(|| Subnet {
                range: *range,
                netmask,
                broadcast: range
                    .broadcast
                    .unwrap_or(Ipv4Addr::from(range.start & m | !m)),
                local: iface.reached_at.unwrap_or(iface.addr),
                interface_addr: iface.addr,
                id: match &self.config.proxy {
                    Some(relays)
                        if !relay.is_unspecified()
                            && (relays.is_empty() || relays.contains(&relay)) =>
                    {
                        relay
                    }
                    _ => iface.reached_at.unwrap_or(iface.addr),
                },
            });
            subnet.filter(|s| pick(s))
        })
    }

    /// The `--dhcp-host` for this client, as dnsmasq's find_config picks it: those whose
    /// `tag:`s match first, then untagged ones; by client id, then exact MAC, then `name`
    /// (if given), then the MAC pattern with the fewest wildcards. Only hosts whose address
    /// (if any) is on `subnet`, where one is given.
    fn find_host(
        &self,
        client: &Client,
        subnet: Option<Subnet>,
        name: Option<&str>,
        tags: &Tags,
    ) -> Option<&DhcpHost> {
        [false, true]
            .into_iter()
            .find_map(|untagged| self.find_host_once(client, subnet, name, tags, untagged))
    }

    fn find_host_once(
        &self,
        client: &Client,
        subnet: Option<Subnet>,
        name: Option<&str>,
        tags: &Tags,
        untagged_ok: bool,
    ) -> Option<&DhcpHost> {
        let usable: Vec<&DhcpHost> = self
            .config
            .hosts
            .iter()
            .filter(|h| tags.matches(&h.tags, untagged_ok))
            .filter(|h| match (h.addr, subnet) {
                (Some(a), Some(s)) => s.contains(a),
                _ => true,
            })
            .collect();
        if let Some(id) = &client.client_id {
            // dhcpcd puts a zero before a textual client id: matched without it too.
            let found = usable.iter().find(|h| {
                h.client_id
                    .as_ref()
                    .is_some_and(|c| c == id || (id.first() == Some(&0) && c[..] == id[1..]))
            });
            if let Some(h) = found {
                return Some(h);
            }
        }
        let exact = usable.iter().find(|h| {
            h.macs
                .iter()
                .any(|m| m.wildcard_mask == 0 && mac_matches(m, &client.hwaddr))
        });
        if let Some(h) = exact {
            return Some(h);
        }
        if let Some(n) = name.filter(|_| subnet.is_some()) {
            let named = usable.iter().find(|h| {
                h.hostname
                    .as_deref()
                    .is_some_and(|hn| hn.eq_ignore_ascii_case(n))
            });
            if let Some(h) = named {
                return Some(h);
            }
        }
        let mut best: Option<(&DhcpHost, u32)> = None;
        for h in &usable {
            for m in h.macs.iter().filter(|m| m.wildcard_mask != 0) {
                let fixed = m.bytes.len() as u32 - m.wildcard_mask.count_ones();
                if mac_matches(m, &client.hwaddr) && best.is_none_or(|(_, f)| fixed > f) {
                    best = Some((h, fixed));
                }
            }
        }
        best.map(|(h, _)| h)
    }

    /// The client's current lease, if any.
    fn lease_of<'s>(&self, client: &Client, store: &'s LeaseStore) -> Option<&'s Lease> {
        let table = store.table();
        match &client.client_id {
            Some(id) => table.by_client_id(id).or_else(|| {
                table
                    .by_hwaddr(&client.hwaddr)
                    .find(|l| l.client_id.is_none())
            }),
            None => table
                .by_hwaddr(&client.hwaddr)
                .find(|l| l.client_id.is_none()),
        }
    }

    /// Whether `addr` may be given to `client` on `subnet`: in a dynamic range (or its
    /// `--dhcp-host` address), not leased to another client, not another's reserved
    /// address, not the server's own and not recently declined.
    fn available(
        &self,
        addr: Ipv4Addr,
        client: &Client,
        host: Option<&DhcpHost>,
        subnet: Subnet,
        now_secs: u64,
        store: &LeaseStore,
    ) -> bool {
        let mine = host.and_then(|h| h.addr) == Some(addr);
        if !subnet.contains(addr) || addr == subnet.local {
            return false;
        }
        if !mine && (subnet.range.static_only || !subnet.in_range(addr)) {
            return false;
        }
        // Not this client's own: so any `--dhcp-host` giving it is another's.
        if !mine && self.config.reserved.contains(&addr) {
            return false;
        }
        if self
            .declined
            .get(&addr)
            .is_some_and(|&until| until > now_secs)
        {
            return false;
        }
        match store.table().get(addr) {
            Some(lease) => same_client(lease, client),
            None => true,
        }
    }

    /// The address to offer: the client's lease, its `--dhcp-host` address, the one it
    /// asked for, or one picked as dnsmasq picks (from a hash of the hardware address,
    /// then upwards, passing over addresses a ping check found in use). Err: the pick
    /// must be ping-checked first.
    #[allow(clippy::too_many_arguments)]
    fn choose(
        &self,
        client: &Client,
        host: Option<&DhcpHost>,
        asked: Option<Ipv4Addr>,
        subnet: Subnet,
        loopback: bool,
        now_secs: u64,
        store: &LeaseStore,
    ) -> Result<Option<Ipv4Addr>, PingCheck> {
        let ok = |a: Ipv4Addr| self.available(a, client, host, subnet, now_secs, store);
        if let Some(a) = host.and_then(|h| h.addr).filter(|&a| ok(a)) {
            return Ok(Some(a));
        }
        if let Some(a) = self
            .lease_of(client, store)
            .map(|l| l.addr)
            .filter(|&a| ok(a))
        {
            return Ok(Some(a));
        }
        if let Some(a) = asked.filter(|&a| ok(a)) {
            return Ok(Some(a));
        }
        if subnet.range.static_only {
            return Ok(None);
        }
        let size = subnet.range.end - subnet.range.start + 1;
        let hash = address_hash(&client.hwaddr.bytes);
        let first = if self.config.sequential {
            0
        } else {
            hash.wrapping_add(self.addr_epoch) % size
        };
        // Each step jumps a run of leased addresses (found in O(log n)) to one without a
        // lease, which is taken unless it is reserved, declined, the server's or found
        // in use: at most as many as there are of those. So the walk's length does not
        // grow with the leases, and it ends well before the range's size when anything
        // is free.
        let skippable = 2 * (self.config.hosts.len() + MAX_DECLINED + MAX_PING_RECORDS) + 4;
        let last = subnet.range.end;
        let mut steps = 0;
        let mut i = 0u64;
        while i < u64::from(size) && steps < skippable {
            steps += 1;
            let at = subnet.range.start + ((u64::from(first) + i) % u64::from(size)) as u32;
            let Some(free) = store.table().next_unleased(at, last) else {
                // Leased to the range's end: on from its start.
                i += u64::from(last - at) + 1;
                continue;
            };
            i += u64::from(free - at) + 1;
            let a = Ipv4Addr::from(free);
            if !ok(a) {
                continue;
            }
            match self.ping_allows(a, hash, loopback, now_secs) {
                Ok(true) => return Ok(Some(a)),
                Ok(false) => continue,
                Err(()) => {
                    return Err(PingCheck {
                        addr: a,
                        client_hash: hash,
                    })
                }
            }
        }
        Ok(None)
    }

    /// Log a routine line (not a problem: those are always logged), unless quiet.
    fn routine(&self, out: &mut Outcome, line: String) {
        if !self.config.quiet {
            out.log.push(line);
        }
    }

    fn lease_secs(&self, host: Option<&DhcpHost>, subnet: Subnet) -> LeaseTime {
        host.and_then(|h| h.lease).unwrap_or(subnet.range.lease)
    }

    /// A BOOTP request (RFC 951: no message type), as dnsmasq answers it: a
    /// `--dhcp-host` address always, else the client's lease or a dynamic pick only where
    /// `--bootp-dynamic` matches its tags; the lease has no end unless the host gives a
    /// time; options as for DHCP, all of them (BOOTP asks for none), in the 64-byte
    /// vendor area.
    #[allow(clippy::too_many_arguments)]
    fn bootp(
        &self,
        msg: &Message,
        client: &Client,
        subnet: Subnet,
        (iface, loopback): (&str, bool),
        class: &Classified,
        now_secs: u64,
        store: &mut LeaseStore,
        out: &mut Outcome,
    ) {
        let host = class.host;
        let mac = client.mac_text();
        let refuse =
            |out: &mut Outcome, why: &str| out.log.push(format!("BOOTP({iface}) {mac} {why}"));
        if host.is_some_and(|h| h.ignore) {
            return refuse(out, "disabled");
        }
        if class.ignored {
            return refuse(out, "ignored");
        }
        let nailed = host.and_then(|h| h.addr);
        let addr = match nailed {
            Some(addr) => {
                if store
                    .table()
                    .get(addr)
                    .is_some_and(|l| l.hwaddr != client.hwaddr)
                {
                    return out
                        .log
                        .push(format!("BOOTP({iface}) {addr} {mac} address in use"));
                }
                addr
            }
            None => {
                let existing = self
                    .lease_of(client, store)
                    .map(|l| l.addr)
                    .filter(|&a| self.available(a, client, host, subnet, now_secs, store));
                match existing {
                    Some(a) => a,
                    None => {
                        match self.choose(client, host, None, subnet, loopback, now_secs, store) {
                            Ok(Some(a)) => a,
                            Ok(None) => return refuse(out, "no address available"),
                            Err(check) => {
                                out.ping = Some(check);
                                return;
                            }
                        }
                    }
                }
            }
        };
        if nailed.is_none() && !applies(&self.config.bootp_dynamic, &class.tags) {
            return refuse(out, "no address configured");
        }
        let expires = match host.and_then(|h| h.lease) {
            Some(LeaseTime::Secs(s)) => now_secs + u64::from(s),
            _ => 0,
        };
        if let Some(old) = self.lease_of(client, store).filter(|l| l.addr != addr) {
            let old = old.addr;
            store.remove(old);
        }
        let name = host.and_then(|h| h.hostname.clone());
        let granted = store.put(Lease {
            expires,
            hwaddr: client.hwaddr.clone(),
            addr,
            hostname: name.clone(),
            client_id: None,
        });
        if !granted {
            return out
                .log
                .push(format!("BOOTP({iface}) {addr} {mac} no leases left"));
        }
        // Its options already in dnsmasq's order, as every reply's.
        let full = self.reply(msg, None, addr, subnet, class, Times::None, name.as_deref());
        let (reply, left_out) = bootp_encode(&full);
        for code in left_out {
            out.log.push(format!(
                "cannot send DHCP/BOOTP option {code}: no space left in packet"
            ));
        }
        self.log_tags(msg, class, subnet, out);
        self.routine(out, format!("BOOTP({iface}) {addr} {mac} "));
        out.reply = Some((reply, self.destination(msg, addr, client, false, class)));
    }

    #[allow(clippy::too_many_arguments)]
    fn discover(
        &self,
        msg: &Message,
        client: &Client,
        subnet: Subnet,
        (iface, loopback): (&str, bool),
        class: &Classified,
        now_secs: u64,
        store: &mut LeaseStore,
        out: &mut Outcome,
    ) {
        let host = class.host;
        if class.ignored || host.is_some_and(|h| h.ignore) {
            problem(out, "DHCPDISCOVER", iface, client, "ignored");
            return;
        }
        self.routine(out, format!("DHCPDISCOVER({iface}) {} ", client.mac_text()));
        let asked = match msg.opts().get(OptionCode::RequestedIpAddress) {
            Some(DhcpOption::RequestedIpAddress(a)) => Some(*a),
            _ => None,
        };
        // A new client past the lease limit gets nothing, as when no address is free.
        let room =
            self.lease_of(client, store).is_some() || store.table().len() < self.config.lease_max;
        let chosen = match room
            .then(|| self.choose(client, host, asked, subnet, loopback, now_secs, store))
        {
            Some(Ok(chosen)) => chosen,
            Some(Err(check)) => {
                out.ping = Some(check);
                return;
            }
            None => None,
        };
        let Some(addr) = chosen else {
            problem(out, "DHCPDISCOVER", iface, client, "no address available");
            return;
        };
        out.delay_secs = self.reply_delay(msg, subnet, class, out);
        if self.config.rapid_commit && msg.opts().get(OptionCode::RapidCommit).is_some() {
            // RFC 4039: the address is leased and ACKed at once, as for a REQUEST.
            let lease = self.lease_of(client, store).cloned();
            self.grant(
                msg, client, subnet, iface, class, addr, lease, now_secs, store, out, true,
            );
            return;
        }
        let time = self.lease_secs(host, subnet);
        // An OFFER names the client by its --dhcp-host name, or the one its FQDN option
        // gives, as dnsmasq's does: a name sent in option 12 alone goes back in the ACK.
        let name = host.and_then(|h| h.hostname.clone()).or_else(|| {
            fqdn_option(msg)
                .is_some()
                .then(|| self.hostname(msg, class))
                .flatten()
        });
        let reply = self.reply(
            msg,
            Some(MessageType::Offer),
            addr,
            subnet,
            class,
            Times::Lease(time, 0),
            name.as_deref(),
        );
        self.log_tags(msg, class, subnet, out);
        self.routine(
            out,
            format!("DHCPOFFER({iface}) {addr} {} ", client.mac_text()),
        );
        out.reply = Some((reply, self.destination(msg, addr, client, false, class)));
    }

    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        msg: &Message,
        client: &Client,
        subnet: Subnet,
        (iface, unicast): (&str, bool),
        class: &Classified,
        now_secs: u64,
        store: &mut LeaseStore,
        out: &mut Outcome,
    ) {
        let server_id = match msg.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(a)) => Some(*a),
            _ => None,
        };
        let asked = match msg.opts().get(OptionCode::RequestedIpAddress) {
            Some(DhcpOption::RequestedIpAddress(a)) => Some(*a),
            _ => None,
        };
        let ciaddr = msg.ciaddr();
        let addr = match asked {
            Some(a) => a,
            None if !ciaddr.is_unspecified() => ciaddr,
            None => return,
        };
        if class.ignored || class.host.is_some_and(|h| h.ignore) {
            // dnsmasq answers an ignored client's request with silence, and logs nothing.
            return;
        }
        let lease = self.lease_of(client, store).cloned();
        if asked.is_some() && server_id.is_none() && lease.is_none() && !self.config.authoritative {
            // INIT-REBOOT with a lease this server never made: silence, logged by dnsmasq
            // no more than an ignored request.
            return;
        }
        // RENEWING or REBINDING a lease this server does not hold (or holds for another
        // address): a broadcast one (rebinding) may be another server's, and is let be,
        // unlogged; one sent to this server is NAKed, as dnsmasq does.
        let not_ours = asked.is_none()
            && (lease.as_ref().is_some_and(|l| l.addr != ciaddr)
                || (lease.is_none() && !self.config.authoritative));
        if not_ours && !unicast {
            return;
        }
        self.routine(
            out,
            format!("DHCPREQUEST({iface}) {addr} {} ", client.mac_text()),
        );
        if let Some(id) = server_id {
            if id != subnet.id {
                // SELECTING, and the client chose another server.
                return;
            }
        }
        let host = class.host;
        let nak = |server: &Server, out: &mut Outcome, why: &str| {
            out.log.push(format!(
                "DHCPNAK({iface}) {addr} {} {why}",
                client.mac_text()
            ));
            // For an address on no network of ours, dnsmasq answers as the interface.
            let id = match why {
                NAK_WRONG_NETWORK => subnet.interface_addr,
                _ => subnet.id,
            };
            let reply = server.nak(msg, id, why, class.agent.as_deref());
            out.reply = Some((reply, server.nak_destination(msg)));
        };
        if not_ours {
            nak(self, out, NAK_NO_LEASE);
            return;
        }
        if !subnet.contains(addr) {
            // Outside every subnet here: only an authoritative server, or the one that
            // leased it, says no.
            if self.config.authoritative || lease.is_some() {
                nak(self, out, NAK_WRONG_NETWORK);
            }
            return;
        }
        if lease.as_ref().is_some_and(|l| l.addr != addr) && server_id.is_none() {
            // INIT-REBOOT asks for an address; RENEWING (ciaddr only) has one.
            let why = if asked.is_some() {
                NAK_WRONG_ADDRESS
            } else {
                NAK_NO_LEASE
            };
            nak(self, out, why);
            return;
        }
        if !self.available(addr, client, host, subnet, now_secs, store) {
            nak(self, out, NAK_NOT_AVAILABLE);
            return;
        }
        if lease.is_none() && store.table().len() >= self.config.lease_max {
            nak(self, out, NAK_NOT_AVAILABLE);
            return;
        }
        self.grant(
            msg, client, subnet, iface, class, addr, lease, now_secs, store, out, false,
        );
    }

    /// Lease `addr` to the client and ACK it (a REQUEST's last step, or a DISCOVER's under
    /// rapid commit, whose ACK says so); the client's other lease, if any, ends.
    #[allow(clippy::too_many_arguments)]
    fn grant(
        &self,
        msg: &Message,
        client: &Client,
        subnet: Subnet,
        iface: &str,
        class: &Classified,
        addr: Ipv4Addr,
        lease: Option<Lease>,
        now_secs: u64,
        store: &mut LeaseStore,
        out: &mut Outcome,
        rapid: bool,
    ) {
        let host = class.host;
        // A renewal (no address asked for: the client has one) gets its T1 and T2 a
        // little early, at random, as dnsmasq desynchronises renewals.
        let renewing = !rapid && msg.opts().get(OptionCode::RequestedIpAddress).is_none();
        let fuzz = if renewing {
            crate::random::u32() as u16
        } else {
            0
        };
        if let Some(old) = lease.as_ref().filter(|l| l.addr != addr) {
            store.remove(old.addr);
        }
        let time = self.lease_secs(host, subnet);
        // A client that sends no name on renewal keeps the one its lease has.
        let kept = lease
            .as_ref()
            .filter(|l| l.addr == addr)
            .and_then(|l| l.hostname.clone());
        let name = self.ack_hostname(msg, client, class).or(kept);
        let expires = match time {
            LeaseTime::Infinite => 0,
            LeaseTime::Secs(s) => now_secs + u64::from(s),
        };
        let granted = store.put(Lease {
            expires,
            hwaddr: client.hwaddr.clone(),
            addr,
            hostname: name.clone(),
            client_id: client.client_id.clone(),
        });
        if !granted {
            if rapid {
                // Under rapid commit a failure gets no answer (no NAK for a DISCOVER).
                out.log.push(format!(
                    "NOANSWER({iface}) {addr} {} {NAK_NOT_AVAILABLE}",
                    client.mac_text()
                ));
                return;
            }
            let reply = self.nak(msg, subnet.id, NAK_NOT_AVAILABLE, class.agent.as_deref());
            out.log.push(format!(
                "DHCPNAK({iface}) {addr} {} {NAK_NOT_AVAILABLE}",
                client.mac_text()
            ));
            out.reply = Some((reply, self.nak_destination(msg)));
            return;
        }
        let mut reply = self.reply(
            msg,
            Some(MessageType::Ack),
            addr,
            subnet,
            class,
            Times::Lease(time, fuzz),
            name.as_deref(),
        );
        if rapid {
            reply = with_rapid_commit(&reply);
        }
        self.log_tags(msg, class, subnet, out);
        let mut line = format!("DHCPACK({iface}) {addr} {} ", client.mac_text());
        if let Some(n) = &name {
            line.push_str(n);
        }
        self.routine(out, line);
        out.reply = Some((reply, self.destination(msg, addr, client, false, class)));
    }

    fn release(
        &self,
        msg: &Message,
        client: &Client,
        subnet: Subnet,
        iface: &str,
        store: &mut LeaseStore,
        out: &mut Outcome,
    ) {
        let addr = msg.ciaddr();
        self.routine(
            out,
            format!("DHCPRELEASE({iface}) {addr} {} ", client.mac_text()),
        );
        let ours = matches!(
            msg.opts().get(OptionCode::ServerIdentifier),
            Some(DhcpOption::ServerIdentifier(id)) if *id == subnet.id
        );
        if ours
            && store
                .table()
                .get(addr)
                .is_some_and(|l| same_client(l, client))
        {
            store.remove(addr);
        } else {
            out.log.push(format!(
                "DHCPRELEASE({iface}) {addr} {} unknown lease",
                client.mac_text()
            ));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn decline(
        &mut self,
        msg: &Message,
        client: &Client,
        subnet: Subnet,
        iface: &str,
        now_secs: u64,
        store: &mut LeaseStore,
        out: &mut Outcome,
    ) {
        let Some(DhcpOption::RequestedIpAddress(addr)) =
            msg.opts().get(OptionCode::RequestedIpAddress)
        else {
            return;
        };
        let addr = *addr;
        out.log.push(format!(
            "DHCPDECLINE({iface}) {addr} {} ",
            client.mac_text()
        ));
        if !subnet.contains(addr) {
            return;
        }
        if store
            .table()
            .get(addr)
            .is_some_and(|l| same_client(l, client))
        {
            store.remove(addr);
        }
        // As dnsmasq: a host's configured address is held back a while; a dynamic one
        // is not, but the address picks move on.
        if !self.config.reserved.contains(&addr) {
            self.addr_epoch = self.addr_epoch.wrapping_add(1);
            return;
        }
        if self.declined.len() >= MAX_DECLINED {
            self.declined.retain(|_, &mut until| until > now_secs);
        }
        if self.declined.len() < MAX_DECLINED {
            self.declined.insert(addr, now_secs + DECLINE_HOLD_SECS);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn inform(
        &self,
        msg: &Message,
        client: &Client,
        subnet: Subnet,
        iface: &str,
        class: &Classified,
        now_secs: u64,
        store: &LeaseStore,
        out: &mut Outcome,
    ) {
        let addr = msg.ciaddr();
        if class.ignored || class.host.is_some_and(|h| h.ignore) {
            problem(out, "DHCPINFORM", iface, client, "ignored");
            return;
        }
        if addr.is_unspecified() {
            return;
        }
        self.routine(
            out,
            format!("DHCPINFORM({iface}) {addr} {} ", client.mac_text()),
        );
        // The client's lease (else the address's), as dnsmasq finds it: its name, and
        // what is left of it where the request list asks for the lease time (dnsmasq's
        // dhcp_lease_time utility does).
        let by_client = self.lease_of(client, store);
        let lease = by_client.or_else(|| store.table().get(addr));
        let hostname = self.hostname(msg, class).or_else(|| {
            by_client
                .is_none()
                .then(|| lease.and_then(|l| l.hostname.clone()))
                .flatten()
        });
        let asks_time = matches!(
            msg.opts().get(OptionCode::ParameterRequestList),
            Some(DhcpOption::ParameterRequestList(l)) if l.contains(&OptionCode::AddressLeaseTime)
        );
        let times = match lease.filter(|_| asks_time) {
            Some(l) if l.expires == 0 => Times::Left(u32::MAX),
            Some(l) => {
                Times::Left(u32::try_from(l.expires.saturating_sub(now_secs)).unwrap_or(u32::MAX))
            }
            None => Times::None,
        };
        let reply = self.reply(
            msg,
            Some(MessageType::Ack),
            Ipv4Addr::UNSPECIFIED,
            subnet,
            class,
            times,
            hostname.as_deref(),
        );
        self.log_tags(msg, class, subnet, out);
        self.routine(
            out,
            format!(
                "DHCPACK({iface}) {addr} {} {}",
                client.mac_text(),
                hostname.as_deref().unwrap_or("")
            ),
        );
        out.reply = Some((reply, self.destination(msg, addr, client, true, class)));
    }

    /// The client's name: its `--dhcp-host` name, else the first label of the name it
    /// sent (option 12) if that is a legal host name and `--dhcp-ignore-names` does not
    /// apply.
    fn hostname(&self, msg: &Message, class: &Classified) -> Option<String> {
        if let Some(n) = class.host.and_then(|h| h.hostname.clone()) {
            return Some(n);
        }
        if applies(&self.config.ignore_names, &class.tags) {
            return None;
        }
        let sent = client_name(msg)?;
        let first = sent.split('.').next().unwrap_or("");
        (!first.is_empty()).then(|| first.to_string())
    }

    /// The name a lease is given: as `hostname`, and a nameless client is named after its
    /// MAC where `--dhcp-generate-names` applies.
    fn ack_hostname(&self, msg: &Message, client: &Client, class: &Classified) -> Option<String> {
        self.hostname(msg, class).or_else(|| {
            let generate = applies(&self.config.generate_names, &class.tags);
            (generate && !client.hwaddr.bytes.is_empty()).then(|| {
                let hex: Vec<String> = client
                    .hwaddr
                    .bytes
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                hex.join("-")
            })
        })
    }

    /// An OFFER or ACK: the address, the lease time (none for INFORM), and the options
    /// dnsmasq sends, the configured ones in place of its defaults.
    #[allow(clippy::too_many_arguments)]
    fn reply(
        &self,
        msg: &Message,
        kind: Option<MessageType>,
        yiaddr: Ipv4Addr,
        subnet: Subnet,
        class: &Classified,
        times: Times,
        hostname: Option<&str>,
    ) -> Vec<u8> {
        let mut r = reply_header(msg);
        r.set_yiaddr(yiaddr);
        r.set_siaddr(subnet.local);
        if self.broadcasts_to(class) {
            r.set_flags(r.flags().set_broadcast());
        }
        let asked: Option<Vec<u8>> = match msg.opts().get(OptionCode::ParameterRequestList) {
            Some(DhcpOption::ParameterRequestList(list)) => {
                Some(list.iter().map(|&c| u8::from(c)).collect())
            }
            _ => None,
        };
        // With no parameter request list, everything is sent (as dnsmasq's in_list).
        let wanted = |code: u8| asked.as_ref().is_none_or(|l| l.contains(&code));
        let listed = |code: u8| asked.as_ref().is_some_and(|l| l.contains(&code));
        // The options this request's tags choose, and the tags with the range's.
        let range_tag = self.config.range_tags[subnet.range.index].1.as_deref();
        let numbered: Vec<(u16, &[TagMatch])> = self
            .config
            .options
            .iter()
            .map(|o| (u16::from(o.number), &o.tags[..]))
            .collect();
        let (chosen, tags) =
            tags::select_options(&numbered, &self.config.tag_if, &class.tags, range_tag);
        let selected: Vec<&Configured> = self
            .config
            .options
            .iter()
            .zip(&chosen)
            .filter_map(|(o, &ok)| ok.then_some(o))
            .collect();
        let configured = |code: u8| selected.iter().any(|o| o.number == code);
        // The boot file and server name: from --dhcp-boot, as options where the client
        // asks for them (unless --dhcp-no-override), else in the header's fields; with no
        // --dhcp-boot, options 66 and 67 not asked for go in the fields instead.
        let boot = self.boot_for(&tags);
        let mut in_fields: Vec<u8> = Vec::new();
        let mut boot_options: Vec<(u8, Vec<u8>)> = Vec::new();
        if let Some(b) = boot {
            for (code, text) in [
                (66u8, b.server_name.as_deref()),
                (67, Some(b.file.as_str())),
            ] {
                let Some(text) = text else {
                    continue;
                };
                if !self.config.no_override && listed(code) {
                    let mut v = text.as_bytes().to_vec();
                    v.push(0);
                    boot_options.push((code, v));
                } else if code == 66 {
                    r.set_sname_str(text);
                } else {
                    r.set_fname_str(text);
                }
            }
            if let Some(server) = b.server {
                r.set_siaddr(server);
            }
        } else {
            for o in selected
                .iter()
                .filter(|o| matches!(o.number, 66 | 67) && !o.forced)
            {
                if !listed(o.number) {
                    let text = String::from_utf8_lossy(&o.data);
                    let text = text.trim_end_matches('\0');
                    if o.number == 66 {
                        r.set_sname_str(text);
                    } else {
                        r.set_fname_str(text);
                    }
                    in_fields.push(o.number);
                }
            }
        }
        let opts = r.opts_mut();
        // A BOOTP reply (no kind) has neither.
        if let Some(kind) = kind {
            opts.insert(DhcpOption::MessageType(kind));
            opts.insert(DhcpOption::ServerIdentifier(subnet.id));
        }
        match times {
            Times::None => {}
            Times::Left(secs) => {
                opts.insert(DhcpOption::AddressLeaseTime(secs));
            }
            Times::Lease(time, fuzz) => {
                let secs = match time {
                    LeaseTime::Infinite => u32::MAX,
                    LeaseTime::Secs(s) => s,
                };
                opts.insert(DhcpOption::AddressLeaseTime(secs));
                if secs != u32::MAX {
                    let (t1, t2) = renewal_times(secs, fuzz, |code| {
                        let o = selected.iter().find(|o| o.number == code)?;
                        Some(u32::from_be_bytes(o.data.get(..4)?.try_into().ok()?))
                    });
                    opts.insert(DhcpOption::Renewal(t1));
                    opts.insert(DhcpOption::Rebinding(t2));
                }
            }
        }
        if !configured(1) {
            opts.insert(DhcpOption::SubnetMask(subnet.netmask));
        }
        if !configured(28) {
            opts.insert(DhcpOption::BroadcastAddr(subnet.broadcast));
        }
        if wanted(3) && !configured(3) {
            // A relayed client's router is its relay, as in dnsmasq.
            let router = match msg.giaddr() {
                relay if relay.is_unspecified() => subnet.local,
                relay => relay,
            };
            opts.insert(DhcpOption::Router(vec![router]));
        }
        if wanted(6) && !configured(6) && self.config.dns_port == 53 {
            opts.insert(DhcpOption::DomainNameServer(vec![subnet.local]));
        }
        // The domain for the client's address (its own for an INFORM), as dnsmasq's.
        let for_addr = if yiaddr.is_unspecified() {
            msg.ciaddr()
        } else {
            yiaddr
        };
        if let Some(d) = self
            .config
            .domains
            .for_addr(for_addr)
            .filter(|_| wanted(15) && !configured(15))
        {
            opts.insert(DhcpOption::DomainName(d.to_string()));
        }
        if let Some(n) = hostname.filter(|_| wanted(12) && !configured(12)) {
            opts.insert(DhcpOption::Hostname(n.to_string()));
        }
        if let (Some(n), Some(sent)) = (hostname, fqdn_option(msg).filter(|v| v.len() >= 3)) {
            let domain = self.config.domains.for_addr(for_addr);
            opts.insert(DhcpOption::Unknown(UnknownOption::new(
                OptionCode::ClientFQDN,
                fqdn_reply(&sent, self.config.client_update, n, domain),
            )));
        }
        for (code, data) in boot_options {
            opts.insert(DhcpOption::Unknown(UnknownOption::new(
                OptionCode::from(code),
                data,
            )));
        }
        // A PXE client that gives its system type is given back its vendor class and
        // machine id (a configured vendor class is not sent), and offered the boot menu.
        let pxe_arch = class.pxe.as_ref().and_then(|c| Some((c, c.arch?)));
        for o in &selected {
            let (code, forced) = (&o.number, o.forced);
            if in_fields.contains(code) || (boot.is_some() && matches!(code, 66 | 67)) {
                continue;
            }
            if pxe_arch.is_some() && *code == 60 {
                continue;
            }
            // T1 and T2 go with the lease time, from the configured value where it is
            // sane (dnsmasq's do_options), and not at all without one.
            if matches!(code, 58 | 59) {
                continue;
            }
            if forced || wanted(*code) {
                let mut data = o.data.clone();
                // 0.0.0.0 in an address option means this server, as dnsmasq reads it.
                let addresses = option_catalog::by_number(option_catalog::V4, u16::from(*code))
                    .is_some_and(|o| o.value == option_catalog::ValueType::AddrList);
                if addresses && data.len() % 4 == 0 {
                    for a in data.chunks_mut(4).filter(|a| *a == [0; 4]) {
                        a.copy_from_slice(&subnet.local.octets());
                    }
                }
                // The TFTP server and boot file names go NUL-terminated, as dnsmasq
                // sends them (some PXE clients need it).
                if matches!(code, 66 | 67) && data.last() != Some(&0) {
                    data.push(0);
                }
                opts.insert(DhcpOption::Unknown(UnknownOption::new(
                    OptionCode::from(*code),
                    data,
                )));
            }
        }
        let vendor_class = match msg.opts().get(OptionCode::ClassIdentifier) {
            Some(DhcpOption::ClassIdentifier(v)) => Some(v.clone()),
            _ => None,
        };
        let sent_vendor_class =
            configured(60) && (wanted(60) || selected.iter().any(|o| o.number == 60 && o.forced));
        let mut menu = None;
        if let Some((pc, arch)) = pxe_arch {
            for (code, data) in pc.given_back() {
                r.opts_mut().insert(DhcpOption::Unknown(UnknownOption::new(
                    OptionCode::from(code),
                    data,
                )));
            }
            // dnsmasq's UEFI workaround: a client with one item gets no menu (and its
            // boot file at the PXE port).
            if self.config.pxe.sole_uefi_service(arch, &tags).is_none() {
                let configured = self.vendor_sub_options(&tags, vendor_class.as_deref());
                menu = self.pxe_menu(arch, &tags, subnet.local, &configured).ok();
            }
        }
        for (code, data) in self.encapsulations(
            &tags,
            wanted,
            vendor_class.as_deref(),
            sent_vendor_class,
            (menu, pxe_arch.is_some()),
        ) {
            r.opts_mut().insert(DhcpOption::Unknown(UnknownOption::new(
                OptionCode::from(code),
                data,
            )));
        }
        echo_agent(&mut r, class.agent.as_deref());
        // dnsmasq's order: message type, server, lease times (and the boot names where
        // --dhcp-boot gives them as options), its own options where none is configured,
        // the configured ones (latest first), then the vendor ones.
        let order: Vec<u8> = [53u8, 54, 51]
            .into_iter()
            .chain([66, 67].into_iter().filter(|_| boot.is_some()))
            .chain([58, 59])
            .chain(
                [1, 28, 3, 6, 15, 12]
                    .into_iter()
                    .filter(|&c| !configured(c)),
            )
            .chain([81])
            .chain(selected.iter().rev().map(|o| o.number))
            .chain(match pxe_arch {
                Some(_) => [125, 60, 97, 43],
                None => [43, 60, 125, 97],
            })
            .collect();
        split_sub_options(&reordered(&encode(&r), &order), 43)
    }

    /// The options that carry encapsulated ones (`Carrier`), as dnsmasq's do_options
    /// sends them: each carrier with the sub-options whose tags match (latest configured
    /// first, as dnsmasq keeps them), where the client asks for the carrier or one of
    /// them is forced. `vendor:` ones go to clients whose vendor class (`vendor_class`)
    /// holds their text, and with them that class is given back in option 60 unless a
    /// configured one is sent (`sent_vendor_class`).
    fn encapsulations(
        &self,
        tags: &Tags,
        wanted: impl Fn(u8) -> bool,
        vendor_class: Option<&[u8]>,
        sent_vendor_class: bool,
        (menu, pxe): (Option<Vec<u8>>, bool),
    ) -> Vec<(u8, Vec<u8>)> {
        let mut out: Vec<(u8, Vec<u8>)> = Vec::new();
        let latest_first = || self.config.encapsulated.iter().rev();
        // Each sub-option goes where forced or its carrier is asked for; for option 43,
        // one forced takes them all.
        let sub_options = |of: &dyn Fn(&Encapsulated) -> bool, outer: u8| -> Vec<u8> {
            let mut chosen: Vec<&Encapsulated> = latest_first()
                .filter(|e| of(e) && tags.matches(&e.tags, true))
                .collect();
            if !wanted(outer) {
                if outer != 43 {
                    chosen.retain(|e| e.forced);
                } else if !chosen.iter().any(|e| e.forced) {
                    chosen.clear();
                }
            }
            tlvs(chosen.iter().map(|e| (e.number, &e.data[..])))
        };
        let mut outers: Vec<u8> = Vec::new();
        let mut enterprises: Vec<u32> = Vec::new();
        for e in latest_first() {
            match e.carrier {
                Carrier::Encap(n) if !outers.contains(&n) => outers.push(n),
                Carrier::ViEncap(n) if !enterprises.contains(&n) => enterprises.push(n),
                _ => {}
            }
        }
        // Sub-options in an option of their own end with an end option, as dnsmasq's
        // do_encap_opts writes them (vi-encap's do not).
        let ended = |mut data: Vec<u8>| {
            data.truncate(254);
            data.push(255);
            data
        };
        for outer in outers {
            let data = sub_options(&|e| e.carrier == Carrier::Encap(outer), outer);
            if !data.is_empty() {
                out.push((outer, ended(data)));
            }
        }
        for enterprise in enterprises {
            let data = sub_options(&|e| e.carrier == Carrier::ViEncap(enterprise), 125);
            if !data.is_empty() && data.len() <= 250 {
                let mut v = enterprise.to_be_bytes().to_vec();
                v.push(data.len() as u8);
                v.extend_from_slice(&data);
                out.push((125, v));
            }
        }
        // Option 43: the PXE menu first, then the vendor options for this client's
        // vendor class; given back that class in option 60 unless one is sent already.
        let configured = sub_options(&|e| self.for_vendor_class(e, vendor_class), 43);
        if wanted(43) || !configured.is_empty() {
            let mut data = menu.unwrap_or_default();
            data.extend(configured);
            if !data.is_empty() {
                data.push(255);
                out.push((43, data));
                let echo = vendor_class.filter(|v| !v.is_empty() && !sent_vendor_class);
                if let (Some(sent), false) = (echo, pxe) {
                    out.push((60, sent.to_vec()));
                }
            }
        }
        out
    }

    /// Whether `e` goes in option 43 to a client of `vendor_class`: a `vendor:` option
    /// whose text the class holds, or a `--pxe-prompt` where it holds a PXE vendor's.
    fn for_vendor_class(&self, e: &Encapsulated, vendor_class: Option<&[u8]>) -> bool {
        match (&e.carrier, vendor_class) {
            (Carrier::Vendor(text), Some(sent)) => contains(sent, text.as_bytes()),
            (Carrier::Pxe, Some(sent)) => self.config.pxe.vendor_in(sent),
            _ => false,
        }
    }

    /// The option 43 sub-options for a client of `vendor_class` with `tags` (latest
    /// configured first), whether asked for or not, as sub-option bytes.
    fn vendor_sub_options(&self, tags: &Tags, vendor_class: Option<&[u8]>) -> Vec<u8> {
        let chosen = self
            .config
            .encapsulated
            .iter()
            .rev()
            .filter(|e| self.for_vendor_class(e, vendor_class) && tags.matches(&e.tags, true));
        tlvs(chosen.map(|e| (e.number, &e.data[..])))
    }

    fn nak(&self, msg: &Message, server_id: Ipv4Addr, why: &str, agent: Option<&[u8]>) -> Vec<u8> {
        let mut r = reply_header(msg);
        if !msg.giaddr().is_unspecified() {
            r.set_flags(v4::Flags::default().set_broadcast());
        }
        let opts = r.opts_mut();
        opts.insert(DhcpOption::MessageType(MessageType::Nak));
        opts.insert(DhcpOption::ServerIdentifier(server_id));
        opts.insert(DhcpOption::Message(why.to_string()));
        echo_agent(&mut r, agent);
        reordered(&encode(&r), &[53, 54, 56])
    }

    /// The `--dhcp-reply-delay` for an answer to a DISCOVER, as dnsmasq's apply_delay
    /// picks it (a tagged one that matches, with the range's tag, else an untagged one),
    /// logged as dnsmasq logs it.
    fn reply_delay(
        &self,
        msg: &Message,
        subnet: Subnet,
        class: &Classified,
        out: &mut Outcome,
    ) -> u32 {
        if self.config.reply_delays.is_empty() {
            return 0;
        }
        let tags = self.tags_with_range(class, subnet);
        let delays = &self.config.reply_delays;
        let found = delays
            .iter()
            .find(|(t, _)| tags.matches(t, false))
            .or_else(|| delays.iter().find(|(t, _)| tags.matches(t, true)));
        let Some(&(_, secs)) = found else {
            return 0;
        };
        self.routine(out, format!("{} reply delay: {secs}", msg.xid()));
        secs
    }

    /// A request's tags with its range's (`set:`), `--tag-if` applied again.
    fn tags_with_range(&self, class: &Classified, subnet: Subnet) -> Tags {
        let mut tags = class.tags.clone();
        if let Some(t) = &self.config.range_tags[subnet.range.index].1 {
            tags.set(t);
        }
        tags::run_tag_if(&self.config.tag_if, &tags)
    }

    /// Whether `--dhcp-broadcast` applies to this request.
    fn broadcasts_to(&self, class: &Classified) -> bool {
        applies(&self.config.broadcast, &class.tags)
    }

    /// RFC 2131 4.1: to the relay, else to the client's address, else broadcast when it
    /// asks, cannot take unicast or `--dhcp-broadcast` says so, else unicast to its
    /// hardware address.
    fn destination(
        &self,
        msg: &Message,
        addr: Ipv4Addr,
        client: &Client,
        inform: bool,
        class: &Classified,
    ) -> Destination {
        let relay = msg.giaddr();
        if !relay.is_unspecified() {
            return Destination::Relay(relay);
        }
        let ciaddr = msg.ciaddr();
        if !ciaddr.is_unspecified() || inform {
            return Destination::Client(if inform { addr } else { ciaddr });
        }
        if msg.flags().broadcast() || client.hwaddr.bytes.is_empty() || self.broadcasts_to(class) {
            return Destination::Broadcast;
        }
        Destination::Hardware {
            addr,
            hwaddr: client.hwaddr.clone(),
        }
    }

    fn nak_destination(&self, msg: &Message) -> Destination {
        match msg.giaddr() {
            relay if !relay.is_unspecified() => Destination::Relay(relay),
            _ => Destination::Broadcast,
        }
    }
}

/// The size of a BOOTP message's vendor area (RFC 951), magic cookie included.
const BOOTP_VEND_BYTES: usize = 64;

/// `full` (a reply, encoded) as a BOOTP reply: its options, in order, that fit the
/// 64-byte vendor area with room for the end (a relay's agent option, given back, goes
/// after them, as dnsmasq puts it), and the message padded to BOOTP's 300 bytes. Also
/// the codes of the options left out.
fn bootp_encode(full: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let options = options_of(full);
    let mut out = full[..240.min(full.len())].to_vec();
    let mut left_out = Vec::new();
    let mut agent = None;
    for option in options {
        if option[0] == 82 {
            agent = Some(option);
        } else if out.len() + option.len() + 1 < 236 + BOOTP_VEND_BYTES {
            out.extend_from_slice(option);
        } else {
            left_out.push(option[0]);
        }
    }
    if let Some(a) = agent {
        out.extend_from_slice(a);
    }
    out.push(255);
    out.resize(out.len().max(236 + BOOTP_VEND_BYTES), 0);
    (out, left_out)
}

/// T1 and T2 for a lease of `secs` as dnsmasq's do_options sets them: half and seven
/// eighths of it, or the configured ones (`configured`) where shorter than the lease and
/// over 2 s, T1 kept below T2; a renewal's both `fuzz` early (halved until at most an
/// eighth of T1).
fn renewal_times(secs: u32, fuzz: u16, configured: impl Fn(u8) -> Option<u32>) -> (u32, u32) {
    let sane = |v: &u32| *v < secs && *v > 2;
    let mut t1 = configured(58).filter(sane).unwrap_or(secs / 2);
    let t2 = configured(59)
        .filter(sane)
        .unwrap_or((u64::from(secs) * 7 / 8) as u32);
    if t2 <= t1 {
        t1 = t2.saturating_sub(1);
    }
    let mut fuzz = u32::from(fuzz);
    while fuzz > t1 / 8 {
        fuzz /= 2;
    }
    (t1 - fuzz, t2 - fuzz)
}

/// The options of `full` (an encoded message), each with its code and length, in the
/// order they come.
fn options_of(full: &[u8]) -> Vec<&[u8]> {
    options_in(full.get(FIXED_BYTES..).unwrap_or_default())
}

/// The options in `area` (each with its code and length), up to the end option.
fn options_in(area: &[u8]) -> Vec<&[u8]> {
    let mut options: Vec<&[u8]> = Vec::new();
    let mut at = 0;
    while at + 1 < area.len() && area[at] != 255 {
        if area[at] == 0 {
            at += 1;
            continue;
        }
        let end = (at + 2 + usize::from(area[at + 1])).min(area.len());
        options.push(&area[at..end]);
        at = end;
    }
    options
}

/// The options of `full` (an encoded message), each with its code and length: those of
/// `order` first, in that order, then the others by code, the relay agent's last.
fn options_in_order<'a>(full: &'a [u8], order: &[u8]) -> Vec<&'a [u8]> {
    let mut options = options_of(full);
    options.sort_by_key(|o| match order.iter().position(|&c| c == o[0]) {
        Some(rank) => (0, rank),
        None if o[0] == 82 => (2, 0),
        None => (1, usize::from(o[0])),
    });
    options
}

/// `full` (an encoded reply) with its options in `order` (see `options_in_order`), as
/// dnsmasq writes them, at the same length.
fn reordered(full: &[u8], order: &[u8]) -> Vec<u8> {
    let mut out = full[..240.min(full.len())].to_vec();
    for option in options_in_order(full, order) {
        out.extend_from_slice(option);
    }
    out.push(255);
    out.resize(out.len().max(full.len()), 0);
    out
}

/// The smallest DHCP message every client takes (576 bytes of IP, RFC 2131), and the
/// largest this server sends, whatever a client says it takes (dnsmasq's).
const MIN_MESSAGE_BYTES: usize = 548;
const MAX_MESSAGE_BYTES: usize = 16384;

/// The fixed part of a DHCP message before the options: the header and the magic
/// cookie; the server name (64 bytes) and boot file (128) fields lie in it.
const FIXED_BYTES: usize = 240;
const SNAME: std::ops::Range<usize> = 44..108;
const FILE: std::ops::Range<usize> = 108..236;

/// The option overload option (RFC 2132 9.3): which of the file and server name fields
/// carry options.
const OVERLOAD: u8 = 52;

/// `full` (an encoded reply, options in the order sent, the relay agent's last) in at
/// most `max` bytes, as dnsmasq fits it: options that do not fit go in the boot file
/// field, then the server name field, where those are empty and `overload` allows
/// (an overload option says so); options that fit nowhere are left out (their codes
/// returned). A reply that fits is left as it is.
fn fit(full: &[u8], max: usize, overload: bool) -> (Vec<u8>, Vec<u8>) {
    let options = options_of(full);
    let total: usize = FIXED_BYTES + options.iter().map(|o| o.len()).sum::<usize>() + 1;
    if total <= max || full.len() < FIXED_BYTES {
        return (full.to_vec(), Vec::new());
    }
    let mut head = full[..FIXED_BYTES].to_vec();
    let agent: Vec<u8> = options
        .iter()
        .filter(|o| o[0] == 82)
        .flat_map(|o| o.iter().copied())
        .collect();
    let file_free = overload && head[FILE.start] == 0;
    let sname_free = overload && head[SNAME.start] == 0;
    // The options area ends `max` in, less the agent option (given back last) and room
    // for the overload option.
    let mut end = max.saturating_sub(agent.len());
    if file_free || sname_free {
        end = end.saturating_sub(3);
    }
    let mut main: Vec<u8> = Vec::new();
    let mut flags = 0u8;
    let mut overload_at = None;
    let (mut in_file, mut in_sname) = (Vec::new(), Vec::new());
    let mut dropped = Vec::new();
    for option in options.iter().filter(|o| o[0] != 82) {
        let len = option.len() - 2;
        if FIXED_BYTES + main.len() + len + 3 < end {
            main.extend_from_slice(option);
            continue;
        }
        if overload_at.is_none() && (file_free || sname_free) {
            overload_at = Some(main.len());
        }
        let mut placed = false;
        if overload_at.is_some() {
            if file_free {
                flags |= 1;
            }
            if flags & 1 != 0 && in_file.len() + len + 3 < FILE.len() {
                in_file.extend_from_slice(option);
                placed = true;
            } else {
                if sname_free {
                    flags |= 2;
                }
                if flags & 2 != 0 && in_sname.len() + len + 3 < SNAME.len() {
                    in_sname.extend_from_slice(option);
                    placed = true;
                }
            }
        }
        if !placed {
            dropped.push(option[0]);
        }
    }
    if let Some(at) = overload_at {
        main.splice(at..at, [OVERLOAD, 1, flags]);
    }
    for (field, bytes, bit) in [(FILE, &in_file, 1u8), (SNAME, &in_sname, 2)] {
        if flags & bit != 0 {
            let region = &mut head[field.clone()];
            region.fill(0);
            region[..bytes.len()].copy_from_slice(bytes);
            region[bytes.len()] = 255;
        }
    }
    head.extend_from_slice(&main);
    head.extend_from_slice(&agent);
    head.push(255);
    head.resize(head.len().max(300), 0);
    (head, dropped)
}

/// `full` (an encoded reply) with option `code`, which holds sub-options and an end
/// option, split where it is longer than one option can be as dnsmasq splits it: each
/// part whole sub-options, the end option in the last (the encoder splits every 255
/// bytes, RFC 3396, which a client that does not join the parts would misread).
fn split_sub_options(full: &[u8], code: u8) -> Vec<u8> {
    let options = options_of(full);
    let parts = options.iter().filter(|o| o[0] == code).count();
    if parts < 2 {
        return full.to_vec();
    }
    let data: Vec<u8> = options
        .iter()
        .filter(|o| o[0] == code)
        .flat_map(|o| o[2..].iter().copied())
        .collect();
    let mut pieces: Vec<Vec<u8>> = vec![Vec::new()];
    let mut at = 0;
    while at < data.len() {
        let len = match data[at] {
            255 => 1,
            _ => 2 + usize::from(*data.get(at + 1).unwrap_or(&0)),
        };
        let sub = &data[at..(at + len).min(data.len())];
        let last = pieces.len() - 1;
        if pieces[last].len() + sub.len() > 255 {
            pieces.push(Vec::new());
        }
        let last = pieces.len() - 1;
        pieces[last].extend_from_slice(sub);
        at += len;
    }
    let mut out = full[..240.min(full.len())].to_vec();
    let mut placed = false;
    for option in options {
        if option[0] != code {
            out.extend_from_slice(option);
        } else if !placed {
            placed = true;
            for piece in &pieces {
                out.push(code);
                out.push(piece.len() as u8);
                out.extend_from_slice(piece);
            }
        }
    }
    out.push(255);
    out.resize(out.len().max(full.len()), 0);
    out
}

/// A BOOTREPLY for `msg`: its transaction, hardware address, flags and relay.
fn reply_header(msg: &Message) -> Message {
    let mut r = Message::default();
    r.set_opcode(v4::Opcode::BootReply)
        .set_htype(msg.htype())
        .set_xid(msg.xid())
        .set_flags(msg.flags())
        .set_giaddr(msg.giaddr())
        .set_chaddr(&msg.chaddr()[..(msg.hlen() as usize).min(MAX_HW_BYTES)]);
    r
}

fn encode(msg: &Message) -> Vec<u8> {
    let mut buf = Vec::with_capacity(300);
    // A message built here from valid parts always encodes.
    let _ = msg.encode(&mut Encoder::new(&mut buf));
    buf
}

/// Whether `lease` belongs to `client`: the same client id, or (without ids) the same
/// hardware address.
/// Log a problem with a request (always logged, even with `--quiet-dhcp`), as dnsmasq
/// words it: `DHCPDISCOVER(eth0) 52:54:00:12:34:56 ignored`.
fn problem(out: &mut Outcome, kind: &str, iface: &str, client: &Client, what: &str) {
    out.log
        .push(format!("{kind}({iface}) {} {what}", client.mac_text()));
}

fn same_client(lease: &Lease, client: &Client) -> bool {
    match (&lease.client_id, &client.client_id) {
        (Some(a), Some(b)) => a == b,
        (None, _) => lease.hwaddr == client.hwaddr,
        (Some(_), None) => false,
    }
}

/// Whether a `--dhcp-host` MAC (with `*` bytes and an optional hardware type) matches.
fn mac_matches(mac: &crate::config::values::Hex, hw: &HwAddr) -> bool {
    if mac.bytes.len() != hw.bytes.len() || mac.hw_type.is_some_and(|t| t != u16::from(hw.htype)) {
        return false;
    }
    let n = mac.bytes.len();
    mac.bytes
        .iter()
        .zip(&hw.bytes)
        .enumerate()
        .all(|(i, (m, h))| mac.wildcard_mask >> (n - 1 - i) & 1 == 1 || m == h)
}

/// An encoded ACK with the rapid commit option (80, no data) added where dnsmasq puts
/// it: after the lease time (else last, before a relay's agent option).
fn with_rapid_commit(reply: &[u8]) -> Vec<u8> {
    let options = options_of(reply);
    let at = match options.iter().position(|o| o[0] == 51) {
        Some(lease_time) => lease_time + 1,
        None => options
            .iter()
            .position(|o| o[0] == 82)
            .unwrap_or(options.len()),
    };
    let mut out = reply[..240.min(reply.len())].to_vec();
    for (i, option) in options.iter().enumerate() {
        if i == at {
            out.extend_from_slice(&[80, 0]);
        }
        out.extend_from_slice(option);
    }
    if at == options.len() {
        out.extend_from_slice(&[80, 0]);
    }
    out.push(255);
    out.resize(out.len().max(reply.len()), 0);
    out
}

/// Give a relay its agent information option back, as the last option (RFC 3046).
fn echo_agent(reply: &mut Message, agent: Option<&[u8]>) {
    if let Some(a) = agent {
        reply
            .opts_mut()
            .insert(DhcpOption::Unknown(UnknownOption::new(
                OptionCode::RelayAgentInformation,
                a.to_vec(),
            )));
    }
}

/// Whether any of these tag lists (of a `--dhcp-broadcast`, `--dhcp-ignore-names` or
/// `--dhcp-generate-names`; one with no tags applies to all) matches.
fn applies(lists: &[Vec<TagMatch>], tags: &Tags) -> bool {
    lists.iter().any(|l| l.is_empty() || tags.matches(l, false))
}

/// The client FQDN option's value (81) as the client sent it, if it sent one.
fn fqdn_option(msg: &Message) -> Option<Vec<u8>> {
    // One dhcproto could not read is kept raw, under its number.
    let option = msg
        .opts()
        .get(OptionCode::ClientFQDN)
        .or_else(|| msg.opts().get(OptionCode::Unknown(81)))?;
    match option {
        DhcpOption::Unknown(u) => Some(u.data().to_vec()),
        known => {
            // Read by dhcproto (wire format): its bytes again, as sent.
            let mut bytes = Vec::new();
            known.encode(&mut Encoder::new(&mut bytes)).ok()?;
            bytes.get(2..).map(<[u8]>::to_vec)
        }
    }
}

/// A request, decoded as dnsmasq reads one: the fixed header, then each option on its
/// own, so that one option dhcproto cannot read (a malformed one, or an FQDN in ASCII)
/// is kept raw rather than ending the reading of those after it; where a code comes
/// twice, the first counts (dnsmasq's option_find).
fn decode_request(packet: &[u8]) -> Option<Message> {
    if packet.len() < 240 {
        return None;
    }
    let mut header = packet[..240].to_vec();
    header.push(255);
    let mut msg = Message::decode(&mut Decoder::new(&header)).ok()?;
    let mut at = 240;
    while at < packet.len() {
        match packet[at] {
            255 => break,
            0 => at += 1,
            code => {
                let Some(&len) = packet.get(at + 1) else {
                    break;
                };
                let end = at + 2 + usize::from(len);
                let Some(value) = packet.get(at + 2..end) else {
                    break;
                };
                let seen = msg.opts().get(OptionCode::from(code)).is_some()
                    || msg.opts().get(OptionCode::Unknown(code)).is_some();
                if !seen {
                    let option = DhcpOption::decode(&mut Decoder::new(&packet[at..end]))
                        .ok()
                        .filter(|o| OptionCode::from(o) == OptionCode::from(code))
                        .unwrap_or_else(|| {
                            DhcpOption::Unknown(UnknownOption::new(
                                OptionCode::from(code),
                                value.to_vec(),
                            ))
                        });
                    msg.opts_mut().insert(option);
                }
                at = end;
            }
        }
    }
    Some(msg)
}

/// The name in a client FQDN option (81, RFC 4702) as dnsmasq reads it: the flags, then
/// the name in DNS wire format where the E flag says so, else as text (a trailing NUL,
/// as some clients send, dropped). None where it is no legal host name.
fn fqdn_name(value: &[u8]) -> Option<String> {
    let (&flags, rest) = value.split_first()?;
    let name_bytes = rest.get(2..)?;
    let name = if flags & 0x04 != 0 {
        let mut labels = Vec::new();
        let mut at = 0;
        while let Some(&len) = name_bytes.get(at) {
            if len == 0 {
                break;
            }
            let label = name_bytes.get(at + 1..at + 1 + usize::from(len))?;
            labels.push(String::from_utf8_lossy(label).into_owned());
            at += 1 + usize::from(len);
        }
        labels.join(".")
    } else {
        let text = name_bytes.strip_suffix(&[0]).unwrap_or(name_bytes);
        String::from_utf8(text.to_vec()).ok()?
    };
    let first = name.split('.').next().unwrap_or("");
    legal_hostname(first).then_some(name)
}

/// The client FQDN option a reply carries (RFC 4702), as dnsmasq writes it: the
/// request's flags made the server's (`--dhcp-client-update`: the client updates its A
/// record itself, N set; else the server does, S and O), 255 for both rcodes, and the
/// name with its domain in the form the client used.
fn fqdn_reply(request: &[u8], client_update: bool, host: &str, domain: Option<&str>) -> Vec<u8> {
    let mut flags = request[0];
    if client_update {
        if flags & 0x01 != 0 {
            flags = (flags | 0x02) & !0x01;
        }
        flags |= 0x08;
    } else {
        if flags & 0x01 == 0 {
            flags |= 0x03;
        }
        flags &= !0x08;
    }
    let mut v = vec![flags & 0x0f, 255, 255];
    if flags & 0x04 != 0 {
        let labels = host
            .split('.')
            .chain(domain.into_iter().flat_map(|d| d.split('.')));
        for label in labels.filter(|l| !l.is_empty()) {
            v.push(label.len().min(63) as u8);
            v.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
        }
        if domain.is_some() {
            v.push(0);
        }
    } else {
        v.extend_from_slice(host.as_bytes());
        if let Some(d) = domain {
            v.push(b'.');
            v.extend_from_slice(d.as_bytes());
        }
        if request.last() == Some(&0) {
            v.push(0);
        }
    }
    v
}

/// The client's address (ciaddr) as dnsmasq believes it: not with a DISCOVER, nor with
/// a requested address (some clients set it where they should not).
fn believed_ciaddr(packet: &[u8], msg: &Message) -> Ipv4Addr {
    let discover = msg.opts().msg_type() == Some(MessageType::Discover);
    match (discover, raw_option(packet, 50)) {
        (false, None) => msg.ciaddr(),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

/// Sub-options as bytes: each code, length and data (at most 253 bytes, so that one
/// fits an option of its own).
fn tlvs<'a>(options: impl Iterator<Item = (u8, &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (code, data) in options {
        let data = &data[..data.len().min(253)];
        out.push(code);
        out.push(data.len() as u8);
        out.extend_from_slice(data);
    }
    out
}

/// Whether option 43 sub-options `data` hold a menu prompt (then the PXE menu brings no
/// prompt of its own).
fn pxe_prompt_in(data: &[u8]) -> bool {
    let mut at = 0;
    while let (Some(&code), Some(&len)) = (data.get(at), data.get(at + 1)) {
        if code == pxe::MENU_PROMPT {
            return true;
        }
        at += 2 + usize::from(len);
    }
    false
}

/// The value of option `code` in a DHCP packet's options area (not the overloaded file
/// and server name fields), read as dnsmasq reads it: the first with that code.
fn raw_option(packet: &[u8], code: u8) -> Option<&[u8]> {
    let mut at = 240;
    while at < packet.len() {
        match packet[at] {
            255 => return None,
            0 => at += 1,
            c => {
                let len = usize::from(*packet.get(at + 1)?);
                let value = packet.get(at + 2..at + 2 + len)?;
                if c == code {
                    return Some(value);
                }
                at += 2 + len;
            }
        }
    }
    None
}

/// The vendor classes an option 124 (RFC 3925) gives for `enterprise`: each block is
/// the enterprise number, a length, and that many bytes of length-prefixed classes.
fn vendor_classes(option: &[u8], enterprise: u32) -> impl Iterator<Item = &[u8]> {
    let mut blocks = Vec::new();
    let mut at = 0;
    while let Some(head) = option.get(at..at + 5) {
        let len = usize::from(head[4]);
        let Some(data) = option.get(at + 5..at + 5 + len) else {
            break;
        };
        if u32::from_be_bytes([head[0], head[1], head[2], head[3]]) == enterprise {
            blocks.push(data);
        }
        at += 5 + len;
    }
    blocks.into_iter().flat_map(|data| {
        let mut classes = Vec::new();
        let mut i = 0;
        while let Some(&len) = data.get(i) {
            match data.get(i + 1..i + 1 + usize::from(len)) {
                Some(class) => classes.push(class),
                None => break,
            }
            i += 1 + usize::from(len);
        }
        classes
    })
}

/// Sub-option `code` of a relay agent information option (RFC 3046).
fn sub_option(agent: &[u8], code: u8) -> Option<&[u8]> {
    let mut at = 0;
    while at + 1 < agent.len() {
        let len = usize::from(agent[at + 1]);
        let value = agent.get(at + 2..at + 2 + len)?;
        if agent[at] == code {
            return Some(value);
        }
        at += 2 + len;
    }
    None
}

/// A user class as dnsmasq matches it: RFC 3004's counted strings with the counts made
/// zero (where the counts add up), so a class matches only within one string.
fn rfc3004_uncounted(value: &[u8]) -> Vec<u8> {
    let mut v = value.to_vec();
    let mut at = 0;
    while at < v.len() {
        at += usize::from(v[at]) + 1;
    }
    if at == v.len() {
        let mut at = 0;
        while at < v.len() {
            let next = at + usize::from(v[at]) + 1;
            v[at] = 0;
            at = next;
        }
    }
    v
}

/// Whether `data` appears anywhere in `value` (an empty `data` always does).
fn contains(value: &[u8], data: &[u8]) -> bool {
    data.is_empty() || value.windows(data.len()).any(|w| w == data)
}

/// A `--dhcp-match` value against the option sent, as dnsmasq's match_bytes: no value
/// matches any; hex matches the option's first bytes (`*` bytes anything); text matches
/// anywhere in it; numbers and addresses match one element of it, read as an array of
/// values of that size (so a number matches one of a list of architectures).
fn option_matches(value: &[u8], kind: MatchKind, sent: &[u8]) -> bool {
    if value.len() > sent.len() {
        return false;
    }
    if value.is_empty() {
        return true;
    }
    let step = match kind {
        MatchKind::Hex { mask } => {
            let n = value.len();
            return value
                .iter()
                .zip(sent)
                .enumerate()
                .all(|(i, (v, s))| (mask >> (n - 1 - i)) & 1 == 1 || v == s);
        }
        MatchKind::Text => 1,
        MatchKind::Element => value.len(),
    };
    (0..=sent.len() - value.len())
        .step_by(step)
        .any(|i| sent[i..i + value.len()] == *value)
}

/// The name the client sent (option 12, a trailing NUL dropped), if a legal host name.
fn client_name(msg: &Message) -> Option<String> {
    if let Some(value) = fqdn_option(msg) {
        // RFC 4702: the FQDN option stands in for option 12 (an unusable one, for none).
        return fqdn_name(&value);
    }
    match msg.opts().get(OptionCode::Hostname) {
        Some(DhcpOption::Hostname(n)) => {
            let n = n.trim_end_matches('\0');
            let first = n.split('.').next().unwrap_or("");
            (legal_hostname(first)).then(|| n.to_string())
        }
        _ => None,
    }
}

/// dnsmasq's start for the search of a free address: the SDBM hash of the hardware
/// address (0 taken as 1).
fn address_hash(hw: &[u8]) -> u32 {
    let j = hw.iter().fold(0u32, |j, &b| {
        u32::from(b)
            .wrapping_add(j << 6)
            .wrapping_add(j << 16)
            .wrapping_sub(j)
    });
    j.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    /// A server on `conf`, pinging nothing (the tests of ping checks use `pinging`).
    fn server(conf: &str) -> Server {
        pinging(&format!("{conf}no-ping\n"))
    }

    fn pinging(conf: &str) -> Server {
        Server::new(V4Config::from_config(
            &Config::from_text(conf).expect("config"),
        ))
    }

    fn iface() -> Interface {
        Interface {
            loopback: false,
            pxe: false,
            name: "eth0".into(),
            addr: Ipv4Addr::new(192, 168, 1, 1),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            reached_at: None,
        }
    }

    fn request(kind: MessageType, mac: [u8; 6], opts: Vec<DhcpOption>) -> Message {
        let mut m = Message::new_with_id(
            0x1234_5678,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &mac,
        );
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        for o in opts {
            m.opts_mut().insert(o);
        }
        m
    }

    fn answer(
        s: &mut Server,
        m: &Message,
        store: &mut LeaseStore,
    ) -> Option<(Message, Destination)> {
        let out = s.handle(&encode(m), &iface(), 1_000_000, store);
        out.reply
            .map(|(bytes, to)| (Message::decode(&mut Decoder::new(&bytes)).unwrap(), to))
    }

    fn kind(m: &Message) -> MessageType {
        m.opts().msg_type().unwrap()
    }

    /// The OFFER the server answers a DISCOVER from `MAC` with.
    fn offer_to_mac(s: &mut Server, store: &mut LeaseStore) -> (Message, Destination) {
        let discover = request(MessageType::Discover, MAC, vec![]);
        answer(s, &discover, store).expect("an offer")
    }

    fn boot_file(m: &Message) -> String {
        let file = m.fname().unwrap_or_default();
        let end = file.iter().position(|&b| b == 0).unwrap_or(file.len());
        String::from_utf8_lossy(&file[..end]).into_owned()
    }

    /// A PXE client's request of system type `arch`, with its vendor class and id.
    fn pxe_request(kind: MessageType, arch: u16, more: Vec<DhcpOption>) -> Message {
        let raw = |code: u8, data: Vec<u8>| {
            DhcpOption::Unknown(UnknownOption::new(OptionCode::from(code), data))
        };
        let mut opts = vec![
            DhcpOption::ClassIdentifier(b"PXEClient:Arch:00000:UNDI:002001".to_vec()),
            raw(93, arch.to_be_bytes().to_vec()),
            raw(97, vec![0; 17]),
        ];
        opts.extend(more);
        request(kind, MAC, opts)
    }

    /// What the server answers a DISCOVER from a PXE client of system type `arch`.
    fn pxe_offer(
        s: &mut Server,
        arch: u16,
        store: &mut LeaseStore,
    ) -> Option<(Message, Destination)> {
        answer(s, &pxe_request(MessageType::Discover, arch, vec![]), store)
    }

    #[test]
    fn a_proxy_range_gives_pxe_clients_boot_information_and_others_nothing() {
        let mut s = server(
            "dhcp-range=192.168.1.0,proxy\npxe-service=x86PC,Install,pxelinux\n\
             pxe-service=x86-64_EFI,EFI,grubx64.efi\n",
        );
        let mut store = LeaseStore::in_memory();
        let (offer, to) = pxe_offer(&mut s, 0, &mut store).expect("a proxy offer");
        assert_eq!(kind(&offer), MessageType::Offer);
        assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED);
        assert!(offer.flags().broadcast());
        assert_eq!(to, Destination::Broadcast);
        let vendor = match offer.opts().get(OptionCode::VendorExtensions) {
            Some(DhcpOption::VendorExtensions(v)) => v.clone(),
            other => panic!("no PXE menu: {other:?}"),
        };
        // One item for x86PC: boot at once (no wait), from this server.
        assert_eq!(&vendor[..3], &[pxe::DISCOVERY_CONTROL, 1, 3]);
        assert!(sub_option(&vendor, pxe::BOOT_MENU).is_some_and(|m| m.ends_with(b"Install")));
        assert!(store.table().is_empty(), "a proxy offer leases nothing");
        // A UEFI client with one item is sent to the PXE port, and there gets its file.
        let (efi, _) = pxe_offer(&mut s, 7, &mut store).expect("an offer to a UEFI client");
        assert_eq!(efi.siaddr(), iface().addr);
        assert!(efi.opts().get(OptionCode::VendorExtensions).is_none());
        let at_pxe_port = Interface {
            pxe: true,
            ..iface()
        };
        let req = encode(&pxe_request(MessageType::Request, 7, vec![]));
        let out = s.handle(&req, &at_pxe_port, 1_000_000, &mut store);
        let (bytes, to) = out.reply.expect("an ACK at the PXE port");
        let ack = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(kind(&ack), MessageType::Ack);
        assert_eq!(boot_file(&ack), "grubx64.efi");
        assert_eq!(to, Destination::Sender(None));
        // Not a PXE client: nothing, and the range gives no address.
        let plain = request(MessageType::Discover, MAC, vec![]);
        assert!(answer(&mut s, &plain, &mut store).is_none());
    }

    #[test]
    fn a_boot_server_gives_the_picked_items_file_for_its_layer() {
        let mut s = server(
            "dhcp-range=192.168.1.50,192.168.1.150,12h\npxe-service=x86PC,Install,pxelinux\n",
        );
        let mut store = LeaseStore::in_memory();
        let item = DhcpOption::Unknown(UnknownOption::new(
            OptionCode::VendorExtensions,
            vec![pxe::BOOT_ITEM, 4, 0x80, 0, 0, 2, 255],
        ));
        let mut m = pxe_request(MessageType::Request, 0, vec![item]);
        m.set_ciaddr(Ipv4Addr::new(192, 168, 1, 77));
        let (ack, _) = answer(&mut s, &m, &mut store).expect("a boot server ACK");
        assert_eq!(ack.yiaddr(), Ipv4Addr::new(192, 168, 1, 77));
        assert_eq!(boot_file(&ack), "pxelinux.2");
        assert!(store.table().is_empty(), "a boot server leases nothing");
        // A normal range's offer to a PXE client carries the menu and its vendor class.
        let (offer, _) = pxe_offer(&mut s, 0, &mut store).expect("an offer");
        assert!(!offer.yiaddr().is_unspecified());
        assert_eq!(
            offer.opts().get(OptionCode::ClassIdentifier),
            Some(&DhcpOption::ClassIdentifier(b"PXEClient".to_vec()))
        );
        assert!(offer.opts().get(OptionCode::VendorExtensions).is_some());
    }

    #[test]
    fn a_reply_past_576_bytes_overloads_the_file_and_server_name_fields() {
        // Sent latest first: 227 fits, 226 then fits nowhere (not in the options area,
        // nor the 128-byte boot file field), 225 still fits the options area, and 224
        // goes in the boot file field.
        let long: String = [(224, 50), (225, 100), (226, 150), (227, 150)]
            .iter()
            .map(|(c, n)| format!("dhcp-option={c},\"{}\"\n", "x".repeat(*n)))
            .collect();
        let mut s = server(&format!(
            "dhcp-range=192.168.1.50,192.168.1.150,12h\n{long}"
        ));
        let mut store = LeaseStore::in_memory();
        let asks = DhcpOption::ParameterRequestList(
            [1u8, 3, 224, 225, 226, 227].map(OptionCode::from).to_vec(),
        );
        let m = request(MessageType::Discover, MAC, vec![asks]);
        let out = s.handle(&encode(&m), &iface(), 1_000_000, &mut store);
        let (bytes, _) = out.reply.expect("an offer");
        assert!(bytes.len() <= MIN_MESSAGE_BYTES, "{} bytes", bytes.len());
        let flags = raw_option(&bytes, OVERLOAD).expect("an overload option");
        assert_eq!(flags, [3], "both fields carry options");
        let in_fields: Vec<u8> = [FILE, SNAME]
            .into_iter()
            .flat_map(|f| {
                options_in(&bytes[f])
                    .into_iter()
                    .map(|o| o[0])
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(in_fields, [224]);
        let main: Vec<u8> = options_of(&bytes).iter().map(|o| o[0]).collect();
        assert!(main.contains(&227) && main.contains(&225), "{main:?}");
        // What fits nowhere is left out, and said so.
        assert!(!main.contains(&226));
        assert!(out
            .log
            .contains(&"cannot send DHCP/BOOTP option 226: no space left in packet".to_string()));
    }

    #[test]
    fn discover_gets_an_offer_with_dnsmasqs_default_options() {
        let mut s = server("dhcp-range=192.168.1.50,192.168.1.150,12h\ndomain=lan\n");
        let mut store = LeaseStore::in_memory();
        let (offer, to) = offer_to_mac(&mut s, &mut store);
        assert_eq!(kind(&offer), MessageType::Offer);
        let addr = offer.yiaddr();
        assert!((50..=150).contains(&addr.octets()[3]), "{addr}");
        // dnsmasq's pick: the SDBM hash of the MAC into the range.
        assert_eq!(
            u32::from(addr),
            u32::from(Ipv4Addr::new(192, 168, 1, 50)) + address_hash(&MAC) % 101
        );
        assert_eq!(
            to,
            Destination::Hardware {
                addr,
                hwaddr: HwAddr::ether(MAC)
            }
        );
        let o = offer.opts();
        assert_eq!(
            o.get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(iface().addr))
        );
        assert_eq!(
            o.get(OptionCode::AddressLeaseTime),
            Some(&DhcpOption::AddressLeaseTime(43_200))
        );
        assert_eq!(
            o.get(OptionCode::SubnetMask),
            Some(&DhcpOption::SubnetMask(iface().netmask))
        );
        assert_eq!(
            o.get(OptionCode::BroadcastAddr),
            Some(&DhcpOption::BroadcastAddr(Ipv4Addr::new(192, 168, 1, 255)))
        );
        assert_eq!(
            o.get(OptionCode::Router),
            Some(&DhcpOption::Router(vec![iface().addr]))
        );
        assert_eq!(
            o.get(OptionCode::DomainNameServer),
            Some(&DhcpOption::DomainNameServer(vec![iface().addr]))
        );
        assert_eq!(
            o.get(OptionCode::DomainName),
            Some(&DhcpOption::DomainName("lan".into()))
        );
        assert_eq!(
            o.get(OptionCode::Renewal),
            Some(&DhcpOption::Renewal(21_600))
        );
        assert_eq!(
            o.get(OptionCode::Rebinding),
            Some(&DhcpOption::Rebinding(37_800))
        );
        assert!(store.table().is_empty(), "an offer makes no lease");
    }

    #[test]
    fn request_after_offer_gets_an_ack_and_a_lease() {
        let mut s = server("dhcp-range=192.168.1.50,192.168.1.150\n");
        let mut store = LeaseStore::in_memory();
        let (offer, _) = offer_to_mac(&mut s, &mut store);
        let req = request(
            MessageType::Request,
            MAC,
            vec![
                DhcpOption::RequestedIpAddress(offer.yiaddr()),
                DhcpOption::ServerIdentifier(iface().addr),
                DhcpOption::Hostname("laptop.example".into()),
            ],
        );
        let (ack, _) = answer(&mut s, &req, &mut store).unwrap();
        assert_eq!(kind(&ack), MessageType::Ack);
        assert_eq!(ack.yiaddr(), offer.yiaddr());
        let lease = store.table().get(offer.yiaddr()).unwrap();
        assert_eq!(lease.hwaddr, HwAddr::ether(MAC));
        assert_eq!(lease.hostname.as_deref(), Some("laptop"));
        assert_eq!(lease.expires, 1_000_000 + 3600);
        // The same client asking again gets the same address.
        let (again, _) = offer_to_mac(&mut s, &mut store);
        assert_eq!(again.yiaddr(), offer.yiaddr());
    }

    #[test]
    fn a_request_for_an_address_leased_to_another_gets_a_nak() {
        let mut s = server("dhcp-range=192.168.1.50,192.168.1.150\ndhcp-authoritative\n");
        let mut store = LeaseStore::in_memory();
        let taken = Ipv4Addr::new(192, 168, 1, 60);
        let other = [2, 0, 0, 0, 0, 9];
        let ask = |mac| {
            request(
                MessageType::Request,
                mac,
                vec![DhcpOption::RequestedIpAddress(taken)],
            )
        };
        let (ack, _) = answer(&mut s, &ask(other), &mut store).unwrap();
        assert_eq!(kind(&ack), MessageType::Ack);
        let (nak, to) = answer(&mut s, &ask(MAC), &mut store).unwrap();
        assert_eq!(kind(&nak), MessageType::Nak);
        assert_eq!(to, Destination::Broadcast);
        assert_eq!(nak.yiaddr(), Ipv4Addr::UNSPECIFIED);
        // Renewing an address that is not its lease's: NAKed when sent to this server,
        // let be when broadcast (rebinding: it may be another server's lease).
        let mut renew = request(MessageType::Request, other, vec![]);
        renew.set_ciaddr(Ipv4Addr::new(192, 168, 1, 61));
        let unicast = Interface {
            reached_at: Some(iface().addr),
            ..iface()
        };
        let out = s.handle(&encode(&renew), &unicast, 1_000_000, &mut store);
        let (bytes, _) = out.reply.expect("a NAK");
        let nak = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(
            nak.opts().get(OptionCode::Message),
            Some(&DhcpOption::Message(NAK_NO_LEASE.into()))
        );
        assert!(answer(&mut s, &renew, &mut store).is_none());
        // Outside the network: wrong network.
        let far = request(
            MessageType::Request,
            MAC,
            vec![DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 5))],
        );
        let (nak, _) = answer(&mut s, &far, &mut store).unwrap();
        assert_eq!(
            nak.opts().get(OptionCode::Message),
            Some(&DhcpOption::Message(NAK_WRONG_NETWORK.into()))
        );
    }

    /// A store with leases of `addrs` (of the 192.168.1.0/24 network) to other clients.
    fn leased_to_others(addrs: impl IntoIterator<Item = u8>) -> LeaseStore {
        let mut store = LeaseStore::in_memory();
        for a in addrs {
            store.put(Lease {
                expires: 0,
                hwaddr: HwAddr::ether([2, 0, 0, 0, 1, a]),
                addr: Ipv4Addr::new(192, 168, 1, a),
                hostname: None,
                client_id: None,
            });
        }
        store
    }

    #[test]
    fn renewal_times_are_dnsmasqs() {
        let none = |_: u8| None;
        assert_eq!(renewal_times(7200, 0, none), (3600, 6300));
        // A renewal's come early, the fuzz halved until at most an eighth of T1.
        assert_eq!(renewal_times(7200, 448, none), (3152, 5852));
        assert_eq!(renewal_times(7200, 1000, none), (3600 - 250, 6300 - 250));
        // Configured ones where sane (below the lease, over 2 s), T1 kept below T2.
        let set = |t1: u32, t2: u32| move |c: u8| Some(if c == 58 { t1 } else { t2 });
        assert_eq!(renewal_times(7200, 0, set(1000, 2000)), (1000, 2000));
        assert_eq!(renewal_times(7200, 0, set(9000, 1)), (3600, 6300));
        assert_eq!(renewal_times(7200, 0, set(5000, 4000)), (3999, 4000));
    }

    #[test]
    fn log_dhcp_details_each_exchange_under_its_transaction_id() {
        let conf = "dhcp-range=192.168.1.50,192.168.1.150,12h\nlog-dhcp\n";
        let mut s = server(conf);
        let mut store = LeaseStore::in_memory();
        let discover = request(
            MessageType::Discover,
            MAC,
            vec![
                DhcpOption::ParameterRequestList(vec![OptionCode::SubnetMask, OptionCode::Router]),
                DhcpOption::ClassIdentifier(b"MSFT 5.0".to_vec()),
            ],
        );
        let out = s.handle(&encode(&discover), &iface(), 1_000_000, &mut store);
        let xid = discover.xid();
        assert!(
            out.log.iter().all(|l| l.starts_with(&format!("{xid} "))),
            "{:?}",
            out.log
        );
        let has = |text: &str| out.log.iter().any(|l| l.contains(text));
        assert!(has(" available DHCP range: 192.168.1.50 -- 192.168.1.150"));
        assert!(has(" vendor class: MSFT 5.0"));
        assert!(has(" DHCPDISCOVER(eth0) 52:54:00:12:34:56"));
        assert!(has(" tags: eth0"));
        assert!(has(" requested options: 1:netmask, 3:router"));
        assert!(has(" sent size:  1 option: 53 message-type  2"));
        assert!(has(" sent size:  4 option: 51 lease-time  12h"));
        // Without it, none of that.
        let mut plain = server("dhcp-range=192.168.1.50,192.168.1.150,12h\n");
        let out = plain.handle(&encode(&discover), &iface(), 1_000_000, &mut store);
        assert_eq!(out.log.len(), 2, "{:?}", out.log);
        assert!(out.log[0].starts_with("DHCPDISCOVER(eth0) "));
    }

    #[test]
    fn the_pick_passes_runs_of_leases_and_what_else_is_taken() {
        // Sequential: past 190 leases in a row and an address another host is given.
        let mut s = server(
            "dhcp-range=192.168.1.10,192.168.1.250
dhcp-sequential-ip
\
             dhcp-host=02:00:00:00:00:77,192.168.1.200
",
        );
        let mut store = leased_to_others(10..=199);
        let (offer, _) = offer_to_mac(&mut s, &mut store);
        assert_eq!(offer.yiaddr(), Ipv4Addr::new(192, 168, 1, 201));
        // Hashed: every address but one leased, wherever the walk starts it finds it.
        for free in [10, 12, 130, 250] {
            let mut s = server(
                "dhcp-range=192.168.1.10,192.168.1.250
",
            );
            let mut store = leased_to_others((10..=250).filter(|&a| a != free));
            let (offer, _) = offer_to_mac(&mut s, &mut store);
            assert_eq!(offer.yiaddr(), Ipv4Addr::new(192, 168, 1, free));
        }
        // None free: no offer.
        let mut s = server(
            "dhcp-range=192.168.1.10,192.168.1.250
",
        );
        let mut store = leased_to_others(10..=250);
        let discover = request(MessageType::Discover, MAC, vec![]);
        assert!(answer(&mut s, &discover, &mut store).is_none());
    }

    #[test]
    fn without_authority_an_unknown_init_reboot_gets_no_answer() {
        let mut s = server("dhcp-range=192.168.1.50,192.168.1.150\n");
        let mut store = LeaseStore::in_memory();
        let req = request(
            MessageType::Request,
            MAC,
            vec![DhcpOption::RequestedIpAddress(Ipv4Addr::new(
                192, 168, 1, 70,
            ))],
        );
        assert!(answer(&mut s, &req, &mut store).is_none());
    }

    #[test]
    fn a_dhcp_host_gets_its_address_name_and_lease_time_and_others_never_get_it() {
        let mut s = server(
            "dhcp-range=192.168.1.50,192.168.1.150\n\
             dhcp-host=52:54:00:12:34:*,192.168.1.7,printer,2h\n\
             dhcp-host=02:00:00:00:00:01,ignore\n",
        );
        let mut store = LeaseStore::in_memory();
        let (offer, _) = offer_to_mac(&mut s, &mut store);
        assert_eq!(
            offer.yiaddr(),
            Ipv4Addr::new(192, 168, 1, 7),
            "outside the range, but its own"
        );
        assert_eq!(
            offer.opts().get(OptionCode::AddressLeaseTime),
            Some(&DhcpOption::AddressLeaseTime(7200))
        );
        assert_eq!(
            offer.opts().get(OptionCode::Hostname),
            Some(&DhcpOption::Hostname("printer".into()))
        );
        let ignored = request(MessageType::Discover, [2, 0, 0, 0, 0, 1], vec![]);
        assert!(answer(&mut s, &ignored, &mut store).is_none());
        let thief = request(
            MessageType::Discover,
            [2, 0, 0, 0, 0, 2],
            vec![DhcpOption::RequestedIpAddress(Ipv4Addr::new(
                192, 168, 1, 7,
            ))],
        );
        let (offer, _) = answer(&mut s, &thief, &mut store).unwrap();
        assert_ne!(offer.yiaddr(), Ipv4Addr::new(192, 168, 1, 7));
    }

    #[test]
    fn release_ends_the_lease_and_a_declined_host_address_is_held_back() {
        let mut s = server(
            "dhcp-range=192.168.1.50,192.168.1.52\ndhcp-host=52:54:00:12:34:56,192.168.1.50\n",
        );
        let mut store = LeaseStore::in_memory();
        let addr = Ipv4Addr::new(192, 168, 1, 50);
        let req = request(
            MessageType::Request,
            MAC,
            vec![
                DhcpOption::RequestedIpAddress(addr),
                DhcpOption::ServerIdentifier(iface().addr),
            ],
        );
        answer(&mut s, &req, &mut store).unwrap();
        let mut release = request(
            MessageType::Release,
            MAC,
            vec![DhcpOption::ServerIdentifier(iface().addr)],
        );
        release.set_ciaddr(addr);
        assert!(answer(&mut s, &release, &mut store).is_none());
        assert!(store.table().is_empty());
        let decline = request(
            MessageType::Decline,
            MAC,
            vec![
                DhcpOption::RequestedIpAddress(addr),
                DhcpOption::ServerIdentifier(iface().addr),
            ],
        );
        answer(&mut s, &decline, &mut store);
        // The host is offered another address while its own is held back.
        let (offer, _) = answer(
            &mut s,
            &request(MessageType::Discover, MAC, vec![]),
            &mut store,
        )
        .unwrap();
        assert_ne!(
            offer.yiaddr(),
            addr,
            "the declined host address was offered"
        );
        // A declined dynamic address is offered again when asked for (as dnsmasq).
        let dynamic = Ipv4Addr::new(192, 168, 1, 51);
        let decline = request(
            MessageType::Decline,
            MAC,
            vec![
                DhcpOption::RequestedIpAddress(dynamic),
                DhcpOption::ServerIdentifier(iface().addr),
            ],
        );
        answer(&mut s, &decline, &mut store);
        let ask = request(
            MessageType::Discover,
            [2, 0, 0, 0, 0, 3],
            vec![DhcpOption::RequestedIpAddress(dynamic)],
        );
        assert_eq!(
            answer(&mut s, &ask, &mut store).unwrap().0.yiaddr(),
            dynamic
        );
    }

    #[test]
    fn configured_options_replace_defaults_and_only_asked_ones_are_sent() {
        let mut s = server(
            "dhcp-range=192.168.1.50,192.168.1.150\n\
             dhcp-option=3,192.168.1.254\n\
             dhcp-option=42,192.168.1.9\n\
             dhcp-option-force=66,tftp.lan\n",
        );
        let mut store = LeaseStore::in_memory();
        let asked =
            DhcpOption::ParameterRequestList(vec![OptionCode::SubnetMask, OptionCode::Router]);
        let (offer, _) = answer(
            &mut s,
            &request(MessageType::Discover, MAC, vec![asked]),
            &mut store,
        )
        .unwrap();
        let o = offer.opts();
        let raw = |code: u8| match o.get(OptionCode::from(code)) {
            Some(DhcpOption::Router(r)) => {
                Some(r.iter().flat_map(|a| a.octets()).collect::<Vec<u8>>())
            }
            Some(DhcpOption::Unknown(u)) => Some(u.data().to_vec()),
            Some(DhcpOption::TFTPServerName(n)) => Some(n.clone()),
            Some(other) => panic!("{other:?}"),
            None => None,
        };
        assert_eq!(raw(3), Some(vec![192, 168, 1, 254]));
        assert_eq!(raw(42), None, "not asked for");
        assert_eq!(
            raw(66),
            Some(b"tftp.lan\0".to_vec()),
            "forced, NUL-terminated"
        );
        assert!(
            o.get(OptionCode::DomainNameServer).is_none(),
            "not asked for"
        );
        assert!(o.get(OptionCode::SubnetMask).is_some());
    }

    #[test]
    fn relayed_requests_are_answered_to_the_relay_from_its_subnet() {
        let mut s = server("dhcp-range=10.5.0.10,10.5.0.20,255.255.255.0\n");
        let mut store = LeaseStore::in_memory();
        let mut m = request(MessageType::Discover, MAC, vec![]);
        m.set_giaddr(Ipv4Addr::new(10, 5, 0, 1));
        let (offer, to) = answer(&mut s, &m, &mut store).unwrap();
        assert_eq!(to, Destination::Relay(Ipv4Addr::new(10, 5, 0, 1)));
        assert!((10..=20).contains(&offer.yiaddr().octets()[3]));
        assert_eq!(offer.giaddr(), Ipv4Addr::new(10, 5, 0, 1));
        assert_eq!(
            offer.opts().get(OptionCode::Router),
            Some(&DhcpOption::Router(vec![Ipv4Addr::new(10, 5, 0, 1)])),
            "the relay is the router"
        );
        // A request from a network with no range is not answered.
        m.set_giaddr(Ipv4Addr::new(10, 6, 0, 1));
        assert!(answer(&mut s, &m, &mut store).is_none());
    }

    #[test]
    fn the_lease_limit_stops_new_clients() {
        let mut s = server("dhcp-range=192.168.1.50,192.168.1.150\ndhcp-lease-max=1\n");
        let mut store = LeaseStore::in_memory();
        let req = |mac| {
            request(
                MessageType::Request,
                mac,
                vec![
                    DhcpOption::RequestedIpAddress(Ipv4Addr::new(192, 168, 1, 90)),
                    DhcpOption::ServerIdentifier(iface().addr),
                ],
            )
        };
        assert_eq!(
            kind(&answer(&mut s, &req(MAC), &mut store).unwrap().0),
            MessageType::Ack
        );
        assert!(answer(
            &mut s,
            &request(MessageType::Discover, [2, 0, 0, 0, 0, 4], vec![]),
            &mut store
        )
        .is_none());
    }

    #[test]
    fn quiet_dhcp_logs_problems_only() {
        let mut s = server("dhcp-range=192.168.1.50,192.168.1.150\nquiet-dhcp\n");
        let mut store = LeaseStore::in_memory();
        let out = s.handle(
            &encode(&request(MessageType::Discover, MAC, vec![])),
            &iface(),
            1000,
            &mut store,
        );
        assert!(out.reply.is_some() && out.log.is_empty(), "{:?}", out.log);
        let wrong = request(
            MessageType::Request,
            MAC,
            vec![DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 9, 9))],
        );
        let mut s =
            server("dhcp-range=192.168.1.50,192.168.1.150\nquiet-dhcp\ndhcp-authoritative\n");
        let out = s.handle(&encode(&wrong), &iface(), 1000, &mut store);
        assert_eq!(out.log.len(), 1, "{:?}", out.log);
        assert!(out.log[0].starts_with("DHCPNAK("), "{:?}", out.log);
    }

    #[test]
    fn tags_choose_options_hosts_and_who_is_ignored() {
        let conf = "dhcp-range=192.168.1.50,192.168.1.150\n\
                    dhcp-vendorclass=set:hp,Hewlett\n\
                    dhcp-option=42,192.168.1.1\n\
                    dhcp-option=tag:hp,42,192.168.1.2\n\
                    dhcp-option=tag:known,44,192.168.1.3\n\
                    dhcp-vendorclass=set:ms,MSFT\n\
                    dhcp-ignore=tag:ms\n\
                    dhcp-host=tag:hp,52:54:00:12:34:56,192.168.1.77\n";
        let mut s = server(conf);
        let mut store = LeaseStore::in_memory();
        let vendor = |v: &str| DhcpOption::ClassIdentifier(v.as_bytes().to_vec());
        let asks =
            DhcpOption::ParameterRequestList(vec![OptionCode::from(42), OptionCode::from(44)]);
        let value = |m: &Message, code: u8| match m.opts().get(OptionCode::from(code)) {
            Some(DhcpOption::Unknown(u)) => Some(u.data().to_vec()),
            Some(DhcpOption::NtpServers(a)) => Some(a[0].octets().to_vec()),
            Some(_) => Some(Vec::new()),
            None => None,
        };
        // A printer: its tagged option over the untagged one, and the host only tagged
        // clients get (so it is known).
        let printer = request(
            MessageType::Discover,
            MAC,
            vec![vendor("Hewlett-Packard"), asks.clone()],
        );
        let (offer, _) = answer(&mut s, &printer, &mut store).expect("an offer");
        assert_eq!(offer.yiaddr(), Ipv4Addr::new(192, 168, 1, 77));
        assert_eq!(value(&offer, 42), Some(vec![192, 168, 1, 2]));
        assert!(value(&offer, 44).is_some(), "known");
        // Another client: the untagged option, no host, not known.
        let other = request(
            MessageType::Discover,
            MAC,
            vec![vendor("Linux"), asks.clone()],
        );
        let (offer, _) = answer(&mut s, &other, &mut store).expect("an offer");
        assert_ne!(offer.yiaddr(), Ipv4Addr::new(192, 168, 1, 77));
        assert_eq!(value(&offer, 42), Some(vec![192, 168, 1, 1]));
        assert!(value(&offer, 44).is_none());
        // An ignored class gets nothing, and its DISCOVER is logged as ignored.
        let ms = request(MessageType::Discover, MAC, vec![vendor("MSFT 5.0")]);
        let out = s.handle(&encode(&ms), &iface(), 0, &mut store);
        assert!(out.reply.is_none());
        assert!(
            out.log.iter().any(|l| l.ends_with("ignored")),
            "{:?}",
            out.log
        );
    }

    #[test]
    fn garbage_is_dropped() {
        let mut s = server("dhcp-range=192.168.1.50,192.168.1.150\n");
        let mut store = LeaseStore::in_memory();
        for bytes in [
            &b""[..],
            &[1u8; 10][..],
            &[0u8; 300][..],
            &[0xffu8; 600][..],
        ] {
            assert!(s.handle(bytes, &iface(), 0, &mut store).reply.is_none());
        }
    }

    #[test]
    fn a_picked_address_is_pinged_first_and_one_in_use_is_passed_over() {
        let mut s = pinging("dhcp-range=192.168.1.50,192.168.1.150\n");
        let mut store = LeaseStore::in_memory();
        let discover = encode(&request(MessageType::Discover, MAC, vec![]));
        let now = 1_000_000;
        // No answer until the pick has been pinged.
        let out = s.handle(&discover, &iface(), now, &mut store);
        assert!(out.reply.is_none());
        let first = out.ping.expect("a ping check");
        // It answered: another address is picked, and pinged in turn.
        s.ping_result(first, true, now);
        let second = s
            .handle(&discover, &iface(), now, &mut store)
            .ping
            .expect("another");
        assert_ne!(second.addr, first.addr);
        // No answer: that one is offered, with no ping again while the answer stands.
        s.ping_result(second, false, now + 3);
        let out = s.handle(&discover, &iface(), now + 3, &mut store);
        let (bytes, _) = out.reply.expect("an offer");
        let offer = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(offer.yiaddr(), second.addr);
        assert!(out.ping.is_none());
        // The answer ages out (dnsmasq's 30 seconds): the address is checked again.
        let later = s.handle(
            &discover,
            &iface(),
            now + 3 + PING_CACHE_SECS + 1,
            &mut store,
        );
        assert!(later.ping.is_some());
        // Through a loopback interface nothing is pinged, as in dnsmasq.
        let lo = Interface {
            loopback: true,
            ..iface()
        };
        let other = encode(&request(MessageType::Discover, [2, 0, 0, 0, 0, 9], vec![]));
        let out = s.handle(&other, &lo, now, &mut store);
        assert!(out.ping.is_none() && out.reply.is_some());
    }

    #[test]
    fn an_address_the_client_asks_for_is_not_pinged() {
        let mut s = pinging("dhcp-range=192.168.1.50,192.168.1.150\n");
        let mut store = LeaseStore::in_memory();
        let asked = Ipv4Addr::new(192, 168, 1, 77);
        let discover = request(
            MessageType::Discover,
            MAC,
            vec![DhcpOption::RequestedIpAddress(asked)],
        );
        let out = s.handle(&encode(&discover), &iface(), 1_000_000, &mut store);
        assert!(out.ping.is_none());
        let (bytes, _) = out.reply.expect("an offer");
        assert_eq!(
            Message::decode(&mut Decoder::new(&bytes)).unwrap().yiaddr(),
            asked
        );
    }

    #[test]
    fn a_shared_network_lends_its_ranges_to_an_interface_or_a_relay() {
        let conf = "dhcp-range=10.6.0.50,10.6.0.60,255.255.255.0\n";
        let mut store = LeaseStore::in_memory();
        let discover = request(MessageType::Discover, MAC, vec![]);
        // The configuration names an interface that exists wherever the test runs.
        let lo = Interface {
            name: "lo".into(),
            ..iface()
        };
        let offered = |s: &mut Server, store: &mut LeaseStore| {
            let out = s.handle(&encode(&discover), &lo, 1_000_000, store);
            out.reply
                .map(|(b, _)| Message::decode(&mut Decoder::new(&b)).unwrap().yiaddr())
        };
        assert_eq!(offered(&mut server(conf), &mut store), None);
        let mut s = server(&format!("{conf}shared-network=lo,10.6.0.1\n"));
        let addr = offered(&mut s, &mut store).expect("an offer");
        assert!((50..=60).contains(&addr.octets()[3]));
        assert_eq!(addr.octets()[..3], [10, 6, 0]);
        // Through a relay: named by its address.
        let mut relayed = discover.clone();
        relayed.set_giaddr(Ipv4Addr::new(10, 5, 0, 1));
        assert!(answer(&mut s, &relayed, &mut store).is_none());
        let mut s = server(&format!("{conf}shared-network=10.5.0.1,10.6.0.1\n"));
        let (offer, to) = answer(&mut s, &relayed, &mut store).expect("an offer");
        assert_eq!(offer.yiaddr().octets()[..3], [10, 6, 0]);
        assert_eq!(to, Destination::Relay(Ipv4Addr::new(10, 5, 0, 1)));
    }

    #[test]
    fn a_client_fqdn_option_names_the_client_in_either_form() {
        let mut s = server("dhcp-range=192.168.1.50,192.168.1.150\ndomain=lan\n");
        let mut store = LeaseStore::in_memory();
        for (value, name) in [
            (&b"\x00\0\0textname"[..], "textname"),
            (&b"\x05\0\0\x05fqdn1\0"[..], "fqdn1"),
        ] {
            let mut discover = request(MessageType::Discover, MAC, vec![]);
            discover
                .opts_mut()
                .insert(DhcpOption::Hostname("other".into()));
            let mut bytes = encode(&discover);
            let end = bytes.len() - 1;
            let mut opt = vec![81, value.len() as u8];
            opt.extend_from_slice(value);
            bytes.splice(end..end, opt);
            let out = s.handle(&bytes, &iface(), 1_000_000, &mut store);
            let (reply, _) = out.reply.expect("an offer");
            // Read option by option: dhcproto alone stops at an FQDN option in text form,
            // and the options in a reply come in no set order.
            let offer = decode_request(&reply).unwrap();
            assert_eq!(
                offer.opts().get(OptionCode::Hostname),
                Some(&DhcpOption::Hostname(name.into())),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_vi_encap_match_looks_at_one_enterprises_vendor_classes() {
        let option = [
            0, 0, 0x0d, 0xe9, 8, 3, b'a', b'b', b'c', 3, b'P', b'X', b'E', 0, 0, 0, 9, 2, 1, b'z',
        ];
        let classes: Vec<&[u8]> = vendor_classes(&option, 3561).collect();
        assert_eq!(classes, [&b"abc"[..], b"PXE"]);
        assert_eq!(vendor_classes(&option, 9).collect::<Vec<_>>(), [&b"z"[..]]);
        assert_eq!(vendor_classes(&option, 7).count(), 0);
        // A block running past the option's end is not read.
        assert_eq!(vendor_classes(&option[..8], 3561).count(), 0);
        let mut s = server(
            "dhcp-range=192.168.1.50,192.168.1.150\ndhcp-match=set:vi,vi-encap:3561,PXE\n\
             dhcp-option=tag:vi,42,192.168.1.9\n",
        );
        let mut store = LeaseStore::in_memory();
        let mut discover = request(MessageType::Discover, MAC, vec![]);
        discover
            .opts_mut()
            .insert(DhcpOption::Unknown(UnknownOption::new(
                OptionCode::from(124),
                option.to_vec(),
            )));
        let (offer, _) = answer(&mut s, &discover, &mut store).expect("an offer");
        assert!(offer.opts().get(OptionCode::NtpServers).is_some());
    }

    #[test]
    fn dhcp_proxy_gives_the_relays_address_as_the_server_identifier() {
        let relay = Ipv4Addr::new(10, 5, 0, 1);
        let id_of = |m: &Message| match m.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(a)) => *a,
            other => panic!("{other:?}"),
        };
        let range = "dhcp-range=10.5.0.10,10.5.0.20,255.255.255.0\n";
        for (conf, want) in [
            ("", iface().addr),
            ("dhcp-proxy\n", relay),
            ("dhcp-proxy=10.5.0.1\n", relay),
            ("dhcp-proxy=10.9.9.9\n", iface().addr),
        ] {
            let mut s = server(&format!("{range}{conf}"));
            let mut store = LeaseStore::in_memory();
            let mut m = request(MessageType::Discover, MAC, vec![]);
            m.set_giaddr(relay);
            let (offer, _) = answer(&mut s, &m, &mut store).unwrap();
            assert_eq!(id_of(&offer), want, "{conf}");
            // The client's REQUEST names that identifier, and is acknowledged.
            let mut r = request(
                MessageType::Request,
                MAC,
                vec![
                    DhcpOption::RequestedIpAddress(offer.yiaddr()),
                    DhcpOption::ServerIdentifier(want),
                ],
            );
            r.set_giaddr(relay);
            let (ack, _) = answer(&mut s, &r, &mut store).expect("an answer");
            assert_eq!(kind(&ack), MessageType::Ack, "{conf}");
        }
    }
}
