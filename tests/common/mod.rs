//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod upstream;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A directory `ringmasq-<name>-<pid>` under the temporary directory for one test's files.
/// Servers started by a test write into it for as long as they run, so it is removed when
/// the test binary exits, and only if no test failed: a failure's files stay for a look.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringmasq-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    remove_at_exit(&dir);
    dir
}

static SCRATCH: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
static FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Removes `dir` when the process exits, unless a test has panicked by then.
pub fn remove_at_exit(dir: &std::path::Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            FAILED.store(true, std::sync::atomic::Ordering::Relaxed);
            report(info)
        }));
        extern "C" fn clean() {
            let dirs = SCRATCH.lock().map(|d| d.clone()).unwrap_or_default();
            if FAILED.load(std::sync::atomic::Ordering::Relaxed) {
                for d in dirs {
                    eprintln!("kept for a look: {}", d.display());
                }
            } else {
                for d in dirs {
                    let _ = std::fs::remove_dir_all(d);
                }
            }
        }
        // SAFETY: `clean` is a plain function that touches only statics.
        unsafe { libc::atexit(clean) };
    });
    if let Ok(mut dirs) = SCRATCH.lock() {
        if !dirs.iter().any(|d| d == dir) {
            dirs.push(dir.to_path_buf());
        }
    }
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
