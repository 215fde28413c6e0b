//! dnsmasq's lease-file format (`--dhcp-leasefile`), so that an existing file carries
//! over both ways. One DHCPv4 lease a line:
//!
//! ```text
//! <expiry, seconds since 1970; 0 = infinite> <hardware address> <address> <host name|*> <client id|*>
//! ```
//!
//! The hardware address is hex bytes joined by `:`, after `<type>-` (two hex digits)
//! when the hardware type is not Ethernet or the address is empty; the client id is hex
//! bytes joined by `:`. The DHCPv6 part (a `duid ...` line, then lines of IA leases) is
//! kept as read, line for line, until the DHCPv6 server takes it over.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// ARPHRD_ETHER: the hardware type whose addresses are written without a type prefix.
pub const HW_ETHER: u8 = 1;

/// Most bytes of a hardware address (DHCP's chaddr).
pub const MAX_HW_BYTES: usize = 16;

/// Most bytes of a client identifier (option 61 is at most 255 bytes).
pub const MAX_CLIENT_ID_BYTES: usize = 255;

/// Most bytes of a host name kept with a lease.
pub const MAX_HOSTNAME_BYTES: usize = 255;

/// A client's hardware address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HwAddr {
    pub htype: u8,
    pub bytes: Vec<u8>,
}

/// One DHCPv4 lease as the lease file holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Seconds since 1970 when it ends; 0 for an infinite lease.
    pub expires: u64,
    pub hwaddr: HwAddr,
    pub addr: Ipv4Addr,
    pub hostname: Option<String>,
    pub client_id: Option<Vec<u8>>,
}

/// Why a lease line was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum BadLine {
    /// Fewer than five fields.
    Short,
    Expiry,
    HwAddr,
    Address,
    Hostname,
    ClientId,
}

/// Hex bytes joined by `:` (`*` is not accepted here).
fn parse_hex_bytes(s: &str, max: usize) -> Option<Vec<u8>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    let bytes: Option<Vec<u8>> = s
        .split(':')
        .map(|b| match b.len() {
            1 | 2 => u8::from_str_radix(b, 16).ok(),
            _ => None,
        })
        .collect();
    bytes.filter(|b| b.len() <= max)
}

fn write_hex_bytes(out: &mut String, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02x}");
    }
}

impl HwAddr {
    /// An Ethernet address.
    pub fn ether(bytes: [u8; 6]) -> HwAddr {
        HwAddr {
            htype: HW_ETHER,
            bytes: bytes.to_vec(),
        }
    }

    /// As the lease file writes it.
    pub fn parse(s: &str) -> Option<HwAddr> {
        // A type prefix is two hex digits and a dash, before the first colon.
        let (htype, rest) = match s.split_once('-') {
            Some((t, rest)) if t.len() <= 2 && !t.contains(':') => {
                (u8::from_str_radix(t, 16).ok()?, rest)
            }
            Some(_) => return None,
            None => (HW_ETHER, s),
        };
        Some(HwAddr {
            htype,
            bytes: parse_hex_bytes(rest, MAX_HW_BYTES)?,
        })
    }

    fn write(&self, out: &mut String) {
        if self.htype != HW_ETHER || self.bytes.is_empty() {
            let _ = write!(out, "{:02x}-", self.htype);
        }
        write_hex_bytes(out, &self.bytes);
    }
}

impl std::fmt::Display for HwAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        self.write(&mut s);
        f.write_str(&s)
    }
}

/// Whether `name` can stand as a lease's host name in the file: one field, not `*`.
fn writable_hostname(name: &str) -> bool {
    !name.is_empty()
        && name != "*"
        && name.len() <= MAX_HOSTNAME_BYTES
        && name.bytes().all(|b| b.is_ascii_graphic())
}

impl Lease {
    /// Read one DHCPv4 lease line.
    pub fn parse(line: &str) -> Result<Lease, BadLine> {
        let mut fields = line.split_ascii_whitespace();
        let mut next = || fields.next().ok_or(BadLine::Short);
        let (expires, hw, addr, host, clid) = (next()?, next()?, next()?, next()?, next()?);
        let expires = expires.parse().map_err(|_| BadLine::Expiry)?;
        let hwaddr = HwAddr::parse(hw).ok_or(BadLine::HwAddr)?;
        let addr = addr.parse().map_err(|_| BadLine::Address)?;
        let hostname = match host {
            "*" => None,
            h if writable_hostname(h) => Some(h.to_string()),
            _ => return Err(BadLine::Hostname),
        };
        let client_id = match clid {
            "*" => None,
            c => Some(parse_hex_bytes(c, MAX_CLIENT_ID_BYTES).ok_or(BadLine::ClientId)?),
        };
        Ok(Lease {
            expires,
            hwaddr,
            addr,
            hostname,
            client_id: client_id.filter(|c| !c.is_empty()),
        })
    }

    /// Append the lease's line (with its line end) as dnsmasq writes it.
    pub fn write_line(&self, out: &mut String) {
        let _ = write!(out, "{} ", self.expires);
        self.hwaddr.write(out);
        let _ = write!(out, " {} ", self.addr);
        match self.hostname.as_deref().filter(|h| writable_hostname(h)) {
            Some(h) => out.push_str(h),
            None => out.push('*'),
        }
        out.push(' ');
        match self.client_id.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => write_hex_bytes(out, c),
            None => out.push('*'),
        }
        out.push('\n');
    }

    /// The lease's line, without its line end.
    pub fn line(&self) -> String {
        let mut s = String::new();
        self.write_line(&mut s);
        s.pop();
        s
    }
}

/// What a lease file holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LeaseFile {
    pub leases: Vec<Lease>,
    /// The DHCPv6 part, from its `duid` line on, as read.
    pub v6_lines: Vec<String>,
    /// Lines that could not be read: line number (from 1) and why. dnsmasq skips them.
    pub bad: Vec<(usize, BadLine)>,
}

impl LeaseFile {
    /// Read a lease file's text.
    pub fn parse(text: &str) -> LeaseFile {
        let mut file = LeaseFile::default();
        let mut v6 = false;
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            if trimmed.starts_with("duid ") {
                v6 = true;
            }
            if v6 {
                file.v6_lines.push(trimmed.to_string());
                continue;
            }
            match Lease::parse(trimmed) {
                Ok(lease) => file.leases.push(lease),
                Err(why) => file.bad.push((n + 1, why)),
            }
        }
        file
    }

    /// The file's text: the DHCPv4 leases, then the DHCPv6 part.
    pub fn text<'a>(leases: impl Iterator<Item = &'a Lease>, v6_lines: &[String]) -> String {
        let mut out = String::new();
        for lease in leases {
            lease.write_line(&mut out);
        }
        for line in v6_lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnsmasq_lines_read_and_write_back_the_same() {
        let lines = [
            "1764590400 52:54:00:12:34:56 192.168.1.50 laptop 01:52:54:00:12:34:56",
            "0 52:54:00:ab:cd:ef 192.168.1.2 * *",
            "1764590400 06-00:11:22:33:44:55 10.0.0.9 printer *",
            "1764590400 00- 10.0.0.10 * ff:00:00:00:01:00:01:2b:3c",
            "1764590400 20-00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01 10.0.0.11 ib *",
        ];
        for line in lines {
            let lease = Lease::parse(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert_eq!(lease.line(), line);
        }
        let l = Lease::parse(lines[0]).unwrap();
        assert_eq!(l.hwaddr, HwAddr::ether([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
        assert_eq!(l.hostname.as_deref(), Some("laptop"));
        assert_eq!(l.client_id, Some(vec![1, 0x52, 0x54, 0, 0x12, 0x34, 0x56]));
        assert_eq!(Lease::parse(lines[2]).unwrap().hwaddr.htype, 6);
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, why) in [
            (
                "1764590400 52:54:00:12:34:56 192.168.1.50 laptop",
                BadLine::Short,
            ),
            (
                "soon 52:54:00:12:34:56 192.168.1.50 laptop *",
                BadLine::Expiry,
            ),
            ("1 52:54:zz:12:34:56 192.168.1.50 laptop *", BadLine::HwAddr),
            (
                "1 52:54:00:12:34:56 192.168.1.500 laptop *",
                BadLine::Address,
            ),
            (
                "1 52:54:00:12:34:56 192.168.1.5 laptop 01:xyz",
                BadLine::ClientId,
            ),
        ] {
            assert_eq!(Lease::parse(line), Err(why), "{line}");
        }
    }

    #[test]
    fn a_file_keeps_its_dhcpv6_part_and_skips_bad_lines() {
        let text = "1764590400 52:54:00:12:34:56 192.168.1.50 laptop *\n\
                    garbage\n\
                    \n\
                    duid 00:01:00:01:2b:3c:4d:5e:52:54:00:00:00:01\n\
                    1764590400 1234 fd00::50 laptop 00:01:00:01:aa\n";
        let file = LeaseFile::parse(text);
        assert_eq!(file.leases.len(), 1);
        assert_eq!(file.bad, vec![(2, BadLine::Short)]);
        assert_eq!(file.v6_lines.len(), 2);
        let again = LeaseFile::text(file.leases.iter(), &file.v6_lines);
        assert_eq!(
            again,
            "1764590400 52:54:00:12:34:56 192.168.1.50 laptop *\n\
             duid 00:01:00:01:2b:3c:4d:5e:52:54:00:00:00:01\n\
             1764590400 1234 fd00::50 laptop 00:01:00:01:aa\n"
        );
    }

    #[test]
    fn a_name_that_cannot_be_one_field_is_written_as_a_star() {
        let mut l = Lease::parse("5 52:54:00:12:34:56 192.168.1.50 x *").unwrap();
        l.hostname = Some("two words".into());
        assert_eq!(l.line(), "5 52:54:00:12:34:56 192.168.1.50 * *");
    }
}
