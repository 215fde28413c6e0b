//! The answer engine alone, without sockets (issue 5's flat cost, inside the process):
//! a million hosts names loaded, batches of 64 queries copied into 64 fixed buffers (as
//! `recvmmsg` fills them), planned and answered, in turns from some 60,000 of the names
//! asked at random and from ten of them. Prints the cycles per query of each and their
//! difference (medians over the rounds). The kernel's share, which the server
//! adds, is `bench/flat_cycles.py`'s to measure; this one is quick and steadier for the
//! engine's own part.
//!
//! Usage: cargo bench --bench answer_cycles [-- ROUNDS]

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use ringmasq::dns::answer::{Action, Engine, Options};
use ringmasq::dns::cache::Policy;
use ringmasq::dns::hosts::HostsBuilder;
use ringmasq::dns::local::LocalData;
use std::net::SocketAddr;
use std::sync::Arc;

const NAMES: u64 = 1_000_000;
const ASKED: usize = 60_000;
const BATCH: usize = 64;
/// Batches per turn of each kind.
const TURN_BATCHES: usize = 25;

/// A query for `name` (type A, recursion desired) as it comes off the wire.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id).set_recursion_desired(true);
    let name = Name::from_ascii(name).expect("a generated name is valid");
    m.add_query(Query::query(name, RecordType::A));
    m.to_vec().expect("a query encodes")
}

fn cycles() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reading the time-stamp counter has no side effects.
    unsafe {
        std::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::time::Instant::now().elapsed().as_nanos() as u64
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    // Names shaped as gen-hosts.py's: an optional prefix, a word, a number, an ending.
    let mut seed = 0x2026_1206_u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let prefixes = ["", "ads.", "track.", "cdn.", "pixel.", "m.", "www."];
    let endings = ["com", "net", "org", "io", "co.uk", "de", "info", "xyz"];
    let mut names = Vec::with_capacity(NAMES as usize);
    let mut hosts = String::new();
    for i in 0..NAMES {
        let word: String = (0..4 + rnd() % 11)
            .map(|_| char::from(b'a' + (rnd() % 26) as u8))
            .collect();
        let prefix = prefixes[(rnd() % 7) as usize];
        let name = format!("{prefix}{word}{i}.{}", endings[(rnd() % 8) as usize]);
        hosts += &format!("0.0.0.0 {name}\n");
        names.push(name);
    }
    let mut builder = HostsBuilder::new(None);
    builder.add_file(hosts.as_bytes(), 0);
    drop(hosts);
    let local = LocalData {
        hosts: builder.finish(),
        ..LocalData::default()
    };
    let mut engine = Engine::new(Arc::new(local), Policy::default(), Options::default());
    let many: Vec<Vec<u8>> = (0..ASKED)
        .map(|i| query(i as u16, &names[(rnd() % NAMES) as usize]))
        .collect();
    let ten: Vec<Vec<u8>> = (0..ASKED)
        .map(|i| query(i as u16, &names[i % 10 * 7919]))
        .collect();
    let client: SocketAddr = "127.0.0.1:5353"
        .parse()
        .unwrap_or(([127, 0, 0, 1], 0).into());
    let mut buffers = vec![[0u8; 512]; BATCH];
    let mut lens = [0usize; BATCH];
    let turn = TURN_BATCHES * BATCH;
    let (mut per_many, mut per_ten) = (Vec::new(), Vec::new());
    for round in 0..rounds + 2 {
        let first = (round * turn) % (ASKED - turn);
        let mut took = [0f64; 2];
        for (kind, set) in [&many, &ten].into_iter().enumerate() {
            let start = cycles();
            for batch in set[first..first + turn].chunks(BATCH) {
                for ((buf, len), q) in buffers.iter_mut().zip(&mut lens).zip(batch) {
                    buf[..q.len()].copy_from_slice(q);
                    *len = q.len();
                }
                let n = batch.len();
                engine.plan((0..n).map(|i| &buffers[i][..lens[i]]));
                for i in 0..n {
                    let answered =
                        engine.query_planned(i, &buffers[i][..lens[i]], client, 0, false);
                    assert!(
                        matches!(answered, Action::Reply(_)),
                        "a hosts name is answered"
                    );
                }
            }
            took[kind] = (cycles() - start) as f64 / turn as f64;
        }
        // The first rounds warm up (the first batches only show hosts names are asked).
        if round >= 2 {
            per_many.push(took[0]);
            per_ten.push(took[1]);
        }
    }
    let extra: Vec<f64> = per_many.iter().zip(&per_ten).map(|(m, t)| m - t).collect();
    // No ratio: the server's adds the kernel's share to both sides.
    println!(
        "{rounds} rounds of {turn} queries each; engine cycles per query (median): \
         {ASKED} names {:.0}, ten names {:.0}, extra {:.0}",
        median(per_many),
        median(per_ten),
        median(extra),
    );
}
