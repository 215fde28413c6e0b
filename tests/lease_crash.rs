//! A process writing leases is killed (SIGKILL) at a random moment, again and again, while
//! it commits and compacts; reopening the store must find every change it acknowledged.
//! The writer is this test binary run again, as the ignored test `writer`; in turns it
//! writes as the DHCP server does (through io_uring on a glommio executor,
//! `runtime::lease_disk`) and with the store's own blocking calls (as at start-up).

use ringmasq::dhcp::lease_file::{HwAddr, Lease};
use ringmasq::dhcp::lease_store::LeaseStore;
use ringmasq::runtime::lease_disk::LeaseDisk;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The writer compacts this often, so that kills land in compactions too.
const COMPACT_AFTER: usize = 64;

/// Change number `n`: a lease for client `n % 500` (expiring at `n`), or every fifth
/// change the removal of that client's lease.
fn change(n: u64) -> (Ipv4Addr, Option<Lease>) {
    let client = (n % 500) as u32;
    let addr = Ipv4Addr::from(0x0a01_0000 + client);
    if n % 5 == 4 {
        return (addr, None);
    }
    let lease = Lease {
        expires: 1_800_000_000 + n,
        hwaddr: HwAddr::ether([2, 0, 0, 0, (client >> 8) as u8, client as u8]),
        addr,
        hostname: Some(format!("client{client}")),
        client_id: None,
    };
    (addr, Some(lease))
}

/// Not a test on its own: run by `acknowledged_leases_survive_being_killed`, with the
/// lease file's path in RINGMASQ_LEASE_WRITER. Applies changes from where the store
/// stands, committing every few and printing `acked N` after each commit; through
/// io_uring if RINGMASQ_LEASE_IO says `uring`.
#[test]
#[ignore]
fn writer() {
    let Some(path) = std::env::var_os("RINGMASQ_LEASE_WRITER") else {
        return;
    };
    let (mut store, _) =
        LeaseStore::open_compacting_after(Path::new(&path), COMPACT_AFTER).expect("open the store");
    let mut n: u64 = std::env::var("RINGMASQ_LEASE_FROM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut apply_batch = |store: &mut LeaseStore| {
        let batch = 1 + n % 7;
        for _ in 0..batch {
            match change(n) {
                (_, Some(lease)) => assert!(store.put(lease)),
                (addr, None) => {
                    store.remove(addr);
                }
            }
            n += 1;
        }
        n - 1
    };
    if std::env::var("RINGMASQ_LEASE_IO").as_deref() != Ok("uring") {
        loop {
            let last = apply_batch(&mut store);
            store.commit().expect("commit");
            println!("acked {last}");
            store.compact_if_due().expect("compact");
        }
    }
    let executor = glommio::LocalExecutorBuilder::default()
        .make()
        .expect("an executor");
    executor.run(async move {
        let disk = LeaseDisk::of(&store)
            .expect("the files")
            .expect("a store on disk");
        loop {
            let last = apply_batch(&mut store);
            disk.commit(&mut store).await.expect("commit");
            println!("acked {last}");
            disk.compact_if_due(&mut store).await.expect("compact");
        }
    });
}

#[test]
fn acknowledged_leases_survive_being_killed() {
    let dir = std::env::temp_dir().join(format!("ringmasq-lease-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dnsmasq.leases");
    let mut next: u64 = 0;
    for round in 0..10u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "writer",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("RINGMASQ_LEASE_WRITER", &path)
            .env("RINGMASQ_LEASE_FROM", next.to_string())
            .env(
                "RINGMASQ_LEASE_IO",
                if round % 2 == 0 { "uring" } else { "blocking" },
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the writer");
        let stdout = child.stdout.take().unwrap();
        let (tx, acks) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line
                    .strip_prefix("acked ")
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    let _ = tx.send(n);
                }
            }
        });
        let first = acks.recv_timeout(Duration::from_secs(30));
        // Kill at a different moment each round, once it is writing.
        std::thread::sleep(Duration::from_millis(20 + 29 * round));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let acked = acks.try_iter().last().or(first.ok());
        let acked = acked.expect("the writer acknowledged something");
        assert!(acked >= next, "round {round}: acked {acked} from {next}");
        let (store, report) = LeaseStore::open(&path).unwrap();
        assert!(report.bad_lines.is_empty(), "{:?}", report.bad_lines);
        // What every client's lease must be after change `acked`: the last change to it.
        let mut want: HashMap<Ipv4Addr, Option<Lease>> = HashMap::new();
        for n in 0..=acked {
            let (addr, lease) = change(n);
            want.insert(addr, lease);
        }
        // Changes after `acked` may have reached the disk too (written, not yet
        // acknowledged): a client they touch may show either.
        let unsure: Vec<Ipv4Addr> = (acked + 1..acked + 8).map(|n| change(n).0).collect();
        for (addr, lease) in &want {
            if unsure.contains(addr) {
                continue;
            }
            assert_eq!(
                store.table().get(*addr),
                lease.as_ref(),
                "round {round}: {addr} after change {acked}"
            );
        }
        // The next writer goes on after the last acknowledged change. Any it wrote
        // beyond that are written again, the same, so the model above still holds.
        next = acked + 1;
        drop(store);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
