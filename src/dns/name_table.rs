//! A compact map from lower-case names to a 32-bit value, for millions of names: every
//! name lives in one byte arena as `[length][name bytes][value, 4 bytes LE]`, and an
//! open-addressing index (linear probing) holds each record's arena offset. No heap object
//! per name; a lookup hashes the name once and compares bytes in place.

/// Most bytes one name may have here (the record stores its length in one byte; DNS names
/// are at most 253 characters as text).
pub const MAX_NAME_BYTES: usize = 255;

/// Bytes a record takes beyond its name: the length byte and the value.
const RECORD_OVERHEAD: usize = 5;

/// The index is grown before it is fuller than this (numerator over 8).
const MAX_LOAD_EIGHTHS: usize = 6;

/// The hash of a name's bytes (fast, word at a time; the index uses its high bits).
pub fn hash(name: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, w: u64| (h.rotate_left(23) ^ w).wrapping_mul(K);
    let mut h = (name.len() as u64).wrapping_mul(K);
    let mut words = name.chunks_exact(8);
    for w in &mut words {
        h = mix(h, u64::from_le_bytes(w.try_into().unwrap_or_default()));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = mix(h, u64::from_le_bytes(last));
    }
    h ^ (h >> 31)
}

/// Why a name could not be added.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Longer than `MAX_NAME_BYTES`.
    TooLong,
    /// The arena would pass 4 GiB (offsets are 32-bit).
    Full,
}

/// See the module comment.
#[derive(Clone, Debug, Default)]
pub struct NameTable {
    arena: Vec<u8>,
    /// Arena offset + 1 of a record, 0 for an empty slot; the length is a power of two.
    index: Vec<u32>,
    /// 64 minus log2 of the index length: a hash's slot is `hash >> shift`.
    shift: u32,
    len: usize,
}

impl NameTable {
    /// Names held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Make room for `names` more names of `bytes` name bytes in all, so that adding them
    /// neither rehashes nor moves the arena.
    pub fn reserve(&mut self, names: usize, bytes: usize) {
        self.arena.reserve(bytes + names * RECORD_OVERHEAD);
        let wanted = (self.len + names) * 8 / MAX_LOAD_EIGHTHS + 1;
        if wanted > self.index.len() {
            self.rehash(wanted.next_power_of_two());
        }
    }

    fn rehash(&mut self, slots: usize) {
        let slots = slots.max(8);
        let old = std::mem::replace(&mut self.index, vec![0; slots]);
        self.shift = 64 - slots.trailing_zeros();
        for at in old.into_iter().filter(|&s| s != 0) {
            let name = self.name_bytes((at - 1) as usize);
            let mut i = self.slot_of(hash(name));
            while self.index[i] != 0 {
                i = (i + 1) & (slots - 1);
            }
            self.index[i] = at;
        }
    }

    fn slot_of(&self, hash: u64) -> usize {
        // A shift of 64 (empty index) is never used: lookups check for it first.
        (hash >> self.shift) as usize
    }

    fn name_bytes(&self, at: usize) -> &[u8] {
        let len = self.arena[at] as usize;
        &self.arena[at + 1..at + 1 + len]
    }

    /// The name of the record at `at`.
    pub fn name_at(&self, at: u32) -> &str {
        std::str::from_utf8(self.name_bytes(at as usize)).unwrap_or("")
    }

    /// The value of the record at `at`.
    pub fn value_at(&self, at: u32) -> u32 {
        let at = at as usize;
        let v = at + 1 + self.arena[at] as usize;
        u32::from_le_bytes([
            self.arena[v],
            self.arena[v + 1],
            self.arena[v + 2],
            self.arena[v + 3],
        ])
    }

    /// Change the value of the record at `at`.
    pub fn set_value(&mut self, at: u32, value: u32) {
        let at = at as usize;
        let v = at + 1 + self.arena[at] as usize;
        self.arena[v..v + 4].copy_from_slice(&value.to_le_bytes());
    }

    /// The record offset of `name` (lower case, no trailing dot), if present.
    pub fn find(&self, name: &[u8]) -> Option<u32> {
        if self.len == 0 || name.len() > MAX_NAME_BYTES {
            return None;
        }
        self.probe(name, hash(name)).ok()
    }

    /// The value for `name`, if present.
    pub fn get(&self, name: &[u8]) -> Option<u32> {
        self.find(name).map(|at| self.value_at(at))
    }

    /// Ok(record offset) where `name` is, or Err(empty slot) where it would go.
    fn probe(&self, name: &[u8], hash: u64) -> Result<u32, usize> {
        let mask = self.index.len() - 1;
        let mut i = self.slot_of(hash);
        loop {
            match self.index[i] {
                0 => return Err(i),
                s if self.name_bytes((s - 1) as usize) == name => return Ok(s - 1),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// The record of `name` (whose `hash` is given): Ok(offset) if it was there already,
    /// else it is added with `value` and Err(offset) returned as the new record's place.
    pub fn find_or_insert(
        &mut self,
        name: &[u8],
        hash: u64,
        value: u32,
    ) -> Result<Result<u32, u32>, Refused> {
        if name.len() > MAX_NAME_BYTES {
            return Err(Refused::TooLong);
        }
        if (self.len + 1) * 8 > self.index.len() * MAX_LOAD_EIGHTHS {
            self.rehash((self.index.len() * 2).max(8));
        }
        let slot = match self.probe(name, hash) {
            Ok(at) => return Ok(Ok(at)),
            Err(slot) => slot,
        };
        let at = self.arena.len();
        if at + name.len() + RECORD_OVERHEAD >= u32::MAX as usize {
            return Err(Refused::Full);
        }
        self.arena.push(name.len() as u8);
        self.arena.extend_from_slice(name);
        self.arena.extend_from_slice(&value.to_le_bytes());
        self.index[slot] = at as u32 + 1;
        self.len += 1;
        Ok(Err(at as u32))
    }

    /// Every record's offset, in the order added.
    pub fn records(&self) -> impl Iterator<Item = u32> + '_ {
        let mut at = 0usize;
        std::iter::from_fn(move || {
            if at >= self.arena.len() {
                return None;
            }
            let this = at;
            at += self.arena[at] as usize + RECORD_OVERHEAD;
            Some(this as u32)
        })
    }

    /// Give back spare arena capacity (after the last insert).
    pub fn shrink(&mut self) {
        self.arena.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(t: &mut NameTable, name: &str, value: u32) -> Result<u32, u32> {
        t.find_or_insert(name.as_bytes(), hash(name.as_bytes()), value)
            .unwrap()
    }

    #[test]
    fn finds_what_was_added_and_nothing_else() {
        let mut t = NameTable::default();
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
        let mut t = NameTable::default();
        t.reserve(2, 10);
        let names: Vec<String> = (0..100).map(|i| format!("n{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            add(&mut t, n, i as u32).unwrap_err();
        }
        let listed: Vec<&str> = t.records().map(|at| t.name_at(at)).collect();
        assert_eq!(listed, names);
    }

    #[test]
    fn names_too_long_for_a_record_are_refused() {
        let mut t = NameTable::default();
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        assert_eq!(
            t.find_or_insert(long.as_bytes(), hash(long.as_bytes()), 0),
            Err(Refused::TooLong)
        );
        assert_eq!(t.get(long.as_bytes()), None);
        let longest = "b".repeat(MAX_NAME_BYTES);
        add(&mut t, &longest, 3).unwrap_err();
        assert_eq!(t.get(longest.as_bytes()), Some(3));
    }
}
