//! `--dhcp-relay` for DHCPv4, as dnsmasq relays (RFC 1542): a request that comes in on
//! an interface holding a relay's local address goes on to its server (or is broadcast
//! on the relay's interface), with the local address as giaddr and one more hop; the
//! server's reply to that address goes back to the client as a server's own would.
//! Pure: the runtime sends what these functions say.

use super::lease_file::HwAddr;
use super::v4::Destination;
use crate::config::parse::Value;
use crate::config::Config;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Most relay hops a request may have made before this one (dnsmasq's limit).
const MAX_HOPS: u8 = 20;

/// One `--dhcp-relay` (IPv4).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Relay {
    local: Ipv4Addr,
    /// None: broadcast on `interface`.
    server: Option<SocketAddr>,
    /// Replies are taken only from this interface (wildcards allowed), where given; with
    /// no server, the interface requests are broadcast on.
    interface: Option<String>,
}

/// The configured relays.
#[derive(Clone, Debug, Default)]
pub struct Relays {
    relays: Vec<Relay>,
    /// `--log-dhcp`: each relayed request is logged.
    log: bool,
}

/// A request relayed on: its bytes, where to, and the local address it goes from.
#[derive(Debug, PartialEq, Eq)]
pub struct Upstream {
    pub bytes: Vec<u8>,
    pub to: SocketAddr,
    pub from: Ipv4Addr,
    /// For a broadcast: the interface it goes out on.
    pub interface: Option<String>,
}

/// A server's reply relayed back: its bytes, where to, and the local address it goes
/// from (the relay's, on the interface the client is on).
#[derive(Debug, PartialEq, Eq)]
pub struct Downstream {
    pub bytes: Vec<u8>,
    pub to: Destination,
    pub from: Ipv4Addr,
}

const BOOTREQUEST: u8 = 1;
const BOOTREPLY: u8 = 2;

fn addr_at(packet: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(packet[at], packet[at + 1], packet[at + 2], packet[at + 3])
}

impl Relays {
    /// From the configuration; `server_port` is where servers listen unless a relay says
    /// otherwise (`--dhcp-alternate-port`'s, or 67).
    pub fn from_config(config: &Config, server_port: u16) -> Relays {
        let relays = config
            .values("dhcp-relay")
            .filter_map(|v| match v {
                Value::DhcpRelay {
                    local: IpAddr::V4(local),
                    server,
                    port,
                    interface,
                } => {
                    let server = match server {
                        Some(IpAddr::V4(s)) => {
                            Some(SocketAddr::from((*s, port.unwrap_or(server_port))))
                        }
                        Some(IpAddr::V6(_)) => return None,
                        None => None,
                    };
                    Some(Relay {
                        local: *local,
                        server,
                        interface: interface.clone(),
                    })
                }
                _ => None,
            })
            .collect();
        Relays {
            relays,
            log: config.has("log-dhcp"),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.relays.is_empty()
    }

    /// A request that came in on an interface with addresses `local`: None when no
    /// relay is for that interface (the server answers it); else what to send (nothing,
    /// for a request that looped back to us or made too many hops), and log lines.
    pub fn upstream(
        &self,
        packet: &[u8],
        local: &[Ipv4Addr],
        server_port: u16,
    ) -> Option<(Vec<Upstream>, Vec<String>)> {
        if packet.len() < 240 || packet[0] != BOOTREQUEST {
            return None;
        }
        let mine: Vec<&Relay> = self
            .relays
            .iter()
            .filter(|r| local.contains(&r.local))
            .collect();
        let first = mine.first()?;
        let mut out = Vec::new();
        let mut log = Vec::new();
        let giaddr = addr_at(packet, 24);
        if giaddr == first.local || packet[3] > MAX_HOPS {
            return Some((out, log));
        }
        let mut bytes = packet.to_vec();
        if giaddr.is_unspecified() {
            bytes[24..28].copy_from_slice(&first.local.octets());
        }
        bytes[3] += 1;
        for r in mine {
            let to = r
                .server
                .unwrap_or(SocketAddr::from((Ipv4Addr::BROADCAST, server_port)));
            if self.log {
                log.push(format!("DHCP relay {} -> {}", r.local, to.ip()));
            }
            out.push(Upstream {
                bytes: bytes.clone(),
                to,
                from: r.local,
                interface: r.server.is_none().then(|| r.interface.clone()).flatten(),
            });
        }
        Some((out, log))
    }

    /// A packet that came in on interface `arrived_on`: if it is a server's reply to one
    /// of our relays (and from the interface that relay takes replies on), where it goes
    /// on to: the client's address, broadcast, or its hardware address, as a server's own
    /// reply would.
    pub fn downstream(&self, packet: &[u8], arrived_on: &str) -> Option<Downstream> {
        if packet.len() < 240 || packet[0] != BOOTREPLY {
            return None;
        }
        let giaddr = addr_at(packet, 24);
        let relay = self.relays.iter().find(|r| {
            r.local == giaddr
                && r.interface.as_deref().is_none_or(|p| {
                    r.server.is_none() || crate::runtime::interfaces::wildcard_match(p, arrived_on)
                })
        })?;
        let ciaddr = addr_at(packet, 12);
        let yiaddr = addr_at(packet, 16);
        let broadcast = packet[10] & 0x80 != 0;
        let hlen = usize::from(packet[2]).min(16);
        let to = if !ciaddr.is_unspecified() {
            Destination::Client(ciaddr)
        } else if broadcast || hlen == 0 || yiaddr.is_unspecified() {
            Destination::Broadcast
        } else {
            Destination::Hardware {
                addr: yiaddr,
                hwaddr: HwAddr {
                    htype: packet[1],
                    bytes: packet[28..28 + hlen].to_vec(),
                },
            }
        };
        Some(Downstream {
            bytes: packet.to_vec(),
            to,
            from: relay.local,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relays(conf: &str) -> Relays {
        Relays::from_config(&Config::from_text(conf).unwrap(), 67)
    }

    fn request(giaddr: [u8; 4], hops: u8) -> Vec<u8> {
        let mut p = vec![0u8; 244];
        p[0] = BOOTREQUEST;
        p[1] = 1;
        p[2] = 6;
        p[3] = hops;
        p[24..28].copy_from_slice(&giaddr);
        p[28..34].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        p
    }

    #[test]
    fn a_request_on_the_relays_interface_goes_to_each_server_as_the_relay() {
        let r =
            relays("dhcp-relay=10.0.0.1,192.0.2.5\ndhcp-relay=10.0.0.1,192.0.2.6#1067\nlog-dhcp\n");
        assert_eq!(
            r.upstream(&request([0; 4], 0), &[Ipv4Addr::new(10, 0, 1, 1)], 67),
            None
        );
        let (out, log) = r
            .upstream(&request([0; 4], 0), &[Ipv4Addr::new(10, 0, 0, 1)], 67)
            .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].to, "192.0.2.5:67".parse().unwrap());
        assert_eq!(out[1].to, "192.0.2.6:1067".parse().unwrap());
        assert_eq!(&out[0].bytes[24..28], &[10, 0, 0, 1], "giaddr");
        assert_eq!(out[0].bytes[3], 1, "hops");
        assert_eq!(
            log,
            [
                "DHCP relay 10.0.0.1 -> 192.0.2.5",
                "DHCP relay 10.0.0.1 -> 192.0.2.6"
            ]
        );
        // Relayed already by another agent: its giaddr stays.
        let (out, _) = r
            .upstream(
                &request([10, 9, 9, 9], 2),
                &[Ipv4Addr::new(10, 0, 0, 1)],
                67,
            )
            .unwrap();
        assert_eq!(
            (&out[0].bytes[24..28], out[0].bytes[3]),
            (&[10u8, 9, 9, 9][..], 3)
        );
        // A loop, or too many hops: taken, and dropped.
        for p in [request([10, 0, 0, 1], 1), request([0; 4], 21)] {
            assert_eq!(
                r.upstream(&p, &[Ipv4Addr::new(10, 0, 0, 1)], 67),
                Some((vec![], vec![]))
            );
        }
    }

    #[test]
    fn a_servers_reply_goes_back_to_the_client_as_a_servers_own_would() {
        let r = relays("dhcp-relay=10.0.0.1,192.0.2.5,eth1\ndhcp-relay=10.0.1.1,eth2\n");
        let mut reply = request([10, 0, 0, 1], 1);
        reply[0] = BOOTREPLY;
        reply[16..20].copy_from_slice(&[10, 0, 0, 50]);
        let down = r.downstream(&reply, "eth1").unwrap();
        assert_eq!(down.from, Ipv4Addr::new(10, 0, 0, 1));
        assert!(
            matches!(down.to, Destination::Hardware { addr, .. } if addr == Ipv4Addr::new(10, 0, 0, 50))
        );
        // Not from the interface the relay takes replies on.
        assert_eq!(r.downstream(&reply, "eth9"), None);
        reply[10] = 0x80;
        assert_eq!(
            r.downstream(&reply, "eth1").unwrap().to,
            Destination::Broadcast
        );
        reply[12..16].copy_from_slice(&[10, 0, 0, 50]);
        assert_eq!(
            r.downstream(&reply, "eth1").unwrap().to,
            Destination::Client(Ipv4Addr::new(10, 0, 0, 50))
        );
        // A reply to an address that is no relay of ours is not taken.
        reply[24..28].copy_from_slice(&[10, 7, 7, 7]);
        assert_eq!(r.downstream(&reply, "eth1"), None);
    }

    #[test]
    fn without_a_server_requests_are_broadcast_on_the_interface() {
        let r = relays("dhcp-relay=10.0.1.1,eth2\n");
        let (out, _) = r
            .upstream(&request([0; 4], 0), &[Ipv4Addr::new(10, 0, 1, 1)], 67)
            .unwrap();
        assert_eq!(out[0].to, "255.255.255.255:67".parse().unwrap());
        assert_eq!(out[0].interface.as_deref(), Some("eth2"));
    }
}
