//! Big texts (hosts files, block lists of domain rules) parsed one piece per core: the
//! text is cut at line ends and each piece parsed on its own thread; the caller then takes
//! the pieces' results in text order.

use std::io::Read;
use std::ops::Range;

/// The least a piece parsed on a thread of its own has: a text shorter than two is
/// parsed on the calling thread alone.
pub const MIN_PIECE_BYTES: usize = 256 << 10;

/// Most pieces (and threads) one text is cut into.
const MAX_PIECES: usize = 16;

/// How many pieces a big text is cut into: one per core, up to `MAX_PIECES`. Found once:
/// each asking reads three files of /proc and /sys (the cgroup's CPU quota), and a big
/// file asks for every block.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_PIECES)
    })
}

/// Where the first `\n` of `text` is.
pub fn find_newline(text: &[u8]) -> Option<usize> {
    find_byte(text, b'\n')
}

/// Where the first `byte` of `text` is, found a word at a time.
pub fn find_byte(text: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut words = text.chunks_exact(8);
    for (i, w) in (&mut words).enumerate() {
        let x = u64::from_le_bytes(w.try_into().unwrap_or_default()) ^ (ONES * u64::from(byte));
        // The lowest byte of x that is 0 sets its top bit here (higher ones may be wrong).
        let zero = x.wrapping_sub(ONES) & !x & (ONES << 7);
        if zero != 0 {
            return Some(i * 8 + zero.trailing_zeros() as usize / 8);
        }
    }
    let done = text.len() - words.remainder().len();
    words
        .remainder()
        .iter()
        .position(|&b| b == byte)
        .map(|p| done + p)
}

/// `text` cut into about `pieces` parts, each ending at a line end (or the text's end).
pub fn cut_at_lines(text: &[u8], pieces: usize) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(pieces);
    let mut start = 0;
    for k in (1..pieces).rev() {
        let want = start + (text.len() - start) / (k + 1);
        match find_newline(&text[want..]) {
            Some(nl) => {
                out.push(start..want + nl + 1);
                start = want + nl + 1;
            }
            None => break,
        }
    }
    out.push(start..text.len());
    out
}

/// `parse` applied to each piece of `text` (one per core, cut at line ends), in order.
/// A piece whose parsing panicked gives `T::default()`.
pub fn map_pieces<T: Send + Default>(
    text: &[u8],
    parse: impl Fn(Range<usize>) -> T + Sync,
) -> Vec<T> {
    let pieces = cores().min(text.len() / MIN_PIECE_BYTES).max(1);
    let cuts = cut_at_lines(text, pieces);
    if cuts.len() == 1 {
        return vec![parse(0..text.len())];
    }
    let parse = &parse;
    std::thread::scope(|s| {
        let workers: Vec<_> = cuts
            .into_iter()
            .map(|piece| s.spawn(move || parse(piece)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    })
}

/// Why `for_each_read_block` stopped early.
#[derive(Debug)]
pub enum Stop<E> {
    /// Reading failed, or the input passed its limit.
    Read(std::io::Error),
    /// `take` said so.
    Take(E),
}

impl<E> Stop<E> {
    /// The error `take` gave, or `read`'s for a failed read.
    pub fn or_read(self, read: impl FnOnce(std::io::Error) -> E) -> E {
        match self {
            Stop::Read(e) => read(e),
            Stop::Take(e) => e,
        }
    }
}

/// Blocks of whole lines read from `input`, about `block_bytes` each, parsed in pieces
/// across the cores (`parse` gets the block and a piece of it), handed to `take` in input
/// order with the block. The next block is read and parsed while `take` works on one, so
/// a file of any size holds only a few blocks in memory, and reading it costs no fresh
/// memory beyond theirs. A line longer than a block is cut to one block's length: `take`
/// is told (`cut`), and the rest of that line is skipped. More than `limit` bytes is an
/// error (after the blocks before it were taken).
pub fn for_each_read_block<T: Send + Default, E>(
    input: impl Read + Send,
    block_bytes: usize,
    limit: u64,
    parse: impl Fn(&[u8], Range<usize>) -> T + Sync,
    mut take: impl FnMut(&[u8], bool, Vec<T>) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let mut blocks = Blocks {
        input,
        block_bytes: block_bytes.max(1),
        limit,
        read: 0,
        carry: Vec::new(),
        skipping: false,
        done: false,
    };
    let parse_block = |text: &[u8]| map_pieces(text, |piece| parse(text, piece));
    let Some((first, cut)) = blocks.next(Vec::new()).map_err(Stop::Read)? else {
        return Ok(());
    };
    if blocks.done {
        // A small file: no thread for it.
        return take(&first, cut, parse_block(&first)).map_err(Stop::Take);
    }
    std::thread::scope(|s| {
        let (tx, rx) = crossbeam::channel::bounded(1);
        // Blocks taken come back to be read into again.
        let (spare_tx, spare_rx) = crossbeam::channel::bounded::<Vec<u8>>(2);
        let parse_block = &parse_block;
        let reader = s.spawn(move || {
            let mut next = Some((first, cut));
            while let Some((text, cut)) = next {
                let pieces = parse_block(&text);
                if tx.send((text, cut, pieces)).is_err() {
                    // The caller stopped.
                    return Ok(());
                }
                next = blocks.next(spare_rx.try_recv().unwrap_or_default())?;
            }
            Ok(())
        });
        for (text, cut, pieces) in rx {
            take(&text, cut, pieces).map_err(Stop::Take)?;
            let _ = spare_tx.try_send(text);
        }
        reader
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the reader failed")))
            .map_err(Stop::Read)
    })
}

/// Reads whole-line blocks for `for_each_read_block`.
struct Blocks<R> {
    input: R,
    block_bytes: usize,
    limit: u64,
    read: u64,
    /// Bytes read past the last block's last line end.
    carry: Vec<u8>,
    /// Inside a line longer than a block, up to its end.
    skipping: bool,
    done: bool,
}

impl<R: Read> Blocks<R> {
    /// The next block, read into `buf` (what it held is dropped), and whether it is a cut
    /// line; `None` at the end.
    fn next(&mut self, mut buf: Vec<u8>) -> std::io::Result<Option<(Vec<u8>, bool)>> {
        buf.clear();
        buf.append(&mut self.carry);
        while !self.done {
            let want = self.block_bytes.saturating_sub(buf.len());
            if want > 0 {
                let n = (&mut self.input).take(want as u64).read_to_end(&mut buf)?;
                self.read += n as u64;
                if self.read > self.limit {
                    self.done = true;
                    return Err(std::io::Error::other(format!(
                        "larger than {} bytes",
                        self.limit
                    )));
                }
                // `take` stops short only at the input's end.
                self.done = n < want;
            }
            if self.skipping {
                match find_newline(&buf) {
                    Some(nl) => {
                        buf.drain(..=nl);
                        self.skipping = false;
                    }
                    None => buf.clear(),
                }
                continue;
            }
            if self.done {
                break;
            }
            return Ok(Some(match buf.iter().rposition(|&b| b == b'\n') {
                Some(nl) => {
                    self.carry.extend_from_slice(&buf[nl + 1..]);
                    buf.truncate(nl + 1);
                    (buf, false)
                }
                None => {
                    self.skipping = true;
                    (buf, true)
                }
            }));
        }
        Ok((!buf.is_empty()).then_some((buf, false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(lines: usize) -> String {
        (0..lines).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn newlines_are_found_wherever_they_are() {
        for len in 0..40 {
            for at in 0..len {
                let mut text = vec![b'x'; len];
                text[at] = b'\n';
                if at + 3 < len {
                    text[at + 3] = b'\n';
                }
                text.iter_mut().take(at).for_each(|b| *b = 0x0b);
                assert_eq!(find_newline(&text), Some(at), "{len} {at}");
            }
            assert_eq!(find_newline(&vec![b'\t'; len]), None);
        }
    }

    #[test]
    fn pieces_end_at_line_ends_and_cover_the_text() {
        let text = text_of(1000);
        for pieces in [1, 2, 3, 16] {
            let cuts = cut_at_lines(text.as_bytes(), pieces);
            assert_eq!(cuts.len(), pieces);
            assert_eq!(cuts[0].start, 0);
            assert_eq!(cuts.last().unwrap().end, text.len());
            for w in cuts.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert_eq!(&text[w[0].end - 1..w[0].end], "\n");
            }
        }
        assert_eq!(cut_at_lines(b"one line, no end", 4), vec![0..16]);
    }

    #[test]
    fn big_texts_are_parsed_in_order_whatever_the_pieces() {
        let text = text_of(200_000);
        assert!(text.len() >= 2 * MIN_PIECE_BYTES);
        let counts = map_pieces(text.as_bytes(), |r| text[r].lines().count());
        assert_eq!(counts.iter().sum::<usize>(), 200_000);
        let firsts = map_pieces(text.as_bytes(), |r| {
            text[r].lines().next().map(String::from)
        });
        assert_eq!(firsts[0].as_deref(), Some("line 0"));
    }

    /// Every line of `text` read in blocks of `block_bytes`, and the blocks' cut flags.
    fn lines_read(text: &str, block_bytes: usize) -> (Vec<String>, Vec<bool>) {
        let (mut lines, mut cuts) = (Vec::new(), Vec::new());
        let all: Result<(), Stop<()>> = for_each_read_block(
            text.as_bytes(),
            block_bytes,
            u64::MAX,
            |t, r| {
                String::from_utf8_lossy(&t[r])
                    .lines()
                    .map(String::from)
                    .collect::<Vec<_>>()
            },
            |_, cut, pieces| {
                cuts.push(cut);
                lines.extend(pieces.into_iter().flatten());
                Ok(())
            },
        );
        assert!(all.is_ok());
        (lines, cuts)
    }

    #[test]
    fn blocks_are_taken_in_order_and_the_first_error_stops_the_rest() {
        let text = text_of(300_000);
        let (seen, cuts) = lines_read(&text, 256 << 10);
        assert!(cuts.len() > 5 && !cuts.contains(&true));
        assert_eq!(seen.len(), 300_000);
        assert!(seen
            .iter()
            .enumerate()
            .all(|(i, l)| *l == format!("line {i}")));
        let mut taken = 0;
        let stopped = for_each_read_block(
            text.as_bytes(),
            256 << 10,
            u64::MAX,
            |_, r| r.len(),
            |_, _, _| {
                taken += 1;
                Err(taken)
            },
        );
        assert!(matches!(stopped, Err(Stop::Take(1))));
    }

    #[test]
    fn small_blocks_end_at_line_ends_and_cover_the_text() {
        let text = text_of(100) + "last";
        let (seen, cuts) = lines_read(&text, 64);
        assert!(cuts.len() > 10 && !cuts.contains(&true));
        assert_eq!(seen.len(), 101);
        assert_eq!(seen[100], "last");
        assert_eq!(lines_read("", 64).0.len(), 0);
        assert_eq!(lines_read("a\nb\n", 1).0, ["a", "b"]);
    }

    #[test]
    fn a_line_longer_than_a_block_is_cut_and_its_rest_skipped() {
        let text = format!("one\n{}\ntwo\n{}", "x".repeat(200), "y".repeat(70));
        let (seen, cuts) = lines_read(&text, 64);
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0], "one");
        assert_eq!(seen[1], "x".repeat(64));
        assert_eq!(seen[2], "two");
        assert_eq!(seen[3], "y".repeat(64));
        assert_eq!(cuts.iter().filter(|&&c| c).count(), 2);
    }

    #[test]
    fn more_than_the_limit_is_an_error() {
        let text = text_of(1000);
        let read = for_each_read_block(
            text.as_bytes(),
            100,
            500,
            |_, r| r.len(),
            |_, _, _| Ok::<(), ()>(()),
        );
        assert!(matches!(read, Err(Stop::Read(_))));
        let read = for_each_read_block(
            text.as_bytes(),
            100,
            text.len() as u64,
            |_, r| r.len(),
            |_, _, _| Ok::<(), ()>(()),
        );
        assert!(read.is_ok());
    }
}
