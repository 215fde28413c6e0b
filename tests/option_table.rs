//! The option table against dnsmasq 2.90: every long option, its short letter and argument
//! shape; `--help` output; and docs/compat.md generated from the table.

use ringmasq::config::help;
use ringmasq::config::options::{dnsmasq_options, Arg, Status, ALIASES, OPTIONS};
use std::collections::HashSet;
use std::process::Command;

const RINGMASQ: &str = env!("CARGO_BIN_EXE_ringmasq");
const COMPAT_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/compat.md");

fn dnsmasq(args: &[&str]) -> Option<String> {
    let out = Command::new("dnsmasq").args(args).output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn table_has_every_dnsmasq_option_once() {
    assert_eq!(
        dnsmasq_options().len(),
        187,
        "dnsmasq 2.90's --help lists 187 options"
    );
    let names: HashSet<_> = OPTIONS.iter().map(|o| o.long).collect();
    assert_eq!(names.len(), OPTIONS.len(), "duplicate long names");
    let shorts: Vec<char> = OPTIONS.iter().filter_map(|o| o.short).collect();
    assert_eq!(
        shorts.iter().collect::<HashSet<_>>().len(),
        shorts.len(),
        "duplicate short letters"
    );
    for (alias, canonical, _) in ALIASES {
        assert!(names.contains(canonical) && !names.contains(alias));
    }
}

#[test]
fn names_and_short_letters_match_dnsmasq_help() {
    let Some(text) = dnsmasq(&["--help"]) else {
        eprintln!("skipped: dnsmasq-base is not installed (.ci/run installs it)");
        return;
    };
    let mut seen = 0;
    for line in text
        .lines()
        .filter(|l| l.starts_with('-') || l.starts_with("    --"))
    {
        let short = line
            .strip_prefix('-')
            .and_then(|r| r.chars().next())
            .filter(|_| !line.starts_with("    "));
        let long: String = line
            .split("--")
            .nth(1)
            .unwrap()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let spec = OPTIONS
            .iter()
            .find(|o| o.long == long)
            .unwrap_or_else(|| panic!("--{long} missing from the table"));
        assert_eq!(spec.short, short, "--{long}");
        seen += 1;
    }
    assert_eq!(seen, dnsmasq_options().len());
}

/// dnsmasq's config-file reader says "missing parameter" / "extraneous parameter" by the
/// option's argument shape: compare every option's shape with it.
#[test]
fn argument_shapes_match_dnsmasq() {
    if dnsmasq(&["--version"]).is_none() {
        eprintln!("skipped: dnsmasq-base is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("ringmasq-shapes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("c.conf");
    let message = |text: &str| {
        std::fs::write(&conf, text).unwrap();
        let out = Command::new("dnsmasq")
            .arg("--test")
            .arg("-C")
            .arg(&conf)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for o in dnsmasq_options() {
        let bare = message(&format!("{}\n", o.long));
        let with = message(&format!("{}=zz\n", o.long));
        let theirs = if bare.contains("missing parameter") {
            Arg::Required
        } else if with.contains("extraneous parameter") {
            Arg::None
        } else {
            Arg::Optional
        };
        assert_eq!(o.arg, theirs, "--{}", o.long);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_lists_every_option_on_one_line_and_marks_unbuilt_ones() {
    let out = Command::new(RINGMASQ).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // The option's own token: "--name", then "=", "[" or the end of the word.
    let names_option = |line: &str, long: &str| {
        line.split_whitespace().any(|w| {
            w.strip_prefix("--")
                .and_then(|r| r.strip_prefix(long))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['=', '[']))
        })
    };
    for o in OPTIONS {
        let lines: Vec<&str> = text.lines().filter(|l| names_option(l, o.long)).collect();
        assert_eq!(lines.len(), 1, "--{}: {lines:?}", o.long);
        assert_eq!(
            lines[0].contains("[not yet]"),
            matches!(o.status, Status::NotYet(_)),
            "--{}",
            o.long
        );
    }
}

#[test]
fn dhcp_option_listings_match_dnsmasq() {
    for (arg, header) in [
        ("dhcp", "Known DHCP options:"),
        ("dhcp6", "Known DHCPv6 options:"),
    ] {
        let ours = String::from_utf8_lossy(
            &Command::new(RINGMASQ)
                .args(["--help", arg])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned();
        assert!(ours.starts_with(header));
        assert!(ours.lines().count() > 10);
        if let Some(theirs) = dnsmasq(&["--help", arg]) {
            assert_eq!(ours, theirs, "--help {arg}");
        }
    }
}

#[test]
fn version_is_printed() {
    let out = Command::new(RINGMASQ).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ringmasq version "));
}

/// docs/compat.md is generated from the table; regenerate with RINGMASQ_BLESS=1.
#[test]
fn compat_doc_matches_option_table() {
    let generated = help::compat_markdown();
    if std::env::var_os("RINGMASQ_BLESS").is_some() {
        std::fs::write(COMPAT_MD, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(COMPAT_MD).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/compat.md is stale: run RINGMASQ_BLESS=1 cargo test --test option_table"
    );
    for o in OPTIONS {
        assert!(
            on_disk.contains(&format!("| `--{}` |", o.long)),
            "--{}",
            o.long
        );
    }
}
