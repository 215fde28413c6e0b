//! What `--script-arp` tells the lease script of the kernel's neighbour table (ARP for
//! IPv4, neighbour discovery for IPv6). As dnsmasq does, the server looks at the table
//! when it starts and again every 90 seconds; each look reports the pairs of address
//! and hardware address that appeared since the one before (`arp-add`) and those that
//! went (`arp-del`). A neighbour whose hardware address changed is one of each. The
//! calls come in dnsmasq's order: those that went first, the longest known first; then
//! those that came, the last in the table first.

use super::lease_file::{HwAddr, HW_ETHER, MAX_HW_BYTES};
use std::collections::HashMap;
use std::net::IpAddr;

/// Seconds between looks at the table (dnsmasq's).
pub const LOOK_EVERY_SECS: u64 = 90;

/// Most neighbours remembered; one look reports no more than this many new ones, and
/// says how many it left out.
pub const MAX_NEIGHBOURS: usize = 65_536;

/// One entry of the neighbour table.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Neighbour {
    pub addr: IpAddr,
    pub hwaddr: HwAddr,
}

impl Neighbour {
    /// An entry as the kernel gives it: its address and link-layer address bytes
    /// (Ethernet's type, as dnsmasq assumes). None for one longer than a DHCP hardware
    /// address, which dnsmasq skips.
    pub fn from_table(addr: IpAddr, lladdr: &[u8]) -> Option<Neighbour> {
        (lladdr.len() <= MAX_HW_BYTES).then(|| Neighbour {
            addr,
            hwaddr: HwAddr {
                htype: HW_ETHER,
                bytes: lladdr.to_vec(),
            },
        })
    }
}

/// What one look at the table found changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Entries there last time and not now, the longest known first.
    pub gone: Vec<Neighbour>,
    /// Entries there now and not last time, the last in the table first.
    pub came: Vec<Neighbour>,
    /// New entries not remembered (nor reported) because `MAX_NEIGHBOURS` were.
    pub left_out: usize,
}

/// The neighbours the script has been told of, each with when it came (a count).
#[derive(Debug, Default)]
pub struct NeighbourWatch {
    known: HashMap<Neighbour, u64>,
    next_seen: u64,
}

impl NeighbourWatch {
    /// Take in the whole table as it is now; what changed since the last look.
    pub fn look(&mut self, table: impl IntoIterator<Item = Neighbour>) -> Changes {
        let mut now = HashMap::new();
        let mut changes = Changes::default();
        for n in table {
            if now.contains_key(&n) {
                continue;
            }
            if now.len() == MAX_NEIGHBOURS {
                changes.left_out += 1;
                continue;
            }
            let seen = match self.known.get(&n) {
                Some(seen) => *seen,
                None => {
                    changes.came.push(n.clone());
                    self.next_seen += 1;
                    self.next_seen
                }
            };
            now.insert(n, seen);
        }
        changes.came.reverse();
        let mut gone: Vec<(Neighbour, u64)> = self
            .known
            .drain()
            .filter(|(n, _)| !now.contains_key(n))
            .collect();
        gone.sort_by_key(|(_, seen)| *seen);
        changes.gone = gone.into_iter().map(|(n, _)| n).collect();
        self.known = now;
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(addr: &str, last: u8) -> Neighbour {
        Neighbour::from_table(addr.parse().unwrap(), &[0x52, 0x54, 0, 0, 0, last]).unwrap()
    }

    #[test]
    fn the_first_look_reports_every_entry_and_later_ones_only_changes() {
        let mut watch = NeighbourWatch::default();
        let first = watch.look([n("10.0.0.2", 2), n("fd00::3", 3), n("10.0.0.4", 4)]);
        assert_eq!(
            first.came,
            [n("10.0.0.4", 4), n("fd00::3", 3), n("10.0.0.2", 2)]
        );
        assert!(first.gone.is_empty());
        assert_eq!(
            watch.look([n("10.0.0.4", 4), n("fd00::3", 3), n("10.0.0.2", 2)]),
            Changes::default()
        );
        // 10.0.0.2 went, 10.0.0.4 has a new hardware address, 10.0.0.5 came.
        let later = watch.look([n("10.0.0.5", 5), n("fd00::3", 3), n("10.0.0.4", 9)]);
        assert_eq!(later.gone, [n("10.0.0.2", 2), n("10.0.0.4", 4)]);
        assert_eq!(later.came, [n("10.0.0.4", 9), n("10.0.0.5", 5)]);
        let empty = watch.look([]);
        assert_eq!(
            empty.gone,
            [n("fd00::3", 3), n("10.0.0.5", 5), n("10.0.0.4", 9)]
        );
        assert!(empty.came.is_empty());
    }

    #[test]
    fn an_entry_on_two_interfaces_is_one_neighbour() {
        let mut watch = NeighbourWatch::default();
        assert_eq!(
            watch.look([n("10.0.0.2", 2), n("10.0.0.2", 2)]).came.len(),
            1
        );
        assert!(watch.look([n("10.0.0.2", 2)]).gone.is_empty());
    }

    #[test]
    fn hardware_addresses_longer_than_dhcps_are_skipped_and_the_script_sees_dnsmasqs_form() {
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(Neighbour::from_table(ip, &[1; 17]).is_none());
        let infiniband = Neighbour::from_table(ip, &[0xab; 16]).unwrap();
        assert_eq!(infiniband.hwaddr.to_string().split(':').count(), 16);
        assert_eq!(n("10.0.0.2", 0xbc).hwaddr.to_string(), "52:54:00:00:00:bc");
    }

    #[test]
    fn past_the_limit_new_entries_are_counted_not_kept() {
        let mut watch = NeighbourWatch::default();
        let many =
            (0..MAX_NEIGHBOURS as u32 + 5).map(|i| n(&std::net::Ipv4Addr::from(i).to_string(), 1));
        let changes = watch.look(many);
        assert_eq!(changes.came.len(), MAX_NEIGHBOURS);
        assert_eq!(changes.left_out, 5);
        assert_eq!(watch.known.len(), MAX_NEIGHBOURS);
    }
}
