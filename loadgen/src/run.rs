//! One load-generating thread: its own connected sockets, each with its own IDs, queries
//! sent and replies read in batches, closed loop (keep N queries outstanding) or open loop
//! (send on a fixed schedule and time each reply from when its query was due).

use crate::inflight::Inflight;
use crate::net::{self, Batch};
use crate::queries::RandomNames;
use crate::schedule::Schedule;
use crate::stats::Stats;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where queries come from.
pub enum Queries {
    /// Fixed queries (wire form, ID 0), used in turn.
    List(Arc<Vec<Vec<u8>>>),
    /// Random first labels under a domain: every query a cache miss.
    Random { domain: String, qtype: u16 },
}

/// What one thread does.
pub struct Job {
    pub server: SocketAddr,
    pub sockets: usize,
    /// Closed loop: queries kept outstanding by this thread.
    pub outstanding: usize,
    /// Open loop: this thread's rate (queries per second).
    pub rate: Option<f64>,
    pub run_for: Duration,
    pub timeout: Duration,
    pub queries: Queries,
    pub edns: Option<u16>,
    /// Where this thread starts in the query list, so threads do not ask in lock step.
    pub offset: usize,
    pub cpu: Option<usize>,
}

/// Counters the progress line reads while threads run.
#[derive(Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub completed: AtomicU64,
}

/// Per-socket state.
struct Lane {
    /// Kept open for the run.
    _sock: UdpSocket,
    fd: RawFd,
    inflight: Inflight,
    out: Batch,
    /// IDs of the queries in `out`, to give back if they cannot be sent.
    out_ids: Vec<u16>,
}

/// Run `job` until its time is up and every reply has come or timed out.
pub fn run(job: &Job, start: Instant, progress: &Progress) -> std::io::Result<Stats> {
    if let Some(cpu) = job.cpu {
        net::pin_to(cpu);
    }
    let mut lanes = Vec::with_capacity(job.sockets.max(1));
    for _ in 0..job.sockets.max(1) {
        let sock = net::connected(job.server)?;
        let fd = sock.as_raw_fd();
        lanes.push(Lane {
            _sock: sock,
            fd,
            inflight: Inflight::default(),
            out: Batch::default(),
            out_ids: Vec::with_capacity(net::BATCH),
        });
    }
    let fds: Vec<RawFd> = lanes.iter().map(|l| l.fd).collect();
    let mut stats = Stats::default();
    let mut incoming = Batch::default();
    let mut random = match &job.queries {
        Queries::Random { domain, qtype } => Some(RandomNames::new(
            domain,
            *qtype,
            job.edns,
            0x9e37_79b9_7f4a_7c15 ^ (job.offset as u64 + 1),
        )),
        Queries::List(_) => None,
    };
    let schedule = job.rate.map(Schedule::new);
    let mut next_query = job.offset;
    let mut scheduled: u64 = 0;
    let mut lane_turn = 0usize;
    let end_ns = job.run_for.as_nanos() as u64;
    let timeout_ns = job.timeout.as_nanos() as u64;
    let mut last_expiry = 0u64;
    loop {
        let now_ns = start.elapsed().as_nanos() as u64;
        let sending = now_ns < end_ns;
        let in_flight: usize = lanes.iter().map(|l| l.inflight.in_flight()).sum();
        if !sending && in_flight == 0 {
            break;
        }
        if !sending && now_ns > end_ns + timeout_ns {
            break;
        }
        // Send what is due.
        let mut to_send = match (sending, schedule) {
            (false, _) => 0,
            (true, Some(s)) => s.due_by(now_ns).saturating_sub(scheduled) as usize,
            (true, None) => job.outstanding.saturating_sub(in_flight),
        };
        let mut sent_now = 0;
        while to_send > 0 {
            let lane = &mut lanes[lane_turn % job.sockets.max(1)];
            lane_turn += 1;
            let since = match schedule {
                Some(s) => s.due_ns(scheduled),
                None => now_ns,
            };
            scheduled += 1;
            to_send -= 1;
            let Some(id) = lane.inflight.take(since) else {
                stats.not_sent += 1;
                continue;
            };
            let generated;
            let query: &[u8] = match (&job.queries, random.as_mut()) {
                (_, Some(r)) => {
                    generated = r.next_query();
                    &generated
                }
                (Queries::List(list), None) => {
                    let q = &list[next_query % list.len()];
                    next_query += 1;
                    q
                }
                (Queries::Random { .. }, None) => &[],
            };
            let slot = lane.out.slot();
            let len = query.len().min(slot.len());
            slot[..len].copy_from_slice(&query[..len]);
            slot[..2].copy_from_slice(&id.to_be_bytes());
            lane.out.push(len);
            lane.out_ids.push(id);
            stats.request_bytes += len as u64;
            if lane.out.is_full() {
                sent_now += flush(lane, &mut stats);
            }
        }
        for lane in lanes.iter_mut() {
            sent_now += flush(lane, &mut stats);
        }
        // Read what came.
        let mut received = 0;
        for lane in lanes.iter_mut() {
            loop {
                let n = incoming.receive(lane.fd, false).unwrap_or(0);
                if n == 0 {
                    break;
                }
                let at = start.elapsed().as_nanos() as u64;
                for i in 0..n {
                    let reply = incoming.get(i);
                    if reply.len() < 4 {
                        stats.unexpected += 1;
                        continue;
                    }
                    let id = u16::from_be_bytes([reply[0], reply[1]]);
                    match lane.inflight.answer(id) {
                        Some(slot) => stats.completed(
                            at.saturating_sub(slot.since_ns),
                            reply[3] & 0x0f,
                            reply.len(),
                        ),
                        None => stats.unexpected += 1,
                    }
                }
                received += n;
                if n < net::BATCH {
                    break;
                }
            }
        }
        // Give up on old queries now and then.
        if now_ns.saturating_sub(last_expiry) > 10_000_000 {
            last_expiry = now_ns;
            let deadline = now_ns.saturating_sub(timeout_ns);
            for lane in lanes.iter_mut() {
                stats.lost += lane.inflight.expire(deadline);
            }
        }
        progress.sent.fetch_add(sent_now as u64, Ordering::Relaxed);
        progress
            .completed
            .fetch_add(received as u64, Ordering::Relaxed);
        if sent_now == 0 && received == 0 {
            // Nothing moved: wait for a reply (or the next due query) rather than spin.
            let wait_ms = match schedule {
                Some(_) => 0,
                None => 1,
            };
            net::wait_readable(&fds, wait_ms);
        }
    }
    // Whatever is still out when the run ends is lost.
    for lane in lanes.iter_mut() {
        stats.lost += lane.inflight.expire(u64::MAX);
    }
    Ok(stats)
}

/// Send a lane's batch; queries that did not go are given back and counted as not sent.
fn flush(lane: &mut Lane, stats: &mut Stats) -> usize {
    if lane.out.is_empty() {
        return 0;
    }
    let sent = lane.out.send(lane.fd, false).unwrap_or(0);
    for &id in &lane.out_ids[sent..] {
        lane.inflight.answer(id);
        stats.not_sent += 1;
    }
    stats.sent += sent as u64;
    lane.out.clear();
    lane.out_ids.clear();
    sent
}
