//! DNS: wire views, the packet cache, local data snapshots and the sans-IO answer
//! decision. Sockets live in `runtime`.

pub mod answer;
pub mod cache;
pub mod chaos;
pub mod filter;
pub mod hosts;
pub mod lease_names;
pub mod local;
pub mod name_table;
pub mod synth;
pub mod upstream;
pub mod wire;
