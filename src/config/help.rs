//! `--help`, `--version` and the compatibility table, all generated from the option table.

use super::options::{Arg, Status, DNSMASQ_OPTIONS, OPTIONS};

/// The `--help` text: every option on one line, marked where it is not built yet.
pub fn usage() -> String {
    let mut out = String::from("Usage: ringmasq [options]\n\nValid options are:\n");
    for o in OPTIONS {
        let short = o
            .short
            .map(|c| format!("-{c}, "))
            .unwrap_or_else(|| "    ".into());
        let eq = if o.syntax.is_empty() || o.syntax.starts_with('[') || o.arg == Arg::None {
            ""
        } else {
            "="
        };
        let left = format!("{short}--{}{eq}{}", o.long, o.syntax);
        let mark = match o.status {
            Status::Works => "",
            Status::Partly(_) => " [partly]",
            Status::NotYet(_) => " [not yet]",
            Status::NotPlanned(_) => " [not planned]",
        };
        out.push_str(&format!("{left:<55} {}{mark}\n", o.help));
    }
    out.push_str("\n[not yet]: accepted and checked, but the feature is still being built; a warning is logged at start-up.\n");
    out
}

/// The `--version` text.
pub fn version() -> String {
    format!(
        "ringmasq version {}\nCompatible with dnsmasq 2.90 configuration.\nLicensed under the GPL, version 2 or 3.\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `docs/compat.md`: every dnsmasq option and what ringmasq does with it, then ringmasq's own.
pub fn compat_markdown() -> String {
    let mut out = String::from(
        "# dnsmasq option compatibility\n\n\
         Generated from the option table (`src/config/options.rs`); `tests/option_table.rs`\n\
         fails if this file and the table disagree (`RINGMASQ_BLESS=1 cargo test --test option_table`\n\
         regenerates it).\n\n\
         Every option is parsed and validated as dnsmasq 2.90 does (`--test` agrees with dnsmasq's\n\
         exit code). *Works* means the feature is built; *parsed, not yet* means the value is checked\n\
         and a warning is logged at start-up until its work item lands.\n\n\
         Known deliberate difference: `dns-rr` with data that is not hex makes dnsmasq 2.90 exit 4\n\
         (\"could not get memory\"); ringmasq reports `bad RR record` and exits 1.\n\n\
         | option | short | status | notes |\n|---|---|---|---|\n",
    );
    for (i, o) in OPTIONS.iter().enumerate() {
        if i == DNSMASQ_OPTIONS {
            out.push_str(
                "\n## ringmasq's own options\n\n| option | short | status | notes |\n|---|---|---|---|\n",
            );
        }
        let short = o.short.map(|c| format!("`-{c}`")).unwrap_or_default();
        let (status, note) = match o.status {
            Status::Works => ("works", ""),
            Status::Partly(what) => ("partly", what),
            Status::NotYet(what) => ("parsed, not yet", what),
            Status::NotPlanned(why) => ("not planned", why),
        };
        out.push_str(&format!(
            "| `--{}` | {short} | {status} | {note} |\n",
            o.long
        ));
    }
    out
}
