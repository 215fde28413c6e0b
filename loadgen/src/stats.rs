//! What a run measured: queries sent, completed and lost, response codes, sizes, and a
//! latency histogram (hdrhistogram, microseconds); merged over threads and reported in
//! dnsperf's words, with percentiles, as text or JSON.

use hdrhistogram::Histogram;

/// Longest latency the histogram records exactly (longer ones are clamped to it).
const MAX_LATENCY_US: u64 = 60_000_000;

/// Response code names, by number.
const RCODES: [&str; 16] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
];

/// One thread's (or the whole run's) figures.
#[derive(Clone)]
pub struct Stats {
    pub sent: u64,
    pub completed: u64,
    pub lost: u64,
    /// Replies that matched no outstanding query (late or duplicate).
    pub unexpected: u64,
    /// Queries an open loop could not send (no free ID, or the send failed).
    pub not_sent: u64,
    /// Replies that did not answer their query's question (with answer checks on).
    pub check_failed: u64,
    pub rcodes: [u64; 16],
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub latency_us: Histogram<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            sent: 0,
            completed: 0,
            lost: 0,
            unexpected: 0,
            not_sent: 0,
            check_failed: 0,
            rcodes: [0; 16],
            request_bytes: 0,
            response_bytes: 0,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl Stats {
    /// A reply of `bytes` with response code `rcode` came `latency_ns` after its query.
    pub fn completed(&mut self, latency_ns: u64, rcode: u8, bytes: usize) {
        self.completed += 1;
        self.rcodes[(rcode & 0x0f) as usize] += 1;
        self.response_bytes += bytes as u64;
        let us = (latency_ns / 1000).clamp(1, MAX_LATENCY_US);
        let _ = self.latency_us.record(us);
    }

    pub fn merge(&mut self, other: &Stats) {
        self.sent += other.sent;
        self.completed += other.completed;
        self.lost += other.lost;
        self.unexpected += other.unexpected;
        self.not_sent += other.not_sent;
        self.check_failed += other.check_failed;
        for (a, b) in self.rcodes.iter_mut().zip(other.rcodes) {
            *a += b;
        }
        self.request_bytes += other.request_bytes;
        self.response_bytes += other.response_bytes;
        let _ = self.latency_us.add(&other.latency_us);
    }

    /// Latency at percentile `p` in seconds.
    fn at(&self, p: f64) -> f64 {
        self.latency_us.value_at_quantile(p / 100.0) as f64 / 1e6
    }

    /// dnsperf's summary lines, then the percentiles.
    pub fn report(&self, seconds: f64) -> String {
        let pct = |n: u64| {
            if self.sent == 0 {
                0.0
            } else {
                n as f64 * 100.0 / self.sent as f64
            }
        };
        let codes: Vec<String> = RCODES
            .iter()
            .zip(self.rcodes)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name} {n} ({:.2}%)", pct(n)))
            .collect();
        let avg = |bytes: u64, n: u64| bytes.checked_div(n).unwrap_or(0);
        let h = &self.latency_us;
        let mut out = String::new();
        out += "Statistics:\n\n";
        out += &format!("  Queries sent:         {}\n", self.sent);
        out += &format!(
            "  Queries completed:    {} ({:.2}%)\n",
            self.completed,
            pct(self.completed)
        );
        out += &format!(
            "  Queries lost:         {} ({:.2}%)\n",
            self.lost,
            pct(self.lost)
        );
        if self.not_sent > 0 {
            out += &format!("  Queries not sent:     {}\n", self.not_sent);
        }
        if self.unexpected > 0 {
            out += &format!("  Unexpected replies:   {}\n", self.unexpected);
        }
        if self.check_failed > 0 {
            out += &format!("  Failed answer checks: {}\n", self.check_failed);
        }
        out += "\n";
        out += &format!("  Response codes:       {}\n", codes.join(", "));
        out += &format!(
            "  Average packet size:  request {}, response {}\n",
            avg(self.request_bytes, self.sent),
            avg(self.response_bytes, self.completed)
        );
        out += &format!("  Run time (s):         {seconds:.6}\n");
        out += &format!("  Queries per second:   {:.6}\n\n", self.qps(seconds));
        out += &format!(
            "  Average Latency (s):  {:.6} (min {:.6}, max {:.6})\n",
            h.mean() / 1e6,
            h.min() as f64 / 1e6,
            h.max() as f64 / 1e6
        );
        out += &format!("  Latency StdDev (s):   {:.6}\n", h.stdev() / 1e6);
        out += &format!(
            "  Latency percentiles (s): p50 {:.6}, p90 {:.6}, p99 {:.6}, p99.9 {:.6}, max {:.6}\n",
            self.at(50.0),
            self.at(90.0),
            self.at(99.0),
            self.at(99.9),
            h.max() as f64 / 1e6
        );
        out
    }

    pub fn qps(&self, seconds: f64) -> f64 {
        if seconds > 0.0 {
            self.completed as f64 / seconds
        } else {
            0.0
        }
    }

    /// The figures as one JSON object.
    pub fn json(&self, seconds: f64) -> String {
        let codes: Vec<String> = RCODES
            .iter()
            .zip(self.rcodes)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("\"{name}\": {n}"))
            .collect();
        format!(
            "{{\"queries_sent\": {}, \"queries_completed\": {}, \"queries_lost\": {}, \
             \"queries_not_sent\": {}, \"unexpected_replies\": {}, \"failed_checks\": {}, \"run_time_s\": {seconds:.6}, \
             \"qps\": {:.1}, \"latency_s\": {{\"mean\": {:.6}, \"p50\": {:.6}, \"p90\": {:.6}, \
             \"p99\": {:.6}, \"p99_9\": {:.6}, \"max\": {:.6}}}, \"rcodes\": {{{}}}}}",
            self.sent,
            self.completed,
            self.lost,
            self.not_sent,
            self.unexpected,
            self.check_failed,
            self.qps(seconds),
            self.latency_us.mean() / 1e6,
            self.at(50.0),
            self.at(90.0),
            self.at(99.0),
            self.at(99.9),
            self.latency_us.max() as f64 / 1e6,
            codes.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_merge_and_percentiles_come_out_in_seconds() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.sent = 100;
        b.sent = 100;
        for i in 1..=100u64 {
            a.completed(i * 1_000_000, 0, 50);
        }
        for _ in 0..100 {
            b.completed(500_000_000, 3, 60);
        }
        a.merge(&b);
        assert_eq!(a.completed, 200);
        assert_eq!(a.rcodes[0], 100);
        assert_eq!(a.rcodes[3], 100);
        assert!((a.at(25.0) - 0.050).abs() < 0.001, "{}", a.at(25.0));
        assert!((a.at(99.0) - 0.5).abs() < 0.001);
        let text = a.report(2.0);
        assert!(text.contains("  Queries sent:         200\n"));
        assert!(text.contains("  Queries completed:    200 (100.00%)\n"));
        assert!(text.contains("  Queries per second:   100.000000\n"));
        assert!(text.contains("NXDOMAIN 100 (50.00%)"));
        assert!(a.json(2.0).contains("\"queries_completed\": 200"));
    }
}
