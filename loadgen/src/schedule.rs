//! The open-loop schedule: query k of a thread is due at start + k / rate, whatever the
//! server does, and its latency counts from then, so a stalled server cannot hide it.

/// A fixed-rate schedule.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Nanoseconds between queries.
    interval_ns: f64,
}

impl Schedule {
    /// `rate` queries per second (at least one a second).
    pub fn new(rate: f64) -> Schedule {
        Schedule {
            interval_ns: 1e9 / rate.max(1.0),
        }
    }

    /// When query `k` (from 0) is due, in ns from the start.
    pub fn due_ns(&self, k: u64) -> u64 {
        (k as f64 * self.interval_ns) as u64
    }

    /// How many queries are due by `now_ns` (from the start).
    pub fn due_by(&self, now_ns: u64) -> u64 {
        (now_ns as f64 / self.interval_ns) as u64 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_fall_due_at_the_rate_whatever_happened_before() {
        let s = Schedule::new(1000.0);
        assert_eq!(s.due_ns(0), 0);
        assert_eq!(s.due_ns(3), 3_000_000);
        assert_eq!(s.due_by(0), 1);
        assert_eq!(s.due_by(2_500_000), 3);
        // A sender that stalled for a second owes a second's worth at once.
        assert_eq!(s.due_by(1_000_000_000), 1001);
    }
}
