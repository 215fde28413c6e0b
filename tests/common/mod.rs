//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod upstream;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A fresh directory for one test's files.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringmasq-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Poll `done` until it holds or ten seconds pass; returns whether it held.
pub fn wait_until(done: impl FnMut() -> bool) -> bool {
    wait_up_to(10, done)
}

/// Poll `done` until it holds or `secs` seconds pass; returns whether it held.
pub fn wait_up_to(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// A child process killed and reaped when the test lets go of it.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free for both UDP and TCP.
pub fn free_port() -> u16 {
    loop {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn query_bytes(id: u16, name: &str, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m.to_vec().unwrap()
}

/// Ask the server until it answers (it may still be starting), up to a deadline.
pub fn ask(port: u16, id: u16, name: &str, qtype: RecordType) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        sock.send_to(&query_bytes(id, name, qtype), ("127.0.0.1", port))
            .unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return Message::from_vec(&buf[..n]).unwrap();
        }
    }
    panic!("no answer for {name} on port {port}");
}
