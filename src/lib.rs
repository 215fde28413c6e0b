//! ringmasq: a drop-in replacement for dnsmasq 2.90, thread-per-core, for Linux.

pub mod config;
pub mod dhcp;
