//! The lease store: every DHCPv4 lease in memory, found by address, by client and by
//! expiry in O(1) or O(log n), and on disk as a dnsmasq lease file plus an append-only
//! journal of the changes made since that file was written.
//!
//! The store does no writing of its own while the server runs: it says what is to be
//! written, as a plan of steps (write at an offset, cut to a length, fdatasync) that the
//! runtime does through io_uring (`runtime::lease_disk`), and hears back how far they
//! got (`finish`). `commit` and `compact` do the same plans with blocking calls, for
//! start-up and tests.
//!
//! A change counts as made (its DHCPACK may go out) once its commit has finished, which
//! is after its journal record is on disk (fdatasync). Changes made between two commits go
//! to disk together: the server commits once per batch of requests (group commit), not
//! once per lease. When the journal outgrows the table it is compacted: the whole table
//! is appended to the journal as one snapshot (between a begin and an end record) and
//! synced; then the lease file is rewritten in place in dnsmasq's format and synced; then
//! the journal is emptied. In place, through the file opened at start-up, because the
//! server has changed to an unprivileged user by then and may not create files beside a
//! lease file in a root-owned directory (dnsmasq rewrites it in place too). A crash while
//! the lease file is being rewritten leaves a whole snapshot in the journal, which
//! replaces whatever the torn file held; a crash while the snapshot is being written
//! leaves it without its end record, and it is dropped (the file and the records before
//! it still hold everything). So a crash at any moment loses no change that `commit`
//! acknowledged. A crash mid-commit leaves at most a torn last record, which each
//! record's checksum tells apart; it is dropped on reopening.

use super::lease_file::{HwAddr, Lease, LeaseFile};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// Most leases one store holds (a hostile lease file cannot exhaust memory).
pub const MAX_LEASES: usize = 4_000_000;

/// The journal is compacted once it holds more records than the table has leases, and
/// at least this many.
pub const MIN_COMPACT_RECORDS: usize = 4096;

/// Leases the lease file is rewritten for per second it may lag (see `lease_file_lag`).
const LEASES_PER_LAG_SECOND: usize = 20_000;

/// Every lease, indexed three ways.
#[derive(Debug, Default)]
pub struct LeaseTable {
    /// Each lease with its place in `in_dnsmasq_order`.
    by_addr: HashMap<Ipv4Addr, (u64, Lease)>,
    /// The place the next new lease takes.
    next_place: u64,
    by_client_id: HashMap<Vec<u8>, Ipv4Addr>,
    /// A hardware address can hold several leases (other client ids, other subnets).
    by_hwaddr: HashMap<HwAddr, Vec<Ipv4Addr>>,
    /// Leases that end, by when (infinite ones are not here).
    by_expiry: BTreeSet<(u64, Ipv4Addr)>,
    /// Leased addresses as runs of consecutive ones (first to last), each as long as it
    /// can be: the next address without a lease is found in O(log n), however full the
    /// range.
    runs: BTreeMap<u32, u32>,
}

impl LeaseTable {
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }

    pub fn get(&self, addr: Ipv4Addr) -> Option<&Lease> {
        self.by_addr.get(&addr).map(|(_, l)| l)
    }

    /// The lease of the client with this client identifier.
    pub fn by_client_id(&self, id: &[u8]) -> Option<&Lease> {
        self.by_client_id.get(id).and_then(|a| self.get(*a))
    }

    /// The leases of this hardware address.
    pub fn by_hwaddr<'a>(&'a self, hw: &HwAddr) -> impl Iterator<Item = &'a Lease> + 'a {
        self.by_hwaddr
            .get(hw)
            .into_iter()
            .flatten()
            .filter_map(|a| self.get(*a))
    }

    /// Addresses of the leases that ended before `now_secs`, soonest first, at most `max`.
    pub fn expired(&self, now_secs: u64, max: usize) -> Vec<Ipv4Addr> {
        self.by_expiry
            .range(..(now_secs, Ipv4Addr::UNSPECIFIED))
            .take(max)
            .map(|&(_, a)| a)
            .collect()
    }

    /// The first address from `from` to `last` (as numbers) that has no lease, if any.
    pub fn next_unleased(&self, from: u32, last: u32) -> Option<u32> {
        let next = match self.runs.range(..=from).next_back() {
            Some((_, &end)) if end >= from => end.checked_add(1)?,
            _ => from,
        };
        (next <= last).then_some(next)
    }

    fn add_to_runs(&mut self, addr: Ipv4Addr) {
        let a = u32::from(addr);
        let before = a
            .checked_sub(1)
            .and_then(|b| self.runs.range(..=b).next_back())
            .filter(|(_, &end)| end.checked_add(1) == Some(a))
            .map(|(&start, _)| start);
        let after = a.checked_add(1).and_then(|n| self.runs.remove(&n));
        let start = before.unwrap_or(a);
        self.runs.insert(start, after.unwrap_or(a));
    }

    fn remove_from_runs(&mut self, addr: Ipv4Addr) {
        let a = u32::from(addr);
        let Some((&start, &end)) = self.runs.range(..=a).next_back() else {
            return;
        };
        if end < a {
            return;
        }
        self.runs.remove(&start);
        if start < a {
            self.runs.insert(start, a - 1);
        }
        if a < end {
            self.runs.insert(a + 1, end);
        }
    }

    /// Every lease, in no set order.
    pub fn iter(&self) -> impl Iterator<Item = &Lease> {
        self.by_addr.values().map(|(_, l)| l)
    }

    /// Every lease in the order they came: read from the lease file (or the init
    /// script), then granted. A lease renewed or changed keeps its place.
    pub fn in_order(&self) -> Vec<&Lease> {
        let mut all: Vec<&(u64, Lease)> = self.by_addr.values().collect();
        all.sort_unstable_by_key(|(place, _)| *place);
        all.into_iter().map(|(_, l)| l).collect()
    }

    /// Every lease in the order dnsmasq keeps them, and tells its script of them at
    /// start and on SIGHUP: the newest first (a lease file's last line first).
    pub fn in_dnsmasq_order(&self) -> impl Iterator<Item = &Lease> {
        self.in_order().into_iter().rev()
    }

    /// Put `lease` in (replacing any lease of its address); the lease replaced. The
    /// same client's lease keeps its place; another's is new, and goes last.
    fn insert(&mut self, lease: Lease) -> Option<Lease> {
        let kept = self
            .by_addr
            .get(&lease.addr)
            .filter(|(_, old)| old.hwaddr == lease.hwaddr && old.client_id == lease.client_id)
            .map(|(place, _)| *place);
        let old = self.remove(lease.addr);
        let place = kept.unwrap_or_else(|| {
            self.next_place += 1;
            self.next_place
        });
        if let Some(id) = &lease.client_id {
            self.by_client_id.insert(id.clone(), lease.addr);
        }
        self.by_hwaddr
            .entry(lease.hwaddr.clone())
            .or_default()
            .push(lease.addr);
        if lease.expires != 0 {
            self.by_expiry.insert((lease.expires, lease.addr));
        }
        self.add_to_runs(lease.addr);
        self.by_addr.insert(lease.addr, (place, lease));
        old
    }

    fn remove(&mut self, addr: Ipv4Addr) -> Option<Lease> {
        let (_, lease) = self.by_addr.remove(&addr)?;
        if let Some(id) = &lease.client_id {
            if self.by_client_id.get(id) == Some(&addr) {
                self.by_client_id.remove(id);
            }
        }
        if let Some(list) = self.by_hwaddr.get_mut(&lease.hwaddr) {
            list.retain(|&a| a != addr);
            if list.is_empty() {
                self.by_hwaddr.remove(&lease.hwaddr);
            }
        }
        self.by_expiry.remove(&(lease.expires, addr));
        self.remove_from_runs(addr);
        Some(lease)
    }
}

/// One change as the journal records it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Record {
    Put(Lease),
    Remove(Ipv4Addr),
    /// A snapshot of the whole table follows: replaying it replaces the table.
    Begin,
    /// The snapshot begun is whole.
    End,
}

/// FNV-1a, 32 bits: enough to tell a whole record from a torn one.
fn checksum(body: &str) -> u32 {
    body.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl Record {
    /// `+<lease line> <checksum>` or `-<address> <checksum>`, with its line end.
    fn write(&self, out: &mut String) {
        let body = match self {
            Record::Put(lease) => format!("+{}", lease.line()),
            Record::Remove(addr) => format!("-{addr}"),
            Record::Begin => "=".to_string(),
            Record::End => ".".to_string(),
        };
        let sum = checksum(&body);
        out.push_str(&body);
        out.push_str(&format!(" {sum:08x}\n"));
    }

    /// One journal line (without its line end); None if torn or damaged.
    fn parse(line: &str) -> Option<Record> {
        let (body, sum) = line.rsplit_once(' ')?;
        if sum.len() != 8 || u32::from_str_radix(sum, 16).ok()? != checksum(body) {
            return None;
        }
        match body.split_at_checked(1)? {
            ("+", lease) => Lease::parse(lease).ok().map(Record::Put),
            ("-", addr) => addr.parse().ok().map(Record::Remove),
            ("=", "") => Some(Record::Begin),
            (".", "") => Some(Record::End),
            _ => None,
        }
    }
}

/// What opening the store found, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Leases read from the lease file.
    pub from_file: usize,
    /// Lease-file lines skipped: line number and why.
    pub bad_lines: Vec<(usize, super::lease_file::BadLine)>,
    /// Journal records replayed.
    pub replayed: usize,
    /// Bytes of a torn journal end dropped (a change never acknowledged).
    pub torn_bytes: usize,
    /// Leases left out: more than `MAX_LEASES`.
    pub dropped: usize,
}

/// The files behind a store.
#[derive(Debug)]
struct Files {
    path: PathBuf,
    /// The lease file, open since start-up (read and write) for rewriting in place.
    lease_file: File,
    journal_path: PathBuf,
    journal: File,
    /// Records in the journal, and its length: all of them whole.
    records: usize,
    bytes: u64,
}

/// See the module comment.
#[derive(Debug)]
pub struct LeaseStore {
    table: LeaseTable,
    v6_lines: Vec<String>,
    /// None with `--leasefile-ro`: nothing is written.
    files: Option<Files>,
    /// Records of changes not yet committed.
    pending: String,
    pending_records: usize,
    compact_after: usize,
    /// When the lease file was last rewritten.
    compacted_at: std::time::Instant,
    /// Addresses whose lease changed since `take_changed` last ran (for DNS names).
    changed: Vec<Ipv4Addr>,
    /// Each change as the lease before and after (for the lease-change script), kept
    /// only once `keep_changes` asks for them.
    changes: Option<Vec<Change>>,
    /// Leases refused: the table was full.
    pub dropped: usize,
}

/// A lease of one address before and after a change (None: there was, or is, none).
pub type Change = (Option<Lease>, Option<Lease>);

/// One of a store's two files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFile {
    Journal,
    LeaseFile,
}

/// One step of a write to disk.
#[derive(Debug)]
pub enum DiskStep {
    /// Write all these bytes at this offset.
    Write(DiskFile, u64, Vec<u8>),
    /// Cut the file to this length.
    SetLen(DiskFile, u64),
    /// fdatasync.
    Sync(DiskFile),
}

/// Writes the store needs done (by `run_blocking` here, or by a runtime), each step
/// after the one before has finished, and what they are for, to be handed back to
/// `finish` with how far they got.
#[derive(Debug)]
#[must_use]
pub struct DiskPlan {
    pub steps: Vec<DiskStep>,
    pub purpose: Purpose,
}

/// What a plan's writes are for.
#[derive(Debug)]
pub enum Purpose {
    /// The pending records: how many, and their bytes.
    Commit { records: usize, bytes: usize },
    /// A compaction: the pending records it commits and their bytes, and all the bytes
    /// it appends to the journal (those records and the snapshot).
    Compaction {
        records: usize,
        pending_bytes: usize,
        bytes: usize,
    },
}

/// How far a plan got: all its steps done, or the index of the one that failed and why.
pub type DiskOutcome = Result<(), (usize, io::Error)>;

/// A plan that failed: why, and the steps that undo what part of it was written.
#[derive(Debug)]
pub struct DiskFailure {
    pub error: io::Error,
    pub undo: Vec<DiskStep>,
}

/// The journal beside a lease file.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".journal");
    PathBuf::from(p)
}

impl Files {
    fn file(&self, which: DiskFile) -> &File {
        match which {
            DiskFile::Journal => &self.journal,
            DiskFile::LeaseFile => &self.lease_file,
        }
    }

    /// Do `steps` in order with blocking calls, stopping at the first that fails.
    fn run_blocking(&self, steps: &[DiskStep]) -> DiskOutcome {
        use std::os::unix::fs::FileExt;
        for (n, step) in steps.iter().enumerate() {
            match step {
                DiskStep::Write(f, at, bytes) => self.file(*f).write_all_at(bytes, *at),
                DiskStep::SetLen(f, len) => self.file(*f).set_len(*len),
                DiskStep::Sync(f) => self.file(*f).sync_data(),
            }
            .map_err(|e| (n, e))?;
        }
        Ok(())
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

impl LeaseStore {
    /// A store that keeps leases in memory only (`--leasefile-ro`).
    pub fn in_memory() -> LeaseStore {
        LeaseStore {
            table: LeaseTable::default(),
            v6_lines: Vec::new(),
            files: None,
            pending: String::new(),
            pending_records: 0,
            compact_after: MIN_COMPACT_RECORDS,
            compacted_at: std::time::Instant::now(),
            changed: Vec::new(),
            changes: None,
            dropped: 0,
        }
    }

    /// Open the lease file at `path` (made if missing) and its journal, replaying the
    /// journal; then compact, so that the lease file is current.
    pub fn open(path: &Path) -> io::Result<(LeaseStore, OpenReport)> {
        Self::open_compacting_after(path, MIN_COMPACT_RECORDS)
    }

    /// `open`, compacting once the journal holds more than `records` records (and more
    /// than the table's leases).
    pub fn open_compacting_after(
        path: &Path,
        records: usize,
    ) -> io::Result<(LeaseStore, OpenReport)> {
        let mut store = LeaseStore::in_memory();
        store.compact_after = records.max(1);
        let mut report = OpenReport::default();
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let file = LeaseFile::parse(&text);
        report.from_file = file.leases.len();
        report.bad_lines = file.bad;
        store.v6_lines = file.v6_lines;
        for lease in file.leases {
            store.apply(Record::Put(lease));
        }
        let journal_path = journal_path(path);
        let journal_text = match std::fs::read(&journal_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        // Whole records up to the first torn or damaged one: everything after it was
        // written after it, so was never acknowledged either. A snapshot counts only
        // once its end record is read; one without (the last thing written) is dropped.
        let mut good = 0;
        let mut snapshot: Option<(LeaseTable, usize)> = None;
        for line in journal_text.split_inclusive(|&b| b == b'\n') {
            let Some(record) = line
                .strip_suffix(b"\n")
                .and_then(|l| std::str::from_utf8(l).ok())
                .and_then(Record::parse)
            else {
                break;
            };
            match (record, snapshot.as_mut()) {
                (Record::Begin, None) => snapshot = Some((LeaseTable::default(), good)),
                (Record::End, Some(_)) => {
                    if let Some((table, _)) = snapshot.take() {
                        store.table = table;
                    }
                }
                (Record::Put(lease), Some((table, _))) => {
                    if table.len() < MAX_LEASES || table.get(lease.addr).is_some() {
                        table.insert(lease);
                    }
                }
                (Record::Begin | Record::Remove(_), Some(_)) | (Record::End, None) => break,
                (record, None) => store.apply(record),
            }
            report.replayed += 1;
            good += line.len();
        }
        if let Some((_, start)) = snapshot {
            good = start;
        }
        report.torn_bytes = journal_text.len() - good;
        // Written at offsets the store keeps (not in append mode), so that a write
        // after a failed one lands where the journal's whole records end.
        let journal = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&journal_path)?;
        let existed = path.exists();
        let lease_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        if !existed {
            sync_dir(path)?;
        }
        if report.torn_bytes > 0 {
            journal.set_len(good as u64)?;
            journal.sync_data()?;
        }
        store.files = Some(Files {
            path: path.to_path_buf(),
            lease_file,
            journal_path,
            journal,
            records: report.replayed,
            bytes: good as u64,
        });
        report.dropped = store.dropped;
        if report.replayed > 0 {
            store.compact()?;
        }
        Ok((store, report))
    }

    pub fn table(&self) -> &LeaseTable {
        &self.table
    }

    /// Whether a lease for `addr` would pass `MAX_LEASES` (it is new and the table full).
    fn full_for(&self, addr: Ipv4Addr) -> bool {
        self.table.len() >= MAX_LEASES && self.table.get(addr).is_none()
    }

    fn apply(&mut self, record: Record) {
        match record {
            Record::Put(lease) => {
                if self.full_for(lease.addr) {
                    self.dropped += 1;
                    return;
                }
                self.table.insert(lease);
            }
            Record::Remove(addr) => {
                self.table.remove(addr);
            }
            Record::Begin | Record::End => {}
        }
    }

    fn record(&mut self, record: Record) {
        if self.files.is_some() {
            record.write(&mut self.pending);
            self.pending_records += 1;
        }
        let addr = match &record {
            Record::Put(lease) => Some(lease.addr),
            Record::Remove(addr) => Some(*addr),
            Record::Begin | Record::End => None,
        };
        if let Some(addr) = addr {
            self.changed.push(addr);
            if let Some(changes) = self.changes.as_mut() {
                let after = match &record {
                    Record::Put(lease) => Some(lease.clone()),
                    _ => None,
                };
                changes.push((self.table.get(addr).cloned(), after));
            }
        }
        self.apply(record);
    }

    /// The addresses whose lease was put or removed since the last call, oldest first
    /// (an address may be named more than once). The caller takes them every loop, so
    /// the list holds at most one loop's changes.
    pub fn take_changed(&mut self) -> Vec<Ipv4Addr> {
        std::mem::take(&mut self.changed)
    }

    /// Keep each change from now on for `take_changes`.
    pub fn keep_changes(&mut self) {
        self.changes.get_or_insert_with(Vec::new);
    }

    /// The changes made since the last call, oldest first (none unless `keep_changes`
    /// asked for them). The caller takes them after every request, so the list holds
    /// at most a few.
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.changes
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Put `lease` in, replacing any lease of its address: in the table now, on disk at
    /// the next `commit`. False if the table is full.
    pub fn put(&mut self, lease: Lease) -> bool {
        if self.full_for(lease.addr) {
            self.dropped += 1;
            return false;
        }
        self.record(Record::Put(lease));
        true
    }

    /// Take the lease of `addr` out (now; on disk at the next `commit`).
    pub fn remove(&mut self, addr: Ipv4Addr) -> Option<Lease> {
        let lease = self.table.get(addr).cloned()?;
        self.record(Record::Remove(addr));
        Some(lease)
    }

    /// How many changes wait for `commit` (none, ever, for a store in memory).
    pub fn pending(&self) -> usize {
        self.pending_records
    }

    /// The writes that put every change made since the last commit on disk: one write
    /// at the journal's end and one fdatasync. None if there is nothing to write. Once
    /// `finish` says they were done, the changes survive a crash; until then they stay
    /// pending (in memory they are made) and must not be acknowledged.
    pub fn commit_plan(&self) -> Option<DiskPlan> {
        let files = self.files.as_ref()?;
        if self.pending_records == 0 {
            return None;
        }
        Some(DiskPlan {
            steps: vec![
                DiskStep::Write(
                    DiskFile::Journal,
                    files.bytes,
                    self.pending.as_bytes().to_vec(),
                ),
                DiskStep::Sync(DiskFile::Journal),
            ],
            purpose: Purpose::Commit {
                records: self.pending_records,
                bytes: self.pending.len(),
            },
        })
    }

    /// Whether the journal has grown past the table (and `compact_after`), or has held
    /// changes for `lease_file_lag` (so that the lease file, which other programs read,
    /// is never far behind). Separate from committing, so that replies go out first,
    /// and so that a failed compaction is never taken for a failed commit: the journal
    /// still has everything.
    pub fn compaction_due(&self) -> bool {
        let lag = self.lease_file_lag();
        self.files.as_ref().is_some_and(|f| {
            f.records > self.compact_after.max(self.table.len())
                || (f.records > 0 && self.compacted_at.elapsed() >= lag)
        })
    }

    /// How far behind the journal the lease file may fall: a second, and a second more
    /// for each `LEASES_PER_LAG_SECOND` leases, so that rewriting a big table stays a
    /// small share of the time.
    fn lease_file_lag(&self) -> std::time::Duration {
        let secs = 1 + self.table.len() / LEASES_PER_LAG_SECOND;
        std::time::Duration::from_secs(secs as u64)
    }

    /// The writes that rewrite the lease file from the whole table in dnsmasq's format
    /// and empty the journal, in the order the module comment gives: the table as a
    /// snapshot at the journal's end (after any changes still pending, which are
    /// committed with it), synced; the lease file rewritten in place, synced; the
    /// journal emptied, synced. None for a store in memory.
    pub fn compaction_plan(&self) -> Option<DiskPlan> {
        let files = self.files.as_ref()?;
        // In the order they came, so that a lease file keeps its order of lines.
        let leases = self.table.in_order();
        let mut journaled = self.pending.clone();
        Record::Begin.write(&mut journaled);
        for lease in &leases {
            Record::Put((*lease).clone()).write(&mut journaled);
        }
        Record::End.write(&mut journaled);
        let text = LeaseFile::text(leases.into_iter(), &self.v6_lines);
        let (journaled, text) = (journaled.into_bytes(), text.into_bytes());
        let (journaled_bytes, text_bytes) = (journaled.len(), text.len() as u64);
        Some(DiskPlan {
            steps: vec![
                DiskStep::Write(DiskFile::Journal, files.bytes, journaled),
                DiskStep::Sync(DiskFile::Journal),
                DiskStep::Write(DiskFile::LeaseFile, 0, text),
                DiskStep::SetLen(DiskFile::LeaseFile, text_bytes),
                DiskStep::Sync(DiskFile::LeaseFile),
                DiskStep::SetLen(DiskFile::Journal, 0),
                DiskStep::Sync(DiskFile::Journal),
            ],
            purpose: Purpose::Compaction {
                records: self.pending_records,
                pending_bytes: self.pending.len(),
                bytes: journaled_bytes,
            },
        })
    }

    /// Take in how far a plan's steps got (all of them, or the one that failed). On a
    /// failure, the error and the steps that undo what part of it was written, to be
    /// done at once (their own failures change nothing the store relies on).
    pub fn finish(&mut self, purpose: Purpose, outcome: DiskOutcome) -> Result<(), DiskFailure> {
        let Some(files) = self.files.as_mut() else {
            return Ok(());
        };
        // The steps before this one had not yet put the journal's new end on disk.
        const JOURNAL_SYNCED: usize = 2;
        match (purpose, outcome) {
            (
                Purpose::Compaction {
                    records,
                    pending_bytes,
                    bytes,
                },
                Err((step, error)),
            ) if step >= JOURNAL_SYNCED => {
                // The journal holds the pending records and the whole table; the lease
                // file may be torn, and the next compaction writes it again.
                files.bytes += bytes as u64;
                self.pending.drain(..pending_bytes);
                self.pending_records -= records;
                Err(DiskFailure {
                    error,
                    undo: Vec::new(),
                })
            }
            // Before the journal held the new records: cut off what part of them went
            // out, so that later records do not follow a torn one (replay stops at the
            // first), and leave the changes pending.
            (_, Err((_, error))) => Err(DiskFailure {
                error,
                undo: vec![DiskStep::SetLen(DiskFile::Journal, files.bytes)],
            }),
            (Purpose::Commit { records, bytes }, Ok(())) => {
                files.records += records;
                files.bytes += bytes as u64;
                self.pending.drain(..bytes);
                self.pending_records -= records;
                Ok(())
            }
            (
                Purpose::Compaction {
                    records,
                    pending_bytes,
                    ..
                },
                Ok(()),
            ) => {
                // The lease file holds every change; the journal is empty.
                files.records = 0;
                files.bytes = 0;
                self.pending.drain(..pending_bytes);
                self.pending_records -= records;
                self.compacted_at = std::time::Instant::now();
                Ok(())
            }
        }
    }

    /// `commit_plan`, done here and now with blocking calls (at start-up, and in tests).
    pub fn commit(&mut self) -> io::Result<()> {
        match self.commit_plan() {
            Some(plan) => self.run_blocking(plan),
            None => Ok(()),
        }
    }

    /// `compaction_plan` if `compaction_due`, done here and now with blocking calls;
    /// true if it was due.
    pub fn compact_if_due(&mut self) -> io::Result<bool> {
        let due = self.compaction_due();
        if due {
            self.compact()?;
        }
        Ok(due)
    }

    /// `compaction_plan`, done here and now with blocking calls.
    pub fn compact(&mut self) -> io::Result<()> {
        match self.compaction_plan() {
            Some(plan) => self.run_blocking(plan),
            None => Ok(()),
        }
    }

    fn run_blocking(&mut self, plan: DiskPlan) -> io::Result<()> {
        let Some(files) = self.files.as_ref() else {
            return Ok(());
        };
        let outcome = files.run_blocking(&plan.steps);
        self.finish(plan.purpose, outcome).map_err(|failure| {
            if let Some(files) = self.files.as_ref() {
                let _ = files.run_blocking(&failure.undo);
            }
            failure.error
        })
    }

    /// The descriptors of the journal and the lease file (in that order), open for
    /// reading and writing, for a runtime that does the plans' steps itself. None for a
    /// store in memory.
    pub fn descriptors(&self) -> Option<(BorrowedFd<'_>, BorrowedFd<'_>)> {
        self.files
            .as_ref()
            .map(|f| (f.journal.as_fd(), f.lease_file.as_fd()))
    }

    /// The lease file's path, if leases are written.
    pub fn path(&self) -> Option<&Path> {
        self.files.as_ref().map(|f| f.path.as_path())
    }

    /// The journal's path, if leases are written.
    pub fn journal(&self) -> Option<&Path> {
        self.files.as_ref().map(|f| f.journal_path.as_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(i: u32, expires: u64) -> Lease {
        Lease {
            expires,
            hwaddr: HwAddr::ether([2, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8]),
            addr: Ipv4Addr::from(0x0a00_0000 + i),
            hostname: Some(format!("host{i}")),
            client_id: i
                .is_multiple_of(2)
                .then(|| vec![1, (i >> 8) as u8, i as u8]),
        }
    }

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "ringmasq-leases-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_next_address_without_a_lease_is_found_past_any_run() {
        let mut t = LeaseTable::default();
        let base = 0x0a00_0000;
        let mut leased = std::collections::HashSet::new();
        let mut rng = 12345u64;
        for round in 0..3000 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = (rng >> 33) as u32 % 300;
            // Mostly adds, some removals, some renewals of an address already leased.
            if round % 4 == 3 && leased.remove(&i) {
                t.remove(lease(i, 0).addr);
            } else {
                leased.insert(i);
                t.insert(lease(i, 1000 + round));
            }
            let from = (rng >> 20) as u32 % 300;
            let want = (from..300).find(|j| !leased.contains(j)).map(|j| base + j);
            assert_eq!(
                t.next_unleased(base + from, base + 299),
                want,
                "from {from}"
            );
        }
        // Runs stay as long as they can be: no two touch.
        let runs: Vec<_> = t.runs.iter().map(|(&a, &b)| (a, b)).collect();
        assert!(runs.windows(2).all(|w| w[0].1 + 1 < w[1].0), "{runs:?}");
        assert_eq!(
            runs.iter()
                .map(|(a, b)| (b - a + 1) as usize)
                .sum::<usize>(),
            leased.len()
        );
    }

    #[test]
    fn leases_are_found_by_address_client_and_expiry() {
        let mut s = LeaseStore::in_memory();
        for i in 1..=100 {
            assert!(s.put(lease(i, 1000 + u64::from(i))));
        }
        s.put(lease(200, 0));
        let t = s.table();
        assert_eq!(t.len(), 101);
        assert_eq!(t.get(Ipv4Addr::new(10, 0, 0, 7)), Some(&lease(7, 1007)));
        assert_eq!(
            t.by_client_id(&[1, 0, 8]).map(|l| l.addr),
            Some(lease(8, 0).addr)
        );
        assert_eq!(
            t.by_hwaddr(&lease(9, 0).hwaddr)
                .map(|l| l.addr)
                .collect::<Vec<_>>(),
            [lease(9, 0).addr]
        );
        assert_eq!(
            t.expired(1004, 10),
            [lease(1, 0).addr, lease(2, 0).addr, lease(3, 0).addr]
        );
        assert_eq!(
            t.expired(u64::MAX, 1000).len(),
            100,
            "infinite leases never end"
        );
        // A renewal moves the lease's expiry; a new client id replaces the old one.
        let mut renewed = lease(1, 5000);
        renewed.client_id = Some(vec![9]);
        s.put(renewed);
        let t = s.table();
        assert_eq!(t.expired(1004, 10), [lease(2, 0).addr, lease(3, 0).addr]);
        assert!(t.by_client_id(&[9]).is_some());
        s.remove(lease(2, 0).addr);
        assert!(s.table().by_hwaddr(&lease(2, 0).hwaddr).next().is_none());
        assert!(s.table().by_client_id(&[1, 0, 2]).is_none());
    }

    #[test]
    fn leases_keep_the_order_they_came_in_through_renewal_compaction_and_reopening() {
        let d = dir();
        let path = d.join("dnsmasq.leases");
        // A lease file's order, not the addresses': 3, 1, 2.
        let text = LeaseFile::text([lease(3, 2000), lease(1, 2000), lease(2, 2000)].iter(), &[]);
        std::fs::write(&path, text).unwrap();
        let (mut s, _) = LeaseStore::open(&path).unwrap();
        let order = |s: &LeaseStore| -> Vec<u32> {
            s.table()
                .in_order()
                .iter()
                .map(|l| u32::from(l.addr) - 0x0a00_0000)
                .collect()
        };
        assert_eq!(order(&s), [3, 1, 2]);
        // A renewal keeps its place; an address taken by another client is new, last.
        s.put(lease(3, 4000));
        let mut other = lease(1, 3000);
        other.hwaddr = HwAddr::ether([2, 9, 9, 9, 9, 9]);
        s.put(other);
        s.put(lease(7, 2000));
        assert_eq!(order(&s), [3, 2, 1, 7]);
        let newest_first: Vec<u32> = s
            .table()
            .in_dnsmasq_order()
            .map(|l| u32::from(l.addr) - 0x0a00_0000)
            .collect();
        assert_eq!(newest_first, [7, 1, 2, 3]);
        s.compact().unwrap();
        drop(s);
        let (s, _) = LeaseStore::open(&path).unwrap();
        assert_eq!(order(&s), [3, 2, 1, 7]);
        let file = LeaseFile::parse(&std::fs::read_to_string(&path).unwrap());
        let lines: Vec<u32> = file
            .leases
            .iter()
            .map(|l| u32::from(l.addr) - 0x0a00_0000)
            .collect();
        assert_eq!(lines, [3, 2, 1, 7]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn committed_changes_are_there_after_reopening_and_the_file_is_dnsmasqs() {
        let d = dir();
        let path = d.join("dnsmasq.leases");
        let (mut s, report) = LeaseStore::open(&path).unwrap();
        assert_eq!(report, OpenReport::default());
        for i in 1..=50 {
            s.put(lease(i, 2000));
        }
        s.remove(lease(10, 0).addr);
        s.commit().unwrap();
        s.put(lease(99, 2000)); // never committed
        drop(s);
        let (s, report) = LeaseStore::open(&path).unwrap();
        assert_eq!(report.replayed, 51);
        assert_eq!(s.table().len(), 49);
        assert!(s.table().get(lease(10, 0).addr).is_none());
        assert!(s.table().get(lease(99, 0).addr).is_none());
        // Opening compacted: the lease file alone holds them, in dnsmasq's format.
        let file = LeaseFile::parse(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(file.leases.len(), 49);
        assert!(file.bad.is_empty());
        assert_eq!(std::fs::metadata(journal_path(&path)).unwrap().len(), 0);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_torn_journal_end_is_dropped_and_the_rest_kept() {
        let d = dir();
        let path = d.join("leases");
        let (mut s, _) = LeaseStore::open(&path).unwrap();
        s.put(lease(1, 10));
        s.put(lease(2, 10));
        s.commit().unwrap();
        drop(s);
        let journal = journal_path(&path);
        let mut text = std::fs::read_to_string(&journal).unwrap();
        let whole = text.len();
        let mut torn = String::new();
        Record::Put(lease(3, 10)).write(&mut torn);
        text.push_str(&torn[..torn.len() / 2]);
        std::fs::write(&journal, &text).unwrap();
        let (s, report) = LeaseStore::open(&path).unwrap();
        assert_eq!(
            (report.replayed, report.torn_bytes),
            (2, text.len() - whole)
        );
        assert_eq!(s.table().len(), 2);
        // A damaged record stops the replay there too (later ones came after it).
        drop(s);
        let mut records = String::new();
        Record::Put(lease(4, 10)).write(&mut records);
        Record::Put(lease(5, 10)).write(&mut records);
        let damaged = records.replacen("host4", "host5", 1);
        std::fs::write(&journal, damaged).unwrap();
        let (s, report) = LeaseStore::open(&path).unwrap();
        assert_eq!(report.replayed, 0);
        assert_eq!(s.table().len(), 2);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_journal_is_compacted_when_it_outgrows_the_table() {
        let d = dir();
        let path = d.join("leases");
        let (mut s, _) = LeaseStore::open_compacting_after(&path, 10).unwrap();
        for round in 0..5u64 {
            for i in 1..=4 {
                s.put(lease(i, 100 + round));
                s.commit().unwrap();
                s.compact_if_due().unwrap();
            }
        }
        let journal_records = std::fs::read_to_string(journal_path(&path))
            .unwrap()
            .lines()
            .count();
        assert!(journal_records <= 10, "{journal_records} records");
        let file = LeaseFile::parse(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(file.leases.len(), 4);
        drop(s);
        let (s, _) = LeaseStore::open(&path).unwrap();
        assert!(s.table().iter().all(|l| l.expires == 104));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A store at `path` whose lease file holds leases 1 to 3 and whose journal is empty.
    fn three_leases(path: &Path) {
        let (mut s, _) = LeaseStore::open(path).unwrap();
        for i in 1..=3 {
            s.put(lease(i, 10));
        }
        s.compact().unwrap();
    }

    #[test]
    fn a_whole_snapshot_in_the_journal_replaces_a_torn_lease_file() {
        let d = dir();
        let path = d.join("leases");
        three_leases(&path);
        // Killed while rewriting the lease file in place, after the snapshot (lease 3
        // gone) was on disk.
        let mut journal = String::new();
        Record::Begin.write(&mut journal);
        Record::Put(lease(1, 20)).write(&mut journal);
        Record::Put(lease(2, 20)).write(&mut journal);
        Record::End.write(&mut journal);
        std::fs::write(journal_path(&path), &journal).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        let (s, _) = LeaseStore::open(&path).unwrap();
        let mut left: Vec<_> = s.table().iter().map(|l| (l.addr, l.expires)).collect();
        left.sort();
        assert_eq!(left, vec![(lease(1, 0).addr, 20), (lease(2, 0).addr, 20)]);
        // And opening wrote them back whole.
        let file = LeaseFile::parse(&std::fs::read_to_string(&path).unwrap());
        assert_eq!((file.leases.len(), file.bad.len()), (2, 0));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_snapshot_without_its_end_is_dropped_and_what_came_before_kept() {
        let d = dir();
        let path = d.join("leases");
        three_leases(&path);
        // Killed while appending the snapshot: the change committed before it stays.
        let mut journal = String::new();
        Record::Remove(lease(3, 0).addr).write(&mut journal);
        let committed = journal.len();
        Record::Begin.write(&mut journal);
        Record::Put(lease(1, 20)).write(&mut journal);
        std::fs::write(journal_path(&path), &journal).unwrap();
        let (s, report) = LeaseStore::open(&path).unwrap();
        assert_eq!(report.torn_bytes, journal.len() - committed);
        let mut left: Vec<_> = s.table().iter().map(|l| (l.addr, l.expires)).collect();
        left.sort();
        assert_eq!(left, vec![(lease(1, 0).addr, 10), (lease(2, 0).addr, 10)]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_dnsmasq_lease_file_carries_over() {
        let d = dir();
        let path = d.join("dnsmasq.leases");
        let text = "1764590400 52:54:00:12:34:56 192.168.1.50 laptop 01:52:54:00:12:34:56\n\
                    0 52:54:00:ab:cd:ef 192.168.1.2 * *\n\
                    duid 00:01:00:01:2b:3c:4d:5e:52:54:00:00:00:01\n";
        std::fs::write(&path, text).unwrap();
        let (mut s, report) = LeaseStore::open(&path).unwrap();
        assert_eq!(report.from_file, 2);
        let laptop = s.table().get(Ipv4Addr::new(192, 168, 1, 50)).unwrap();
        assert_eq!(laptop.hostname.as_deref(), Some("laptop"));
        s.remove(Ipv4Addr::new(192, 168, 1, 2));
        s.compact().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "1764590400 52:54:00:12:34:56 192.168.1.50 laptop 01:52:54:00:12:34:56\n\
             duid 00:01:00:01:2b:3c:4d:5e:52:54:00:00:00:01\n"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
