//! ICMP echo for the DHCP server's ping check: a raw socket (opened while privileged;
//! CAP_NET_RAW is kept after the change of user), echo requests out, and the addresses
//! that answered ours back. Never blocks: the socket is non-blocking, and the DHCP loop
//! awaits its arrivals in the control executor's reactor beside its own socket's.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};

const ECHO_REPLY: u8 = 0;
const ECHO_REQUEST: u8 = 8;

/// Most replies read per call (the rest wait for the next).
const MAX_READ_PER_CALL: usize = 256;

pub struct Pinger {
    socket: Socket,
    /// The identifier in our echoes, to tell their replies from other programs'.
    id: u16,
    seq: u16,
}

/// The Internet checksum (RFC 1071) of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request with this identifier and sequence number.
fn echo_request(id: u16, seq: u16) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = ECHO_REQUEST;
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..].copy_from_slice(b"ringmasq");
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The sender of an echo reply to identifier `id`, from an IPv4 packet as a raw socket
/// reads it (IP header first).
fn reply_from(packet: &[u8], id: u16) -> Option<Ipv4Addr> {
    let header = usize::from(packet.first()? & 0x0f) * 4;
    let icmp = packet.get(header..header + 8)?;
    (icmp[0] == ECHO_REPLY && u16::from_be_bytes([icmp[4], icmp[5]]) == id)
        .then(|| Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]))
}

impl Pinger {
    /// The raw ICMP socket; an error where this process may not open one.
    pub fn open() -> std::io::Result<Pinger> {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
        socket.set_nonblocking(true)?;
        Ok(Pinger {
            socket,
            id: crate::random::u32() as u16,
            seq: 0,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Send one echo request to `addr` (a failure is as good as no reply: logged by
    /// the caller's choice, the address is then taken as free).
    pub fn send(&mut self, addr: Ipv4Addr) -> std::io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let to = SockAddr::from(SocketAddr::from((addr, 0)));
        self.socket
            .send_to(&echo_request(self.id, self.seq), &to)
            .map(|_| ())
    }

    /// The addresses whose replies to our echoes have come, without waiting.
    pub fn replies(&self) -> Vec<Ipv4Addr> {
        let mut out = Vec::new();
        let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
        for _ in 0..MAX_READ_PER_CALL {
            let Ok(n) = self.socket.recv(&mut buf) else {
                break;
            };
            // SAFETY: recv initialised the first n bytes.
            let packet: Vec<u8> = buf[..n]
                .iter()
                .map(|b| unsafe { b.assume_init() })
                .collect();
            if let Some(from) = reply_from(&packet, self.id) {
                out.push(from);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_requests_carry_a_checksum_that_sums_to_zero() {
        let p = echo_request(0x1234, 7);
        assert_eq!(checksum(&p), 0);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn only_replies_to_our_identifier_count() {
        let mut packet = vec![
            0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 9, 10, 0, 0, 1,
        ];
        packet.extend_from_slice(&[ECHO_REPLY, 0, 0, 0, 0x12, 0x34, 0, 1]);
        assert_eq!(
            reply_from(&packet, 0x1234),
            Some(Ipv4Addr::new(10, 0, 0, 9))
        );
        assert_eq!(reply_from(&packet, 0x4321), None);
        packet[20] = ECHO_REQUEST;
        assert_eq!(reply_from(&packet, 0x1234), None);
        assert_eq!(reply_from(&packet[..22], 0x1234), None);
    }
}
