//! One load-generating thread: its own connected sockets (UDP, or TCP connections with
//! queries pipelined), each with its own IDs, queries sent and replies read in batches, closed loop (keep N queries outstanding) or open loop
//! (send on a fixed schedule and time each reply from when its query was due).

use crate::check;
use crate::inflight::Inflight;
use crate::net::{self, Batch};
use crate::queries::RandomNames;
use crate::schedule::Schedule;
use crate::stats::Stats;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
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
    /// Over TCP (each socket one connection, queries pipelined) instead of UDP.
    pub tcp: bool,
    /// Check that each reply answers its query's question (`check_failed` counts those
    /// that do not).
    pub check: bool,
}

/// Counters the progress line reads while threads run.
#[derive(Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub completed: AtomicU64,
}

/// How one lane's queries travel.
enum Link {
    /// A connected UDP socket; queries go out in batches.
    Udp {
        sock: UdpSocket,
        /// Whether runs of equal-sized queries go out packed (UDP_SEGMENT); turned off
        /// for good the first time the kernel refuses.
        packed: bool,
        out: Box<Batch>,
        /// IDs of the queries in `out`, to give back if they cannot be sent.
        out_ids: Vec<u16>,
    },
    /// A TCP connection carrying many queries, each with its two-byte length. Opened
    /// when first needed and again after the server closes it.
    Tcp {
        stream: Option<TcpStream>,
        /// Framed queries not yet written.
        pending: Vec<u8>,
        /// Bytes read that do not yet make a whole reply.
        input: Vec<u8>,
    },
}

/// Framed queries a TCP lane holds back before it stops taking more.
const TCP_PENDING_MAX: usize = 1 << 18;

/// One socket (UDP) or connection (TCP) and the queries outstanding on it.
struct Lane {
    link: Link,
    inflight: Inflight,
    /// With answer checks: the query number behind each outstanding ID.
    tags: Vec<u64>,
}

impl Lane {
    fn open(server: SocketAddr, tcp: bool, check: bool) -> std::io::Result<Lane> {
        let link = if tcp {
            Link::Tcp {
                stream: None,
                pending: Vec::new(),
                input: Vec::new(),
            }
        } else {
            Link::Udp {
                sock: net::connected(server)?,
                packed: true,
                out: Box::default(),
                out_ids: Vec::with_capacity(net::BATCH),
            }
        };
        Ok(Lane {
            link,
            inflight: Inflight::default(),
            tags: if check { vec![0; 1 << 16] } else { Vec::new() },
        })
    }

    fn fd(&self) -> Option<RawFd> {
        match &self.link {
            Link::Udp { sock, .. } => Some(sock.as_raw_fd()),
            Link::Tcp { stream, .. } => stream.as_ref().map(|s| s.as_raw_fd()),
        }
    }

    /// Whether another query can be queued now.
    fn has_room(&self) -> bool {
        match &self.link {
            Link::Udp { .. } => true,
            Link::Tcp { pending, .. } => pending.len() < TCP_PENDING_MAX,
        }
    }

    /// Queue `query` with `id`; UDP batches are sent when full. Returns queries sent.
    fn queue(&mut self, query: &[u8], id: u16, server: SocketAddr, stats: &mut Stats) -> usize {
        stats.request_bytes += query.len() as u64;
        match &mut self.link {
            Link::Udp { out, out_ids, .. } => {
                let slot = out.slot();
                let len = query.len().min(slot.len());
                slot[..len].copy_from_slice(&query[..len]);
                slot[..2].copy_from_slice(&id.to_be_bytes());
                out.push(len);
                out_ids.push(id);
                if out.is_full() {
                    return self.flush(server, stats);
                }
                0
            }
            Link::Tcp { pending, .. } => {
                pending.extend_from_slice(&(query.len() as u16).to_be_bytes());
                let at = pending.len();
                pending.extend_from_slice(query);
                pending[at..at + 2].copy_from_slice(&id.to_be_bytes());
                stats.sent += 1;
                1
            }
        }
    }

    /// Send what is queued. UDP queries that did not go are given back and counted as not
    /// sent; TCP writes what the connection takes and keeps the rest. Returns UDP queries
    /// sent (TCP ones are counted when queued).
    fn flush(&mut self, server: SocketAddr, stats: &mut Stats) -> usize {
        match &mut self.link {
            Link::Udp {
                sock,
                packed,
                out,
                out_ids,
            } => {
                if out.is_empty() {
                    return 0;
                }
                let fd = sock.as_raw_fd();
                let mut sent = None;
                if *packed {
                    match out.send_packed(fd, false) {
                        Ok(n) => sent = Some(n),
                        Err(_) => *packed = false,
                    }
                }
                let sent = sent.unwrap_or_else(|| out.send(fd, false).unwrap_or(0));
                for &id in &out_ids[sent..] {
                    self.inflight.answer(id);
                    stats.not_sent += 1;
                }
                stats.sent += sent as u64;
                out.clear();
                out_ids.clear();
                sent
            }
            Link::Tcp {
                stream,
                pending,
                input,
            } => {
                if pending.is_empty() {
                    return 0;
                }
                if stream.is_none() {
                    match net::tcp_connect(server) {
                        Ok(s) => *stream = Some(s),
                        Err(_) => {
                            // Unreachable: what was queued waits out its timeout.
                            pending.clear();
                            return 0;
                        }
                    }
                }
                let s = stream.as_mut().expect("connected above");
                let mut written = 0;
                while written < pending.len() {
                    match s.write(&pending[written..]) {
                        Ok(0) => break,
                        Ok(n) => written += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => {
                            // The server closed it: these queries are lost (they time
                            // out); the next ones open a new connection.
                            *stream = None;
                            input.clear();
                            pending.clear();
                            return 0;
                        }
                    }
                }
                pending.drain(..written);
                0
            }
        }
    }

    /// Read every reply waiting and hand each to `each`.
    fn receive(
        &mut self,
        incoming: &mut Batch,
        mut each: impl FnMut(&mut Inflight, &[u64], &[u8]),
    ) -> usize {
        let Lane {
            link,
            inflight,
            tags,
        } = self;
        let mut count = 0;
        match link {
            Link::Udp { sock, .. } => loop {
                let n = incoming.receive(sock.as_raw_fd(), false).unwrap_or(0);
                for i in 0..n {
                    each(inflight, tags, incoming.get(i));
                }
                count += n;
                if n < net::BATCH {
                    break;
                }
            },
            Link::Tcp { stream, input, .. } => {
                let Some(s) = stream.as_mut() else {
                    return 0;
                };
                let mut buf = [0u8; 65536];
                let open = loop {
                    match s.read(&mut buf) {
                        Ok(0) => break false,
                        Ok(n) => input.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
                        Err(_) => break false,
                    }
                };
                let used = net::each_frame(input, |reply| {
                    each(inflight, tags, reply);
                    count += 1;
                });
                input.drain(..used);
                if !open {
                    *stream = None;
                    input.clear();
                }
            }
        }
        count
    }
}

/// One job's lanes and where it is in its queries, moved on a step at a time: by `run`
/// alone, or in turn with others by `run_turns`.
struct Driver<'j> {
    job: &'j Job,
    lanes: Vec<Lane>,
    stats: Stats,
    incoming: Batch,
    random: Option<RandomNames>,
    schedule: Option<Schedule>,
    next_query: usize,
    scheduled: u64,
    lane_turn: usize,
    last_expiry: u64,
}

impl<'j> Driver<'j> {
    fn new(job: &'j Job) -> std::io::Result<Driver<'j>> {
        let mut lanes = Vec::with_capacity(job.sockets.max(1));
        for _ in 0..job.sockets.max(1) {
            lanes.push(Lane::open(job.server, job.tcp, job.check)?);
        }
        let random = match &job.queries {
            Queries::Random { domain, qtype } => Some(RandomNames::new(
                domain,
                *qtype,
                job.edns,
                0x9e37_79b9_7f4a_7c15 ^ (job.offset as u64 + 1),
            )),
            Queries::List(_) => None,
        };
        Ok(Driver {
            job,
            lanes,
            stats: Stats::default(),
            incoming: Batch::default(),
            random,
            schedule: job.rate.map(Schedule::new),
            next_query: job.offset,
            scheduled: 0,
            lane_turn: 0,
            last_expiry: 0,
        })
    }

    fn in_flight(&self) -> usize {
        self.lanes.iter().map(|l| l.inflight.in_flight()).sum()
    }

    /// Send what is due (nothing unless `sending`), read what came, give up on old
    /// queries now and then; where nothing moved, wait a little for a reply.
    fn step(&mut self, now_ns: u64, sending: bool, start: Instant, progress: &Progress) {
        let Driver {
            job,
            lanes,
            stats,
            incoming,
            random,
            schedule,
            next_query,
            scheduled,
            lane_turn,
            last_expiry,
        } = self;
        let timeout_ns = job.timeout.as_nanos() as u64;
        let in_flight: usize = lanes.iter().map(|l| l.inflight.in_flight()).sum();
        // Send what is due.
        let mut to_send = match (sending, *schedule) {
            (false, _) => 0,
            (true, Some(s)) => s.due_by(now_ns).saturating_sub(*scheduled) as usize,
            (true, None) => job.outstanding.saturating_sub(in_flight),
        };
        let mut sent_now = 0;
        while to_send > 0 {
            let lane = &mut lanes[*lane_turn % job.sockets.max(1)];
            *lane_turn += 1;
            let since = match schedule {
                Some(s) => s.due_ns(*scheduled),
                None => now_ns,
            };
            *scheduled += 1;
            to_send -= 1;
            if !lane.has_room() {
                stats.not_sent += 1;
                continue;
            }
            let Some(id) = lane.inflight.take(since) else {
                stats.not_sent += 1;
                continue;
            };
            let generated;
            let (tag, query): (u64, &[u8]) = match (&job.queries, random.as_mut()) {
                (_, Some(r)) => {
                    let (tag, q) = r.next_query();
                    generated = q;
                    (tag, &generated)
                }
                (Queries::List(list), None) => {
                    let i = *next_query % list.len();
                    *next_query += 1;
                    (i as u64, &list[i])
                }
                (Queries::Random { .. }, None) => (0, &[]),
            };
            if job.check {
                lane.tags[id as usize] = tag;
            }
            sent_now += lane.queue(query, id, job.server, stats);
        }
        for lane in lanes.iter_mut() {
            sent_now += lane.flush(job.server, stats);
        }
        // Read what came.
        let mut received = 0;
        let at = start.elapsed().as_nanos() as u64;
        for lane in lanes.iter_mut() {
            received += lane.receive(incoming, |inflight, tags, reply| {
                if reply.len() < 4 {
                    stats.unexpected += 1;
                    return;
                }
                let id = u16::from_be_bytes([reply[0], reply[1]]);
                let Some(slot) = inflight.answer(id) else {
                    stats.unexpected += 1;
                    return;
                };
                stats.completed(
                    at.saturating_sub(slot.since_ns),
                    reply[3] & 0x0f,
                    reply.len(),
                );
                if job.check {
                    let tag = tags[id as usize];
                    let good = match (&job.queries, random.as_ref()) {
                        (_, Some(r)) => check::answers(&r.query_for(tag), reply),
                        (Queries::List(list), None) => check::answers(&list[tag as usize], reply),
                        (Queries::Random { .. }, None) => false,
                    };
                    if !good {
                        stats.check_failed += 1;
                    }
                }
            });
        }
        // Give up on old queries now and then.
        if now_ns.saturating_sub(*last_expiry) > 10_000_000 {
            *last_expiry = now_ns;
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
            let fds: Vec<RawFd> = lanes.iter().filter_map(Lane::fd).collect();
            net::wait_readable(&fds, wait_ms);
        }
    }

    /// The figures, with whatever is still out counted lost.
    fn finish(mut self) -> Stats {
        for lane in self.lanes.iter_mut() {
            self.stats.lost += lane.inflight.expire(u64::MAX);
        }
        self.stats
    }
}

/// Run `job` until its time is up and every reply has come or timed out.
pub fn run(job: &Job, start: Instant, progress: &Progress) -> std::io::Result<Stats> {
    if let Some(cpu) = job.cpu {
        net::pin_to(cpu);
    }
    let mut driver = Driver::new(job)?;
    let end_ns = job.run_for.as_nanos() as u64;
    let timeout_ns = job.timeout.as_nanos() as u64;
    loop {
        let now_ns = start.elapsed().as_nanos() as u64;
        let sending = now_ns < end_ns;
        if !sending && (driver.in_flight() == 0 || now_ns > end_ns + timeout_ns) {
            break;
        }
        driver.step(now_ns, sending, start, progress);
    }
    Ok(driver.finish())
}

/// One job's figures from `run_turns`, and the time its turns took.
pub struct TurnResult {
    pub stats: Stats,
    pub seconds: f64,
}

/// Run `jobs` (closed loop, on the first job's CPU) one at a time in turns of `turn`,
/// round and round until their `run_for` has passed: each turn sends for `turn`, then waits
/// for that job's replies (or their timeout) before the next job's turn, and counts all
/// of that as the job's time. Servers asked in quick turns like this see the same drift
/// of the machine (other tenants), which slow runs one after the other do not.
pub fn run_turns(
    jobs: &[Job],
    turn: Duration,
    start: Instant,
    progress: &Progress,
) -> std::io::Result<Vec<TurnResult>> {
    if let Some(cpu) = jobs.first().and_then(|j| j.cpu) {
        net::pin_to(cpu);
    }
    let mut drivers = jobs
        .iter()
        .map(Driver::new)
        .collect::<Result<Vec<_>, _>>()?;
    let mut seconds = vec![0.0; drivers.len()];
    let run_for = jobs.iter().map(|j| j.run_for).max().unwrap_or_default();
    let (turn_ns, end_ns) = (turn.as_nanos() as u64, run_for.as_nanos() as u64);
    while (start.elapsed().as_nanos() as u64) < end_ns {
        for (driver, spent) in drivers.iter_mut().zip(&mut seconds) {
            let began = start.elapsed().as_nanos() as u64;
            let (sends_until, waits_until) = (
                began + turn_ns,
                began + turn_ns + driver.job.timeout.as_nanos() as u64,
            );
            loop {
                let now_ns = start.elapsed().as_nanos() as u64;
                let sending = now_ns < sends_until;
                if !sending && (driver.in_flight() == 0 || now_ns > waits_until) {
                    break;
                }
                driver.step(now_ns, sending, start, progress);
            }
            *spent += (start.elapsed().as_nanos() as u64 - began) as f64 / 1e9;
        }
    }
    Ok(drivers
        .into_iter()
        .zip(seconds)
        .map(|(driver, seconds)| TurnResult {
            stats: driver.finish(),
            seconds,
        })
        .collect())
}
