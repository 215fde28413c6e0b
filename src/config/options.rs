//! The one table of every dnsmasq 2.90 option: names, short letters, argument shapes,
//! repeat rules, help lines, value kinds and implementation status. The command line,
//! config files, `--help`, start-up warnings and `docs/compat.md` all read from here.

/// Whether an option takes an argument (getopt's `has_arg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Bare flag; `opt=value` is an error.
    None,
    /// `opt=value` required.
    Required,
    /// Bare or `opt=value`.
    Optional,
}

/// How an option behaves when given more than once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// Each occurrence adds to a list.
    Many,
    /// One value. Twice on the command line or twice in files is an error; a file may
    /// override the command line once.
    Once,
    /// A boolean switch; repeating it changes nothing.
    Flag,
}

/// What ringmasq does with an option today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Parsed, validated and acted on.
    Works,
    /// Parsed and validated; acted on in part (what is missing said), the rest arriving
    /// with the named work item.
    Partly(&'static str),
    /// Parsed and validated; the feature arrives with the named work item.
    NotYet(&'static str),
    /// Parsed and validated, but ringmasq will not implement it, for the reason given.
    NotPlanned(&'static str),
}

/// The shape of an option's value: selects the parser in `config::parse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Flag,
    /// Free text or a path: never rejected.
    Text,
    /// Non-negative decimal integer.
    Uint,
    /// Decimal integer 0..=65535.
    Port,
    /// Non-empty decimal integer 1..=65535 (`--port-limit`, `--max-tcp-connections`).
    PositiveUint,
    /// Comma-separated list of names; never rejected.
    TextList,
    ConfFile,
    ConfDir,
    ServersFile,
    Addresses,
    AddrPrefix,
    Server,
    RevServer,
    Domain,
    SynthDomain,
    MxHost,
    MxTarget,
    SrvHost,
    TxtRecord,
    PtrRecord,
    NaptrRecord,
    CaaRecord,
    DnsRr,
    Cname,
    HostRecord,
    InterfaceName,
    DynamicHost,
    Alias,
    LogFacility,
    LogQueries,
    LogAsync,
    CacheSize,
    AddMac,
    AddSubnet,
    RrType,
    UseStaleCache,
    FastDnsRetry,
    LocalService,
    DhcpRange,
    DhcpHost,
    DhcpOption,
    DhcpMatch,
    DhcpBoot,
    DhcpMac,
    DhcpClassMatch,
    DhcpNameMatch,
    TagList,
    TagIf,
    PxePrompt,
    PxeService,
    DhcpProxy,
    DhcpRelay,
    SharedNetwork,
    BridgeInterface,
    AltPort,
    ReplyDelay,
    RaParam,
    DhcpDuid,
    TftpRoot,
    TftpUniqueRoot,
    TftpPortRange,
    AuthServer,
    AuthZone,
    AuthSoa,
    TrustAnchor,
    DnssecCheck,
    DnssecLimits,
    IpSet,
    ConnmarkAllowlist,
    HexMask,
    ConnmarkMask,
    Umbrella,
    LuaScript,
}

/// One option of the table.
#[derive(Debug)]
pub struct OptionSpec {
    pub long: &'static str,
    pub short: Option<char>,
    pub arg: Arg,
    pub repeat: Repeat,
    /// Argument syntax shown by `--help`, such as `<ipaddr>`.
    pub syntax: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub status: Status,
}

const DNS: Status = Status::NotYet("DNS engine (issue 3)");
const DHCP6: Status = Status::NotYet("DHCPv6 and router advertisement");
const AUTH: Status = Status::NotYet("authoritative DNS");
const DNSSEC: Status = Status::NotYet("DNSSEC validation");
const SETS: Status = Status::NotYet("ipset and nftables integration");
const EDNS: Status = Status::NotYet("EDNS client information");
const W: Status = Status::Works;

macro_rules! opt {
    ($long:literal, $short:expr, $arg:ident, $rep:ident, $syn:literal, $kind:ident, $status:expr, $help:literal) => {
        OptionSpec {
            long: $long,
            short: $short,
            arg: Arg::$arg,
            repeat: Repeat::$rep,
            syntax: $syn,
            help: $help,
            kind: Kind::$kind,
            status: $status,
        }
    };
}

/// Every long option dnsmasq 2.90 accepts, in `dnsmasq --help` order, then ringmasq's own.
/// One line per option so the table reads as a table.
#[rustfmt::skip]
pub static OPTIONS: &[OptionSpec] = &[
    opt!("listen-address", Some('a'), Required, Many, "<ipaddr>", Addresses, W, "Listen for DNS on these local addresses."),
    opt!("address", Some('A'), Required, Many, "/<domain>/<ipaddr>", Server, W, "Answer names in these domains with this address (or NXDOMAIN)."),
    opt!("bogus-priv", Some('b'), None, Flag, "", Flag, W, "Answer reverse lookups of private ranges locally, never upstream."),
    opt!("bogus-nxdomain", Some('B'), Required, Many, "<ipaddr>", AddrPrefix, W, "Turn upstream answers holding this address into NXDOMAIN."),
    opt!("cache-size", Some('c'), Optional, Once, "<integer>", CacheSize, W, "Number of cached DNS entries (default 150)."),
    opt!("conf-file", Some('C'), Optional, Many, "<path>", ConfFile, W, "Read this configuration file (default /etc/dnsmasq.conf)."),
    opt!("no-daemon", Some('d'), None, Flag, "", Flag, W, "Stay in the foreground and log to stderr (debug mode)."),
    opt!("domain-needed", Some('D'), None, Flag, "", Flag, W, "Never forward names without a dot."),
    opt!("selfmx", Some('e'), None, Flag, "", Flag, W, "Give local hosts an MX record pointing at themselves."),
    opt!("expand-hosts", Some('E'), None, Flag, "", Flag, W, "Add the domain to simple names from hosts files."),
    opt!("filterwin2k", Some('f'), None, Flag, "", Flag, W, "Do not forward queries Windows hosts send needlessly."),
    opt!("filter-A", None, None, Flag, "", Flag, W, "Remove IPv4 addresses from DNS answers."),
    opt!("filter-AAAA", None, None, Flag, "", Flag, W, "Remove IPv6 addresses from DNS answers."),
    opt!("filter-rr", None, Required, Many, "<RR-type>", RrType, W, "Remove records of these types from DNS answers."),
    opt!("dhcp-range", Some('F'), Required, Many, "<ipaddr>,...", DhcpRange, Status::Partly("IPv4 ranges (dynamic, static and proxy) and their tags; DHCPv6 not yet"), "Serve DHCP in this address range with this lease time."),
    opt!("group", Some('g'), Optional, Once, "<groupname>", Text, W, "Group to run as after start-up (default dip)."),
    opt!("dhcp-host", Some('G'), Required, Many, "<hostspec>", DhcpHost, Status::Partly("MAC (with wildcards), id:, address, name, lease time, ignore, set: and tag:; IPv6 not yet"), "Fixed address, name or lease time for a client."),
    opt!("dhcp-hostsfile", None, Required, Many, "<path>", Text, Status::Works, "Read dhcp-host lines from this file or directory."),
    opt!("dhcp-optsfile", None, Required, Many, "<path>", Text, Status::Works, "Read dhcp-option lines from this file or directory."),
    opt!("dhcp-hostsdir", None, Required, Many, "<path>", Text, Status::Works, "Read dhcp-host lines from files in this watched directory."),
    opt!("dhcp-optsdir", None, Required, Many, "<path>", Text, Status::Works, "Read dhcp-option lines from files in this watched directory."),
    opt!("tag-if", None, Required, Many, "tag-expression", TagIf, Status::Works, "Set tags when a tag expression holds."),
    opt!("no-hosts", Some('h'), None, Flag, "", Flag, W, "Do not read /etc/hosts."),
    opt!("addn-hosts", Some('H'), Required, Many, "<path>", Text, W, "Read this hosts file (or directory) as well as /etc/hosts."),
    opt!("hostsdir", None, Required, Many, "<path>", Text, W, "Read hosts files from this watched directory."),
    opt!("interface", Some('i'), Required, Many, "<interface>", TextList, W, "Listen on these interfaces."),
    opt!("except-interface", Some('I'), Required, Many, "<interface>", TextList, W, "Do not listen on these interfaces."),
    opt!("dhcp-userclass", Some('j'), Required, Many, "set:<tag>,<class>", DhcpClassMatch, Status::Works, "Tag clients by DHCP user class."),
    opt!("dhcp-circuitid", None, Required, Many, "set:<tag>,<circuit>", DhcpClassMatch, Status::Works, "Tag clients by relay circuit-id (RFC 3046)."),
    opt!("dhcp-remoteid", None, Required, Many, "set:<tag>,<remote>", DhcpClassMatch, Status::Works, "Tag clients by relay remote-id (RFC 3046)."),
    opt!("dhcp-subscrid", None, Required, Many, "set:<tag>,<remote>", DhcpClassMatch, Status::Works, "Tag clients by relay subscriber-id (RFC 3993)."),
    opt!("dhcp-pxe-vendor", None, Required, Many, "<vendor>[,...]", TextList, Status::Works, "Vendor classes treated as PXE clients."),
    opt!("dhcp-ignore", Some('J'), Required, Many, "tag:<tag>...", TagList, Status::Works, "Ignore DHCP from clients with these tags."),
    opt!("dhcp-broadcast", None, Optional, Many, "[=tag:<tag>...]", TagList, Status::Works, "Broadcast replies to clients with these tags."),
    opt!("keep-in-foreground", Some('k'), None, Flag, "", Flag, W, "Stay in the foreground but log as a daemon would."),
    opt!("dhcp-authoritative", Some('K'), None, Flag, "", Flag, Status::Works, "Act as the only DHCP server on the network."),
    opt!("dhcp-leasefile", Some('l'), Optional, Once, "<path>", Text, Status::Works, "Lease file (default /var/lib/misc/dnsmasq.leases)."),
    opt!("localmx", Some('L'), None, Flag, "", Flag, W, "Give local hosts MX records."),
    opt!("mx-host", Some('m'), Required, Many, "<host_name>,<target>,<pref>", MxHost, W, "Add an MX record."),
    opt!("dhcp-boot", Some('M'), Required, Many, "<bootp opts>", DhcpBoot, Status::Works, "Boot file name and server for DHCP/BOOTP clients."),
    opt!("no-poll", Some('n'), None, Flag, "", Flag, W, "Reread resolv files only on SIGHUP, never by polling."),
    opt!("no-negcache", Some('N'), None, Flag, "", Flag, W, "Do not cache negative answers."),
    opt!("use-stale-cache", None, Optional, Once, "[=<max_expired>]", UseStaleCache, W, "Answer from expired cache entries while refreshing them."),
    opt!("strict-order", Some('o'), None, Flag, "", Flag, W, "Try upstream servers strictly in order."),
    opt!("dhcp-option", Some('O'), Required, Many, "<optspec>", DhcpOption, Status::Partly("DHCPv4 options, tagged, vendor:, encap: and vi-encap:; DHCPv6 not yet"), "Send this option to DHCP clients."),
    opt!("dhcp-option-force", None, Required, Many, "<optspec>", DhcpOption, Status::Partly("DHCPv4 options, tagged, vendor:, encap: and vi-encap:; DHCPv6 not yet"), "Send this DHCP option even when not requested."),
    opt!("port", Some('p'), Required, Once, "<integer>", Port, W, "DNS port to listen on (default 53; 0 disables DNS)."),
    opt!("edns-packet-max", Some('P'), Required, Once, "<integer>", Uint, W, "Largest EDNS.0 UDP packet (default 1232)."),
    opt!("log-queries", Some('q'), Optional, Many, "", LogQueries, W, "Log DNS queries (=extra adds detail)."),
    opt!("query-port", Some('Q'), Required, Once, "<integer>", Port, W, "Fixed source port for upstream queries."),
    opt!("port-limit", None, Required, Once, "#ports", PositiveUint, W, "Most random source ports one query may use."),
    opt!("no-resolv", Some('R'), None, Flag, "", Flag, W, "Do not read resolv files."),
    opt!("resolv-file", Some('r'), Optional, Many, "<path>", Text, W, "Upstream servers from this file (default /etc/resolv.conf)."),
    opt!("servers-file", None, Required, Once, "<path>", ServersFile, W, "Read server= and rev-server= lines from this file."),
    opt!("server", Some('S'), Required, Many, "/<domain>/<ipaddr>", Server, W, "Upstream server, optionally for some domains only."),
    opt!("rev-server", None, Required, Many, "<addr>/<prefix>,<ipaddr>", RevServer, W, "Upstream server for reverse lookups in a subnet."),
    opt!("local", None, Required, Many, "/<domain>/", Server, W, "Answer these domains locally only; never forward."),
    opt!("domain", Some('s'), Required, Many, "<domain>[,<range>]", Domain, W, "Local domain, optionally for a subnet or range."),
    opt!("mx-target", Some('t'), Required, Once, "<host_name>", MxTarget, W, "Default target of MX records."),
    opt!("local-ttl", Some('T'), Required, Once, "<integer>", Uint, W, "TTL of answers from hosts files and local records."),
    opt!("neg-ttl", None, Required, Once, "<integer>", Uint, W, "TTL for negative answers without SOA."),
    opt!("max-ttl", None, Required, Once, "<integer>", Uint, W, "Largest TTL sent to clients."),
    opt!("max-cache-ttl", None, Required, Once, "<integer>", Uint, W, "Largest TTL kept in the cache."),
    opt!("min-cache-ttl", None, Required, Once, "<integer>", Uint, W, "Smallest TTL kept in the cache."),
    opt!("fast-dns-retry", None, Optional, Once, "<milliseconds>", FastDnsRetry, W, "Retry upstream queries after this many milliseconds."),
    opt!("user", Some('u'), Optional, Once, "<username>", Text, W, "User to run as after start-up (default nobody)."),
    opt!("dhcp-vendorclass", Some('U'), Required, Many, "set:<tag>,<class>", DhcpClassMatch, Status::Partly("DHCPv4; enterprise: (DHCPv6) not yet"), "Tag clients by DHCP vendor class."),
    opt!("version", Some('v'), None, Flag, "", Flag, W, "Print the version and exit."),
    opt!("alias", Some('V'), Required, Many, "<ipaddr>,<ipaddr>,<netmask>", Alias, W, "Rewrite IPv4 addresses in upstream answers."),
    opt!("srv-host", Some('W'), Required, Many, "<name>,<target>,...", SrvHost, W, "Add an SRV record."),
    opt!("help", Some('w'), None, Flag, "", Flag, W, "Print this list. --help dhcp and --help dhcp6 list DHCP options."),
    opt!("pid-file", Some('x'), Optional, Once, "<path>", Text, W, "PID file (default /var/run/dnsmasq.pid; empty: none)."),
    opt!("dhcp-lease-max", Some('X'), Required, Once, "<integer>", Uint, Status::Works, "Most DHCP leases (default 1000)."),
    opt!("localise-queries", Some('y'), None, Flag, "", Flag, W, "Prefer hosts addresses on the interface a query came in on."),
    opt!("txt-record", Some('Y'), Required, Many, "<name>,<txt>[,<txt]", TxtRecord, W, "Add a TXT record."),
    opt!("ptr-record", None, Required, Many, "<name>,<target>", PtrRecord, W, "Add a PTR record."),
    opt!("interface-name", None, Required, Many, "<name>,<interface>", InterfaceName, W, "Name resolving to an interface's addresses."),
    opt!("bind-interfaces", Some('z'), None, Flag, "", Flag, W, "Bind only the addresses of the interfaces in use."),
    opt!("read-ethers", Some('Z'), None, Flag, "", Flag, Status::Works, "Read fixed DHCP hosts from /etc/ethers."),
    opt!("enable-dbus", Some('1'), Optional, Once, "[=<busname>]", Text, Status::NotPlanned("D-Bus control is out of scope; configure by file and SIGHUP"), "D-Bus control interface."),
    opt!("enable-ubus", None, Optional, Once, "[=<busname>]", Text, Status::NotPlanned("UBus is OpenWrt-specific"), "UBus control interface."),
    opt!("no-dhcp-interface", Some('2'), Required, Many, "<interface>", TextList, Status::Works, "Serve DNS but not DHCP on these interfaces."),
    opt!("no-dhcpv6-interface", None, Required, Many, "<interface>", TextList, DHCP6, "No DHCPv6 on these interfaces."),
    opt!("no-dhcpv4-interface", None, Required, Many, "<interface>", TextList, Status::Works, "No DHCPv4 on these interfaces."),
    opt!("bootp-dynamic", Some('3'), Optional, Many, "[=tag:<tag>]...", TagList, Status::Works, "Give dynamic addresses to BOOTP clients."),
    opt!("dhcp-mac", Some('4'), Required, Many, "set:<tag>,<mac address>", DhcpMac, Status::Works, "Tag clients by MAC address (wildcards allowed)."),
    opt!("bridge-interface", None, Required, Many, "<iface>,<alias>..", BridgeInterface, Status::Works, "Treat DHCP on these aliases as arriving on the interface."),
    opt!("shared-network", None, Required, Many, "<iface>|<addr>,<addr>", SharedNetwork, Status::Works, "Extra subnet on the same broadcast domain."),
    opt!("no-ping", Some('5'), None, Flag, "", Flag, Status::Works, "Do not ping an address before offering it."),
    opt!("dhcp-script", Some('6'), Required, Once, "<path>", Text, W, "Run this program when leases change."),
    opt!("dhcp-luascript", None, Required, Many, "path", LuaScript, Status::NotPlanned("dnsmasq 2.90 as packaged has no Lua either"), "Lua lease-change script."),
    opt!("dhcp-scriptuser", None, Required, Once, "<username>", Text, Status::Works, "User that runs the lease-change script."),
    opt!("script-arp", None, None, Flag, "", Flag, W, "Call the lease script on ARP table changes."),
    opt!("conf-dir", Some('7'), Required, Many, "<path>", ConfDir, W, "Read every file in this directory (suffix rules allowed)."),
    opt!("conf-script", None, Required, Many, "<path>", Text, W, "Run this program and read configuration from its output."),
    opt!("log-facility", Some('8'), Required, Once, "<facility>|<file>", LogFacility, W, "Syslog facility, log file path, or - for stderr."),
    opt!("leasefile-ro", Some('9'), None, Flag, "", Flag, Status::Works, "Do not write the lease file."),
    opt!("dns-forward-max", Some('0'), Required, Once, "<integer>", Uint, W, "Most concurrent forwarded queries (default 150)."),
    opt!("clear-on-reload", None, None, Flag, "", Flag, W, "Clear the cache when resolv files change."),
    opt!("dhcp-ignore-names", None, Optional, Many, "[=tag:<tag>]...", TagList, Status::Works, "Ignore host names sent by DHCP clients."),
    opt!("dhcp-no-override", None, None, Flag, "", Flag, Status::Works, "Never put options in the file and sname fields."),
    opt!("enable-tftp", None, Optional, Many, "[=<intr>[,<intr>]]", TextList, W, "Serve files by TFTP (optionally on these interfaces)."),
    opt!("tftp-root", None, Required, Many, "<dir>[,<iface>]", TftpRoot, W, "Serve TFTP files only from this directory."),
    opt!("tftp-unique-root", None, Optional, Many, "[=ip|mac]", TftpUniqueRoot, W, "Add the client's IP or MAC to the TFTP root."),
    opt!("tftp-secure", None, None, Flag, "", Flag, W, "Serve only files owned by the server's user."),
    opt!("tftp-no-fail", None, None, Flag, "", Flag, W, "Keep running if TFTP directories are missing."),
    opt!("tftp-max", None, Required, Once, "<integer>", Uint, W, "Most concurrent TFTP transfers (default 50)."),
    opt!("tftp-mtu", None, Required, Once, "<integer>", Uint, W, "Largest MTU for TFTP transfers."),
    opt!("tftp-no-blocksize", None, None, Flag, "", Flag, W, "Refuse the TFTP blocksize extension."),
    opt!("tftp-lowercase", None, None, Flag, "", Flag, W, "Lower-case requested TFTP file names."),
    opt!("tftp-port-range", None, Required, Once, "<start>,<end>", TftpPortRange, W, "Ports for TFTP transfers."),
    opt!("tftp-single-port", None, None, Flag, "", Flag, W, "Run all TFTP transfers on port 69."),
    opt!("log-dhcp", None, None, Flag, "", Flag, Status::Works, "Log DHCP in detail."),
    opt!("log-async", None, Optional, Once, "[=<integer>]", LogAsync, W, "Queue log lines instead of blocking (optional queue length)."),
    opt!("stop-dns-rebind", None, None, Flag, "", Flag, W, "Drop upstream answers with private addresses."),
    opt!("rebind-localhost-ok", None, None, Flag, "", Flag, W, "Allow 127.0.0.0/8 in upstream answers despite stop-dns-rebind."),
    opt!("rebind-domain-ok", None, Required, Many, "/<domain>/", Server, W, "Exempt these domains from rebind protection."),
    opt!("all-servers", None, None, Flag, "", Flag, W, "Send each query to every upstream server."),
    opt!("dhcp-match", None, Required, Many, "set:<tag>,<optspec>", DhcpMatch, Status::Partly("DHCPv4 options by presence, hex with wildcards, text and array element, and vi-encap:; DHCPv6 not yet"), "Tag clients that send a matching option."),
    opt!("dhcp-name-match", None, Required, Many, "set:<tag>,<string>[*]", DhcpNameMatch, Status::Works, "Tag clients by the name they send."),
    opt!("dhcp-alternate-port", None, Optional, Once, "[=<ports>]", AltPort, Status::Works, "Use other DHCP ports than 67 and 68."),
    opt!("naptr-record", None, Required, Many, "<name>,<naptr>", NaptrRecord, W, "Add a NAPTR record."),
    opt!("min-port", None, Required, Once, "<port>", Port, W, "Lowest source port for upstream queries."),
    opt!("max-port", None, Required, Once, "<port>", Port, W, "Highest source port for upstream queries."),
    opt!("dhcp-fqdn", None, None, Flag, "", Flag, Status::Works, "Put DHCP client names in DNS only as fully qualified names."),
    opt!("dhcp-generate-names", None, Optional, Many, "[=tag:<tag>]", TagList, Status::Works, "Name nameless clients after their MAC address."),
    opt!("dhcp-proxy", None, Optional, Many, "[=<ipaddr>]...", DhcpProxy, Status::Works, "Act as a full proxy for these relays."),
    opt!("dhcp-relay", None, Required, Many, "<local-addr>[,<server>[#<port>]][,<iface>]", DhcpRelay, Status::Partly("DHCPv4 relay; DHCPv6 not yet"), "Relay DHCP to another server."),
    opt!("cname", None, Required, Many, "<alias>,<target>[,<ttl>]", Cname, W, "Add a CNAME for a local name."),
    opt!("pxe-prompt", None, Required, Many, "<prompt>,[<timeout>]", PxePrompt, Status::Works, "Prompt shown to PXE clients."),
    opt!("pxe-service", None, Required, Many, "<service>", PxeService, Status::Works, "Entry in the PXE boot menu."),
    opt!("test", None, None, Flag, "", Flag, W, "Check the configuration and exit."),
    opt!("add-mac", None, Optional, Many, "[=base64|text]", AddMac, EDNS, "Add the client's MAC to forwarded queries."),
    opt!("strip-mac", None, None, Flag, "", Flag, EDNS, "Remove MAC information from queries."),
    opt!("add-subnet", None, Optional, Once, "<v4 pref>[,<v6 pref>]", AddSubnet, EDNS, "Add the client subnet to forwarded queries."),
    opt!("strip-subnet", None, None, Flag, "", Flag, EDNS, "Remove client subnet information from queries."),
    opt!("add-cpe-id", None, Required, Once, "<text>", Text, EDNS, "Add this client identifier to forwarded queries."),
    opt!("proxy-dnssec", None, None, Flag, "", Flag, DNSSEC, "Pass upstream DNSSEC results to clients."),
    opt!("dhcp-sequential-ip", None, None, Flag, "", Flag, Status::Works, "Hand out addresses in order rather than by hash."),
    opt!("dhcp-ignore-clid", None, None, Flag, "", Flag, Status::Works, "Ignore the client-identifier option."),
    opt!("conntrack", None, None, Flag, "", Flag, Status::NotPlanned("needs netfilter conntrack marks, not in scope"), "Copy conntrack marks to upstream queries."),
    opt!("dhcp-client-update", None, None, Flag, "", Flag, Status::Works, "Let DHCP clients update DNS themselves."),
    opt!("enable-ra", None, None, Flag, "", Flag, DHCP6, "Send router advertisements on DHCPv6 interfaces."),
    opt!("dhcp-duid", None, Required, Once, "<enterprise>,<duid>", DhcpDuid, DHCP6, "DHCPv6 server DUID (DUID-EN)."),
    opt!("host-record", None, Required, Many, "<name>,<address>[,<ttl>]", HostRecord, W, "Add A/AAAA and PTR records."),
    opt!("dynamic-host", None, Required, Many, "<name>,[<IPv4>][,<IPv6>],<interface-name>", DynamicHost, W, "Host record inside an interface's subnet."),
    opt!("caa-record", None, Required, Many, "<name>,<flags>,<tag>,<value>", CaaRecord, W, "Add a CAA record."),
    opt!("dns-rr", None, Required, Many, "<name>,<RR-number>,[<data>]", DnsRr, W, "Add a record of any type from hex data."),
    opt!("bind-dynamic", None, None, Flag, "", Flag, W, "Bind interfaces in use and follow new ones."),
    opt!("auth-server", None, Required, Once, "<NS>,<interface>", AuthServer, AUTH, "Serve local names authoritatively."),
    opt!("auth-zone", None, Required, Many, "<domain>,[<subnet>...]", AuthZone, AUTH, "Zone to serve authoritatively."),
    opt!("auth-ttl", None, Required, Once, "<integer>", Uint, AUTH, "TTL of authoritative answers."),
    opt!("auth-soa", None, Required, Once, "<serial>[,...]", AuthSoa, AUTH, "SOA fields of authoritative zones."),
    opt!("auth-sec-servers", None, Required, Many, "<NS>[,<NS>...]", TextList, AUTH, "Secondary servers for authoritative zones."),
    opt!("auth-peer", None, Required, Many, "<ipaddr>[,<ipaddr>...]", Addresses, AUTH, "Hosts allowed to transfer zones."),
    opt!("ipset", None, Required, Many, "/<domain>[/<domain>...]/<ipset>...", IpSet, SETS, "Add answers for these domains to ipsets."),
    opt!("nftset", None, Required, Many, "/<domain>[/<domain>...]/<nftset>...", IpSet, SETS, "Add answers for these domains to nftables sets."),
    opt!("connmark-allowlist-enable", None, Optional, Once, "[=<mask>]", ConnmarkMask, Status::NotPlanned("needs netfilter conntrack marks, not in scope"), "Filter queries by conntrack mark."),
    opt!("connmark-allowlist", None, Required, Many, "<connmark>[/<mask>][,<pattern>[/<pattern>...]]", ConnmarkAllowlist, Status::NotPlanned("needs netfilter conntrack marks, not in scope"), "Names allowed for a conntrack mark."),
    opt!("synth-domain", None, Required, Many, "<domain>,<range>,[<prefix>]", SynthDomain, W, "Synthesise names for addresses in a range."),
    opt!("dnssec", None, None, Flag, "", Flag, DNSSEC, "Validate DNSSEC."),
    opt!("trust-anchor", None, Required, Many, "<domain>,[<class>],...", TrustAnchor, DNSSEC, "DNSSEC trust anchor (DS record)."),
    opt!("dnssec-debug", None, None, Flag, "", Flag, DNSSEC, "Set CD on upstream queries and pass answers unchecked."),
    opt!("dnssec-check-unsigned", None, Optional, Many, "", DnssecCheck, DNSSEC, "Prove that unsigned answers come from unsigned zones."),
    opt!("dnssec-no-timecheck", None, None, Flag, "", Flag, DNSSEC, "Skip signature time checks until the clock is trusted."),
    opt!("dnssec-timestamp", None, Required, Once, "<path>", Text, DNSSEC, "File that proves the clock is set."),
    opt!("dnssec-limits", None, Required, Once, "<limit>,..", DnssecLimits, DNSSEC, "Work limits for DNSSEC validation."),
    opt!("ra-param", None, Required, Many, "<iface>,[mtu:<value>|<interface>|off,][<prio>,]<intval>[,<lifetime>]", RaParam, DHCP6, "Router advertisement MTU, priority and timing."),
    opt!("quiet-dhcp", None, None, Flag, "", Flag, Status::Works, "Do not log routine DHCPv4."),
    opt!("quiet-dhcp6", None, None, Flag, "", Flag, DHCP6, "Do not log routine DHCPv6."),
    opt!("quiet-ra", None, None, Flag, "", Flag, DHCP6, "Do not log router advertisements."),
    opt!("log-debug", None, None, Flag, "", Flag, W, "Log debugging detail."),
    opt!("local-service", None, Optional, Once, "", LocalService, W, "Answer only clients on directly connected networks."),
    opt!("dns-loop-detect", None, None, Flag, "", Flag, DNS, "Find and drop upstream servers that loop back."),
    opt!("ignore-address", None, Required, Many, "<ipaddr>", AddrPrefix, W, "Ignore upstream answers holding this address."),
    opt!("dhcp-ttl", None, Required, Once, "<ttl>", Uint, Status::Works, "TTL of DNS answers for DHCP client names."),
    opt!("dhcp-reply-delay", None, Required, Once, "<integer>", ReplyDelay, Status::Works, "Wait at least this many seconds before DHCP replies."),
    opt!("dhcp-rapid-commit", None, None, Flag, "", Flag, Status::Works, "Allow DHCPv4 rapid commit."),
    opt!("dumpfile", None, Required, Once, "<path>", Text, Status::NotPlanned("use tcpdump on the listening interface"), "Debug packet dump file."),
    opt!("dumpmask", None, Required, Once, "<hex>", HexMask, Status::NotPlanned("use tcpdump on the listening interface"), "Which packets to dump."),
    opt!("script-on-renewal", None, None, Flag, "", Flag, Status::Works, "Call the lease script when a lease is renewed."),
    opt!("umbrella", None, Optional, Once, "[=<optspec>]", Umbrella, EDNS, "Send Cisco Umbrella identifiers upstream."),
    opt!("quiet-tftp", None, None, Flag, "", Flag, W, "Do not log routine TFTP."),
    opt!("no-round-robin", None, None, Flag, "", Flag, W, "Keep record order instead of rotating it."),
    opt!("no-ident", None, None, Flag, "", Flag, W, "Do not answer CHAOS TXT version and statistics queries."),
    opt!("cache-rr", None, Required, Many, "<RR-type>", RrType, W, "Also cache records of these types."),
    opt!("max-tcp-connections", None, Required, Once, "<integer>", PositiveUint, W, "Most concurrent DNS TCP connections."),
    // ringmasq's own options follow dnsmasq's.
    opt!("shards", None, Required, Once, "<integer>", PositiveUint, W, "DNS shards (pinned executor threads); default one per online CPU."),
];

/// How many of `OPTIONS` are dnsmasq's; the rest are ringmasq's own.
pub const DNSMASQ_OPTIONS: usize = 187;

/// The options dnsmasq 2.90 has.
pub fn dnsmasq_options() -> &'static [OptionSpec] {
    &OPTIONS[..DNSMASQ_OPTIONS]
}

/// The options only ringmasq has.
pub fn ringmasq_options() -> &'static [OptionSpec] {
    &OPTIONS[DNSMASQ_OPTIONS..]
}

/// Long names dnsmasq accepts but does not list: (alias, canonical name, argument shape).
pub static ALIASES: &[(&str, &str, Arg)] = &[
    ("dhcp-lease", "dhcp-leasefile", Arg::Required),
    ("domain-suffix", "domain", Arg::Required),
];

/// Index of an option in `OPTIONS`: a stable small id for per-option bookkeeping.
pub type OptionId = usize;

/// Find an option by long name (aliases included). Returns its id and the argument
/// shape that applies to the name used.
pub fn by_long(name: &str) -> Option<(OptionId, Arg)> {
    if let Some(id) = OPTIONS.iter().position(|o| o.long == name) {
        return Some((id, OPTIONS[id].arg));
    }
    let (_, canonical, arg) = ALIASES.iter().find(|(alias, _, _)| *alias == name)?;
    OPTIONS
        .iter()
        .position(|o| o.long == *canonical)
        .map(|id| (id, *arg))
}

/// Find an option by its short letter.
pub fn by_short(letter: char) -> Option<OptionId> {
    OPTIONS.iter().position(|o| o.short == Some(letter))
}

/// The option with this long name; panics on a name not in the table (a programming error).
pub fn id(name: &str) -> OptionId {
    match by_long(name) {
        Some((id, _)) => id,
        None => panic!("option table has no --{name}"),
    }
}
