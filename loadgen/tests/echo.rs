//! The load generator against its own echo reflector, on loopback: every query sent comes
//! back and is matched, and the summary keeps dnsperf's lines.

use std::process::{Command, Stdio};
use std::time::Duration;

const LOADGEN: &str = env!("CARGO_BIN_EXE_ringmasq-loadgen");

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn field(report: &str, name: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.split('.').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name:?} in:\n{report}"))
}

fn drive(port: u16, extra: &[&str]) -> String {
    let dir = std::env::temp_dir().join(format!("loadgen-echo-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("queries");
    std::fs::write(&data, "a.test A\nb.test AAAA\n# comment\nc.test MX\n").unwrap();
    let mut echo = Command::new(LOADGEN)
        .args(["--echo", "-p", &port.to_string(), "-l", "6", "-T", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = Command::new(LOADGEN)
        .args(["-p", &port.to_string(), "-d"])
        .arg(&data)
        .args(["-l", "1", "--quiet", "--json"])
        .args(extra)
        .output()
        .unwrap();
    let _ = echo.kill();
    let _ = echo.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn closed_loop_against_the_echo_reflector_loses_nothing() {
    let report = drive(free_port(), &["-q", "50", "-c", "4"]);
    let sent = field(&report, "Queries sent:");
    assert!(sent > 1000, "{report}");
    assert_eq!(field(&report, "Queries completed:"), sent, "{report}");
    assert_eq!(field(&report, "Queries lost:"), 0);
    assert!(report.contains("Queries per second:"));
    assert!(report.contains("Average Latency (s):"));
    assert!(report.contains("Latency percentiles (s): p50"));
    assert!(report.contains("\"queries_completed\": "));
}

#[test]
fn open_loop_sends_on_schedule() {
    let report = drive(free_port(), &["-Q", "2000"]);
    let sent = field(&report, "Queries sent:");
    // One second at 2000 a second, from a schedule that starts with query 0 due at once.
    assert!((1900..=2100).contains(&sent), "{report}");
    assert_eq!(field(&report, "Queries completed:"), sent, "{report}");
}
