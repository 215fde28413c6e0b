//! For measuring only (the `batch-timing` feature, off in every normal build): the cycles
//! each UDP batch spends receiving, answering and sending, per query, kept apart for
//! batches whose first question is one of a few marked names and for the rest, and
//! written every `PERIOD` batches to a log, one line for both. A load that asks marked and
//! other names in turn, in blocks, then has both timed in the same stretch of the
//! machine's drift (bench/flat_cycles.py).
//!
//! `RINGMASQ_TIMING_NAMES`: a hosts-format file whose names are the marked ones.
//! `RINGMASQ_TIMING_LOG`: where the lines go, each
//! `recv answer send total | recv answer send total` (others, then marked).

use std::io::Write;

/// Batches between log lines.
const PERIOD: u64 = 3000;

/// Where a batch's time went, in cycles.
pub struct Marks {
    start: u64,
    received: u64,
    answered: u64,
}

pub struct BatchTiming {
    /// The marked names, as they stand in a question (wire labels).
    marked: Vec<Vec<u8>>,
    log: Option<std::fs::File>,
    /// Per kind (others, marked): receive, answer and send cycles, and queries.
    sums: [[u64; 4]; 2],
    batches: u64,
}

impl Marks {
    pub fn start() -> Marks {
        Marks {
            start: cycles(),
            received: 0,
            answered: 0,
        }
    }

    pub fn received(&mut self) {
        self.received = cycles();
    }

    pub fn answered(&mut self) {
        self.answered = cycles();
    }
}

fn cycles() -> u64 {
    // SAFETY: reading the time-stamp counter has no side effects.
    unsafe { std::arch::x86_64::_rdtsc() }
}

impl BatchTiming {
    pub fn from_env() -> BatchTiming {
        let names = std::env::var("RINGMASQ_TIMING_NAMES")
            .ok()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default();
        let marked = names
            .lines()
            .filter_map(|line| line.split('#').next()?.split_whitespace().nth(1))
            .map(|name| {
                let mut wire = Vec::new();
                for label in name.to_ascii_lowercase().split('.') {
                    wire.push(label.len() as u8);
                    wire.extend_from_slice(label.as_bytes());
                }
                wire.push(0);
                wire
            })
            .collect();
        let log = std::env::var("RINGMASQ_TIMING_LOG").ok().and_then(|path| {
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .ok()
        });
        BatchTiming {
            marked,
            log,
            sums: [[0; 4]; 2],
            batches: 0,
        }
    }

    /// The batch of `queries` queries whose first is `first` has been sent.
    pub fn sent(&mut self, marks: Marks, first: Option<&[u8]>, queries: usize) {
        let sent = cycles();
        let question = first.and_then(|q| q.get(crate::dns::wire::HEADER_BYTES..));
        let kind = match question {
            Some(q) => usize::from(self.marked.iter().any(|name| {
                q.get(..name.len())
                    .is_some_and(|l| l.eq_ignore_ascii_case(name))
            })),
            None => 0,
        };
        let sums = &mut self.sums[kind];
        sums[0] += marks.received - marks.start;
        sums[1] += marks.answered - marks.received;
        sums[2] += sent - marks.answered;
        sums[3] += queries as u64;
        self.batches += 1;
        if !self.batches.is_multiple_of(PERIOD) || self.sums.iter().any(|s| s[3] == 0) {
            return;
        }
        let line = |s: &[u64; 4]| {
            let per = |c: u64| c as f64 / s[3] as f64;
            format!(
                "{:.0} {:.0} {:.0} {:.0}",
                per(s[0]),
                per(s[1]),
                per(s[2]),
                per(s[0] + s[1] + s[2])
            )
        };
        if let Some(log) = &mut self.log {
            let _ = writeln!(log, "{} | {}", line(&self.sums[0]), line(&self.sums[1]));
        }
        self.sums = [[0; 4]; 2];
    }
}
