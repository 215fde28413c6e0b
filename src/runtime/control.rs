//! The control executor: one glommio executor on a thread of its own, placed on no
//! particular core, where the DHCP and TFTP servers run beside the DNS shards' pinned
//! executors. DHCPv6 and router advertisement are to run here too.

use super::{dhcp_v4, tftp};

/// Registered I/O memory of the control executor: its file reads and writes use no
/// registered buffers, so it needs no more than glommio's least.
const CONTROL_IO_MEMORY: usize = 64 << 10;

/// What the control executor serves.
pub struct Services {
    pub dhcp_v4: Option<dhcp_v4::Prepared>,
    pub tftp: Option<tftp::Prepared>,
}

/// Start the control executor with its services; with none, nothing is started.
pub fn start(services: Services) -> glommio::Result<(), ()> {
    let Services { dhcp_v4, tftp } = services;
    if dhcp_v4.is_none() && tftp.is_none() {
        return Ok(());
    }
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("control")
        .io_memory(CONTROL_IO_MEMORY)
        .spawn(move || async move {
            let tftp = tftp.map(|t| glommio::spawn_local(tftp::serve(t)));
            if let Some(dhcp) = dhcp_v4 {
                dhcp_v4::serve(dhcp).await;
            }
            if let Some(t) = tftp {
                t.await;
            }
        })
        .map(|_| ())
}
