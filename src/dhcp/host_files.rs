//! `--dhcp-host` and `--dhcp-option` lines kept in files: `--dhcp-hostsfile`,
//! `--dhcp-hostsdir`, `--dhcp-optsfile`, `--dhcp-optsdir` (a directory stands for the files
//! in it, in name order) and, with `--read-ethers`, /etc/ethers. Read at start and again on
//! SIGHUP; each line is read as the option's value would be in a config file, and a bad
//! line is logged with its file and number and skipped.

use crate::config::parse::{DhcpHost, DhcpOption, Value};
use crate::config::{io_reason, Config};
use crate::log;

/// dnsmasq's ethers file.
pub const ETHERS_FILE: &str = "/etc/ethers";

/// Most lines read from one file: a bound on a hostile or runaway file.
const MAX_LINES_PER_FILE: usize = 1_000_000;

/// What the files gave.
#[derive(Clone, Debug, Default)]
pub struct FromFiles {
    pub hosts: Vec<DhcpHost>,
    pub options: Vec<DhcpOption>,
}

/// Read every file the configuration names, logging each as dnsmasq does.
pub fn read(config: &Config) -> FromFiles {
    let mut out = FromFiles::default();
    // In dnsmasq's order: /etc/ethers, the host files, the option files.
    if config.has("read-ethers") {
        match std::fs::read_to_string(ETHERS_FILE) {
            Ok(text) => {
                let (hosts, bad) = ethers(&text);
                for (line, why) in bad {
                    log::warn(format!("bad line at {ETHERS_FILE} line {line}: {why}"));
                }
                log::info(format!("read {ETHERS_FILE} - {} addresses", hosts.len()));
                out.hosts.extend(hosts);
            }
            Err(e) => log::error(format!("failed to read {ETHERS_FILE}: {}", io_reason(&e))),
        }
    }
    // dnsmasq reads the host files and the option files each last given first, and what
    // the files given first say counts: their hosts are looked at first, and their
    // options come last (the last of one option counts).
    let files = |options: [&str; 2]| -> Vec<String> {
        options.iter().flat_map(|o| paths(config, o)).collect()
    };
    let mut hosts_read = Vec::new();
    for path in files(["dhcp-hostsfile", "dhcp-hostsdir"]).iter().rev() {
        let mut one = FromFiles::default();
        read_into(path, "dhcp-host", &mut one);
        hosts_read.push(one.hosts);
    }
    out.hosts.extend(hosts_read.into_iter().rev().flatten());
    for path in files(["dhcp-optsfile", "dhcp-optsdir"]).iter().rev() {
        read_into(path, "dhcp-option", &mut out);
    }
    out
}

/// The files an option names (each directory given as the files in it).
fn paths(config: &Config, option: &str) -> Vec<String> {
    let mut out = Vec::new();
    for v in config.values(option) {
        let Value::Text(Some(path)) = v else {
            continue;
        };
        out.extend(crate::config::expand_dir(path));
    }
    out
}

fn read_into(path: &str, option: &str, out: &mut FromFiles) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            log::error(format!("cannot read {path}: {}", io_reason(&e)));
            return;
        }
    };
    let (values, bad) = lines(&text, option);
    for (line, why) in bad {
        log::error(format!("{why} at line {line} of {path}"));
    }
    for v in values {
        match v {
            Value::DhcpHost(h) => out.hosts.push(*h),
            Value::DhcpOption(o) => out.options.push(o),
            _ => {}
        }
    }
    log::info(format!("read {path}"));
}

/// Each line of `text` read as the value of `option` (comments and blank lines skipped),
/// and the lines that would not read: (line number, why).
pub fn lines(text: &str, option: &str) -> (Vec<Value>, Vec<(usize, String)>) {
    let mut values = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate().take(MAX_LINES_PER_FILE) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Read as a config-file line, so quotes, escapes and comments mean the same.
        match Config::from_text(&format!("{option}={line}\n")) {
            Ok(c) => values.extend(c.values(option).cloned()),
            Err(e) => bad.push((n + 1, e.message)),
        }
    }
    (values, bad)
}

/// /etc/ethers: a hardware address and a host name or IPv4 address a line, each the same
/// as a `--dhcp-host` of the two.
pub fn ethers(text: &str) -> (Vec<DhcpHost>, Vec<(usize, String)>) {
    let mut hosts = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate().take(MAX_LINES_PER_FILE) {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [mac, what] = fields[..] else {
            bad.push((
                n + 1,
                "expected a hardware address and a name or address".into(),
            ));
            continue;
        };
        // IPv6 addresses are not read from /etc/ethers.
        if what.contains(':') {
            continue;
        }
        let (mut values, errors) = lines(&format!("{mac},{what}"), "dhcp-host");
        match (values.pop(), errors.into_iter().next()) {
            (Some(Value::DhcpHost(h)), None) => hosts.push(*h),
            (_, Some((_, why))) => bad.push((n + 1, why)),
            _ => bad.push((n + 1, "not a host".into())),
        }
    }
    (hosts, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn host_lines_read_as_dhcp_host_values_and_bad_ones_are_reported() {
        let text = "# printers\n\
                    52:54:00:11:22:33,10.0.0.5,printer\n\
                    \n\
                    id:01:02:03,laptop,set:mobile\n\
                    not a host at all,,,\n";
        let (values, bad) = lines(text, "dhcp-host");
        assert_eq!(values.len(), 2);
        let Value::DhcpHost(h) = &values[0] else {
            panic!("a host");
        };
        assert_eq!(h.addr, Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(h.hostname.as_deref(), Some("printer"));
        let Value::DhcpHost(h) = &values[1] else {
            panic!("a host");
        };
        assert_eq!(h.set_tags, vec!["mobile".to_string()]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 5, "the bad line's number");
    }

    #[test]
    fn option_lines_keep_their_tags() {
        let (values, bad) = lines(
            "tag:lab,option:router,10.0.0.1\n42,10.0.0.2\n",
            "dhcp-option",
        );
        assert!(bad.is_empty(), "{bad:?}");
        let Value::DhcpOption(o) = &values[0] else {
            panic!("an option");
        };
        assert_eq!(
            (o.number, o.data.clone(), o.tags[0].name.as_str()),
            (3, vec![10, 0, 0, 1], "lab")
        );
    }

    #[test]
    fn ethers_lines_are_hosts_by_address_or_name() {
        let text = "52:54:00:11:22:33 10.0.0.9\n\
                    52:54:00:11:22:34 tablet # a comment\n\
                    52:54:00:11:22:35 fe80::1\n\
                    garbage\n";
        let (hosts, bad) = ethers(text);
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].addr, Some(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!(hosts[1].hostname.as_deref(), Some("tablet"));
        assert_eq!(bad.iter().map(|b| b.0).collect::<Vec<_>>(), vec![4]);
    }
}
