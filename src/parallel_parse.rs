//! Big texts (hosts files, block lists of domain rules) parsed one piece per core: the
//! text is cut at line ends and each piece parsed on its own thread; the caller then takes
//! the pieces' results in text order.

use std::ops::Range;

/// Texts shorter than this are parsed on the calling thread alone.
pub const PARALLEL_FROM_BYTES: usize = 1 << 20;

/// Most pieces (and threads) one text is cut into.
const MAX_PIECES: usize = 16;

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

/// How many `\n` `text` holds, counted a word at a time.
pub fn count_newlines(text: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut words = text.chunks_exact(8);
    let mut count = 0;
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().unwrap_or_default()) ^ (ONES * u64::from(b'\n'));
        // Exact per byte: the top bit is set where x's byte is not 0.
        let nonzero = ((x & !(ONES << 7)).wrapping_add(!(ONES << 7)) | x) & (ONES << 7);
        count += 8 - nonzero.count_ones() as usize;
    }
    count + words.remainder().iter().filter(|&&b| b == b'\n').count()
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

/// `text` cut into parts of about `bytes` each, ending at line ends (the last at the
/// text's end): a big file parsed a part at a time holds only one part's results.
pub fn blocks(text: &[u8], bytes: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= text.len() {
            return None;
        }
        let want = (start + bytes.max(1)).min(text.len());
        let end = match find_newline(&text[want - 1..]) {
            Some(nl) => want + nl,
            None => text.len(),
        };
        let block = start..end;
        start = end;
        Some(block)
    })
}

/// `parse` applied to each piece of `text` (one per core, cut at line ends), in order.
/// A piece whose parsing panicked gives `T::default()`.
pub fn map_pieces<T: Send + Default>(
    text: &[u8],
    parse: impl Fn(Range<usize>) -> T + Sync,
) -> Vec<T> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pieces = if text.len() < PARALLEL_FROM_BYTES {
        1
    } else {
        cores.min(MAX_PIECES)
    };
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

/// `parse` applied to `text` a block at a time (blocks of about `block_bytes`, cut at
/// line ends, each parsed in pieces across the cores), the results handed to `take` in
/// text order. The next block is parsed while `take` works on one. `parse` gets ranges
/// of `text`. Stops at `take`'s first error.
pub fn for_each_block<T: Send + Default, E>(
    text: &[u8],
    block_bytes: usize,
    parse: impl Fn(Range<usize>) -> T + Sync,
    mut take: impl FnMut(Vec<T>) -> Result<(), E>,
) -> Result<(), E> {
    let parse_block = |block: Range<usize>| {
        let at = block.start;
        map_pieces(&text[block], |piece| {
            parse(at + piece.start..at + piece.end)
        })
    };
    if text.len() < PARALLEL_FROM_BYTES {
        return take(parse_block(0..text.len()));
    }
    std::thread::scope(|s| {
        let (tx, rx) = crossbeam::channel::bounded(1);
        let parse_block = &parse_block;
        s.spawn(move || {
            for block in blocks(text, block_bytes) {
                if tx.send(parse_block(block)).is_err() {
                    // The caller stopped.
                    return;
                }
            }
        });
        rx.into_iter().try_for_each(&mut take)
    })
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
    fn newlines_are_counted_wherever_they_are() {
        let text: Vec<u8> = (0..1000u32)
            .map(|i| {
                if i % 7 == 0 || i % 11 == 3 {
                    b'\n'
                } else {
                    (i % 256) as u8 | 0x80
                }
            })
            .collect();
        for len in [0, 1, 7, 8, 9, 100, 1000] {
            let want = text[..len].iter().filter(|&&b| b == b'\n').count();
            assert_eq!(count_newlines(&text[..len]), want, "{len}");
        }
        assert_eq!(count_newlines(b"\x0b\x0a\x0a\x8a\x0a\x00\xff\x0a\x0a"), 5);
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
    fn blocks_end_at_line_ends_and_cover_the_text() {
        let text = text_of(100) + "last";
        let cuts: Vec<_> = blocks(text.as_bytes(), 64).collect();
        assert!(cuts.len() > 10);
        assert_eq!(cuts.last().unwrap().end, text.len());
        for w in cuts.windows(2) {
            assert_eq!(w[0].end, w[1].start);
            assert!(text[w[0].clone()].ends_with('\n'));
        }
        assert_eq!(blocks(b"", 64).count(), 0);
        assert_eq!(blocks(b"a\nb\n", 1).collect::<Vec<_>>(), vec![0..2, 2..4]);
    }

    #[test]
    fn big_texts_are_parsed_in_order_whatever_the_pieces() {
        let text = text_of(200_000);
        assert!(text.len() >= PARALLEL_FROM_BYTES);
        let counts = map_pieces(text.as_bytes(), |r| text[r].lines().count());
        assert_eq!(counts.iter().sum::<usize>(), 200_000);
        let firsts = map_pieces(text.as_bytes(), |r| {
            text[r].lines().next().map(String::from)
        });
        assert_eq!(firsts[0].as_deref(), Some("line 0"));
    }

    #[test]
    fn blocks_are_taken_in_order_and_the_first_error_stops_the_rest() {
        let text = text_of(300_000);
        let mut seen = Vec::new();
        let all: Result<(), ()> = for_each_block(
            text.as_bytes(),
            256 << 10,
            |r| text[r].lines().map(String::from).collect::<Vec<_>>(),
            |pieces| {
                seen.extend(pieces.into_iter().flatten());
                Ok(())
            },
        );
        assert_eq!(all, Ok(()));
        assert_eq!(seen.len(), 300_000);
        assert!(seen
            .iter()
            .enumerate()
            .all(|(i, l)| *l == format!("line {i}")));
        let mut taken = 0;
        let stopped = for_each_block(
            text.as_bytes(),
            256 << 10,
            |r| r.len(),
            |_| {
                taken += 1;
                Err(taken)
            },
        );
        assert_eq!(stopped, Err(1));
    }
}
