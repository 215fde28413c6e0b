//! `--script-arp` on the control executor: the neighbour table is read when the server
//! starts and every 90 seconds after, and each change is queued for the lease script as
//! `arp-add` or `arp-del` (`dhcp::neighbours` decides what changed).

use super::interfaces;
use super::script::Scripts;
use crate::dhcp::neighbours::{Neighbour, NeighbourWatch, LOOK_EVERY_SECS, MAX_NEIGHBOURS};
use crate::dhcp::script::NeighbourChange;
use crate::log;
use std::time::Duration;

/// Watch the neighbour table for as long as the server runs.
pub async fn watch(scripts: Scripts) {
    let mut watch = NeighbourWatch::default();
    loop {
        match interfaces::neighbours() {
            Ok(table) => {
                let table = table
                    .iter()
                    .filter_map(|(addr, lladdr)| Neighbour::from_table(*addr, lladdr));
                let changes = watch.look(table);
                let gone = changes.gone.into_iter().map(|n| (false, n));
                let came = changes.came.into_iter().map(|n| (true, n));
                for (came, neighbour) in gone.chain(came) {
                    scripts.send_neighbour(NeighbourChange { came, neighbour });
                }
                if changes.left_out > 0 {
                    log::warn(format!(
                        "neighbour table: {} new entries not told to the script \
                         ({MAX_NEIGHBOURS} are followed at most)",
                        changes.left_out
                    ));
                }
            }
            Err(e) => log::warn(format!("cannot read the neighbour table: {e}")),
        }
        glommio::timer::sleep(Duration::from_secs(LOOK_EVERY_SECS)).await;
    }
}
