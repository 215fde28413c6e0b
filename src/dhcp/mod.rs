//! DHCP: the option catalogue, dnsmasq's lease-file format and the lease store. The
//! DHCPv4 server itself (issue 6) builds on these.

pub mod lease_file;
pub mod lease_store;
pub mod option_catalog;
