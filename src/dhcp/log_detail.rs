//! `--log-dhcp`'s detail of an exchange, worded and formatted as dnsmasq words it: each
//! line starts with the request's transaction id. Pure: the server says what to log.

use super::option_catalog::{self, ValueType};

/// How many characters of option list one "requested options" line holds before the
/// next line starts (dnsmasq's cut).
const REQUESTED_LINE_CHARS: usize = 40;

/// Most value bytes shown as hex before `...`.
const MAX_HEX_BYTES: usize = 14;

/// A time as dnsmasq's prettyprint_time writes it (`1d2h`, `45m`, `infinite`).
pub fn pretty_time(secs: u32) -> String {
    if secs == u32::MAX {
        return "infinite".into();
    }
    let mut s = String::new();
    for (unit, value) in [
        ('d', secs / 86_400),
        ('h', secs / 3600 % 24),
        ('m', secs / 60 % 60),
        ('s', secs % 60),
    ] {
        if value != 0 {
            s.push_str(&format!("{value}{unit}"));
        }
    }
    s
}

/// Bytes as dnsmasq's print_mac writes them: two hex digits each, `:` between.
pub fn hex(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

/// The printable characters of `bytes` (dnsmasq's sanitise).
pub fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .filter(|b| b.is_ascii_graphic() || **b == b' ')
        .map(|&b| char::from(b))
        .collect()
}

/// An option's name (empty for one dnsmasq does not know) and its value as dnsmasq's
/// option_string shows it: addresses, text, numbers or times as such, anything else as
/// hex (the first 14 bytes, then `...`).
pub fn option_text(code: u8, value: &[u8]) -> (&'static str, String) {
    let info = option_catalog::by_number(option_catalog::V4, u16::from(code));
    let decoded = match info.map(|i| i.value) {
        Some(ValueType::AddrList) => Some(
            value
                .chunks_exact(4)
                .map(|a| std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Some(ValueType::Name) => Some(printable(value)),
        Some(ValueType::Dec(_) | ValueType::Time) if !value.is_empty() => {
            let n = value.iter().fold(0u32, |n, &b| n << 8 | u32::from(b));
            Some(match info.map(|i| i.value) {
                Some(ValueType::Time) => pretty_time(n),
                _ => n.to_string(),
            })
        }
        _ => None,
    };
    let text = match decoded {
        Some(text) => text,
        None if value.len() > MAX_HEX_BYTES => format!("{}...", hex(&value[..MAX_HEX_BYTES])),
        None => hex(value),
    };
    (info.map_or("", |i| i.name), text)
}

/// The "requested options" lines for a parameter request list (option 55).
pub fn requested(xid: u32, list: &[u8]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for (i, &code) in list.iter().enumerate() {
        let last = i + 1 == list.len();
        let name =
            option_catalog::by_number(option_catalog::V4, u16::from(code)).map_or("", |o| o.name);
        line.push_str(&code.to_string());
        if !name.is_empty() {
            line.push(':');
            line.push_str(name);
        }
        if !last {
            line.push_str(", ");
        }
        if last || line.len() > REQUESTED_LINE_CHARS {
            lines.push(format!("{xid} requested options: {line}"));
            line.clear();
        }
    }
    lines
}

/// A "sent size" line for each of `options` (each with its code and length, as a
/// reply carries them).
pub fn sent(xid: u32, options: &[&[u8]]) -> Vec<String> {
    options
        .iter()
        .filter(|o| o.len() >= 2)
        .map(|o| {
            let (code, value) = (o[0], &o[2..]);
            let (name, text) = option_text(code, value);
            let len = value.len();
            format!("{xid} sent size:{len:3} option:{code:3} {name}  {text}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_dnsmasq_writes_them() {
        assert_eq!(pretty_time(7200), "2h");
        assert_eq!(pretty_time(93_784), "1d2h3m4s");
        assert_eq!(pretty_time(45), "45s");
        assert_eq!(pretty_time(u32::MAX), "infinite");
    }

    #[test]
    fn option_values_are_shown_by_their_kind() {
        assert_eq!(
            option_text(54, &[10, 0, 0, 1]),
            ("server-identifier", "10.0.0.1".into())
        );
        assert_eq!(
            option_text(6, &[10, 0, 0, 1, 10, 0, 0, 2]),
            ("dns-server", "10.0.0.1, 10.0.0.2".into())
        );
        assert_eq!(option_text(53, &[2]), ("message-type", "2".into()));
        assert_eq!(
            option_text(51, &[0, 0, 0x1c, 0x20]),
            ("lease-time", "2h".into())
        );
        assert_eq!(option_text(15, b"lan\0"), ("domain-name", "lan".into()));
        assert_eq!(
            option_text(61, &[1, 2, 3]),
            ("client-id", "01:02:03".into())
        );
        assert_eq!(
            option_text(200, &[0; 16]).1,
            "00:00:00:00:00:00:00:00:00:00:00:00:00:00..."
        );
    }

    #[test]
    fn requested_options_are_cut_into_lines_past_forty_characters() {
        let lines = requested(7, &[1, 3, 6, 12, 15, 28, 42]);
        assert_eq!(
            lines,
            [
                "7 requested options: 1:netmask, 3:router, 6:dns-server, 12:hostname, ",
                "7 requested options: 15:domain-name, 28:broadcast, 42:ntp-server"
            ]
        );
    }

    #[test]
    fn each_sent_option_is_a_line() {
        let lines = sent(9, &[&[53, 1, 2], &[54, 4, 10, 0, 0, 1]]);
        assert_eq!(
            lines,
            [
                "9 sent size:  1 option: 53 message-type  2",
                "9 sent size:  4 option: 54 server-identifier  10.0.0.1"
            ]
        );
    }
}
