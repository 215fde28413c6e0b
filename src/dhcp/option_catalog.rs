//! Known DHCPv4 and DHCPv6 options: name, number and how a configured value is encoded.
//! Used by `--dhcp-option=option:<name>` and `--help dhcp` / `--help dhcp6`.

/// How an option's configured value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// Anything: decided from the value's shape (address, number, hex, text).
    Any,
    /// One or more IP addresses.
    AddrList,
    /// Text, such as a domain or path.
    Name,
    /// DNS names in wire format (RFC 1035), such as domain-search.
    Rfc1035Names,
    /// Length-prefixed strings (DHCPv6 class options).
    CStrings,
    /// A number of the given byte width.
    Dec(u8),
    /// A time in seconds, with suffixes.
    Time,
}

/// One catalogue entry.
#[derive(Debug)]
pub struct OptionInfo {
    pub name: &'static str,
    pub number: u16,
    pub value: ValueType,
    /// Set by the server itself; configuring it is refused.
    pub internal: bool,
}

const fn o(name: &'static str, number: u16, value: ValueType) -> OptionInfo {
    OptionInfo {
        name,
        number,
        value,
        internal: false,
    }
}

const fn internal(name: &'static str, number: u16, value: ValueType) -> OptionInfo {
    OptionInfo {
        name,
        number,
        value,
        internal: true,
    }
}

use ValueType::*;

/// DHCPv4 options, by number.
pub static V4: &[OptionInfo] = &[
    o("netmask", 1, AddrList),
    o("time-offset", 2, Dec(4)),
    o("router", 3, AddrList),
    o("dns-server", 6, AddrList),
    o("log-server", 7, AddrList),
    o("lpr-server", 9, AddrList),
    internal("hostname", 12, Name),
    o("boot-file-size", 13, Dec(2)),
    o("domain-name", 15, Name),
    o("swap-server", 16, AddrList),
    o("root-path", 17, Name),
    o("extension-path", 18, Name),
    o("ip-forward-enable", 19, Dec(1)),
    o("non-local-source-routing", 20, Dec(1)),
    o("policy-filter", 21, AddrList),
    o("max-datagram-reassembly", 22, Dec(2)),
    o("default-ttl", 23, Dec(1)),
    o("mtu", 26, Dec(2)),
    o("all-subnets-local", 27, Dec(1)),
    internal("broadcast", 28, AddrList),
    o("router-discovery", 31, Dec(1)),
    o("router-solicitation", 32, AddrList),
    o("static-route", 33, AddrList),
    o("trailer-encapsulation", 34, Dec(1)),
    o("arp-timeout", 35, Dec(4)),
    o("ethernet-encap", 36, Dec(1)),
    o("tcp-ttl", 37, Dec(1)),
    o("tcp-keepalive", 38, Dec(4)),
    o("nis-domain", 40, Name),
    o("nis-server", 41, AddrList),
    o("ntp-server", 42, AddrList),
    internal("vendor-encap", 43, Any),
    o("netbios-ns", 44, AddrList),
    o("netbios-dd", 45, AddrList),
    o("netbios-nodetype", 46, Dec(1)),
    o("netbios-scope", 47, Any),
    o("x-windows-fs", 48, AddrList),
    o("x-windows-dm", 49, AddrList),
    internal("requested-address", 50, AddrList),
    internal("lease-time", 51, Time),
    internal("option-overload", 52, Any),
    internal("message-type", 53, Dec(1)),
    internal("server-identifier", 54, AddrList),
    internal("parameter-request", 55, Any),
    internal("message", 56, Any),
    internal("max-message-size", 57, Any),
    o("T1", 58, Time),
    o("T2", 59, Time),
    o("vendor-class", 60, Any),
    internal("client-id", 61, Any),
    o("nis+-domain", 64, Name),
    o("nis+-server", 65, AddrList),
    o("tftp-server", 66, Name),
    o("bootfile-name", 67, Name),
    o("mobile-ip-home", 68, AddrList),
    o("smtp-server", 69, AddrList),
    o("pop3-server", 70, AddrList),
    o("nntp-server", 71, AddrList),
    o("irc-server", 74, AddrList),
    o("user-class", 77, Any),
    o("rapid-commit", 80, Any),
    internal("FQDN", 81, Any),
    internal("agent-id", 82, Any),
    o("client-arch", 93, Dec(2)),
    o("client-interface-id", 94, Any),
    o("client-machine-id", 97, Any),
    o("posix-timezone", 100, Name),
    o("tzdb-timezone", 101, Name),
    o("ipv6-only", 108, Dec(4)),
    internal("subnet-select", 118, Any),
    o("domain-search", 119, Rfc1035Names),
    o("sip-server", 120, Any),
    o("classless-static-route", 121, Any),
    o("vendor-id-encap", 125, Any),
    o("tftp-server-address", 150, AddrList),
    o("server-ip-address", 255, AddrList),
];

/// DHCPv6 options, by number.
pub static V6: &[OptionInfo] = &[
    internal("client-id", 1, Any),
    internal("server-id", 2, Any),
    internal("ia-na", 3, Any),
    internal("ia-ta", 4, Any),
    internal("iaaddr", 5, Any),
    internal("oro", 6, Any),
    internal("preference", 7, Dec(1)),
    internal("unicast", 12, Any),
    internal("status", 13, Any),
    internal("rapid-commit", 14, Any),
    internal("user-class", 15, CStrings),
    internal("vendor-class", 16, CStrings),
    internal("vendor-opts", 17, Any),
    o("sip-server-domain", 21, Rfc1035Names),
    o("sip-server", 22, AddrList),
    o("dns-server", 23, AddrList),
    o("domain-search", 24, Rfc1035Names),
    o("nis-server", 27, AddrList),
    o("nis+-server", 28, AddrList),
    o("nis-domain", 29, Rfc1035Names),
    o("nis+-domain", 30, Rfc1035Names),
    o("sntp-server", 31, AddrList),
    o("information-refresh-time", 32, Time),
    internal("FQDN", 39, Any),
    o("posix-timezone", 41, Name),
    o("tzdb-timezone", 42, Name),
    o("ntp-server", 56, Any),
    o("bootfile-url", 59, Name),
    o("bootfile-param", 60, CStrings),
];

/// Look an option up by name, ignoring case as dnsmasq does.
pub fn by_name(table: &'static [OptionInfo], name: &str) -> Option<&'static OptionInfo> {
    table.iter().find(|o| o.name.eq_ignore_ascii_case(name))
}

/// Look an option up by number.
pub fn by_number(table: &'static [OptionInfo], number: u16) -> Option<&'static OptionInfo> {
    table.iter().find(|o| o.number == number)
}

/// The `--help dhcp` / `--help dhcp6` listing: every option a user may configure.
pub fn listing(table: &'static [OptionInfo], v6: bool) -> String {
    let mut out = String::from(if v6 {
        "Known DHCPv6 options:\n"
    } else {
        "Known DHCP options:\n"
    });
    for info in table.iter().filter(|o| !o.internal) {
        out.push_str(&format!("{:3} {}\n", info.number, info.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_case_insensitively() {
        assert_eq!(by_name(V4, "ROUTER").map(|o| o.number), Some(3));
        assert_eq!(by_name(V6, "dns-server").map(|o| o.number), Some(23));
        assert!(by_name(V4, "no-such-option").is_none());
    }

    #[test]
    fn listing_hides_internal_options() {
        let text = listing(V4, false);
        assert!(text.contains("  3 router\n"));
        assert!(!text.contains("message-type"));
    }
}
