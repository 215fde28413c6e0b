//! ringmasq-loadgen: a DNS load generator fast enough to measure fast servers. Batched
//! UDP (or pipelined TCP) on pinned threads, many source ports, closed and open loop, latency percentiles
//! from hdrhistogram, and an echo reflector for the machine's ceiling.

pub mod check;
pub mod echo;
pub mod inflight;
pub mod net;
pub mod plot;
pub mod queries;
pub mod run;
pub mod schedule;
pub mod stats;
