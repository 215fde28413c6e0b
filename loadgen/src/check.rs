//! Answer checks: a reply must be a response (QR set) to the query that was sent, with the
//! same opcode and the same single question (names compared without regard to letter
//! case, as servers may echo a name's case differently). Free of I/O.

/// Where a query's question section ends (the query is one this program encoded: one
/// question, uncompressed name).
fn question_end(query: &[u8]) -> Option<usize> {
    let mut at = 12;
    loop {
        let len = *query.get(at)? as usize;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        at += len + 1;
    }
    let end = at + 1 + 4;
    (end <= query.len()).then_some(end)
}

/// Whether `reply` answers `query` (IDs are matched before this is asked).
pub fn answers(query: &[u8], reply: &[u8]) -> bool {
    let Some(end) = question_end(query) else {
        return false;
    };
    reply.len() >= end
        && reply[2] & 0x80 != 0
        && (reply[2] & 0x78) == (query[2] & 0x78)
        && reply[4..6] == [0, 1]
        && reply[12..end].eq_ignore_ascii_case(&query[12..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::encode;

    #[test]
    fn a_reply_must_be_a_response_to_the_same_question() {
        let q = encode("Example.COM", 1, Some(1232)).unwrap();
        let mut r = q.clone();
        assert!(!answers(&q, &r), "a query is not its own answer");
        r[2] |= 0x80;
        assert!(answers(&q, &r));
        r[13] = b'E';
        r[14] = b'X';
        assert!(answers(&q, &r), "case may differ");
        let mut other = encode("example.net", 1, None).unwrap();
        other[2] |= 0x80;
        assert!(!answers(&q, &other), "another name");
        let mut aaaa = encode("example.com", 28, None).unwrap();
        aaaa[2] |= 0x80;
        assert!(!answers(&q, &aaaa), "another type");
        assert!(!answers(&q, &r[..10]), "truncated");
        let mut none = r.clone();
        none[5] = 0;
        assert!(!answers(&q, &none), "no question");
    }
}
