//! Which addresses DNS is served on, by dnsmasq's rules: `--interface` (a trailing `*` is
//! a wildcard; loopback is added when any is given), `--except-interface`,
//! `--listen-address`, `--local-service`, and the binding mode (`--bind-interfaces`,
//! `--bind-dynamic`, or the default: wildcard sockets that check each query's interface
//! and destination, and answer from the address it came to).

use crate::config::parse::Value;
use crate::config::Config;
use crate::dns::answer::in_subnet;
use std::collections::HashMap;
use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

/// One address of one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    pub name: String,
    pub index: u32,
    pub addr: IpAddr,
    pub prefix: u8,
    /// IFF_LOOPBACK.
    pub loopback: bool,
}

/// Every address of every interface that is up, as `getifaddrs` reports them.
pub fn host_addresses() -> Vec<IfAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills head with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_flags & libc::IFF_UP as u32 == 0 {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_name is valid for if_nametoindex.
        let index = unsafe { libc::if_nametoindex(ifa.ifa_name) };
        // SAFETY: ifa_addr and ifa_netmask point at sockaddrs of the family named.
        let (addr, prefix) = unsafe {
            match (*ifa.ifa_addr).sa_family as i32 {
                libc::AF_INET => {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let m = mask_v4(ifa.ifa_netmask);
                    (
                        IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr))),
                        m,
                    )
                }
                libc::AF_INET6 => {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    let m = mask_v6(ifa.ifa_netmask);
                    (IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr)), m)
                }
                _ => continue,
            }
        };
        out.push(IfAddr {
            name,
            index,
            addr,
            prefix,
            loopback: ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0,
        });
    }
    // SAFETY: head came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// # Safety
/// `m` is null or points at a sockaddr_in.
unsafe fn mask_v4(m: *const libc::sockaddr) -> u8 {
    if m.is_null() {
        return 32;
    }
    let m = &*(m as *const libc::sockaddr_in);
    u32::from_be(m.sin_addr.s_addr).count_ones() as u8
}

/// # Safety
/// `m` is null or points at a sockaddr_in6.
unsafe fn mask_v6(m: *const libc::sockaddr) -> u8 {
    if m.is_null() {
        return 128;
    }
    let m = &*(m as *const libc::sockaddr_in6);
    u128::from_be_bytes(m.sin6_addr.s6_addr).count_ones() as u8
}

/// dnsmasq's interface-name match: exact, or a prefix when the pattern ends in `*`.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// How listening sockets are bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// dnsmasq's default: 0.0.0.0 and ::, each query checked against the rules.
    Wildcard,
    /// `--bind-interfaces`: one socket per permitted address, found at start.
    Bind,
    /// `--bind-dynamic`: as `Bind`, following addresses that appear later.
    Dynamic,
}

/// `--local-service`: which clients are answered when no interface option is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalService {
    /// Clients on a directly connected subnet.
    Net,
    /// Only this host, over loopback.
    Host,
}

/// The listening rules from the configuration.
#[derive(Clone, Debug)]
pub struct Listening {
    pub mode: Mode,
    interfaces: Vec<String>,
    except: Vec<String>,
    addresses: Vec<IpAddr>,
    pub local_service: Option<LocalService>,
}

impl Listening {
    pub fn from_config(config: &Config) -> Self {
        let mut interfaces = config.text_list("interface");
        let except = config.text_list("except-interface");
        let addresses: Vec<IpAddr> = config
            .values("listen-address")
            .filter_map(|v| match v {
                Value::Addresses(a) => Some(a.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        // dnsmasq adds loopback whenever an interface is named.
        if !interfaces.is_empty() {
            interfaces.push("lo".to_string());
        }
        let mode = if config.has("bind-dynamic") {
            Mode::Dynamic
        } else if config.has("bind-interfaces") {
            Mode::Bind
        } else {
            Mode::Wildcard
        };
        // --local-service only applies to an installation with no interface options.
        let unconfigured = interfaces.is_empty()
            && except.is_empty()
            && addresses.is_empty()
            && !config.has("auth-server");
        let local_service = match config.last("local-service") {
            Some(Value::Text(Some(h))) if h == "host" && unconfigured => Some(LocalService::Host),
            Some(Value::Text(_)) if unconfigured => Some(LocalService::Net),
            _ => None,
        };
        let mut l = Listening {
            mode,
            interfaces,
            except,
            addresses,
            local_service,
        };
        if l.local_service == Some(LocalService::Host) {
            // Listen on the loopback addresses alone.
            l.addresses = vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
        }
        l
    }

    /// Whether every query may be answered whatever interface or address it came to.
    pub fn accepts_all(&self) -> bool {
        self.interfaces.is_empty() && self.except.is_empty() && self.addresses.is_empty()
    }

    /// dnsmasq's check of a query's interface and destination address: named by
    /// `--interface` or `--listen-address` (all, when neither is given), and not by
    /// `--except-interface` unless its address was listed explicitly.
    pub fn accepts(&self, iface: &str, dst: IpAddr) -> bool {
        let mut ok = self.interfaces.is_empty() && self.addresses.is_empty();
        if self.interfaces.iter().any(|p| wildcard_match(p, iface)) {
            ok = true;
        }
        let listed = self.addresses.contains(&dst);
        if listed {
            return true;
        }
        if self.except.iter().any(|p| wildcard_match(p, iface)) {
            ok = false;
        }
        ok
    }

    /// The addresses to bind on `port`: wildcards in the default mode, otherwise each
    /// permitted interface address plus any `--listen-address` no interface has (which
    /// then fails to bind, as in dnsmasq).
    pub fn bind_addrs(&self, host: &[IfAddr], port: u16) -> Vec<SocketAddr> {
        if self.mode == Mode::Wildcard {
            return vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            ];
        }
        let mut out: Vec<SocketAddr> = host
            .iter()
            .filter(|a| self.accepts(&a.name, a.addr))
            .map(|a| socket_addr(a, port))
            .collect();
        for addr in &self.addresses {
            if !host.iter().any(|a| a.addr == *addr) {
                out.push(SocketAddr::new(*addr, port));
            }
        }
        out.dedup();
        out
    }

    /// Interface names given that no interface has, for dnsmasq's start-up warning.
    pub fn missing_interfaces(&self, host: &[IfAddr]) -> Vec<String> {
        self.interfaces
            .iter()
            .filter(|p| !host.iter().any(|a| wildcard_match(p, &a.name)))
            .cloned()
            .collect()
    }
}

fn socket_addr(a: &IfAddr, port: u16) -> SocketAddr {
    match a.addr {
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
            SocketAddr::V6(SocketAddrV6::new(v6, port, 0, a.index))
        }
        ip => SocketAddr::new(ip, port),
    }
}

/// A shard's per-query check in wildcard mode and for `--local-service`, with answers
/// for (interface, destination) pairs remembered (a bounded table).
pub struct Gate {
    rules: Listening,
    host: Vec<IfAddr>,
    seen: HashMap<(u32, IpAddr), bool>,
}

/// Addresses (with prefix lengths) by interface name.
pub fn named(host: &[IfAddr]) -> Vec<(String, IpAddr, u8)> {
    host.iter()
        .map(|a| (a.name.clone(), a.addr, a.prefix))
        .collect()
}

/// Remembered (interface, destination) decisions before the table starts afresh.
const GATE_MEMORY: usize = 1024;

impl Gate {
    pub fn new(rules: Listening, host: Vec<IfAddr>) -> Self {
        Gate {
            rules,
            host,
            seen: HashMap::new(),
        }
    }

    /// Take a fresh list of the host's addresses.
    /// The host's addresses by interface name, with prefix lengths, for
    /// `--interface-name` and `--localise-queries`.
    pub fn named_addresses(&self) -> Vec<(String, IpAddr, u8)> {
        named(&self.host)
    }

    pub fn update(&mut self, host: Vec<IfAddr>) {
        self.host = host;
        self.seen.clear();
    }

    /// Whether a UDP query from `src` that arrived on interface `ifindex` for `dst` is
    /// answered. `ifindex` 0 means the socket was bound to one address (already checked).
    pub fn admits(&mut self, src: IpAddr, dst: IpAddr, ifindex: u32) -> bool {
        if ifindex != 0 && !self.rules.accepts_all() {
            let ok = match self.seen.get(&(ifindex, dst)) {
                Some(ok) => *ok,
                None => {
                    let name = self
                        .host
                        .iter()
                        .find(|a| a.index == ifindex)
                        .map(|a| a.name.clone())
                        .unwrap_or_default();
                    let ok = self.rules.accepts(&name, dst);
                    if self.seen.len() >= GATE_MEMORY {
                        self.seen.clear();
                    }
                    self.seen.insert((ifindex, dst), ok);
                    ok
                }
            };
            if !ok {
                return false;
            }
        }
        self.local_client(src)
    }

    /// Whether a TCP connection to `local` from `src` is served.
    pub fn admits_stream(&mut self, src: IpAddr, local: IpAddr) -> bool {
        if self.rules.mode == Mode::Wildcard && !self.rules.accepts_all() {
            let name = self
                .host
                .iter()
                .find(|a| a.addr == local)
                .map(|a| a.name.as_str())
                .unwrap_or("");
            if !self.rules.accepts(name, local) {
                return false;
            }
        }
        self.local_client(src)
    }

    /// `--local-service`: the client is on a connected subnet (or is this host).
    fn local_client(&self, src: IpAddr) -> bool {
        match self.rules.local_service {
            None => true,
            Some(LocalService::Host) => src.is_loopback(),
            Some(LocalService::Net) => {
                src.is_loopback() || self.host.iter().any(|a| in_subnet(src, a.addr, a.prefix))
            }
        }
    }

    /// Whether anything needs checking per query.
    pub fn checks_anything(&self) -> bool {
        !self.rules.accepts_all() || self.rules.local_service.is_some()
    }
}

/// Interfaces DHCP (and so TFTP, unless given its own) is not served on:
/// `--no-dhcp-interface` and `--no-dhcpv4-interface`, as wildcards.
pub fn dhcp_refused(config: &Config) -> Vec<String> {
    ["no-dhcp-interface", "no-dhcpv4-interface"]
        .iter()
        .flat_map(|name| config.text_list(name))
        .collect()
}

/// The name of interface `index` (one with no address is not among the host's).
pub fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into buf.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// The MTU of interface `name`, where the kernel says.
pub fn interface_mtu(name: &str) -> Option<u32> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).ok()?;
    // SAFETY: all-zero is a valid ifreq.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return None;
    }
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCGIFMTU reads the name from and writes the MTU into `req`, ours.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFMTU, &mut req) } < 0 {
        return None;
    }
    // SAFETY: SIOCGIFMTU filled the union's MTU member.
    u32::try_from(unsafe { req.ifr_ifru.ifru_mtu }).ok()
}

/// Most entries one read of the neighbour table takes in; the rest are left unread.
const MAX_NEIGHBOUR_ENTRIES: usize = 1 << 20;

/// The kernel's neighbour table, IPv4 (ARP) and IPv6 (neighbour discovery) together:
/// each entry's address and link-layer address. Entries still resolving, failed or on
/// links without ARP are left out, as dnsmasq leaves them out. An `RTM_GETNEIGH` dump
/// over netlink; no more than `MAX_NEIGHBOUR_ENTRIES` entries.
pub fn neighbours() -> std::io::Result<Vec<(IpAddr, Vec<u8>)>> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::io::Read;
    let mut socket = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::RAW,
        Some(Protocol::from(libc::NETLINK_ROUTE)),
    )?;
    // A dump comes at once; a kernel that stalls it does not hold the caller long.
    socket.set_read_timeout(Some(std::time::Duration::from_secs(1)))?;
    // nlmsghdr (16 bytes) then ndmsg (12 bytes, all zero: every family and interface).
    let mut request = [0u8; 28];
    request[0..4].copy_from_slice(&28u32.to_ne_bytes());
    request[4..6].copy_from_slice(&libc::RTM_GETNEIGH.to_ne_bytes());
    request[6..8].copy_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    request[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // With no address a netlink socket sends to the kernel.
    socket.send(&request)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = socket.read(&mut buf)?;
        match read_neighbour_messages(&buf[..n], &mut out) {
            Some(Ok(())) => return Ok(out),
            Some(Err(errno)) => return Err(std::io::Error::from_raw_os_error(errno)),
            None if n == 0 || out.len() >= MAX_NEIGHBOUR_ENTRIES => return Ok(out),
            None => {}
        }
    }
}

/// Take the entries of one batch of an `RTM_GETNEIGH` dump's messages into `out` (up to
/// `MAX_NEIGHBOUR_ENTRIES`). Some once the dump has ended: Ok, or the kernel's error
/// number.
fn read_neighbour_messages(
    mut buf: &[u8],
    out: &mut Vec<(IpAddr, Vec<u8>)>,
) -> Option<Result<(), i32>> {
    let u16_at = |b: &[u8], at: usize| u16::from_ne_bytes([b[at], b[at + 1]]);
    let align = |n: usize| (n + 3) & !3;
    while buf.len() >= 16 {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < 16 || len > buf.len() {
            return Some(Err(libc::EBADMSG));
        }
        let (message, body) = (&buf[..len], &buf[16..len]);
        buf = &buf[align(len).min(buf.len())..];
        match i32::from(u16_at(message, 4)) {
            libc::NLMSG_DONE => return Some(Ok(())),
            libc::NLMSG_ERROR => {
                let errno = body
                    .get(..4)
                    .map(|e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
                return Some(match errno {
                    Some(0) => Ok(()),
                    Some(e) => Err(-e),
                    None => Err(libc::EBADMSG),
                });
            }
            t if t == i32::from(libc::RTM_NEWNEIGH) && body.len() >= 12 => {}
            _ => continue,
        }
        let (family, state) = (i32::from(body[0]), u16_at(body, 8));
        if state & (libc::NUD_NOARP | libc::NUD_INCOMPLETE | libc::NUD_FAILED) != 0 {
            continue;
        }
        let (mut dst, mut lladdr) = (None, None);
        let mut attrs = &body[12..];
        while attrs.len() >= 4 {
            let attr_len = usize::from(u16_at(attrs, 0));
            if attr_len < 4 || attr_len > attrs.len() {
                break;
            }
            let data = &attrs[4..attr_len];
            match u16_at(attrs, 2) {
                libc::NDA_DST => dst = Some(data),
                libc::NDA_LLADDR => lladdr = Some(data),
                _ => {}
            }
            attrs = &attrs[align(attr_len).min(attrs.len())..];
        }
        let addr = match (family, dst) {
            (libc::AF_INET, Some(d)) => <[u8; 4]>::try_from(d).ok().map(IpAddr::from),
            (libc::AF_INET6, Some(d)) => <[u8; 16]>::try_from(d).ok().map(IpAddr::from),
            _ => None,
        };
        if let (Some(addr), Some(lladdr)) = (addr, lladdr) {
            if out.len() < MAX_NEIGHBOUR_ENTRIES {
                out.push((addr, lladdr.to_vec()));
            }
        }
    }
    None
}

/// The Ethernet address the kernel's neighbour table holds for `addr`, where it holds
/// a complete one.
pub fn neighbour_mac(addr: IpAddr) -> Option<[u8; 6]> {
    neighbours()
        .ok()?
        .into_iter()
        .find(|(a, _)| *a == addr)
        .and_then(|(_, mac)| mac.try_into().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(conf: &str) -> Listening {
        let config = crate::config::Config::from_text(conf).unwrap();
        Listening::from_config(&config)
    }

    fn host() -> Vec<IfAddr> {
        let a = |name: &str, index, addr: &str, prefix| IfAddr {
            name: name.into(),
            index,
            addr: addr.parse().unwrap(),
            prefix,
            loopback: name == "lo",
        };
        vec![
            a("lo", 1, "127.0.0.1", 8),
            a("eth0", 2, "192.168.1.1", 24),
            a("eth1", 3, "10.0.0.1", 16),
            a("eth1", 3, "fe80::1", 64),
            a("wg0", 4, "172.16.0.1", 24),
        ]
    }

    #[test]
    fn wildcards_match_prefixes() {
        assert!(wildcard_match("eth*", "eth10"));
        assert!(wildcard_match("eth0", "eth0"));
        assert!(!wildcard_match("eth0", "eth01"));
        assert!(!wildcard_match("wg*", "eth0"));
    }

    #[test]
    fn interface_names_add_loopback_and_except_overrides() {
        let r = rules("interface=eth*\nexcept-interface=eth1\n");
        assert!(r.accepts("eth0", "192.168.1.1".parse().unwrap()));
        assert!(r.accepts("lo", "127.0.0.1".parse().unwrap()));
        assert!(!r.accepts("eth1", "10.0.0.1".parse().unwrap()));
        assert!(!r.accepts("wg0", "172.16.0.1".parse().unwrap()));
    }

    #[test]
    fn listen_address_alone_excludes_loopback_and_other_addresses() {
        let r = rules("listen-address=192.168.1.1\nbind-interfaces\n");
        assert!(!r.accepts("lo", "127.0.0.1".parse().unwrap()));
        assert_eq!(
            r.bind_addrs(&host(), 53),
            vec!["192.168.1.1:53".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn bind_interfaces_binds_each_permitted_address_with_link_local_scope() {
        let r = rules("interface=eth1\nbind-interfaces\n");
        let got = r.bind_addrs(&host(), 53);
        assert!(got.contains(&"10.0.0.1:53".parse().unwrap()));
        assert!(got.contains(&"127.0.0.1:53".parse().unwrap()));
        assert!(got.contains(&"[fe80::1%3]:53".parse().unwrap()));
        assert_eq!(got.len(), 3);
        assert_eq!(rules("interface=eth1\n").bind_addrs(&host(), 53).len(), 2);
    }

    #[test]
    fn local_service_net_admits_connected_subnets_only() {
        let mut g = Gate::new(rules("local-service\n"), host());
        assert!(g.checks_anything());
        assert!(g.admits(
            "192.168.1.77".parse().unwrap(),
            "192.168.1.1".parse().unwrap(),
            2
        ));
        assert!(g.admits(
            "10.0.200.3".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
            3
        ));
        assert!(!g.admits(
            "8.8.8.8".parse().unwrap(),
            "192.168.1.1".parse().unwrap(),
            2
        ));
        // Any interface option turns --local-service off.
        let mut g = Gate::new(rules("local-service\ninterface=eth0\n"), host());
        assert!(g.admits(
            "8.8.8.8".parse().unwrap(),
            "192.168.1.1".parse().unwrap(),
            2
        ));
    }

    #[test]
    fn local_service_host_listens_on_loopback_for_this_host() {
        let mut g = Gate::new(rules("local-service=host\n"), host());
        assert!(g.admits(
            "127.0.0.1".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
            1
        ));
        assert!(!g.admits(
            "192.168.1.7".parse().unwrap(),
            "192.168.1.1".parse().unwrap(),
            2
        ));
    }

    #[test]
    fn gate_checks_the_arrival_interface_in_wildcard_mode() {
        let mut g = Gate::new(rules("interface=eth0\n"), host());
        let src: IpAddr = "192.168.1.9".parse().unwrap();
        assert!(g.admits(src, "192.168.1.1".parse().unwrap(), 2));
        assert!(!g.admits(src, "10.0.0.1".parse().unwrap(), 3));
        assert!(!g.admits(src, "10.0.0.1".parse().unwrap(), 3));
        assert!(!g.admits(src, "10.0.0.1".parse().unwrap(), 99));
        assert!(!Gate::new(rules(""), host()).checks_anything());
    }

    #[test]
    fn subnets() {
        assert!(in_subnet(
            "10.1.2.3".parse().unwrap(),
            "10.0.0.0".parse().unwrap(),
            8
        ));
        assert!(!in_subnet(
            "11.1.2.3".parse().unwrap(),
            "10.0.0.0".parse().unwrap(),
            8
        ));
        assert!(in_subnet(
            "1.2.3.4".parse().unwrap(),
            "9.9.9.9".parse().unwrap(),
            0
        ));
        assert!(in_subnet(
            "fe80::9".parse().unwrap(),
            "fe80::1".parse().unwrap(),
            64
        ));
    }

    /// A netlink message of `kind` with `body`, padded to four bytes.
    fn message(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&(16 + body.len() as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(body);
        m.resize((m.len() + 3) & !3, 0);
        m
    }

    /// An RTM_NEWNEIGH body: ndmsg, then NDA_DST and NDA_LLADDR.
    fn neighbour(family: i32, state: u16, dst: &[u8], lladdr: &[u8]) -> Vec<u8> {
        let mut b = vec![family as u8, 0, 0, 0, 2, 0, 0, 0];
        b.extend_from_slice(&state.to_ne_bytes());
        b.extend_from_slice(&[0, 1]);
        for (kind, data) in [(libc::NDA_DST, dst), (libc::NDA_LLADDR, lladdr)] {
            b.extend_from_slice(&(4 + data.len() as u16).to_ne_bytes());
            b.extend_from_slice(&kind.to_ne_bytes());
            b.extend_from_slice(data);
            b.resize((b.len() + 3) & !3, 0);
        }
        b
    }

    #[test]
    fn a_neighbour_dump_gives_complete_entries_of_both_families() {
        let mac = [0x52, 0x54, 0, 0xaa, 0xbb, 0x01];
        let v6: Ipv6Addr = "fd77::5".parse().unwrap();
        let mut batch = Vec::new();
        for (family, state, dst) in [
            (libc::AF_INET, libc::NUD_REACHABLE, &[10, 78, 0, 5][..]),
            (libc::AF_INET, libc::NUD_INCOMPLETE, &[10, 78, 0, 6]),
            (libc::AF_INET, libc::NUD_FAILED, &[10, 78, 0, 7]),
            (libc::AF_INET6, libc::NUD_NOARP, &[0xff; 16]),
            (libc::AF_INET6, libc::NUD_PERMANENT, &v6.octets()),
            (libc::AF_INET, libc::NUD_STALE, &[10, 78, 0, 8]),
        ] {
            batch.extend(message(
                libc::RTM_NEWNEIGH,
                &neighbour(family, state, dst, &mac),
            ));
        }
        let mut out = Vec::new();
        assert_eq!(read_neighbour_messages(&batch, &mut out), None);
        let addrs: Vec<IpAddr> = out.iter().map(|(a, _)| *a).collect();
        assert_eq!(
            addrs,
            [
                IpAddr::from([10, 78, 0, 5]),
                IpAddr::from(v6),
                IpAddr::from([10, 78, 0, 8])
            ]
        );
        assert!(out.iter().all(|(_, m)| m == &mac));
        let done = message(libc::NLMSG_DONE as u16, &[0; 4]);
        assert_eq!(read_neighbour_messages(&done, &mut out), Some(Ok(())));
        let refused = message(libc::NLMSG_ERROR as u16, &(-libc::EPERM).to_ne_bytes());
        assert_eq!(
            read_neighbour_messages(&refused, &mut out),
            Some(Err(libc::EPERM))
        );
    }

    #[test]
    fn a_broken_neighbour_dump_is_an_error_not_a_panic() {
        let mut whole = message(
            libc::RTM_NEWNEIGH,
            &neighbour(libc::AF_INET, 2, &[1, 2, 3, 4], &[1; 6]),
        );
        let mut out = Vec::new();
        // A length past the end, one under the header's, and attributes cut short.
        whole[0] = 200;
        assert_eq!(
            read_neighbour_messages(&whole, &mut out),
            Some(Err(libc::EBADMSG))
        );
        whole[0] = 8;
        assert_eq!(
            read_neighbour_messages(&whole, &mut out),
            Some(Err(libc::EBADMSG))
        );
        let mut cut = message(
            libc::RTM_NEWNEIGH,
            &neighbour(libc::AF_INET, 2, &[1, 2, 3, 4], &[1; 6]),
        );
        cut[28] = 0xff;
        assert_eq!(read_neighbour_messages(&cut, &mut out), None);
        assert!(out.is_empty());
    }
}
