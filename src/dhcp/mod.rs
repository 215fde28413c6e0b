//! DHCP: the option catalogue today; the server arrives with its own work item.

pub mod option_catalog;
