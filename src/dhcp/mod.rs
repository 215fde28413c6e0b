//! DHCP: the option catalogue, dnsmasq's lease-file format, the lease store, the
//! DHCPv4 server core, what the lease-change script is told and which neighbour-table
//! changes it hears of (sans-IO; the runtime drives them).

pub mod host_files;
pub mod lease_file;
pub mod lease_store;
pub mod log_detail;
pub mod neighbours;
pub mod option_catalog;
pub mod pxe;
pub mod relay;
pub mod script;
pub mod tags;
pub mod v4;
