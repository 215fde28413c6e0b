//! A compact map from lower-case names to a 32-bit value, for millions of names.
//!
//! Every name lives in one byte arena as `[key][value]`. The key is the name packed six
//! bits a character when it uses only letters, digits, `-`, `_` and `.` (block lists
//! always do: a quarter smaller), else the raw bytes. The value is 4 bytes, or 1 for
//! tables of few distinct values (domain rules), the rare larger value kept aside.
//!
//! The index is an open-addressing table of 64-byte groups, one cache line each: 12
//! one-byte hash tags and the 12 records' arena offsets. A lookup reads one group (rarely
//! the next) and compares names in the arena only where a tag matches, so a hit costs
//! about two cache misses whatever the table's size, and a miss about one.

use std::collections::HashMap;

/// Most bytes one name may have here (DNS names are at most 253 characters as text).
pub const MAX_NAME_BYTES: usize = 255;

/// Most bytes a key takes: a raw name's two header bytes and the name.
pub const MAX_KEY_BYTES: usize = 2 + MAX_NAME_BYTES;

/// A key's first byte when the name is stored raw (a packed name's first byte is its
/// packed length, at most 192).
const RAW: u8 = 0xFF;

/// Slots per index group.
const GROUP_SLOTS: usize = 12;

/// The index is grown before it is fuller than this (numerator over 8).
const MAX_LOAD_EIGHTHS: usize = 7;

/// `reserve_keys` makes room for its estimate and 1/this more.
const ESTIMATE_MARGIN: usize = 32;

/// How much of a record a lookup's prefetch covers: the key of a name of up to some 35
/// characters, and its value.
const RECORD_PREFETCH_BYTES: usize = 32;

/// How many records ahead a bulk insert prefetches their index lines.
pub const PREFETCH_AHEAD: usize = 8;

/// How many keys ahead `get_batch` asks for the index line of a lookup, and for its
/// records (once that line has come).
const BATCH_GROUPS_AHEAD: usize = 8;
const BATCH_RECORDS_AHEAD: usize = 4;

/// A one-byte value that stands for a value kept in `NameTable::overflow`.
const OVERFLOW: u8 = 0xFF;

/// The 6-bit code of each byte that packs (upper case as lower case), 0 for the rest;
/// codes from `FIRST_SUFFIX_CODE` stand for whole endings.
const CODE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 26 {
        t[b'a' as usize + i] = 1 + i as u8;
        t[b'A' as usize + i] = 1 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 27 + d as u8;
        d += 1;
    }
    t[b'-' as usize] = 37;
    t[b'.' as usize] = 38;
    t[b'_' as usize] = 39;
    t
};

/// The byte each code stands for (code 0 ends a packed name).
const CHAR: [u8; 40] = *b"\0abcdefghijklmnopqrstuvwxyz0123456789-._";

/// The hash of a key (fast, word at a time; the index uses its high bits for the group
/// and its low byte for the tag).
pub fn hash(key: &[u8]) -> u64 {
    keyed_hash(key, 0)
}

/// `hash` started from `seed`: for tables whose keys clients choose, a random seed keeps
/// them from picking names that all land in one place.
#[inline]
pub fn keyed_hash(key: &[u8], seed: u64) -> u64 {
    let mut words = key.chunks_exact(8);
    let h = (&mut words)
        .map(word)
        .fold(hash_start(key.len(), seed), hash_mix);
    let rest = words.remainder();
    if rest.is_empty() {
        return hash_end(h);
    }
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    hash_end(hash_mix(h, u64::from_le_bytes(last)))
}

/// `keyed_hash` of the first `len` bytes of `padded`, which has room to the next multiple
/// of 8: read in whole words (what lies past `len` masked off), without the variable copy
/// of the last part word.
#[inline]
pub fn keyed_hash_padded(padded: &[u8], len: usize, seed: u64) -> u64 {
    let words = padded[..len.next_multiple_of(8)].chunks_exact(8);
    let h = words.enumerate().fold(hash_start(len, seed), |h, (i, w)| {
        // Bytes of the key in this word: 1 to 8.
        let left = (len - 8 * i).min(8);
        hash_mix(h, word(w) & (u64::MAX >> (8 * (8 - left))))
    });
    hash_end(h)
}

const HASH_K: u64 = 0x9e37_79b9_7f4a_7c15;

fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap_or_default())
}

fn hash_start(len: usize, seed: u64) -> u64 {
    (len as u64).wrapping_mul(HASH_K) ^ seed
}

fn hash_mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(23) ^ w).wrapping_mul(HASH_K)
}

fn hash_end(h: u64) -> u64 {
    h ^ (h >> 31)
}

/// Endings common in block lists, each packed as one code (40 on) in place of its
/// characters.
const SUFFIXES: [&[u8]; 24] = [
    b".com", b".net", b".org", b".de", b".co.uk", b".io", b".info", b".xyz", b".ru", b".uk",
    b".cn", b".jp", b".fr", b".br", b".in", b".it", b".nl", b".pl", b".eu", b".au", b".biz",
    b".tv", b".me", b".us",
];

/// The first code that stands for a suffix.
const FIRST_SUFFIX_CODE: u8 = 40;

/// The bytes of `b` (at most 8) as one word, ASCII letters in lower case: packable
/// bytes other than letters already have the case bit set, so they stay as they are.
const fn word_of(b: &[u8]) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    while i < b.len() {
        w |= ((b[i] | 0x20) as u64) << (8 * i);
        i += 1;
    }
    w
}

/// Each suffix's last label (with its dot) as a word, for `suffix_code`.
const SUFFIX_WORDS: [u64; 24] = {
    let mut t = [0u64; 24];
    let mut i = 0;
    while i < 24 {
        t[i] = word_of(SUFFIXES[i]);
        i += 1;
    }
    t
};

/// The code of `name`'s ending, if it is one of `SUFFIXES` (without regard to case), and
/// the ending's length. `name` packs: only letters, digits and `-._`. Worked out on the
/// name's last 8 bytes as one word, without a loop: names in a batch end differently,
/// and a loop's end would be a branch mispredicted at each.
fn suffix_code(name: &[u8]) -> Option<(u8, usize)> {
    // The last 8 bytes, the last in the top byte (a shorter name's padded below with 0).
    let mut last = [0u8; 8];
    let tail = &name[name.len().saturating_sub(8)..];
    last[8 - tail.len()..].copy_from_slice(tail);
    let word = u64::from_le_bytes(last);
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    // The top bit of each byte that is a dot (exactly: no carries between bytes).
    let x = word ^ (ONES * u64::from(b'.'));
    let dots = !(((x & LOW7) + LOW7) | x | LOW7);
    if dots == 0 {
        return None;
    }
    // The last label, with its dot, from the last dot on; longer than 5: no ending.
    let dot_byte = (63 - dots.leading_zeros()) as usize / 8;
    let len = 8 - dot_byte;
    if len > 5 {
        return None;
    }
    let lower = word | (ONES * 0x20);
    if lower >> 16 == CO_UK_WORD {
        return Some((FIRST_SUFFIX_CODE + 4, 6));
    }
    let label = lower >> (8 * dot_byte);
    let code = SUFFIX_WORDS
        .iter()
        .zip(FIRST_SUFFIX_CODE..)
        .fold(0, |code, (&w, c)| code | if w == label { c } else { 0 });
    (code != 0).then_some((code, len))
}

/// `.co.uk`, whose last label `.uk` is an ending of its own.
const CO_UK_WORD: u64 = word_of(b".co.uk");

/// Write the key of `name` (ASCII upper case taken as lower) into `out` (at least
/// `key_room(name.len())` long); its length, or None when the name is longer than
/// `MAX_NAME_BYTES`.
fn write_key(name: &[u8], out: &mut [u8]) -> Option<usize> {
    if name.len() > MAX_NAME_BYTES {
        return None;
    }
    // Pack four codes into three bytes at a time; the ending's code (if any) goes in
    // the last four, after the characters left over.
    let (head, suffix) = match suffix_code(name) {
        Some((code, len)) => (&name[..name.len() - len], code),
        None => (name, 0),
    };
    let pack = |c: [u8; 4]| {
        let v = u32::from(c[0]) << 18 | u32::from(c[1]) << 12 | u32::from(c[2]) << 6;
        (v | u32::from(c[3])).to_be_bytes()
    };
    let mut packs = true;
    let mut at = 1;
    let mut quads = head.chunks_exact(4);
    for q in &mut quads {
        let c = [q[0], q[1], q[2], q[3]].map(|b| CODE[usize::from(b)]);
        packs &= c.iter().all(|&c| c != 0);
        out[at..at + 3].copy_from_slice(&pack(c)[1..]);
        at += 3;
    }
    let rest = quads.remainder();
    let mut last = [0u8; 4];
    for (l, &b) in last.iter_mut().zip(rest) {
        *l = CODE[usize::from(b)];
        packs &= *l != 0;
    }
    last[rest.len()] = suffix;
    if !packs {
        out[0] = RAW;
        out[1] = name.len() as u8;
        for (o, b) in out[2..].iter_mut().zip(name) {
            *o = b.to_ascii_lowercase();
        }
        return Some(2 + name.len());
    }
    out[at..at + 3].copy_from_slice(&pack(last)[1..]);
    let count = head.len() + usize::from(suffix != 0);
    let bytes = (count * 6).div_ceil(8);
    out[0] = bytes as u8;
    Some(1 + bytes)
}

/// Whether `key` holds its name packed (not raw: every byte packs).
pub fn is_packed(key: &[u8]) -> bool {
    key.first().is_some_and(|&b| b != RAW)
}

/// Append the key of `name` (ASCII upper case taken as lower) to `out`. False, and
/// nothing appended, when the name is longer than `MAX_NAME_BYTES`.
pub fn encode(name: &[u8], out: &mut Vec<u8>) -> bool {
    let at = out.len();
    // Room for this name's key only: zeroing room for the longest at every name costs
    // more than writing the key.
    out.resize(at + key_room(name.len().min(MAX_NAME_BYTES)), 0);
    let len = write_key(name, &mut out[at..]);
    out.truncate(at + len.unwrap_or(0));
    len.is_some()
}

/// How many bytes the key starting `key` takes.
fn key_len(key: &[u8]) -> usize {
    match key[0] {
        RAW => 2 + key[1] as usize,
        packed => 1 + packed as usize,
    }
}

/// A name's key and its hash, built on the stack for a lookup, in `N` bytes.
#[derive(Clone, Copy)]
pub struct KeyOf<const N: usize> {
    bytes: [u8; N],
    len: u16,
    hash: u64,
}

/// The key of any name.
pub type Key = KeyOf<MAX_KEY_BYTES>;

/// The key of a name of up to 60 characters (and of longer ones that pack into 64
/// bytes): small enough to keep one per query of a batch, planned ahead (see
/// `dns::answer`).
pub type ShortKey = KeyOf<64>;

/// Most bytes `write_key` writes for a name of `len` bytes (raw: 2 and the name; packed:
/// a length byte and 3 bytes for every 4 characters, the last 4 written whole).
const fn key_room(len: usize) -> usize {
    len + 4
}

impl<const N: usize> KeyOf<N> {
    /// The key of `name`, or None when it is too long to be in any table (or in `N`
    /// bytes).
    pub fn new(name: &[u8]) -> Option<KeyOf<N>> {
        Self::new_in(name, &mut [0; MAX_KEY_BYTES])
    }

    /// `new`, written in `scratch` first where `N` may be too small for `name`'s key (so
    /// that a run of keys needs one scratch buffer).
    pub fn new_in(name: &[u8], scratch: &mut [u8; MAX_KEY_BYTES]) -> Option<KeyOf<N>> {
        let mut bytes = [0; N];
        let len = if N >= MAX_KEY_BYTES || key_room(name.len()) <= N {
            write_key(name, &mut bytes)?
        } else {
            let len = write_key(name, scratch)?;
            bytes.get_mut(..len)?.copy_from_slice(&scratch[..len]);
            len
        };
        let hash = match len.next_multiple_of(8) <= N {
            true => keyed_hash_padded(&bytes, len, 0),
            false => hash(&bytes[..len]),
        };
        Some(KeyOf {
            bytes,
            len: len as u16,
            hash,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// The name a key stands for.
pub fn decode(key: &[u8]) -> String {
    if key[0] == RAW {
        return String::from_utf8_lossy(&key[2..key_len(key)]).into_owned();
    }
    let mut name = String::with_capacity(key[0] as usize * 4 / 3);
    let mut bits = 0u32;
    let mut held = 0;
    for &b in &key[1..key_len(key)] {
        bits = (bits << 8) | u32::from(b);
        held += 8;
        while held >= 6 {
            held -= 6;
            match ((bits >> held) & 0x3F) as u8 {
                0 => return name,
                c if c >= FIRST_SUFFIX_CODE => {
                    let suffix = SUFFIXES.get(usize::from(c - FIRST_SUFFIX_CODE));
                    name.push_str(
                        std::str::from_utf8(suffix.copied().unwrap_or(b"")).unwrap_or(""),
                    );
                }
                c => name.push(CHAR[usize::from(c)] as char),
            }
        }
    }
    name
}

/// Why a name could not be added.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Longer than `MAX_NAME_BYTES`.
    TooLong,
    /// The arena would pass 4 GiB (offsets are 32-bit).
    Full,
}

/// One cache line of the index: a slot is empty where its tag is 0, and slots fill in
/// order (nothing is ever removed), so the first empty one ends a search.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Group {
    tags: [u8; GROUP_SLOTS],
    at: [u32; GROUP_SLOTS],
}

/// A hash's tag: never 0, which marks an empty slot.
fn tag(hash: u64) -> u8 {
    (hash as u8).max(1)
}

/// Ask the memory system for the cache line holding `item` (a hint that reads nothing).
fn prefetch_line<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing and cannot fault; the address is of a live value.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (item as *const T).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

/// See the module comment.
#[derive(Clone, Debug, Default)]
pub struct NameTable {
    arena: Vec<u8>,
    groups: Vec<Group>,
    len: usize,
    /// Values are one byte; larger ones are `OVERFLOW` in the arena and kept here by
    /// record offset.
    small_values: bool,
    overflow: HashMap<u32, u32>,
}

impl NameTable {
    /// A table whose values are mostly below 255 (a few distinct ones): a byte each.
    pub fn with_small_values() -> NameTable {
        NameTable {
            small_values: true,
            ..Default::default()
        }
    }

    /// Names held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn value_bytes(&self) -> usize {
        if self.small_values {
            1
        } else {
            4
        }
    }

    fn capacity(groups: usize) -> usize {
        groups * GROUP_SLOTS * MAX_LOAD_EIGHTHS / 8
    }

    /// Make room for `names` more names of `bytes` name bytes in all, so that adding them
    /// neither rehashes nor moves the arena.
    pub fn reserve(&mut self, names: usize, bytes: usize) {
        self.arena.reserve(bytes + names * (2 + self.value_bytes()));
        // Lookups spread over all of a big table: on huge pages they miss the TLB far less.
        crate::memory::advise_huge_pages(self.arena.as_ptr(), self.arena.capacity());
        self.reserve_index(names);
    }

    /// Make room for about `names` more names whose keys take about `key_bytes` in all
    /// (an estimate from a sample: room is made for a little more). The room estimated is
    /// made resident now, on another thread, so that filling it does not stop at every
    /// page; the margin is left to fault in if it is used.
    pub fn reserve_keys(&mut self, names: usize, key_bytes: usize) {
        let expected = key_bytes + names * self.value_bytes();
        self.arena.reserve(expected + expected / ESTIMATE_MARGIN);
        crate::memory::advise_huge_pages(self.arena.as_ptr(), self.arena.capacity());
        let spare = self.arena.spare_capacity_mut();
        crate::memory::populate_in_background(spare.as_ptr(), spare.len().min(expected));
        self.reserve_index(names + names / ESTIMATE_MARGIN);
    }

    fn reserve_index(&mut self, names: usize) {
        let wanted = self.len + names;
        if wanted > Self::capacity(self.groups.len()) {
            self.rehash((wanted * 8).div_ceil(MAX_LOAD_EIGHTHS * GROUP_SLOTS));
        }
    }

    fn rehash(&mut self, groups: usize) {
        let mut index = Vec::with_capacity(groups.max(1));
        crate::memory::advise_huge_pages(index.as_ptr(), index.capacity());
        index.resize(groups.max(1), Group::default());
        let old = std::mem::replace(&mut self.groups, index);
        for g in &old {
            for (&t, &at) in g.tags.iter().zip(&g.at).filter(|(&t, _)| t != 0) {
                let h = hash(self.key_at(at));
                let (group, slot) = self.empty_slot(h);
                self.groups[group].tags[slot] = t;
                self.groups[group].at[slot] = at;
            }
        }
    }

    fn group_of(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.groups.len() as u128) >> 64) as usize
    }

    fn next_group(&self, g: usize) -> usize {
        if g + 1 == self.groups.len() {
            0
        } else {
            g + 1
        }
    }

    /// The first empty slot from `hash`'s group on (the index is never full).
    fn empty_slot(&self, hash: u64) -> (usize, usize) {
        let mut g = self.group_of(hash);
        loop {
            if let Some(s) = self.groups[g].tags.iter().position(|&t| t == 0) {
                return (g, s);
            }
            g = self.next_group(g);
        }
    }

    /// The key of the record at `at`.
    pub fn key_at(&self, at: u32) -> &[u8] {
        let at = at as usize;
        &self.arena[at..at + key_len(&self.arena[at..])]
    }

    /// The name of the record at `at`.
    pub fn name_at(&self, at: u32) -> String {
        decode(self.key_at(at))
    }

    /// The value of the record at `at`.
    pub fn value_at(&self, at: u32) -> u32 {
        self.value_after_key(at, at as usize + key_len(&self.arena[at as usize..]))
    }

    /// The value of the record at `at`, whose value bytes start at `v`.
    fn value_after_key(&self, at: u32, v: usize) -> u32 {
        if self.small_values {
            match self.arena[v] {
                OVERFLOW => self.overflow.get(&at).copied().unwrap_or_default(),
                small => u32::from(small),
            }
        } else {
            u32::from_le_bytes([
                self.arena[v],
                self.arena[v + 1],
                self.arena[v + 2],
                self.arena[v + 3],
            ])
        }
    }

    /// Change the value of the record at `at`.
    pub fn set_value(&mut self, at: u32, value: u32) {
        let v = at as usize + key_len(&self.arena[at as usize..]);
        if !self.small_values {
            self.arena[v..v + 4].copy_from_slice(&value.to_le_bytes());
        } else if value < u32::from(OVERFLOW) {
            if self.arena[v] == OVERFLOW {
                self.overflow.remove(&at);
            }
            self.arena[v] = value as u8;
        } else {
            self.arena[v] = OVERFLOW;
            self.overflow.insert(at, value);
        }
    }

    /// Ask the memory system for the index line `hash` will read, ahead of the lookup.
    pub fn prefetch(&self, hash: u64) {
        if !self.groups.is_empty() {
            prefetch_line(&self.groups[self.group_of(hash)]);
        }
    }

    /// Once the line `prefetch` asked for has come: ask for the records its slots with
    /// `hash`'s tag point at, where the lookup will compare names.
    fn prefetch_records(&self, hash: u64) {
        if self.groups.is_empty() {
            return;
        }
        let group = &self.groups[self.group_of(hash)];
        let t = tag(hash);
        for s in 0..GROUP_SLOTS {
            if group.tags[s] == t {
                // A record may cross into the next line: that one is asked for too
                // (the record's length is not known yet; most are shorter than this).
                let at = group.at[s] as usize;
                prefetch_line(&self.arena[at]);
                if let Some(end) = self.arena.get(at + RECORD_PREFETCH_BYTES - 1) {
                    prefetch_line(end);
                }
            }
        }
    }

    /// Look up `count` keys at once (`key(i)` the `i`th and its hash, None for none; asked
    /// only for `i` below `count`) and hand each one's value to `found`, in order. Each
    /// lookup in a big table misses the caches twice (index line, then record); run back
    /// to back, each key's index line asked for `BATCH_GROUPS_AHEAD` keys ahead and its
    /// records `BATCH_RECORDS_AHEAD` ahead, the misses of several keys are in flight at
    /// once instead of one after another.
    pub fn get_batch<'k>(
        &self,
        count: usize,
        key: impl Fn(usize) -> Option<(&'k [u8], u64)>,
        mut found: impl FnMut(usize, Option<u32>),
    ) {
        let key = |i: usize| if i < count { key(i) } else { None };
        for i in 0..count + BATCH_GROUPS_AHEAD {
            if let Some((_, hash)) = key(i) {
                self.prefetch(hash);
            }
            if let Some(r) = (i + BATCH_RECORDS_AHEAD).checked_sub(BATCH_GROUPS_AHEAD) {
                if let Some((_, hash)) = key(r) {
                    self.prefetch_records(hash);
                }
            }
            if let Some(l) = i.checked_sub(BATCH_GROUPS_AHEAD) {
                found(l, key(l).and_then(|(k, hash)| self.get_key(k, hash)));
            }
        }
    }

    /// The record offset of `name` (lower case, no trailing dot), if present.
    pub fn find(&self, name: &[u8]) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let key = Key::new(name)?;
        self.find_key(key.as_bytes(), key.hash())
    }

    /// The record offset of the key `key` (whose hash is `hash`), if present.
    pub fn find_key(&self, key: &[u8], hash: u64) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        self.probe(key, hash).ok()
    }

    /// The value for `name`, if present.
    pub fn get(&self, name: &[u8]) -> Option<u32> {
        self.find(name).map(|at| self.value_at(at))
    }

    /// The value for the key `key` (whose hash is `hash`), if present.
    pub fn get_key(&self, key: &[u8], hash: u64) -> Option<u32> {
        self.find_key(key, hash).map(|at| self.value_at(at))
    }

    /// Ok(record offset) where `key` is, or Err(group, slot) of the empty slot where it
    /// would go.
    fn probe(&self, key: &[u8], hash: u64) -> Result<u32, (usize, usize)> {
        let t = tag(hash);
        let mut g = self.group_of(hash);
        loop {
            let group = &self.groups[g];
            for s in 0..GROUP_SLOTS {
                match group.tags[s] {
                    0 => return Err((g, s)),
                    x if x == t && self.arena[group.at[s] as usize..].starts_with(key) => {
                        return Ok(group.at[s]);
                    }
                    _ => {}
                }
            }
            g = self.next_group(g);
        }
    }

    /// The record of the key `key` (whose `hash` is given): Ok(offset) if it was there
    /// already, else it is added with `value` and Err(offset) returned as the new
    /// record's place.
    pub fn find_or_insert(
        &mut self,
        key: &[u8],
        hash: u64,
        value: u32,
    ) -> Result<Result<u32, u32>, Refused> {
        if key.is_empty() || key.len() != key_len(key) {
            return Err(Refused::TooLong);
        }
        if self.len + 1 > Self::capacity(self.groups.len()) {
            self.rehash((self.groups.len() * 2).max(1));
        }
        let (g, s) = match self.probe(key, hash) {
            Ok(at) => return Ok(Ok(at)),
            Err(slot) => slot,
        };
        let at = self.arena.len();
        if at + key.len() + 4 >= u32::MAX as usize {
            return Err(Refused::Full);
        }
        self.arena.extend_from_slice(key);
        self.arena.resize(at + key.len() + self.value_bytes(), 0);
        self.groups[g].tags[s] = tag(hash);
        self.groups[g].at[s] = at as u32;
        self.len += 1;
        self.set_value(at as u32, value);
        Ok(Err(at as u32))
    }

    /// Add `name` (or find it): `find_or_insert` for a name rather than a key.
    pub fn find_or_insert_name(
        &mut self,
        name: &[u8],
        value: u32,
    ) -> Result<Result<u32, u32>, Refused> {
        let key = Key::new(name).ok_or(Refused::TooLong)?;
        self.find_or_insert(key.as_bytes(), key.hash(), value)
    }

    /// Every record's offset and value, in the order added.
    pub fn records(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let mut at = 0usize;
        let value_bytes = self.value_bytes();
        std::iter::from_fn(move || {
            let this = at;
            let v = this + key_len(self.arena.get(this..).filter(|k| !k.is_empty())?);
            at = v + value_bytes;
            Some((this as u32, self.value_after_key(this as u32, v)))
        })
    }

    /// Give back spare arena capacity (after the last insert). A big reservation is not
    /// moved (the allocator shrinks it in place), so it stays on huge pages.
    pub fn shrink(&mut self) {
        self.arena.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(t: &mut NameTable, name: &str, value: u32) -> Result<u32, u32> {
        t.find_or_insert_name(name.as_bytes(), value).unwrap()
    }

    #[test]
    fn finds_what_was_added_and_nothing_else() {
        for mut t in [NameTable::default(), NameTable::with_small_values()] {
            assert_eq!(t.get(b"a"), None);
            for i in 0..10_000u32 {
                assert!(add(&mut t, &format!("host{i}.example"), i).is_err());
            }
            assert_eq!(t.len(), 10_000);
            for i in 0..10_000u32 {
                assert_eq!(t.get(format!("host{i}.example").as_bytes()), Some(i));
            }
            assert_eq!(t.get(b"host10000.example"), None);
            assert_eq!(t.get(b"host1.exampl"), None);
            assert_eq!(t.get(b""), None);
        }
    }

    #[test]
    fn a_batch_finds_what_one_by_one_lookups_find() {
        let mut t = NameTable::default();
        for i in 0..5_000u32 {
            add(&mut t, &format!("ads{i}.example"), i).unwrap_err();
        }
        // Present, absent and keyless entries, in batches shorter and longer than the
        // lookahead.
        let names: Vec<Option<String>> = (0..200u32)
            .map(|i| match i % 5 {
                0 => None,
                1 => Some(format!("nothing{i}.example")),
                _ => Some(format!("ads{}.example", i * 13)),
            })
            .collect();
        let keys: Vec<Option<ShortKey>> = names
            .iter()
            .map(|n| n.as_ref().and_then(|n| ShortKey::new(n.as_bytes())))
            .collect();
        for count in [
            0,
            1,
            3,
            BATCH_GROUPS_AHEAD,
            BATCH_GROUPS_AHEAD + 1,
            keys.len(),
        ] {
            let mut seen = Vec::new();
            let key = |i: usize| keys[i].as_ref().map(|k| (k.as_bytes(), k.hash()));
            t.get_batch(count, key, |i, value| seen.push((i, value)));
            let expected: Vec<(usize, Option<u32>)> = (0..count)
                .map(|i| (i, names[i].as_ref().and_then(|n| t.get(n.as_bytes()))))
                .collect();
            assert_eq!(seen, expected, "{count} keys");
        }
        let found =
            (0..keys.len()).filter(|&i| names[i].as_ref().is_some_and(|n| n.starts_with("ads")));
        assert_eq!(found.count(), 120);
    }

    #[test]
    fn a_padded_hash_is_the_hash_whatever_lies_past_the_key() {
        let bytes: Vec<u8> = (0..40u8).map(|b| b.wrapping_mul(37) | 1).collect();
        for len in 0..=32 {
            let mut padded = bytes.clone();
            padded[len..].fill(0xA5);
            for seed in [0, 99] {
                assert_eq!(
                    keyed_hash_padded(&padded, len, seed),
                    keyed_hash(&bytes[..len], seed),
                    "{len}"
                );
            }
        }
    }

    #[test]
    fn endings_are_found_as_label_by_label_reading_finds_them() {
        // The plain reading: the last label, `.co.uk` before `.uk`, then the list.
        fn reference(name: &[u8]) -> Option<(u8, usize)> {
            let name = name.to_ascii_lowercase();
            let dot = name.iter().rposition(|&b| b == b'.')?;
            let label = &name[dot..];
            if name.ends_with(b".co.uk") {
                return Some((FIRST_SUFFIX_CODE + 4, 6));
            }
            let i = SUFFIXES.iter().position(|&s| s == label)?;
            Some((FIRST_SUFFIX_CODE + i as u8, label.len()))
        }
        let mut names: Vec<String> = Vec::new();
        for ending in SUFFIXES.iter().map(|s| std::str::from_utf8(s).unwrap()) {
            for start in [
                "", "a", "ab", "x.y", "abcdefgh", "co", ".co", "a.co", "A-b_",
            ] {
                names.push(format!("{start}{ending}"));
                names.push(format!("{start}{}", ending.to_uppercase()));
                names.push(format!("{start}{ending}x"));
                names.push(format!("{start}{}", &ending[1..]));
                names.push(format!("{start}{}", &ending[..ending.len() - 1]));
            }
        }
        names.extend(
            [
                "",
                ".",
                "..",
                "a.",
                ".c",
                "com",
                "x.comm",
                "x.co.u",
                "ab.cd.ef.gh",
                "a.bcdef",
            ]
            .map(String::from),
        );
        for name in &names {
            assert_eq!(
                suffix_code(name.as_bytes()),
                reference(name.as_bytes()),
                "{name}"
            );
        }
    }

    #[test]
    fn a_short_key_is_the_key_whatever_the_name_length() {
        // Packed and raw names around the lengths a short key holds without its scratch
        // buffer, and past them.
        for len in 0..=100 {
            for name in [
                "a".repeat(len),
                format!("{}.com", "b".repeat(len)),
                "c ".repeat(len / 2 + 1),
            ] {
                let key = Key::new(name.as_bytes()).unwrap();
                // The hash a table's records are filed under.
                assert_eq!(key.hash(), hash(key.as_bytes()), "{name}");
                match ShortKey::new(name.as_bytes()) {
                    Some(short) => {
                        assert_eq!(short.as_bytes(), key.as_bytes(), "{name}");
                        assert_eq!(short.hash(), key.hash(), "{name}");
                    }
                    None => assert!(key.as_bytes().len() > 64, "{name}"),
                }
            }
        }
    }

    #[test]
    fn a_second_insert_finds_the_first_record_and_keeps_its_value() {
        let mut t = NameTable::default();
        let first = add(&mut t, "ads.example", 7).unwrap_err();
        assert_eq!(add(&mut t, "ads.example", 9), Ok(first));
        assert_eq!(t.get(b"ads.example"), Some(7));
        t.set_value(first, 11);
        assert_eq!(t.get(b"ads.example"), Some(11));
        assert_eq!(t.name_at(first), "ads.example");
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn records_are_listed_in_the_order_added_across_rehashes() {
        let mut t = NameTable::with_small_values();
        t.reserve(2, 10);
        let names: Vec<String> = (0..100).map(|i| format!("n{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            add(&mut t, n, i as u32).unwrap_err();
        }
        let listed: Vec<String> = t.records().map(|(at, _)| t.name_at(at)).collect();
        assert_eq!(listed, names);
    }

    #[test]
    fn names_too_long_for_a_record_are_refused() {
        let mut t = NameTable::default();
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        assert_eq!(
            t.find_or_insert_name(long.as_bytes(), 0),
            Err(Refused::TooLong)
        );
        assert_eq!(t.get(long.as_bytes()), None);
        let longest = "b".repeat(MAX_NAME_BYTES);
        add(&mut t, &longest, 3).unwrap_err();
        assert_eq!(t.get(longest.as_bytes()), Some(3));
        assert_eq!(t.name_at(t.find(longest.as_bytes()).unwrap()), longest);
    }

    #[test]
    fn packed_and_raw_names_come_back_as_given_and_match_without_case() {
        let mut t = NameTable::default();
        let names = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "x_y-z.0-9.example",
            "with space.example",
            "star*.example",
            "ümlaut.example",
        ];
        for (i, n) in names.iter().enumerate() {
            add(&mut t, n, i as u32).unwrap_err();
        }
        for (i, n) in names.iter().enumerate() {
            let at = t.find(n.as_bytes()).unwrap();
            assert_eq!(t.name_at(at), *n);
            assert_eq!(t.value_at(at), i as u32);
        }
        assert_eq!(t.get(b"X_Y-Z.0-9.EXAMPLE"), Some(5));
        assert_eq!(t.get(b"With Space.Example"), Some(6));
        assert_eq!(
            t.get(b"abcde"),
            None,
            "a longer name whose start packs the same"
        );
        assert_eq!(t.get(b"ab"), Some(2));
        let mut packed = Vec::new();
        encode(b"ads.example.com", &mut packed);
        assert_eq!(
            packed.len(),
            1 + 9,
            "11 characters and .com in 9 bytes, and a length"
        );
        let endings = [
            "x.co.uk", "x.uk", "xco.uk", "co.uk", "com", "x.com", "x.comm", "x.io",
        ];
        for (i, name) in endings.iter().enumerate() {
            add(&mut t, name, 100 + i as u32).unwrap_err();
        }
        for (i, name) in endings.iter().enumerate() {
            let at = t.find(name.as_bytes()).unwrap();
            assert_eq!(t.name_at(at), *name);
            assert_eq!(t.value_at(at), 100 + i as u32, "{name}");
            assert_eq!(t.get(name.to_uppercase().as_bytes()), Some(100 + i as u32));
        }
        assert_eq!(t.get(b"x.i"), None);
    }

    #[test]
    fn small_values_keep_large_ones_aside() {
        let mut t = NameTable::with_small_values();
        let a = add(&mut t, "a.example", 254).unwrap_err();
        let b = add(&mut t, "b.example", 255).unwrap_err();
        let c = add(&mut t, "c.example", 70_000).unwrap_err();
        assert_eq!(
            (t.value_at(a), t.value_at(b), t.value_at(c)),
            (254, 255, 70_000)
        );
        t.set_value(b, 3);
        t.set_value(a, 1 << 30);
        assert_eq!((t.value_at(a), t.value_at(b)), (1 << 30, 3));
        assert_eq!(t.overflow.len(), 2, "b's large value is gone, a's kept");
        let listed: Vec<String> = t.records().map(|(at, _)| t.name_at(at)).collect();
        assert_eq!(listed, ["a.example", "b.example", "c.example"]);
    }
}
