//! One TFTP transfer as dnsmasq runs it: the OACK first where an option was taken, then
//! the file a block at a time, each sent again while unacknowledged, after 2, 2, 3, 3,
//! 5, 5 and 9 seconds, and given up on after that. A transfer whose last packet was a
//! full block ends as failed; one left waiting on its last (short) block, or on its
//! OACK, ends as sent, as dnsmasq takes it (some clients never acknowledge the end).
//! Netascii sends each LF as CR LF, a pair split by a block's end carrying its LF to the
//! next block.

use super::packet::{self, Reply, OP_DATA};

/// What a transfer was granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Terms {
    /// Data bytes per block.
    pub block_size: u32,
    /// Whether blksize was taken (and so goes in the OACK).
    pub blksize_option: bool,
    /// Whether tsize was taken.
    pub tsize_option: bool,
    pub netascii: bool,
    /// The file's size when it was opened.
    pub file_size: u64,
}

/// The block size where the client asks for none (RFC 1350).
pub const DEFAULT_BLOCK_SIZE: u32 = 512;

/// Milliseconds a first packet, and each next block, waits for its acknowledgement.
const FIRST_WAIT_MS: u64 = 2000;

/// A packet is sent again until this many waits have run out.
const MAX_BACKOFF: u32 = 7;

/// What the transfer needs for its current packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Send this OACK.
    Oack(Vec<u8>),
    /// Read `len` bytes (fewer at the end of the file) at `offset` and give them to
    /// `data_packet`.
    Read { offset: u64, len: usize },
    /// Nothing: the last block was acknowledged.
    Finished,
}

/// How a transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Logged as sent, and the script told.
    Sent,
    /// Logged as failed.
    Failed,
}

/// What a packet from the client, or a wait running out, means for the transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do (a stray or repeated acknowledgement).
    Nothing,
    /// Make and send the next packet (`needs`).
    SendNext,
    /// Send the current packet again.
    Resend,
    /// The client sent an error (its code and message), and the transfer ends.
    ClientError(u16, Vec<u8>, Outcome),
    Ended(Outcome),
}

/// One transfer's progress.
#[derive(Debug)]
pub struct Transfer {
    terms: Terms,
    /// The block being sent, 0 for the OACK; its number on the wire is cut to 16 bits,
    /// wrapping as dnsmasq's does.
    block: u64,
    /// Where the current block's data starts in the file.
    offset: u64,
    /// File bytes the current block holds (fewer than its length in netascii).
    consumed: u64,
    /// Netascii: the current block starts with an LF whose CR ended the block before,
    /// and the next block will.
    carry_lf: bool,
    next_carry_lf: bool,
    /// Length of the current packet, header included.
    current_len: usize,
    backoff: u32,
    deadline_ms: u64,
}

impl Transfer {
    /// A transfer starting now (its first packet is to be sent at once).
    pub fn new(terms: Terms, now_ms: u64) -> Transfer {
        let options = terms.blksize_option || terms.tsize_option;
        Transfer {
            terms,
            block: if options { 0 } else { 1 },
            offset: 0,
            consumed: 0,
            carry_lf: false,
            next_carry_lf: false,
            current_len: 0,
            backoff: 1,
            deadline_ms: now_ms + FIRST_WAIT_MS,
        }
    }

    /// When the current packet is to be sent again, or the transfer given up.
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// Whether the current packet is a DATA block shorter than a full one (the last).
    fn current_is_short_data(&self) -> bool {
        self.block != 0 && self.current_len < self.terms.block_size as usize + 4
    }

    /// What the current packet needs.
    pub fn needs(&mut self) -> Needs {
        if self.block == 0 {
            let p = packet::oack(
                self.terms.blksize_option.then_some(self.terms.block_size),
                self.terms.tsize_option.then_some(self.terms.file_size),
            );
            self.current_len = p.len();
            return Needs::Oack(p);
        }
        if self.offset > self.terms.file_size {
            return Needs::Finished;
        }
        let left = self.terms.file_size - self.offset;
        Needs::Read {
            offset: self.offset,
            len: left.min(u64::from(self.terms.block_size)) as usize,
        }
    }

    /// The current DATA packet, made into `out` from the bytes read for it.
    pub fn data_packet(&mut self, read: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&OP_DATA.to_be_bytes());
        out.extend_from_slice(&(self.block as u16).to_be_bytes());
        let room = self.terms.block_size as usize;
        if !self.terms.netascii {
            let n = read.len().min(room);
            out.extend_from_slice(&read[..n]);
            self.consumed = u64::from(self.terms.block_size);
        } else {
            let mut used = 0;
            let mut data = 0;
            self.next_carry_lf = false;
            for (i, &b) in read.iter().enumerate() {
                let carried = i == 0 && self.carry_lf;
                if b == b'\n' && !carried {
                    if data + 2 <= room {
                        out.extend_from_slice(b"\r\n");
                        data += 2;
                    } else if data < room {
                        out.push(b'\r');
                        data += 1;
                        self.next_carry_lf = true;
                        break;
                    } else {
                        break;
                    }
                } else if data < room {
                    out.push(b);
                    data += 1;
                } else {
                    break;
                }
                used += 1;
            }
            // A short block is the last: past its end, the file is done.
            self.consumed = if data < room {
                u64::from(self.terms.block_size)
            } else {
                used
            };
        }
        self.current_len = out.len();
    }

    /// The client's packet on this transfer.
    pub fn on_reply(&mut self, reply: Reply, now_ms: u64) -> Step {
        match reply {
            Reply::Ack(n) if n == self.block as u16 => {
                if self.block != 0 {
                    self.offset += self.consumed;
                    self.carry_lf = self.next_carry_lf;
                }
                self.block += 1;
                self.backoff = 1;
                self.deadline_ms = now_ms + FIRST_WAIT_MS;
                Step::SendNext
            }
            Reply::Ack(_) => Step::Nothing,
            Reply::Error(code, message) => {
                Step::ClientError(code, message.to_vec(), self.outcome())
            }
        }
    }

    /// How the transfer ends if it ends now.
    fn outcome(&self) -> Outcome {
        if self.block == 0 || self.current_is_short_data() {
            Outcome::Sent
        } else {
            Outcome::Failed
        }
    }

    /// The wait for the current packet ran out (call once `now_ms` reaches the deadline).
    pub fn on_timeout(&mut self, now_ms: u64) -> Step {
        if now_ms < self.deadline_ms {
            return Step::Nothing;
        }
        self.deadline_ms += 1000 * (1 + (1u64 << (self.backoff / 2)));
        self.backoff += 1;
        if self.backoff > MAX_BACKOFF {
            Step::Ended(self.outcome())
        } else {
            Step::Resend
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(size: u64, block_size: u32) -> Terms {
        Terms {
            block_size,
            blksize_option: false,
            tsize_option: false,
            netascii: false,
            file_size: size,
        }
    }

    /// Run a transfer of `file` to a client that acknowledges everything; the blocks'
    /// data as sent.
    fn blocks(t: &mut Transfer, file: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut p = Vec::new();
        let mut n: u16 = if matches!(t.needs(), Needs::Oack(_)) {
            0
        } else {
            1
        };
        loop {
            match t.needs() {
                Needs::Oack(_) => {}
                Needs::Read { offset, len } => {
                    let at = offset as usize;
                    let read = &file[at.min(file.len())..(at + len).min(file.len())];
                    t.data_packet(read, &mut p);
                    assert_eq!(u16::from_be_bytes([p[2], p[3]]), n);
                    out.push(p[4..].to_vec());
                }
                Needs::Finished => return out,
            }
            assert_eq!(t.on_reply(Reply::Ack(n), 0), Step::SendNext);
            n = n.wrapping_add(1);
        }
    }

    #[test]
    fn a_file_goes_in_blocks_and_a_full_last_block_is_followed_by_an_empty_one() {
        let file = vec![7u8; 1024];
        let mut t = Transfer::new(terms(1024, 512), 0);
        let b = blocks(&mut t, &file);
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![512, 512, 0]
        );
        let mut t = Transfer::new(terms(1000, 512), 0);
        assert_eq!(
            blocks(&mut t, &file[..1000])
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            vec![512, 488]
        );
    }

    #[test]
    fn options_come_first_in_an_oack_acknowledged_as_block_zero() {
        let mut t = Transfer::new(
            Terms {
                blksize_option: true,
                tsize_option: true,
                ..terms(6, 4)
            },
            0,
        );
        assert_eq!(
            t.needs(),
            Needs::Oack(b"\0\x06blksize\x004\0tsize\x006\0".to_vec())
        );
        assert_eq!(t.on_reply(Reply::Ack(1), 0), Step::Nothing);
        assert_eq!(t.on_reply(Reply::Ack(0), 0), Step::SendNext);
        assert_eq!(t.needs(), Needs::Read { offset: 0, len: 4 });
    }

    #[test]
    fn netascii_sends_crlf_and_carries_a_split_pair() {
        let file = b"ab\ncd\n\n";
        let mut t = Transfer::new(
            Terms {
                netascii: true,
                ..terms(file.len() as u64, 3)
            },
            0,
        );
        let sent: Vec<u8> = blocks(&mut t, file).concat();
        assert_eq!(sent, b"ab\r\ncd\r\n\r\n");
        let mut t = Transfer::new(
            Terms {
                netascii: true,
                ..terms(file.len() as u64, 3)
            },
            0,
        );
        let each = blocks(&mut t, file);
        assert_eq!(each[0], b"ab\r");
        assert_eq!(each[1], b"\ncd");
        assert!(each.iter().all(|b| b.len() <= 3));
    }

    #[test]
    fn unacknowledged_blocks_are_sent_again_then_given_up() {
        let mut t = Transfer::new(terms(2000, 512), 0);
        let mut p = Vec::new();
        t.needs();
        t.data_packet(&[0; 512], &mut p);
        let mut resent_at = Vec::new();
        let mut now;
        loop {
            now = t.deadline_ms();
            match t.on_timeout(now) {
                Step::Resend => resent_at.push(now / 1000),
                Step::Ended(o) => {
                    assert_eq!(o, Outcome::Failed);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(resent_at, vec![2, 4, 7, 10, 15, 20]);
        assert_eq!(now / 1000, 29);
    }

    #[test]
    fn waiting_on_the_last_short_block_ends_as_sent() {
        let mut t = Transfer::new(terms(10, 512), 0);
        let mut p = Vec::new();
        t.needs();
        t.data_packet(&[1; 10], &mut p);
        assert_eq!(
            t.on_reply(Reply::Error(0, b"bye"), 0),
            Step::ClientError(0, b"bye".to_vec(), Outcome::Sent)
        );
        let mut t = Transfer::new(terms(1000, 512), 0);
        t.needs();
        t.data_packet(&[1; 512], &mut p);
        assert!(matches!(
            t.on_reply(Reply::Error(1, b""), 0),
            Step::ClientError(1, _, Outcome::Failed)
        ));
    }

    #[test]
    fn block_numbers_wrap_past_65535() {
        let size = 70_000u64;
        let file = vec![0u8; size as usize];
        let mut t = Transfer::new(terms(size, 1), 0);
        assert_eq!(blocks(&mut t, &file).len(), 70_001);
    }
}
