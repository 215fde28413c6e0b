//! ringmasq: a drop-in replacement for dnsmasq 2.90, thread-per-core, for Linux.

pub mod config;
pub mod daemon;
pub mod dhcp;
pub mod dns;
pub mod log;
pub mod memory;
pub mod parallel_parse;
pub mod random;
pub mod runtime;
pub mod tftp;
