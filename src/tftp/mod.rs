//! TFTP as dnsmasq serves it: read-only, octet and netascii, with the blksize and tsize
//! options (RFC 1350, 2347, 2348, 2349), for net-booting clients. `packet` reads requests
//! and writes replies, `path` turns a request into the file it names and judges whether
//! it may be sent, and `transfer` is one transfer's state machine (acknowledgements and
//! time in, packets out). Sockets and file reads are the runtime's (`runtime::tftp`).

pub mod packet;
pub mod path;
pub mod transfer;
