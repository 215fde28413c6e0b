//! DNS: local data snapshots and the sans-IO answer decision. Sockets live in `runtime`.

pub mod answer;
pub mod hosts;
pub mod local;
