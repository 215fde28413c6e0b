//! The control executor: one glommio executor on a thread of its own, placed on no
//! particular core, where the DHCP and TFTP servers and `--script-arp`'s watch of the
//! neighbour table run beside the DNS shards' pinned executors. DHCPv6 and router
//! advertisement are to run here too.

use super::{dhcp_v4, neighbours, script::Scripts, tftp};

/// Registered I/O memory of the control executor: its file reads and writes use no
/// registered buffers, so it needs no more than glommio's least.
const CONTROL_IO_MEMORY: usize = 64 << 10;

/// What the control executor serves.
pub struct Services {
    pub dhcp_v4: Option<dhcp_v4::Prepared>,
    pub tftp: Option<tftp::Prepared>,
    /// `--script-arp`: where the neighbour table's changes go.
    pub neighbour_scripts: Option<Scripts>,
}

/// Start the control executor with its services; with none, nothing is started.
pub fn start(services: Services) -> glommio::Result<(), ()> {
    let Services {
        dhcp_v4,
        tftp,
        neighbour_scripts,
    } = services;
    if dhcp_v4.is_none() && tftp.is_none() && neighbour_scripts.is_none() {
        return Ok(());
    }
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("control")
        .io_memory(CONTROL_IO_MEMORY)
        .spawn(move || async move {
            let tftp = tftp.map(|t| glommio::spawn_local(tftp::serve(t)));
            let neighbours = neighbour_scripts.map(|s| glommio::spawn_local(neighbours::watch(s)));
            if let Some(dhcp) = dhcp_v4 {
                dhcp_v4::serve(dhcp).await;
            }
            if let Some(t) = tftp {
                t.await;
            }
            if let Some(n) = neighbours {
                n.await;
            }
        })
        .map(|_| ())
}
