//! Hosts files (`/etc/hosts`, `--addn-hosts`, `--hostsdir`): `address name [name...]` per
//! line, a word starting with `#` ends the line, IPv4 and IPv6, names matched without
//! regard to case. A file is cut into one piece per core and the pieces parsed in
//! parallel; their names then go, in file order, into one compact `HostsTable`.

use super::name_table::{self, NameTable, Refused};
use crate::parallel_parse;
use std::collections::HashMap;
use std::net::IpAddr;

/// Most names one snapshot takes from hosts files, so a hostile file cannot exhaust memory.
pub const MAX_HOST_NAMES: usize = 50_000_000;

/// A typical block-list line (`0.0.0.0 ads.example.com`), for sizing a table by a file's
/// length.
const BLOCK_LIST_LINE_BYTES: usize = 32;

/// A file is read and parsed this much at a time.
const READ_BLOCK_BYTES: usize = 4 << 20;

/// Most bad lines reported one by one per file; the rest are counted.
pub const MAX_BAD_LINES_REPORTED: usize = 100;

/// A name's value marks several addresses (listed in `multi`), else it is a pair index.
const MULTI: u32 = 1 << 31;

/// What is wrong with a hosts-file line (dnsmasq's wording).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    BadAddress,
    BadName,
}

impl Fault {
    pub fn text(self) -> &'static str {
        match self {
            Fault::BadAddress => "bad address",
            Fault::BadName => "bad name",
        }
    }
}

/// What reading one file gave, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// Names read, counted as dnsmasq does (every name on every line, expansions too).
    pub names: usize,
    /// The first bad lines: line number and fault.
    pub bad: Vec<(usize, Fault)>,
    /// Bad lines in all.
    pub bad_total: usize,
    /// Names left out because the snapshot is full (`MAX_HOST_NAMES` or 4 GiB of names).
    pub dropped: usize,
}

/// Hosts-file names and their addresses, compactly: a `NameTable` whose value is an
/// index into the deduplicated (address, file) pairs, or into `multi` for names with
/// several addresses; and the reverse map, sorted by address, for PTR answers.
#[derive(Clone, Debug, Default)]
pub struct HostsTable {
    names: NameTable,
    pairs: Vec<(IpAddr, u32)>,
    /// Runs of `[count, pair, pair, ...]`.
    multi: Vec<u32>,
    /// Address -> record of its canonical name and the file it came from.
    reverse: Vec<(IpAddr, u32, u32)>,
}

/// The addresses of one name.
#[derive(Clone, Copy, Debug)]
pub struct HostAddrs<'a> {
    table: &'a HostsTable,
    value: u32,
}

impl<'a> HostAddrs<'a> {
    /// Each address with the index of the file that gave it, in file order.
    pub fn iter(self) -> impl Iterator<Item = (IpAddr, u32)> + 'a {
        let t = self.table;
        let (single, many): (Option<u32>, &'a [u32]) = if self.value & MULTI != 0 {
            let at = (self.value & !MULTI) as usize;
            (None, &t.multi[at + 1..at + 1 + t.multi[at] as usize])
        } else {
            (Some(self.value), &[])
        };
        single
            .into_iter()
            .chain(many.iter().copied())
            .map(move |p| t.pairs[p as usize])
    }
}

impl HostsTable {
    /// Names held.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The addresses of `name` (no trailing dot; case does not matter).
    pub fn get(&self, name: &str) -> Option<HostAddrs<'_>> {
        self.names
            .get(name.as_bytes())
            .map(|value| self.addrs(value))
    }

    /// Look up `count` keys at once (`key(i)` the `i`th, None for none), overlapping
    /// their cache misses: `found(i, value)` in order, the value for `addrs`.
    pub fn get_batch<'k, const N: usize>(
        &self,
        count: usize,
        key: impl Fn(usize) -> Option<&'k name_table::KeyOf<N>>,
        found: impl FnMut(usize, Option<u32>),
    ) {
        let key = |i| key(i).map(|k: &'k name_table::KeyOf<N>| (k.as_bytes(), k.hash()));
        self.names.get_batch(count, key, found);
    }

    /// The addresses `get_batch` found as `value`.
    pub fn addrs(&self, value: u32) -> HostAddrs<'_> {
        HostAddrs { table: self, value }
    }

    /// The name an address's PTR answer gives (the first name of its first line), with
    /// the index of the file that gave it.
    pub fn reverse(&self, addr: IpAddr) -> Option<(String, u32)> {
        let i = self
            .reverse
            .binary_search_by(|(a, _, _)| a.cmp(&addr))
            .ok()?;
        let (_, at, file) = self.reverse[i];
        Some((self.names.name_at(at), file))
    }
}

/// Builds a `HostsTable` from files read in order.
#[derive(Default)]
pub struct HostsBuilder {
    table: HostsTable,
    pair_ids: HashMap<(IpAddr, u32), u32>,
    /// Names with several addresses: record offset -> pairs, until `finish`.
    multi: HashMap<u32, Vec<u32>>,
    reverse: HashMap<IpAddr, (u32, u32)>,
    /// `--expand-hosts` with this domain: dotless names also get `name.domain`.
    expand: Option<String>,
}

impl HostsBuilder {
    pub fn new(expand: Option<String>) -> Self {
        HostsBuilder {
            expand,
            ..Default::default()
        }
    }

    /// Parse `text` (the file numbered `file`) and add its names.
    pub fn add_file(&mut self, text: &[u8], file: u32) -> FileReport {
        self.add_reader(text, text.len(), file).unwrap_or_default()
    }

    /// Read the file numbered `file` from `input` (about `size_bytes` long) and add its
    /// names, a block at a time: whatever the file's size, parsing holds at most one
    /// block and its pieces beside the table.
    pub fn add_reader(
        &mut self,
        input: impl std::io::Read + Send,
        size_bytes: usize,
        file: u32,
    ) -> std::io::Result<FileReport> {
        self.read_blocks(input, size_bytes, file, READ_BLOCK_BYTES)
    }

    fn read_blocks(
        &mut self,
        input: impl std::io::Read + Send,
        size_bytes: usize,
        file: u32,
        block_bytes: usize,
    ) -> std::io::Result<FileReport> {
        // Names and their records take about as many bytes as the lines that give them
        // (room not written is never made resident); files of many short names per line
        // grow the arena further. The index is sized for a block list's line length, so
        // that a big file does not rehash it block after block.
        self.table
            .names
            .reserve(size_bytes / BLOCK_LIST_LINE_BYTES, size_bytes);
        let mut report = FileReport::default();
        let mut lines_before = 0;
        let expand = self.expand.clone();
        let read = parallel_parse::for_each_read_block(
            input,
            block_bytes,
            u64::MAX,
            |text, piece| parse_chunk(&text[piece], expand.as_deref()),
            |_, cut, chunks| {
                if cut {
                    // A line longer than a whole block: one bad line.
                    report.bad_total += 1;
                    if report.bad.len() < MAX_BAD_LINES_REPORTED {
                        report.bad.push((lines_before + 1, Fault::BadName));
                    }
                    lines_before += 1;
                } else {
                    lines_before += self.add_chunks(&chunks, file, lines_before, &mut report);
                }
                Ok::<(), std::convert::Infallible>(())
            },
        );
        match read {
            Ok(()) => Ok(report),
            Err(parallel_parse::Stop::Read(e)) => Err(e),
            Err(parallel_parse::Stop::Take(never)) => match never {},
        }
    }

    /// Add the names of `chunks` (the pieces of whole lines of the file numbered `file`,
    /// after its first `lines_before`); returns how many lines they held.
    fn add_chunks(
        &mut self,
        chunks: &[Chunk],
        file: u32,
        lines_before: usize,
        report: &mut FileReport,
    ) -> usize {
        let (names, bytes) = chunks
            .iter()
            .fold((0, 0), |(n, b), c| (n + c.entries.len(), b + c.names.len()));
        let room = MAX_HOST_NAMES.saturating_sub(self.table.names.len());
        self.table.names.reserve(names.min(room), bytes);
        let mut first_line = lines_before;
        for chunk in chunks {
            for &(line, fault) in &chunk.bad {
                report.bad_total += 1;
                if report.bad.len() < MAX_BAD_LINES_REPORTED {
                    report.bad.push((first_line + line, fault));
                }
            }
            first_line += chunk.lines;
            let pairs: Vec<u32> = chunk.addrs.iter().map(|&a| self.pair_id(a, file)).collect();
            for (i, e) in chunk.entries.iter().enumerate() {
                if let Some(ahead) = chunk.entries.get(i + name_table::PREFETCH_AHEAD) {
                    self.table.names.prefetch(ahead.hash);
                }
                report.names += 1;
                if self
                    .add(chunk.key(e), e.hash, pairs[e.addr as usize], e.first)
                    .is_err()
                {
                    report.dropped += 1;
                }
            }
        }
        first_line - lines_before
    }

    fn pair_id(&mut self, addr: IpAddr, file: u32) -> u32 {
        let next = self.table.pairs.len() as u32;
        let id = *self.pair_ids.entry((addr, file)).or_insert(next);
        if id == next {
            self.table.pairs.push((addr, file));
        }
        id
    }

    /// Add one name with one address (a pair index); an address the name already has
    /// (from any file) is not added twice.
    fn add(&mut self, key: &[u8], hash: u64, pair: u32, first: bool) -> Result<(), Refused> {
        if self.table.names.len() >= MAX_HOST_NAMES {
            return Err(Refused::Full);
        }
        let at = match self.table.names.find_or_insert(key, hash, pair)? {
            Err(new) => new,
            Ok(at) => {
                let addr = self.table.pairs[pair as usize].0;
                let value = self.table.names.value_at(at);
                let pairs = &self.table.pairs;
                let list = self.multi.entry(at).or_insert_with(|| vec![value]);
                if !list.iter().any(|&p| pairs[p as usize].0 == addr) {
                    list.push(pair);
                }
                at
            }
        };
        if first {
            let (addr, file) = self.table.pairs[pair as usize];
            self.reverse.entry(addr).or_insert((at, file));
        }
        Ok(())
    }

    /// The finished table.
    pub fn finish(mut self) -> HostsTable {
        let mut multi: Vec<(u32, Vec<u32>)> = self
            .multi
            .into_iter()
            .filter(|(_, l)| l.len() > 1)
            .collect();
        multi.sort_unstable_by_key(|(at, _)| *at);
        for (at, list) in multi {
            let start = self.table.multi.len() as u32;
            self.table.multi.push(list.len() as u32);
            self.table.multi.extend(list);
            self.table.names.set_value(at, MULTI | start);
        }
        let mut reverse: Vec<(IpAddr, u32, u32)> = self
            .reverse
            .into_iter()
            .map(|(addr, (at, file))| (addr, at, file))
            .collect();
        reverse.sort_unstable_by_key(|r| r.0);
        self.table.reverse = reverse;
        self.table.names.shrink();
        self.table.pairs.shrink_to_fit();
        self.table.multi.shrink_to_fit();
        self.table
    }
}

/// One name on a line: where its key is in the chunk, the key's hash, the address (an
/// index into the chunk's addresses), and whether it is the line's canonical name.
#[derive(Clone, Copy, Debug)]
struct Entry {
    hash: u64,
    at: u32,
    len: u16,
    first: bool,
    addr: u32,
}

/// What parsing one piece of a file gave.
#[derive(Debug, Default)]
struct Chunk {
    /// Names' keys (`name_table::encode`) back to back.
    names: Vec<u8>,
    entries: Vec<Entry>,
    /// Distinct addresses, in the order first seen.
    addrs: Vec<IpAddr>,
    /// Bad lines: line number within the chunk (from 1) and fault.
    bad: Vec<(usize, Fault)>,
    /// Lines in the chunk.
    lines: usize,
}

impl Chunk {
    fn key(&self, e: &Entry) -> &[u8] {
        &self.names[e.at as usize..e.at as usize + e.len as usize]
    }
}

fn parse_chunk(text: &[u8], expand: Option<&str>) -> Chunk {
    let mut c = Chunk {
        names: Vec::with_capacity(text.len()),
        ..Default::default()
    };
    let mut addr_ids: HashMap<IpAddr, u32> = HashMap::new();
    // Block lists repeat one address on most lines: remember the last one's text.
    let mut last: Option<(&[u8], u32)> = None;
    let mut expanded = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        c.lines += 1;
        let mut words = line
            .split(|b| matches!(b, b' ' | b'\t' | b'\r'))
            .filter(|w| !w.is_empty());
        let Some(first) = words.next() else { continue };
        if first[0] == b'#' {
            continue;
        }
        let addr = match last {
            Some((text, id)) if text == first => id,
            _ => match parse_addr(first) {
                Some(a) => {
                    let next = c.addrs.len() as u32;
                    let id = *addr_ids.entry(a).or_insert(next);
                    if id == next {
                        c.addrs.push(a);
                    }
                    last = Some((first, id));
                    id
                }
                None => {
                    c.bad.push((c.lines, Fault::BadAddress));
                    continue;
                }
            },
        };
        let mut canonical = true;
        let mut faulty = false;
        for word in words.take_while(|w| w[0] != b'#') {
            let word = word.strip_suffix(b".").unwrap_or(word);
            if !legal_name(word) {
                faulty = true;
                continue;
            }
            let dotless = !word.contains(&b'.');
            // With --expand-hosts the expanded name comes first and is the canonical one.
            if let Some(domain) = expand.filter(|_| dotless) {
                expanded.clear();
                expanded.extend_from_slice(word);
                expanded.push(b'.');
                expanded.extend_from_slice(domain.as_bytes());
                c.push(&expanded, addr, canonical);
                canonical = false;
            }
            c.push(word, addr, canonical);
            canonical = false;
        }
        if faulty {
            c.bad.push((c.lines, Fault::BadName));
        }
    }
    // A file ending in a line end has no line after it.
    if text.last() == Some(&b'\n') {
        c.lines -= 1;
    }
    c
}

impl Chunk {
    /// Add `name`'s key (a name too long for the table is dropped).
    fn push(&mut self, name: &[u8], addr: u32, first: bool) {
        let at = self.names.len();
        if at > u32::MAX as usize || !name_table::encode(name, &mut self.names) {
            return;
        }
        let key = &self.names[at..];
        self.entries.push(Entry {
            hash: name_table::hash(key),
            at: at as u32,
            len: key.len() as u16,
            first,
            addr,
        });
    }
}

fn parse_addr(word: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(word).ok()?.parse().ok()
}

/// A name as dnsmasq takes it from a hosts file: ASCII, no control characters, labels of
/// at most 63 characters, and short enough to be asked for.
fn legal_name(word: &[u8]) -> bool {
    !word.is_empty()
        && word.len() <= name_table::MAX_NAME_BYTES
        && word.iter().all(|&b| b.is_ascii() && !b.is_ascii_control())
        && word.split(|&b| b == b'.').all(|l| l.len() <= 63)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(files: &[&str], expand: Option<&str>) -> (HostsTable, Vec<FileReport>) {
        let mut b = HostsBuilder::new(expand.map(String::from));
        let reports = files
            .iter()
            .enumerate()
            .map(|(i, f)| b.add_file(f.as_bytes(), i as u32))
            .collect();
        (b.finish(), reports)
    }

    fn addrs(t: &HostsTable, name: &str) -> Vec<String> {
        t.get(name)
            .map(|a| a.iter().map(|(ip, f)| format!("{ip}@{f}")).collect())
            .unwrap_or_default()
    }

    #[test]
    fn reads_every_form_of_line() {
        let (t, r) = table(
            &["# comment\n127.0.0.1 localhost\n::1\tip6-localhost  ip6-loopback # x\n\n10.0.0.1 Host.Example.COM.\r\n  10.0.0.2 indented\n"],
            None,
        );
        assert_eq!(addrs(&t, "localhost"), ["127.0.0.1@0"]);
        assert_eq!(addrs(&t, "ip6-loopback"), ["::1@0"]);
        assert_eq!(addrs(&t, "host.example.com"), ["10.0.0.1@0"]);
        assert_eq!(addrs(&t, "indented"), ["10.0.0.2@0"]);
        assert!(t.get("x").is_none());
        assert_eq!(
            addrs(&t, "Host.Example.COM"),
            ["10.0.0.1@0"],
            "keys ignore case"
        );
        assert_eq!(r[0].names, 5);
        assert!(r[0].bad.is_empty());
    }

    #[test]
    fn bad_lines_are_reported_with_their_number_and_skipped() {
        let (t, r) = table(
            &["127.0.0.1 ok\nnot-an-address name\n10.0.0.1 good b\x01d\n"],
            None,
        );
        assert_eq!(r[0].bad, [(2, Fault::BadAddress), (3, Fault::BadName)]);
        assert_eq!(addrs(&t, "good"), ["10.0.0.1@0"]);
        assert!(t.get("name").is_none());
        assert_eq!(r[0].names, 2);
    }

    #[test]
    fn a_name_collects_its_addresses_once_each_across_lines_and_files() {
        let (t, _) = table(
            &[
                "10.0.0.1 rr\n10.0.0.2 rr\n10.0.0.1 rr\n",
                "10.0.0.3 rr\n10.0.0.2 rr\n::5 rr\n",
            ],
            None,
        );
        assert_eq!(
            addrs(&t, "rr"),
            ["10.0.0.1@0", "10.0.0.2@0", "10.0.0.3@1", "::5@1"]
        );
    }

    #[test]
    fn the_first_name_of_the_first_line_for_an_address_is_its_reverse_name() {
        let (t, _) = table(
            &["10.0.0.1 alpha a2\n10.0.0.1 beta\n10.0.0.2 b2 gamma\n"],
            None,
        );
        assert_eq!(
            t.reverse("10.0.0.1".parse().unwrap()),
            Some(("alpha".into(), 0))
        );
        assert_eq!(
            t.reverse("10.0.0.2".parse().unwrap()),
            Some(("b2".into(), 0))
        );
        assert_eq!(t.reverse("10.0.0.3".parse().unwrap()), None);
    }

    #[test]
    fn expand_hosts_adds_the_domain_and_makes_it_canonical() {
        let (t, r) = table(&["10.0.0.1 alpha\n10.0.0.2 b.other\n"], Some("lan"));
        assert_eq!(addrs(&t, "alpha"), ["10.0.0.1@0"]);
        assert_eq!(addrs(&t, "alpha.lan"), ["10.0.0.1@0"]);
        assert!(t.get("b.other.lan").is_none());
        assert_eq!(
            t.reverse("10.0.0.1".parse().unwrap()),
            Some(("alpha.lan".into(), 0))
        );
        // Counted as dnsmasq counts: the expansion is a name too.
        assert_eq!(r[0].names, 3);
    }

    #[test]
    fn a_file_read_in_small_blocks_reads_as_one() {
        let text: String = (0..300)
            .map(|i| {
                format!(
                    "10.0.{}.{} name{i} alias{i}.example # c\n",
                    i / 200,
                    i % 200
                )
            })
            .collect();
        let mut whole = HostsBuilder::new(None);
        let whole_report = whole.add_file(text.as_bytes(), 0);
        let whole = whole.finish();
        let mut small = HostsBuilder::new(None);
        let small_report = small
            .read_blocks(text.as_bytes(), text.len(), 0, 100)
            .unwrap();
        let small = small.finish();
        assert_eq!(small_report, whole_report);
        for i in [0, 1, 150, 299] {
            assert_eq!(
                addrs(&small, &format!("alias{i}.example")),
                addrs(&whole, &format!("alias{i}.example"))
            );
            assert!(small.get(&format!("name{i}")).is_some());
        }
        assert_eq!(small.len(), 600);
    }

    #[test]
    fn a_line_longer_than_a_block_is_one_bad_line() {
        let text = format!(
            "10.0.0.1 before\n10.0.0.2 {}\nnot-an-address x\n10.0.0.3 after\n",
            "x".repeat(500)
        );
        let mut b = HostsBuilder::new(None);
        let report = b.read_blocks(text.as_bytes(), text.len(), 0, 64).unwrap();
        let t = b.finish();
        assert_eq!(report.bad, [(2, Fault::BadName), (3, Fault::BadAddress)]);
        assert_eq!(addrs(&t, "before"), ["10.0.0.1@0"]);
        assert_eq!(addrs(&t, "after"), ["10.0.0.3@0"]);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_file_cut_into_pieces_reads_as_one() {
        let mut text = String::new();
        for i in 0..5000 {
            if i % 97 == 0 {
                text.push_str("bogus line\n");
            }
            text.push_str(&format!("10.{}.{}.1 h{i} alias{i}\n", i / 256, i % 256));
        }
        let whole = parse_chunk(text.as_bytes(), None);
        let mut b = HostsBuilder::new(None);
        let chunks: Vec<Chunk> = parallel_parse::cut_at_lines(text.as_bytes(), 4)
            .into_iter()
            .map(|p| parse_chunk(&text.as_bytes()[p], None))
            .collect();
        assert_eq!(
            chunks.iter().map(|c| c.entries.len()).sum::<usize>(),
            whole.entries.len()
        );
        let report = b.add_file(text.as_bytes(), 0);
        let t = b.finish();
        assert_eq!(report.names, 10_000);
        assert_eq!(report.bad_total, 52);
        // Line numbers count from the start of the file, not of a piece.
        assert_eq!(report.bad[1], (99, Fault::BadAddress));
        assert_eq!(addrs(&t, "alias4999"), ["10.19.135.1@0"]);
        assert_eq!(
            t.reverse("10.19.135.1".parse().unwrap()),
            Some(("h4999".into(), 0))
        );
    }
}
