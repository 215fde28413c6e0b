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

/// Wait until the reflector on `port` sends a datagram back (at most 10 s).
fn wait_for_echo(port: u16) {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    for _ in 0..100 {
        let _ = probe.send_to(b"\0\0\0\0", ("127.0.0.1", port));
        if probe.recv_from(&mut [0u8; 16]).is_ok() {
            return;
        }
    }
    panic!("the echo reflector on port {port} did not start");
}

/// An echo reflector on `port` for 6 s, answering.
fn start_echo(port: u16) -> std::process::Child {
    let echo = Command::new(LOADGEN)
        .args(["--echo", "-p", &port.to_string(), "-l", "6", "-T", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_echo(port);
    echo
}

fn drive(port: u16, extra: &[&str]) -> String {
    let dir = std::env::temp_dir().join(format!("loadgen-echo-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("queries");
    std::fs::write(&data, "a.test A\nb.test AAAA\n# comment\nc.test MX\n").unwrap();
    let echo = start_echo(port);
    let out = Command::new(LOADGEN)
        .args(["-p", &port.to_string(), "-d"])
        .arg(&data)
        .args(["-l", "1", "--quiet", "--json"])
        .args(extra)
        .output()
        .unwrap();
    finish(echo, &dir, out)
}

/// Stop `echo`, remove `dir`, and give the load generator's report, which must have
/// run well.
fn finish(
    mut echo: std::process::Child,
    dir: &std::path::Path,
    out: std::process::Output,
) -> String {
    let _ = echo.kill();
    let _ = echo.wait();
    let _ = std::fs::remove_dir_all(dir);
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

#[test]
fn tcp_pipelines_queries_and_answer_checks_pass_for_true_answers() {
    let dir = std::env::temp_dir().join(format!("loadgen-tcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("run.svg");
    let report = drive(
        free_port(),
        &[
            "--tcp",
            "-q",
            "40",
            "-c",
            "2",
            "--check",
            "--svg",
            svg.to_str().unwrap(),
        ],
    );
    let sent = field(&report, "Queries sent:");
    assert!(sent > 1000, "{report}");
    assert_eq!(field(&report, "Queries completed:"), sent, "{report}");
    assert!(!report.contains("Failed answer checks"), "{report}");
    assert!(report.contains("\"failed_checks\": 0"), "{report}");
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg") && picture.contains("<polyline"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn answer_checks_count_replies_to_another_question() {
    // A reflector that answers every query with a fixed other question.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let mut reply = buf[..n].to_vec();
            reply[2] |= 0x80;
            reply[13] = b'z'; // first letter of the name changed
            let _ = sock.send_to(&reply, from);
        }
    });
    let data = std::env::temp_dir().join(format!("loadgen-check-{}", std::process::id()));
    std::fs::write(&data, "a.test A\nb.test AAAA\n").unwrap();
    let out = Command::new(LOADGEN)
        .args(["-p", &port.to_string(), "-d"])
        .arg(&data)
        .args(["-l", "1", "-Q", "200", "--quiet", "--check"])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&data);
    let report = String::from_utf8(out.stdout).unwrap();
    let completed = field(&report, "Queries completed:");
    assert!(completed > 100, "{report}");
    assert_eq!(
        field(&report, "Failed answer checks:"),
        completed,
        "{report}"
    );
}

#[test]
fn turns_give_each_server_its_own_figures() {
    // An echo reflector on one port and nobody on the other: the turns keep their
    // figures apart, the silent server's queries lost, the reflector's all answered.
    let (live, dead) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("loadgen-turns-{}-{live}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("queries");
    std::fs::write(&data, "a.test A\nb.test AAAA\n").unwrap();
    let echo = start_echo(live);
    let data = data.to_str().unwrap();
    let out = Command::new(LOADGEN)
        .args(["--turns", &format!("{live}:{data},{dead}:{data}")])
        .args([
            "--turn-ms",
            "50",
            "-t",
            "0.2",
            "-l",
            "1",
            "-q",
            "20",
            "--json",
        ])
        .output()
        .unwrap();
    let report = finish(echo, &dir, out);
    let json = report.lines().last().unwrap();
    let figure = |port: u16, name: &str| {
        let at = json
            .find(&format!("{{\"port\": {port}, "))
            .unwrap_or_else(|| panic!("no port {port} in {json}"));
        field(&json[at..].replace(", \"", "\n\"").replace('"', ""), name)
    };
    assert!(figure(live, "queries_completed:") > 100, "{report}");
    assert_eq!(figure(live, "queries_lost:"), 0, "{report}");
    assert_eq!(figure(dead, "queries_completed:"), 0, "{report}");
    assert!(figure(dead, "queries_lost:") > 0, "{report}");
}
