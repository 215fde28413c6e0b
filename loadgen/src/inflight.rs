//! Queries in flight on one socket, by DNS ID: which are outstanding, since when, and which
//! have waited too long. Free of I/O.

use std::collections::VecDeque;

/// IDs per socket.
const IDS: usize = 1 << 16;

/// One outstanding query.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Order of sending, from 1 (0: the slot is free).
    seq: u64,
    /// When it was sent, or in an open loop when it was due, in ns from the run's start.
    pub since_ns: u64,
}

/// The outstanding queries of one socket.
pub struct Inflight {
    slots: Vec<Slot>,
    next_id: u16,
    next_seq: u64,
    /// (ID, seq) in sending order, for finding timeouts without scanning every slot.
    order: VecDeque<(u16, u64)>,
    in_flight: usize,
}

impl Default for Inflight {
    fn default() -> Self {
        Inflight {
            slots: vec![Slot::default(); IDS],
            next_id: 0,
            next_seq: 1,
            order: VecDeque::new(),
            in_flight: 0,
        }
    }
}

impl Inflight {
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Take a free ID for a query sent (or due) at `since_ns`; None when all are in use.
    pub fn take(&mut self, since_ns: u64) -> Option<u16> {
        if self.in_flight >= IDS {
            return None;
        }
        while self.slots[self.next_id as usize].seq != 0 {
            self.next_id = self.next_id.wrapping_add(1);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.slots[id as usize] = Slot { seq, since_ns };
        self.order.push_back((id, seq));
        self.in_flight += 1;
        Some(id)
    }

    /// A reply with `id` came: the query it answers, if that one was outstanding (a
    /// duplicate or a reply after the timeout gives None).
    pub fn answer(&mut self, id: u16) -> Option<Slot> {
        let slot = std::mem::take(&mut self.slots[id as usize]);
        if slot.seq == 0 {
            return None;
        }
        self.in_flight -= 1;
        self.trim();
        Some(slot)
    }

    /// Give up on queries sent before `deadline_ns`; returns how many.
    pub fn expire(&mut self, deadline_ns: u64) -> u64 {
        let mut lost = 0;
        while let Some(&(id, seq)) = self.order.front() {
            let slot = self.slots[id as usize];
            if slot.seq == seq {
                if slot.since_ns >= deadline_ns {
                    break;
                }
                self.slots[id as usize] = Slot::default();
                self.in_flight -= 1;
                lost += 1;
            }
            self.order.pop_front();
        }
        lost
    }

    /// Drop answered queries from the front of the sending order.
    fn trim(&mut self) {
        while let Some(&(id, seq)) = self.order.front() {
            if self.slots[id as usize].seq == seq {
                break;
            }
            self.order.pop_front();
        }
    }

    /// How many queries wait in the sending order (answered ones behind the oldest
    /// outstanding one included); bounded by the queries sent within one timeout.
    pub fn queued(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_match_their_id_once() {
        let mut f = Inflight::default();
        let a = f.take(100).unwrap();
        let b = f.take(200).unwrap();
        assert_ne!(a, b);
        assert_eq!(f.in_flight(), 2);
        assert_eq!(f.answer(b).map(|s| s.since_ns), Some(200));
        assert_eq!(f.answer(b), None, "a duplicate reply matches nothing");
        assert_eq!(
            f.answer(a.wrapping_add(7)),
            None,
            "an unknown ID matches nothing"
        );
        assert_eq!(f.in_flight(), 1);
    }

    #[test]
    fn old_queries_expire_in_order_and_late_replies_match_nothing() {
        let mut f = Inflight::default();
        let ids: Vec<u16> = (0..5).map(|i| f.take(i * 10).unwrap()).collect();
        f.answer(ids[1]);
        assert_eq!(
            f.expire(25),
            2,
            "sent at 0 and 20; the one at 10 was answered"
        );
        assert_eq!(f.in_flight(), 2);
        assert_eq!(f.answer(ids[0]), None, "too late");
        assert_eq!(f.answer(ids[3]).map(|s| s.since_ns), Some(30));
        assert_eq!(f.expire(1000), 1);
        assert_eq!(f.queued(), 0);
    }

    #[test]
    fn ids_are_reused_only_when_free() {
        let mut f = Inflight::default();
        let first = f.take(0).unwrap();
        for _ in 1..IDS {
            f.take(0).unwrap();
        }
        assert_eq!(f.take(0), None, "all 65536 in use");
        f.answer(first);
        assert_eq!(f.take(1), Some(first));
    }
}
