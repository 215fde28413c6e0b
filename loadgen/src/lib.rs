//! ringmasq-loadgen: a DNS load generator fast enough to measure fast servers. Batched
//! UDP on pinned threads, many source ports, closed and open loop, latency percentiles
//! from hdrhistogram, and an echo reflector for the machine's ceiling.

pub mod echo;
pub mod inflight;
pub mod net;
pub mod queries;
pub mod run;
pub mod schedule;
pub mod stats;
