//! DHCP: the option catalogue, dnsmasq's lease-file format, the lease store, and the
//! DHCPv4 server core (sans-IO; the runtime that drives it is still to come, issue 6).

pub mod host_files;
pub mod lease_file;
pub mod lease_store;
pub mod option_catalog;
pub mod tags;
pub mod v4;
