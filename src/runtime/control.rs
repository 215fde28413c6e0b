//! The control executor: one glommio executor on a thread of its own, placed on no
//! particular core, where the DHCP server runs beside the DNS shards' pinned executors.
//! DHCPv6, router advertisement and TFTP are to run here too.

use super::dhcp_v4;

/// Registered I/O memory of the control executor: it reads and writes files with plain
/// system calls for now, so it needs no more than glommio's least.
const CONTROL_IO_MEMORY: usize = 64 << 10;

/// What the control executor serves.
pub struct Services {
    pub dhcp_v4: Option<dhcp_v4::Prepared>,
}

/// Start the control executor with its services; with none, nothing is started.
pub fn start(services: Services) -> glommio::Result<(), ()> {
    let Services { dhcp_v4 } = services;
    let Some(dhcp) = dhcp_v4 else {
        return Ok(());
    };
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("control")
        .io_memory(CONTROL_IO_MEMORY)
        .spawn(move || dhcp_v4::serve(dhcp))
        .map(|_| ())
}
