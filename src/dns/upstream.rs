//! Choosing upstream servers, free of I/O: the order a query tries them in (configured
//! order under `--strict-order`, otherwise servers known to be up and fast first), when to
//! try the next (silence, or a SERVFAIL/REFUSED while others are untried), `--all-servers`
//! and `--fast-dns-retry`, and each server's record for SIGUSR1.

use super::wire::{self, rcode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Servers a shard keeps a record of; more are used but not remembered.
const MAX_KNOWN_SERVERS: usize = 4096;

/// `--fast-dns-retry`: resend after `first`, doubling, for `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastRetry {
    pub first: Duration,
    pub total: Duration,
}

/// How queries are forwarded, from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardPolicy {
    /// `--strict-order`.
    pub strict_order: bool,
    /// `--all-servers`.
    pub all_servers: bool,
    pub fast_retry: Option<FastRetry>,
    /// How long one server gets to answer before the next is tried (no fast retry).
    pub timeout: Duration,
    /// Source ports for upstream queries (`--min-port`, `--max-port`).
    pub ports: (u16, u16),
    /// Sockets (so source ports) one query may use per address family (`--port-limit`);
    /// servers with a source binding have their own.
    pub port_limit: usize,
}

impl Default for ForwardPolicy {
    fn default() -> Self {
        ForwardPolicy {
            strict_order: false,
            all_servers: false,
            fast_retry: None,
            timeout: Duration::from_secs(3),
            ports: (1024, 65535),
            port_limit: 1,
        }
    }
}

/// How one server has done lately, as one shard saw it.
#[derive(Clone, Copy, Debug, Default)]
struct Health {
    /// Smoothed round-trip time in microseconds; 0 until it first answers.
    srtt_us: u32,
    /// It last stayed silent.
    failing: bool,
}

/// As dnsmasq, a query is sent to every server at once after this many queries or this
/// long since the last such query, so every server's speed is measured again.
const PROBE_EVERY: u32 = 50;
const PROBE_INTERVAL: Duration = Duration::from_secs(20);

/// One shard's memory of its servers.
#[derive(Debug, Default)]
pub struct Board {
    health: HashMap<SocketAddr, Health>,
    /// Queries forwarded since every server was last asked at once, and when that was.
    since_probe: u32,
    probed_at: Option<Instant>,
}

impl Board {
    /// The order to try `servers` in: as configured under `strict`, otherwise those not
    /// failing before those failing, then those heard from (fastest first) before those
    /// not yet heard from, then as configured.
    pub fn order(&self, servers: &[SocketAddr], strict: bool) -> Vec<SocketAddr> {
        let mut order = servers.to_vec();
        if !strict {
            order.sort_by_key(|s| {
                let h = self.health.get(s).copied().unwrap_or_default();
                (h.failing, h.srtt_us == 0, h.srtt_us)
            });
        }
        order
    }

    /// Whether the query being forwarded now should go to every server at once to measure
    /// them (the first query, then every 50th or after 20 s; never under `strict`).
    pub fn probe_due(&mut self, strict: bool, now: Instant) -> bool {
        if strict {
            return false;
        }
        self.since_probe += 1;
        let due = self.since_probe > PROBE_EVERY
            || self
                .probed_at
                .is_none_or(|at| now.saturating_duration_since(at) > PROBE_INTERVAL);
        if due {
            self.since_probe = 0;
            self.probed_at = Some(now);
        }
        due
    }

    /// `server` answered after `rtt`.
    pub fn answered(&mut self, server: SocketAddr, rtt: Duration) {
        let rtt = rtt.as_micros().min(u32::MAX as u128) as u32;
        if let Some(h) = self.entry(server) {
            h.srtt_us = match h.srtt_us {
                0 => rtt.max(1),
                old => ((u64::from(old) * 7 + u64::from(rtt)) / 8).max(1) as u32,
            };
            h.failing = false;
        }
    }

    /// `server` did not answer in time.
    pub fn failed(&mut self, server: SocketAddr) {
        if let Some(h) = self.entry(server) {
            h.failing = true;
        }
    }

    fn entry(&mut self, server: SocketAddr) -> Option<&mut Health> {
        if self.health.len() >= MAX_KNOWN_SERVERS && !self.health.contains_key(&server) {
            return None;
        }
        Some(self.health.entry(server).or_default())
    }
}

/// What the forwarder does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Send the query to these servers, then wait.
    Send(Vec<SocketAddr>),
    /// Keep waiting for the servers already asked.
    Wait,
    /// Give this reply to the client (None: nothing to give; the client will retry).
    Done(Option<Vec<u8>>),
}

/// The course of one forwarded query.
#[derive(Debug)]
pub struct Plan {
    order: Vec<SocketAddr>,
    /// Index in `order` of the next server not yet asked.
    next: usize,
    /// Servers asked that have not answered yet.
    waiting: usize,
    /// A SERVFAIL or REFUSED kept in case nothing better comes.
    fallback: Option<Vec<u8>>,
    all_servers: bool,
    fast_retry: Option<FastRetry>,
    /// Under fast retry: the wait before the next resend, and the time spent.
    retry_wait: Duration,
    retried_for: Duration,
    timeout: Duration,
}

impl Plan {
    /// A plan to try servers in `order`; with `ask_all` (or `--all-servers`) every one is
    /// asked at once.
    pub fn new(order: Vec<SocketAddr>, policy: &ForwardPolicy, ask_all: bool) -> Plan {
        Plan {
            order,
            next: 0,
            waiting: 0,
            fallback: None,
            all_servers: policy.all_servers || ask_all,
            fast_retry: policy.fast_retry,
            retry_wait: policy.fast_retry.map_or(policy.timeout, |r| r.first),
            retried_for: Duration::ZERO,
            timeout: policy.timeout,
        }
    }

    /// The first sends.
    pub fn start(&mut self) -> Next {
        let n = if self.all_servers {
            self.order.len()
        } else {
            1
        };
        self.send(n)
    }

    /// How long to wait before calling `silence`.
    pub fn wait(&self) -> Duration {
        match self.fast_retry {
            Some(_) => self.retry_wait,
            None => self.timeout,
        }
    }

    /// A believable reply came from one of the servers asked.
    pub fn reply(&mut self, reply: Vec<u8>) -> Next {
        self.waiting = self.waiting.saturating_sub(1);
        if !matches!(wire::header_rcode(&reply), rcode::SERVFAIL | rcode::REFUSED) {
            return Next::Done(Some(reply));
        }
        self.fallback = Some(reply);
        if self.next < self.order.len() {
            return self.send(1);
        }
        if self.waiting == 0 {
            return Next::Done(self.fallback.take());
        }
        Next::Wait
    }

    /// Nothing came within `wait()`. Returns the servers that stayed silent along with what
    /// to do next.
    pub fn silence(&mut self) -> (Vec<SocketAddr>, Next) {
        let silent = self.order[..self.next].to_vec();
        // Those asked are given up on (a late answer from them is still taken).
        self.waiting = 0;
        let next = match self.fast_retry {
            None if self.next < self.order.len() => self.send(1),
            None => Next::Done(self.fallback.take()),
            Some(r) => {
                self.retried_for += self.retry_wait;
                if self.retried_for >= r.total || self.order.is_empty() {
                    Next::Done(self.fallback.take())
                } else {
                    self.retry_wait = (self.retry_wait * 2).min(r.total - self.retried_for);
                    if self.next < self.order.len() {
                        self.send(1)
                    } else {
                        // Every server asked: ask them all again.
                        self.waiting = self.order.len();
                        Next::Send(self.order.clone())
                    }
                }
            }
        };
        (silent, next)
    }

    fn send(&mut self, n: usize) -> Next {
        let end = (self.next + n).min(self.order.len());
        let batch = self.order[self.next..end].to_vec();
        self.next = end;
        if batch.is_empty() {
            return Next::Done(self.fallback.take());
        }
        self.waiting += batch.len();
        Next::Send(batch)
    }
}

/// One server's record, summed over shards for SIGUSR1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub queries: u64,
    pub retried: u64,
    pub failed: u64,
    pub nxdomain: u64,
    pub answered: u64,
    pub latency_ms_total: u64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.queries += other.queries;
        self.retried += other.retried;
        self.failed += other.failed;
        self.nxdomain += other.nxdomain;
        self.answered += other.answered;
        self.latency_ms_total += other.latency_ms_total;
    }

    /// dnsmasq's SIGUSR1 line for this server.
    pub fn line(&self, server: SocketAddr) -> String {
        let latency = self
            .latency_ms_total
            .checked_div(self.answered)
            .unwrap_or(0);
        format!(
            "server {}#{}: queries sent {}, retried {}, failed {}, nxdomain replies {}, avg. latency {}ms",
            server.ip(),
            server.port(),
            self.queries,
            self.retried,
            self.failed,
            self.nxdomain,
            latency
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u8) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, n], 53))
    }

    fn reply(code: u8) -> Vec<u8> {
        let mut r = vec![0u8; 12];
        r[2] = 0x80;
        r[3] = code;
        r
    }

    #[test]
    fn silent_and_slow_servers_move_back_unless_order_is_strict() {
        let mut b = Board::default();
        let servers = [s(1), s(2), s(3)];
        assert_eq!(b.order(&servers, false), servers);
        b.failed(s(1));
        b.answered(s(2), Duration::from_millis(30));
        b.answered(s(3), Duration::from_millis(5));
        assert_eq!(b.order(&servers, false), [s(3), s(2), s(1)]);
        assert_eq!(b.order(&servers, true), servers);
        b.answered(s(1), Duration::from_millis(1));
        assert_eq!(b.order(&servers, false)[0], s(1));
    }

    #[test]
    fn unheard_servers_wait_for_a_probe_which_comes_every_50_queries_or_20_seconds() {
        let mut b = Board::default();
        let servers = [s(1), s(2)];
        b.answered(s(2), Duration::from_millis(9));
        assert_eq!(b.order(&servers, false), [s(2), s(1)]);
        let t0 = Instant::now();
        assert!(b.probe_due(false, t0), "the first query asks every server");
        let probes = (1..=100)
            .filter(|_| b.probe_due(false, t0 + Duration::from_secs(1)))
            .count();
        assert_eq!(probes, 1, "then one in 51");
        assert!(b.probe_due(false, t0 + Duration::from_secs(25)));
        assert!(!b.probe_due(true, t0 + Duration::from_secs(99)));
        let mut p = Plan::new(servers.to_vec(), &ForwardPolicy::default(), true);
        assert_eq!(p.start(), Next::Send(servers.to_vec()));
    }

    #[test]
    fn silence_moves_on_and_servfail_tries_the_others_first() {
        let policy = ForwardPolicy::default();
        let mut p = Plan::new(vec![s(1), s(2), s(3)], &policy, false);
        assert_eq!(p.start(), Next::Send(vec![s(1)]));
        let (silent, next) = p.silence();
        assert_eq!((silent, next), (vec![s(1)], Next::Send(vec![s(2)])));
        assert_eq!(p.reply(reply(rcode::SERVFAIL)), Next::Send(vec![s(3)]));
        assert_eq!(
            p.reply(reply(rcode::REFUSED)),
            Next::Done(Some(reply(rcode::REFUSED)))
        );
        let mut p = Plan::new(vec![s(1)], &policy, false);
        p.start();
        assert_eq!(p.silence().1, Next::Done(None));
        let mut p = Plan::new(vec![s(1), s(2)], &policy, false);
        p.start();
        assert_eq!(
            p.reply(reply(rcode::NXDOMAIN)),
            Next::Done(Some(reply(rcode::NXDOMAIN)))
        );
    }

    #[test]
    fn all_servers_asks_everyone_and_takes_the_first_good_answer() {
        let policy = ForwardPolicy {
            all_servers: true,
            ..Default::default()
        };
        let mut p = Plan::new(vec![s(1), s(2)], &policy, false);
        assert_eq!(p.start(), Next::Send(vec![s(1), s(2)]));
        assert_eq!(p.reply(reply(rcode::SERVFAIL)), Next::Wait);
        assert_eq!(
            p.reply(reply(rcode::NOERROR)),
            Next::Done(Some(reply(rcode::NOERROR)))
        );
    }

    #[test]
    fn fast_retry_resends_with_backoff_until_its_time_is_up() {
        let policy = ForwardPolicy {
            fast_retry: Some(FastRetry {
                first: Duration::from_millis(100),
                total: Duration::from_millis(1000),
            }),
            ..Default::default()
        };
        let mut p = Plan::new(vec![s(1), s(2)], &policy, false);
        p.start();
        let mut waits = vec![p.wait()];
        let mut sends = 1;
        loop {
            match p.silence().1 {
                Next::Send(v) => sends += v.len(),
                Next::Done(r) => {
                    assert_eq!(r, None);
                    break;
                }
                Next::Wait => unreachable!(),
            }
            waits.push(p.wait());
        }
        let ms: Vec<u128> = waits.iter().map(|w| w.as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 300]);
        assert_eq!(waits.iter().sum::<Duration>(), Duration::from_millis(1000));
        assert_eq!(sends, 6);
    }

    #[test]
    fn the_sigusr1_line_reads_as_dnsmasq_writes_it() {
        let t = Tally {
            queries: 10,
            retried: 1,
            failed: 2,
            nxdomain: 3,
            answered: 4,
            latency_ms_total: 40,
        };
        assert_eq!(
            t.line(s(9)),
            "server 192.0.2.9#53: queries sent 10, retried 1, failed 2, nxdomain replies 3, avg. latency 10ms"
        );
    }
}
