//! TFTP packets: a read request read as dnsmasq reads it, and the DATA, OACK and ERROR
//! packets it sends.

/// Opcodes (RFC 1350, and OACK of RFC 2347).
pub const OP_RRQ: u16 = 1;
pub const OP_DATA: u16 = 3;
pub const OP_ACK: u16 = 4;
pub const OP_ERROR: u16 = 5;
pub const OP_OACK: u16 = 6;

/// The error codes dnsmasq sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// 0: see the message (a file that cannot be read).
    NotDefined = 0,
    FileNotFound = 1,
    AccessViolation = 2,
    /// 4: anything but a read request in octet or netascii mode.
    IllegalOperation = 4,
}

/// A read request as dnsmasq understands it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadRequest<'a> {
    /// The file name as sent (not empty, no NUL).
    pub file_name: &'a [u8],
    pub netascii: bool,
    /// The blksize option's value as sent (its last one), where given.
    pub blksize: Option<&'a [u8]>,
    /// Whether tsize was asked for (never in netascii mode, where dnsmasq ignores it).
    pub tsize: bool,
}

/// The strings of a request after its opcode, read as dnsmasq reads them: only from a
/// packet that ends in a NUL, and up to the first empty one.
struct Strings<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Strings<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let end = self.rest.iter().position(|&b| b == 0)?;
        if end == 0 {
            return None;
        }
        let (s, rest) = self.rest.split_at(end);
        self.rest = &rest[1..];
        Some(s)
    }
}

/// Parse a request sent to the TFTP port; None for whatever dnsmasq refuses as an
/// "unsupported request" (a write request, another mode, a packet cut short).
pub fn parse_read_request(packet: &[u8]) -> Option<ReadRequest<'_>> {
    if packet.len() < 2 || u16::from_be_bytes([packet[0], packet[1]]) != OP_RRQ {
        return None;
    }
    let body = &packet[2..];
    if body.last() != Some(&0) {
        return None;
    }
    let mut strings = Strings { rest: body };
    let file_name = strings.next()?;
    let mode = strings.next()?;
    let netascii = if mode.eq_ignore_ascii_case(b"netascii") {
        true
    } else if mode.eq_ignore_ascii_case(b"octet") {
        false
    } else {
        return None;
    };
    let mut request = ReadRequest {
        file_name,
        netascii,
        blksize: None,
        tsize: false,
    };
    // An unknown option's value is read as the next option's name, as dnsmasq reads it.
    while let Some(name) = strings.next() {
        if name.eq_ignore_ascii_case(b"blksize") {
            if let Some(value) = strings.next() {
                request.blksize = Some(value);
            }
        } else if name.eq_ignore_ascii_case(b"tsize") && strings.next().is_some() && !netascii {
            request.tsize = true;
        }
    }
    Some(request)
}

/// A number as C's atoi reads it: leading blanks, a sign, digits; 0 where none.
pub fn atoi(text: &[u8]) -> i32 {
    let text = match text.iter().position(|b| !b" \t\n\r\x0b\x0c".contains(b)) {
        Some(start) => &text[start..],
        None => return 0,
    };
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let mut value: i64 = 0;
    for &d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        value = value.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    // strtol's long, then cut to an int as atoi's return does.
    (if negative { -value } else { value }) as i32
}

/// An ERROR packet with dnsmasq's message.
pub fn error(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + message.len());
    p.extend_from_slice(&OP_ERROR.to_be_bytes());
    p.extend_from_slice(&(code as u16).to_be_bytes());
    p.extend_from_slice(message.as_bytes());
    p.push(0);
    p
}

/// An OACK naming the options dnsmasq took, blksize before tsize.
pub fn oack(blksize: Option<u32>, tsize: Option<u64>) -> Vec<u8> {
    let mut p = OP_OACK.to_be_bytes().to_vec();
    let mut option = |name: &str, value: u64| {
        p.extend_from_slice(name.as_bytes());
        p.push(0);
        p.extend_from_slice(value.to_string().as_bytes());
        p.push(0);
    };
    if let Some(b) = blksize {
        option("blksize", u64::from(b));
    }
    // dnsmasq prints the size as an unsigned int.
    if let Some(t) = tsize {
        option("tsize", t & u64::from(u32::MAX));
    }
    p
}

/// An acknowledgement or error from the client, as a transfer reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    Ack(u16),
    /// The error code and its message (up to the first NUL; empty where none).
    Error(u16, &'a [u8]),
}

/// Read a packet a client sends during a transfer; None for anything else.
pub fn parse_reply(packet: &[u8]) -> Option<Reply<'_>> {
    if packet.len() < 4 {
        return None;
    }
    let op = u16::from_be_bytes([packet[0], packet[1]]);
    let number = u16::from_be_bytes([packet[2], packet[3]]);
    match op {
        OP_ACK => Some(Reply::Ack(number)),
        OP_ERROR => {
            let rest = &packet[4..];
            let message = match rest.last() {
                Some(0) => Strings { rest }.next().unwrap_or_default(),
                _ => &[],
            };
            Some(Reply::Error(number, message))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrq(parts: &[&[u8]]) -> Vec<u8> {
        let mut p = OP_RRQ.to_be_bytes().to_vec();
        for part in parts {
            p.extend_from_slice(part);
            p.push(0);
        }
        p
    }

    #[test]
    fn read_request_with_options_in_any_case() {
        let p = rrq(&[b"pxelinux.0", b"OCTET", b"BlkSize", b"1400", b"TSIZE", b"0"]);
        let r = parse_read_request(&p).unwrap();
        assert_eq!(r.file_name, b"pxelinux.0");
        assert!(!r.netascii);
        assert_eq!(r.blksize, Some(&b"1400"[..]));
        assert!(r.tsize);
    }

    #[test]
    fn netascii_never_takes_tsize() {
        let p = rrq(&[b"f", b"netascii", b"tsize", b"0"]);
        let r = parse_read_request(&p).unwrap();
        assert!(r.netascii && !r.tsize);
    }

    #[test]
    fn an_unknown_options_value_is_read_as_a_name() {
        let p = rrq(&[b"f", b"octet", b"windowsize", b"tsize", b"0"]);
        assert!(parse_read_request(&p).unwrap().tsize);
        let p = rrq(&[b"f", b"octet", b"foo", b"1", b"tsize", b"0"]);
        assert!(parse_read_request(&p).unwrap().tsize);
    }

    #[test]
    fn writes_other_modes_and_cut_packets_are_refused() {
        let mut wrq = rrq(&[b"f", b"octet"]);
        wrq[1] = 2;
        assert!(parse_read_request(&wrq).is_none());
        assert!(parse_read_request(&rrq(&[b"f", b"mail"])).is_none());
        assert!(parse_read_request(&rrq(&[b"", b"octet"])).is_none());
        assert!(parse_read_request(b"\0\x01f\0octet").is_none());
        assert!(parse_read_request(b"\0\x01").is_none());
        assert!(parse_read_request(b"\0").is_none());
    }

    #[test]
    fn atoi_reads_as_c_does() {
        assert_eq!(atoi(b"1400"), 1400);
        assert_eq!(atoi(b" 12abc"), 12);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b"-5"), -5);
        assert_eq!(atoi(b"99999999999999999999"), i64::MAX as i32);
    }

    #[test]
    fn oack_lists_blksize_then_tsize() {
        assert_eq!(
            oack(Some(1400), Some(5000)),
            b"\0\x06blksize\x001400\0tsize\x005000\0".to_vec()
        );
        assert_eq!(oack(None, Some(6)), b"\0\x06tsize\x006\0".to_vec());
    }

    #[test]
    fn replies_and_errors_from_clients() {
        assert_eq!(parse_reply(b"\0\x04\x01\x02"), Some(Reply::Ack(0x102)));
        assert_eq!(
            parse_reply(b"\0\x05\0\x08no thanks\0"),
            Some(Reply::Error(8, &b"no thanks"[..]))
        );
        assert_eq!(
            parse_reply(b"\0\x05\0\x08cut"),
            Some(Reply::Error(8, &b""[..]))
        );
        assert_eq!(parse_reply(b"\0\x03\0\x01data"), None);
        assert_eq!(parse_reply(b"\0\x04\0"), None);
        assert_eq!(
            error(ErrorCode::FileNotFound, "x"),
            b"\0\x05\0\x01x\0".to_vec()
        );
    }
}
