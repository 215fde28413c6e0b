//! `--dhcp-script`: what dnsmasq tells its lease-change script, as pure functions. Which
//! lease changes call the script (`changes`), the arguments and environment of one call
//! (`Event::invocation`; a file sent by TFTP: `TftpSent::invocation`; a neighbour-table
//! change: `NeighbourChange::invocation`), and the bytes an invocation travels in to
//! the helper process that runs it (`encode`, `decode`). Running it is the runtime's
//! (`runtime::script`).

use super::lease_file::Lease;
use super::neighbours::Neighbour;
use crate::dns::lease_names::Domains;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// The script's first argument for a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A lease was made.
    Add,
    /// A lease's client or name changed (or, where asked for, its expiry), or it was
    /// there when the server started or re-read its configuration.
    Old,
    /// A lease ended.
    Del,
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Old => "old",
            Action::Del => "del",
        }
    }
}

/// What a request said about its client that the lease file does not keep: given to the
/// script for the changes that request made, and missing (`DNSMASQ_DATA_MISSING`) from
/// the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The tags set while answering it.
    pub tags: Vec<String>,
    /// Option 12 as the client sent it.
    pub supplied_hostname: Option<Vec<u8>>,
    /// Option 60.
    pub vendor_class: Option<Vec<u8>>,
    /// Option 77's classes (RFC 3004).
    pub user_classes: Vec<Vec<u8>>,
    /// Option 55.
    pub requested_options: Option<Vec<u8>>,
    /// Relay agent sub-options 1, 2 and 6.
    pub circuit_id: Option<Vec<u8>>,
    pub remote_id: Option<Vec<u8>>,
    pub subscriber_id: Option<Vec<u8>>,
    /// Option 161 (RFC 8520).
    pub mud_url: Option<Vec<u8>>,
}

/// Where a lease's client was last heard from: kept with the lease while it lasts (as
/// dnsmasq keeps it in its lease records, not in the file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub interface: Option<String>,
    pub relay: Option<Ipv4Addr>,
}

/// One call of the script for a lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub action: Action,
    pub lease: Lease,
    /// The name the lease had, where this change took it away.
    pub old_hostname: Option<String>,
    pub origin: Origin,
    /// The request that made the change, if one did.
    pub request: Option<Arc<Request>>,
}

/// A file TFTP sent, for the script's `tftp` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TftpSent {
    /// The file's size in bytes.
    pub size: u64,
    /// The client it went to.
    pub peer: IpAddr,
    /// The file's full path.
    pub path: Vec<u8>,
}

impl TftpSent {
    /// dnsmasq's `tftp` call: the size, the client and the path, and no variables.
    pub fn invocation(&self) -> Invocation {
        Invocation {
            args: vec![
                b"tftp".to_vec(),
                self.size.to_string().into_bytes(),
                self.peer.to_string().into_bytes(),
                self.path.clone(),
            ],
            env: Vec::new(),
        }
    }
}

/// A change in the neighbour table, told with `--script-arp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighbourChange {
    /// Whether the entry came (`arp-add`) or went (`arp-del`).
    pub came: bool,
    pub neighbour: Neighbour,
}

impl NeighbourChange {
    /// dnsmasq's `arp-add` or `arp-del` call: the hardware address and the address, and
    /// no variables.
    pub fn invocation(&self) -> Invocation {
        Invocation {
            args: vec![
                if self.came {
                    b"arp-add".to_vec()
                } else {
                    b"arp-del".to_vec()
                },
                self.neighbour.hwaddr.to_string().into_bytes(),
                self.neighbour.addr.to_string().into_bytes(),
            ],
            env: Vec::new(),
        }
    }
}

/// When the script hears of a change beyond new and ended leases and changes of client
/// or name.
#[derive(Clone, Copy, Debug, Default)]
pub struct Triggers {
    /// `--script-on-renewal`: a new expiry time.
    pub on_renewal: bool,
    /// `--leasefile-ro`: the script keeps the leases, so it hears of every change of
    /// client id, length or expiry.
    pub keeps_leases: bool,
}

/// The calls a lease's change from `before` to `after` (both of one address) makes, as
/// dnsmasq makes them: `add` for a new client, `del` for an ended lease (or one another
/// client took over), and `old` when the client or the name changes. A name changed
/// from one to another is two calls: the lease without its old name, then with the new.
pub fn changes(
    before: Option<&Lease>,
    after: Option<&Lease>,
    triggers: Triggers,
) -> Vec<(Action, Lease, Option<String>)> {
    let (before, after) = match (before, after) {
        (None, None) => return Vec::new(),
        (None, Some(a)) => return vec![(Action::Add, a.clone(), None)],
        (Some(b), None) => return vec![(Action::Del, b.clone(), None)],
        (Some(b), Some(a)) => (b, a),
    };
    let same_client = before.hwaddr == after.hwaddr
        || (before.client_id.is_some() && before.client_id == after.client_id);
    if !same_client {
        return vec![
            (Action::Del, before.clone(), None),
            (Action::Add, after.clone(), None),
        ];
    }
    let mut out = Vec::new();
    if before.hostname != after.hostname {
        if let Some(old) = &before.hostname {
            let unnamed = Lease {
                hostname: None,
                ..after.clone()
            };
            out.push((Action::Old, unnamed, Some(old.clone())));
        }
        if after.hostname.is_some() {
            out.push((Action::Old, after.clone(), None));
        }
        return out;
    }
    let expiry_changed = before.expires != after.expires;
    let changed = before.hwaddr != after.hwaddr
        || (triggers.keeps_leases && (expiry_changed || before.client_id != after.client_id))
        || (triggers.on_renewal && expiry_changed);
    if changed {
        out.push((Action::Old, after.clone(), None));
    }
    out
}

/// A script call: its arguments after the program, and the variables it adds to the
/// environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    pub args: Vec<Vec<u8>>,
    pub env: Vec<(String, Vec<u8>)>,
}

/// What a call's environment needs beyond the event.
pub struct Settings<'a> {
    pub domains: &'a Domains,
    /// `--log-dhcp`.
    pub log_dhcp: bool,
    pub now_secs: u64,
}

/// Bytes as dnsmasq prints a client id: hex, colon-separated.
fn hex(bytes: &[u8]) -> Vec<u8> {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":").into_bytes()
}

/// Option bytes as an environment value: up to a NUL, which a value cannot hold.
fn text(bytes: &[u8]) -> Vec<u8> {
    bytes.split(|&b| b == 0).next().unwrap_or_default().to_vec()
}

impl Event {
    /// The arguments and environment dnsmasq gives its script for this event.
    pub fn invocation(&self, s: &Settings) -> Invocation {
        let lease = &self.lease;
        let mut args = vec![
            self.action.word().as_bytes().to_vec(),
            lease.hwaddr.to_string().into_bytes(),
            lease.addr.to_string().into_bytes(),
        ];
        if let Some(name) = &lease.hostname {
            args.push(name.clone().into_bytes());
        }
        let mut env: Vec<(String, Vec<u8>)> = Vec::new();
        let mut set = |key: &str, value: Vec<u8>| env.push((format!("DNSMASQ_{key}"), value));
        if let Some(id) = &lease.client_id {
            set("CLIENT_ID", hex(id));
        }
        let named = lease.hostname.is_some() || self.old_hostname.is_some();
        if let Some(domain) = s.domains.for_addr(lease.addr).filter(|_| named) {
            set("DOMAIN", domain.as_bytes().to_vec());
        }
        if let Some(i) = &self.origin.interface {
            set("INTERFACE", i.clone().into_bytes());
        }
        set("LEASE_EXPIRES", lease.expires.to_string().into_bytes());
        if self.action != Action::Del && lease.expires != 0 {
            let left = lease.expires.saturating_sub(s.now_secs);
            set("TIME_REMAINING", left.to_string().into_bytes());
        }
        if s.log_dhcp {
            set("LOG_DHCP", b"1".to_vec());
        }
        if let Some(relay) = self.origin.relay {
            set("RELAY_ADDRESS", relay.to_string().into_bytes());
        }
        if let Some(old) = &self.old_hostname {
            set("OLD_HOSTNAME", old.clone().into_bytes());
        }
        match &self.request {
            None => set("DATA_MISSING", b"1".to_vec()),
            Some(r) => {
                if !r.tags.is_empty() {
                    set("TAGS", r.tags.join(" ").into_bytes());
                }
                if let Some(v) = &r.supplied_hostname {
                    set("SUPPLIED_HOSTNAME", text(v));
                }
                if let Some(v) = &r.vendor_class {
                    set("VENDOR_CLASS", text(v));
                }
                for (i, class) in r.user_classes.iter().enumerate() {
                    set(&format!("USER_CLASS{i}"), text(class));
                }
                if let Some(v) = &r.requested_options {
                    let codes: Vec<String> = v.iter().map(u8::to_string).collect();
                    set("REQUESTED_OPTIONS", codes.join(",").into_bytes());
                }
                for (key, v) in [
                    ("CIRCUIT_ID", &r.circuit_id),
                    ("REMOTE_ID", &r.remote_id),
                    ("SUBSCRIBER_ID", &r.subscriber_id),
                    ("MUD_URL", &r.mud_url),
                ] {
                    if let Some(v) = v {
                        set(key, text(v));
                    }
                }
            }
        }
        Invocation { args, env }
    }
}

/// The largest invocation `decode` takes (a bound for what one read from the pipe may
/// ask to hold).
pub const MAX_INVOCATION_BYTES: usize = 64 << 10;

/// An invocation as bytes: the count of arguments and of variables, then each string as
/// its length and bytes (lengths as 4 bytes, little-endian), a variable as name then value.
pub fn encode(inv: &Invocation) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    };
    put(&(inv.args.len() as u32).to_le_bytes());
    put(&(inv.env.len() as u32).to_le_bytes());
    for a in &inv.args {
        put(a);
    }
    for (k, v) in &inv.env {
        put(k.as_bytes());
        put(v);
    }
    let mut framed = (out.len() as u32).to_le_bytes().to_vec();
    framed.extend_from_slice(&out);
    framed
}

/// The invocation `encode` made of `bytes` (without its leading length), or None for
/// bytes it did not make.
pub fn decode(bytes: &[u8]) -> Option<Invocation> {
    let mut rest = bytes;
    let mut take = || -> Option<&[u8]> {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let field = rest.get(4..4 + len)?;
        rest = &rest[4 + len..];
        Some(field)
    };
    let count =
        |b: &[u8]| -> Option<usize> { Some(u32::from_le_bytes(b.try_into().ok()?) as usize) };
    let args = count(take()?)?;
    let vars = count(take()?)?;
    if args + vars > bytes.len() {
        return None;
    }
    let mut inv = Invocation::default();
    for _ in 0..args {
        inv.args.push(take()?.to_vec());
    }
    for _ in 0..vars {
        let key = String::from_utf8(take()?.to_vec()).ok()?;
        inv.env.push((key, take()?.to_vec()));
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::lease_file::HwAddr;

    fn lease(mac: u8, name: Option<&str>, expires: u64) -> Lease {
        Lease {
            expires,
            hwaddr: HwAddr::ether([0x52, 0x54, 0, 0x11, 0x22, mac]),
            addr: Ipv4Addr::new(10, 77, 0, 77),
            hostname: name.map(str::to_string),
            client_id: Some(vec![1, 0x52, 0x54, 0, 0x11, 0x22, mac]),
        }
    }

    fn actions(v: &[(Action, Lease, Option<String>)]) -> Vec<(Action, Option<&str>, Option<&str>)> {
        v.iter()
            .map(|(a, l, old)| (*a, l.hostname.as_deref(), old.as_deref()))
            .collect()
    }

    #[test]
    fn a_file_sent_by_tftp_is_told_as_dnsmasq_tells_it() {
        let sent = TftpSent {
            size: 5000,
            peer: "10.77.0.9".parse().unwrap(),
            path: b"/srv/tftp/pxelinux.0".to_vec(),
        };
        let inv = sent.invocation();
        let args: Vec<&[u8]> = inv.args.iter().map(Vec::as_slice).collect();
        assert_eq!(
            args,
            [&b"tftp"[..], b"5000", b"10.77.0.9", b"/srv/tftp/pxelinux.0"]
        );
        assert!(inv.env.is_empty());
        assert_eq!(decode(&encode(&inv)[4..]), Some(inv));
    }

    #[test]
    fn neighbour_changes_are_told_as_arp_add_and_arp_del_with_no_variables() {
        let neighbour = Neighbour::from_table(
            "fd77::5".parse().unwrap(),
            &[0x52, 0x54, 0x00, 0xaa, 0xbb, 0x0c],
        )
        .unwrap();
        for (came, word) in [(true, &b"arp-add"[..]), (false, b"arp-del")] {
            let inv = NeighbourChange {
                came,
                neighbour: neighbour.clone(),
            }
            .invocation();
            let args: Vec<&[u8]> = inv.args.iter().map(Vec::as_slice).collect();
            assert_eq!(args, [word, b"52:54:00:aa:bb:0c", b"fd77::5"]);
            assert!(inv.env.is_empty());
            assert_eq!(decode(&encode(&inv)[4..]), Some(inv));
        }
    }

    #[test]
    fn new_ended_and_taken_over_leases_are_add_and_del() {
        let t = Triggers::default();
        let a = lease(1, Some("a"), 100);
        assert_eq!(
            actions(&changes(None, Some(&a), t)),
            [(Action::Add, Some("a"), None)]
        );
        assert_eq!(
            actions(&changes(Some(&a), None, t)),
            [(Action::Del, Some("a"), None)]
        );
        let mut b = lease(2, Some("b"), 100);
        b.client_id = None;
        assert_eq!(
            actions(&changes(Some(&a), Some(&b), t)),
            [
                (Action::Del, Some("a"), None),
                (Action::Add, Some("b"), None)
            ]
        );
    }

    #[test]
    fn a_new_name_is_the_lease_without_the_old_then_with_the_new() {
        let t = Triggers::default();
        let (a, b) = (lease(1, Some("a"), 100), lease(1, Some("b"), 100));
        assert_eq!(
            actions(&changes(Some(&a), Some(&b), t)),
            [
                (Action::Old, None, Some("a")),
                (Action::Old, Some("b"), None)
            ]
        );
        let unnamed = lease(1, None, 100);
        assert_eq!(
            actions(&changes(Some(&unnamed), Some(&a), t)),
            [(Action::Old, Some("a"), None)]
        );
        assert_eq!(
            actions(&changes(Some(&a), Some(&unnamed), t)),
            [(Action::Old, None, Some("a"))]
        );
    }

    #[test]
    fn a_renewal_is_heard_of_only_where_asked_for() {
        let (a, renewed) = (lease(1, Some("a"), 100), lease(1, Some("a"), 200));
        assert!(changes(Some(&a), Some(&renewed), Triggers::default()).is_empty());
        let on_renewal = Triggers {
            on_renewal: true,
            ..Default::default()
        };
        assert_eq!(
            actions(&changes(Some(&a), Some(&renewed), on_renewal)),
            [(Action::Old, Some("a"), None)]
        );
        let keeps = Triggers {
            keeps_leases: true,
            ..Default::default()
        };
        let mut new_id = a.clone();
        new_id.client_id = None;
        assert_eq!(changes(Some(&a), Some(&new_id), keeps).len(), 1);
        assert!(changes(Some(&a), Some(&new_id), Triggers::default()).is_empty());
    }

    #[test]
    fn environment_follows_dnsmasq() {
        let domains = Domains::plain(Some("lan"));
        let s = Settings {
            domains: &domains,
            log_dhcp: true,
            now_secs: 40,
        };
        let request = Request {
            tags: vec!["known".into(), "lo".into()],
            supplied_hostname: Some(b"myhost".to_vec()),
            vendor_class: Some(b"vendor\0junk".to_vec()),
            user_classes: vec![b"abc".to_vec(), b"de".to_vec()],
            requested_options: Some(vec![1, 3, 6]),
            circuit_id: Some(b"cir".to_vec()),
            ..Default::default()
        };
        let event = Event {
            action: Action::Add,
            lease: lease(0x33, Some("myhost"), 100),
            old_hostname: None,
            origin: Origin {
                interface: Some("lo".into()),
                relay: Some(Ipv4Addr::new(10, 77, 0, 1)),
            },
            request: Some(Arc::new(request)),
        };
        let inv = event.invocation(&s);
        let args: Vec<&[u8]> = inv.args.iter().map(Vec::as_slice).collect();
        assert_eq!(
            args,
            [&b"add"[..], b"52:54:00:11:22:33", b"10.77.0.77", b"myhost"]
        );
        let env = |k: &str| {
            inv.env
                .iter()
                .find(|(key, _)| key == &format!("DNSMASQ_{k}"))
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(env("CLIENT_ID").as_deref(), Some("01:52:54:00:11:22:33"));
        assert_eq!(env("DOMAIN").as_deref(), Some("lan"));
        assert_eq!(env("LEASE_EXPIRES").as_deref(), Some("100"));
        assert_eq!(env("TIME_REMAINING").as_deref(), Some("60"));
        assert_eq!(env("TAGS").as_deref(), Some("known lo"));
        assert_eq!(env("VENDOR_CLASS").as_deref(), Some("vendor"));
        assert_eq!(env("USER_CLASS1").as_deref(), Some("de"));
        assert_eq!(env("REQUESTED_OPTIONS").as_deref(), Some("1,3,6"));
        assert_eq!(env("CIRCUIT_ID").as_deref(), Some("cir"));
        assert_eq!(env("RELAY_ADDRESS").as_deref(), Some("10.77.0.1"));
        assert_eq!(env("DATA_MISSING"), None);
        let ended = Event {
            action: Action::Del,
            request: None,
            ..event
        };
        let inv = ended.invocation(&s);
        assert!(inv
            .env
            .iter()
            .any(|(k, v)| k == "DNSMASQ_DATA_MISSING" && v == b"1"));
        assert!(!inv.env.iter().any(|(k, _)| k == "DNSMASQ_TIME_REMAINING"));
    }

    #[test]
    fn invocations_travel_whole_and_bad_bytes_are_refused() {
        let inv = Invocation {
            args: vec![b"old".to_vec(), b"\xff\x00odd".to_vec()],
            env: vec![
                ("DNSMASQ_A".into(), b"1".to_vec()),
                ("DNSMASQ_B".into(), vec![]),
            ],
        };
        let bytes = encode(&inv);
        assert_eq!(
            u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize,
            bytes.len() - 4
        );
        assert_eq!(decode(&bytes[4..]), Some(inv));
        for cut in 0..bytes.len() - 4 {
            assert_eq!(decode(&bytes[4..4 + cut]), None, "{cut}");
        }
        assert_eq!(decode(&[0xff; 16]), None);
    }
}
