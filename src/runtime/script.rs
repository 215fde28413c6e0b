//! Running `--dhcp-script` without holding up DHCP. A helper process (this binary again,
//! started before the server gives up root, so that the script runs as root or as
//! `--dhcp-scriptuser`, as dnsmasq's does) runs the script once per event, one at a
//! time, and hands back its output, which is logged. On this side a thread feeds it from
//! a bounded queue that the DHCP server adds to only after the change is on disk; while
//! an event waits there, a later one for the same lease takes its place, as dnsmasq
//! describes. `--leasefile-ro`'s `init` call, which gives the leases at start, is run
//! here directly, before any client is answered.

use crate::config::error::{ConfigError, ExitCode};
use crate::config::Config;
use crate::daemon;
use crate::dhcp::lease_file::{Lease, LeaseFile};
use crate::dhcp::script::{self, Action, Event, Invocation, NeighbourChange, Settings, TftpSent};
use crate::dns::lease_names::Domains;
use crate::log;
use crossbeam::channel::{Receiver, Sender, TrySendError};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The variable that makes this binary the helper, naming the script.
const HELPER_SCRIPT: &str = "RINGMASQ_SCRIPT_HELPER";
/// The helper's user and group for the script (`uid:gid`; unset: its own).
const HELPER_IDS: &str = "RINGMASQ_SCRIPT_IDS";

/// Events waiting for the script; past this, new ones are dropped and logged.
const MAX_QUEUED: usize = 100_000;

/// Longest line of the script's output logged (the rest of the line is dropped).
const MAX_OUTPUT_LINE: usize = 1024;

/// Most bytes of lease lines read from an `init` call.
const MAX_INIT_BYTES: u64 = 256 << 20;

/// One call of the script waiting to be made.
enum Call {
    Lease(Event),
    /// A call with no lease behind it (`tftp`, `arp-add`, `arp-del`), made as it is.
    Other(Invocation),
}

/// Where the DHCP and TFTP servers send what the script is to hear of, and whether it
/// describes requests.
#[derive(Clone)]
pub struct Scripts {
    calls: Sender<Call>,
    pub triggers: script::Triggers,
}

impl Scripts {
    /// Queue `event` (its change is on disk). False, and logged, if the queue is full.
    pub fn send(&self, event: Event) -> bool {
        match self.calls.try_send(Call::Lease(event)) {
            Ok(()) => true,
            Err(TrySendError::Full(Call::Lease(e))) => {
                log::warn(format!(
                    "lease-change script not run for {} {}: {MAX_QUEUED} events already \
                     wait",
                    e.lease.addr, e.lease.hwaddr
                ));
                false
            }
            Err(_) => false,
        }
    }

    /// Queue the `tftp` call for a file sent. Logged if the queue is full.
    pub fn send_tftp(&self, sent: TftpSent) {
        self.send_other(sent.invocation());
    }

    /// Queue the `arp-add` or `arp-del` call for a neighbour-table change (`--script-arp`).
    /// Logged if the queue is full.
    pub fn send_neighbour(&self, change: NeighbourChange) {
        self.send_other(change.invocation());
    }

    fn send_other(&self, invocation: Invocation) {
        if let Err(TrySendError::Full(Call::Other(i))) =
            self.calls.try_send(Call::Other(invocation))
        {
            other_call_dropped(&i);
        }
    }
}

/// The script's user and group ids (`--dhcp-scriptuser`), where this process may run it
/// as another user.
fn script_ids(config: &Config) -> Result<Option<(u32, u32)>, ConfigError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    match config.text("dhcp-scriptuser") {
        Some(Some(user)) => daemon::user_ids(&user)
            .map(Some)
            .ok_or_else(|| ConfigError::bad(format!("unknown user or group: {user}"))),
        _ => Ok(None),
    }
}

/// The script as a path to run: one without a slash is in the working directory (no
/// PATH search, as in dnsmasq).
fn script_path(config: &Config) -> Option<String> {
    match config.text("dhcp-script") {
        Some(Some(p)) if p.contains('/') => Some(p),
        Some(Some(p)) if !p.is_empty() => Some(format!("./{p}")),
        _ => None,
    }
}

/// Start the helper and the thread that feeds it, if a script is configured. Called
/// while still privileged.
pub fn start(config: &Config, domains: Domains) -> Result<Option<Scripts>, ConfigError> {
    let Some(path) = script_path(config) else {
        return Ok(None);
    };
    let ids = script_ids(config)?;
    let mut helper = Command::new("/proc/self/exe");
    helper
        .env(HELPER_SCRIPT, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some((uid, gid)) = ids {
        helper.env(HELPER_IDS, format!("{uid}:{gid}"));
    }
    let failed = |e: std::io::Error| {
        ConfigError::bad(format!("cannot start the lease-change script helper: {e}"))
            .with_exit(ExitCode::Other)
    };
    let mut child = helper.spawn().map_err(failed)?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(failed(std::io::Error::other("no pipes")));
    };
    let (calls, queued) = crossbeam::channel::bounded(MAX_QUEUED);
    let feeder = Feeder {
        queued,
        waiting: VecDeque::new(),
        to_helper: stdin,
        from_helper: BufReader::new(stdout),
        child,
        domains,
        log_dhcp: config.has("log-dhcp"),
    };
    std::thread::Builder::new()
        .name("dhcp-script".into())
        .spawn(move || feeder.run())
        .map_err(failed)?;
    Ok(Some(Scripts {
        calls,
        triggers: script::Triggers {
            on_renewal: config.has("script-on-renewal"),
            keeps_leases: config.has("leasefile-ro"),
        },
    }))
}

/// `--leasefile-ro`: the leases the script gives when called with `init` (in the lease
/// file's format, on its output). Run as the server still is (root, whatever
/// `--dhcp-scriptuser` says), and a script that fails stops the server, as in dnsmasq.
pub fn initial_leases(config: &Config) -> Result<Vec<Lease>, ConfigError> {
    let Some(path) = script_path(config).filter(|_| config.has("leasefile-ro")) else {
        return Ok(Vec::new());
    };
    let mut cmd = Command::new(&path);
    cmd.arg("init")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let failed =
        |why: String| ConfigError::file(format!("cannot run lease-init script {path}: {why}"));
    let mut child = cmd
        .spawn()
        .map_err(|e| failed(crate::config::io_reason(&e)))?;
    let mut text = String::new();
    if let Some(out) = child.stdout.take() {
        let mut bytes = Vec::new();
        let _ = out.take(MAX_INIT_BYTES).read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let status = child.wait().map_err(|e| failed(e.to_string()))?;
    if !status.success() {
        // Killed by a signal: dnsmasq's WEXITSTATUS of that is 0.
        let code = status.code().unwrap_or(0);
        return Err(
            ConfigError::file(format!("lease-init script returned exit code {code}"))
                .with_exit(ExitCode::LeaseInit(u8::try_from(code).unwrap_or(u8::MAX))),
        );
    }
    let file = LeaseFile::parse(&text);
    for (line, why) in &file.bad {
        log::warn(format!(
            "bad lease from lease-init script line {line}: {why:?}"
        ));
    }
    Ok(file.leases)
}

/// This side of the helper: events in, the script's output logged.
struct Feeder {
    queued: Receiver<Call>,
    /// Taken from `queued`, in order, at most one per lease (see `take_in`).
    waiting: VecDeque<Call>,
    to_helper: ChildStdin,
    from_helper: BufReader<ChildStdout>,
    child: Child,
    domains: Domains,
    log_dhcp: bool,
}

impl Feeder {
    fn run(mut self) {
        loop {
            if self.waiting.is_empty() {
                match self.queued.recv() {
                    Ok(e) => take_in(&mut self.waiting, e),
                    Err(_) => return,
                }
            }
            while let Ok(e) = self.queued.try_recv() {
                take_in(&mut self.waiting, e);
            }
            let Some(call) = self.waiting.pop_front() else {
                continue;
            };
            if let Err(e) = self.run_one(&call) {
                log::error(format!("lease-change script helper failed: {e}"));
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
        }
    }

    /// Have the helper run the script for `call`; log its output until it is done.
    fn run_one(&mut self, call: &Call) -> std::io::Result<()> {
        let built;
        let invocation = match call {
            Call::Lease(event) => {
                built = event.invocation(&Settings {
                    domains: &self.domains,
                    log_dhcp: self.log_dhcp,
                    now_secs: super::dhcp_v4::now_secs(),
                });
                &built
            }
            Call::Other(invocation) => invocation,
        };
        let bytes = script::encode(invocation);
        self.to_helper.write_all(&bytes)?;
        self.to_helper.flush()?;
        let mut line = Vec::new();
        loop {
            line.clear();
            if self.from_helper.read_until(b'\n', &mut line)? == 0 {
                return Err(std::io::Error::other("the helper ended"));
            }
            match line.split_first() {
                Some((b'L', text)) => log::info(format!(
                    "script: {}",
                    String::from_utf8_lossy(text).trim_end()
                )),
                Some((b'D', _)) => return Ok(()),
                _ => {}
            }
        }
    }
}

/// Add `event` to those waiting: an `old` for a lease whose last event still waits
/// takes that one's place (an `add` stays an `add`, with the newer state), so the
/// script sees the lease as it is now. A name's removal (`old` with
/// `DNSMASQ_OLD_HOSTNAME`) is always told, in its place.
fn take_in(waiting: &mut VecDeque<Call>, call: Call) {
    let call = match call {
        Call::Lease(event) if event.action == Action::Old && event.old_hostname.is_none() => {
            let last = waiting
                .iter_mut()
                .rev()
                .filter_map(|w| match w {
                    Call::Lease(w) => Some(w),
                    Call::Other(_) => None,
                })
                .find(|w| w.lease.addr == event.lease.addr)
                .filter(|w| {
                    w.action != Action::Del
                        && w.old_hostname.is_none()
                        && w.lease.hwaddr == event.lease.hwaddr
                });
            if let Some(w) = last {
                let action = w.action;
                *w = Event { action, ..event };
                return;
            }
            Call::Lease(event)
        }
        call => call,
    };
    if waiting.len() < MAX_QUEUED {
        waiting.push_back(call);
    } else if let Call::Lease(event) = call {
        log::warn(format!(
            "lease-change script not run for {} {}: {MAX_QUEUED} events already wait",
            event.lease.addr, event.lease.hwaddr
        ));
    } else if let Call::Other(invocation) = call {
        other_call_dropped(&invocation);
    }
}

/// Log a call with no lease behind it dropped because the queue is full.
fn other_call_dropped(invocation: &Invocation) {
    let words: Vec<_> = invocation
        .args
        .iter()
        .map(|a| String::from_utf8_lossy(a))
        .collect();
    log::warn(format!(
        "script not run for {}: {MAX_QUEUED} events already wait",
        words.join(" ")
    ));
}

/// If this process was started as the helper, be it: run the script for each event read
/// from standard input until it ends, then exit. Otherwise return at once.
pub fn helper_if_asked() {
    let Some(script) = std::env::var_os(HELPER_SCRIPT) else {
        return;
    };
    // SAFETY: PR_SET_PDEATHSIG takes a signal number: the helper ends with the server.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
    let ids = std::env::var(HELPER_IDS).ok().and_then(|v| {
        let (u, g) = v.split_once(':')?;
        Some((u.parse::<u32>().ok()?, g.parse::<u32>().ok()?))
    });
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    loop {
        let mut len = [0u8; 4];
        if input.read_exact(&mut len).is_err() {
            std::process::exit(0);
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > script::MAX_INVOCATION_BYTES {
            std::process::exit(1);
        }
        let mut bytes = vec![0u8; len];
        if input.read_exact(&mut bytes).is_err() {
            std::process::exit(0);
        }
        if let Some(inv) = script::decode(&bytes) {
            run_script(&script, ids, &inv, &mut output);
        }
        if writeln!(output, "D").and_then(|()| output.flush()).is_err() {
            std::process::exit(0);
        }
    }
}

/// Run the script once and wait for it, passing each line it writes (standard output and
/// error together) on as `L<line>`.
fn run_script(
    script: &std::ffi::OsStr,
    ids: Option<(u32, u32)>,
    inv: &script::Invocation,
    output: &mut impl Write,
) {
    use std::os::unix::ffi::OsStrExt;
    let os = |b: &[u8]| std::ffi::OsStr::from_bytes(b).to_os_string();
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(output, "Lcannot run the script: {e}");
            return;
        }
    };
    let mut cmd = Command::new(script);
    cmd.args(inv.args.iter().map(|a| os(a)))
        .envs(inv.env.iter().map(|(k, v)| (k.clone(), os(v))))
        .stdin(Stdio::null())
        // The script gets the environment the server was started with, not these.
        .env_remove(HELPER_SCRIPT)
        .env_remove(HELPER_IDS);
    match writer.try_clone() {
        Ok(err) => cmd.stdout(writer).stderr(err),
        Err(_) => cmd.stdout(writer).stderr(Stdio::null()),
    };
    if let Some((uid, gid)) = ids {
        cmd.uid(uid).gid(gid);
    }
    let spawned = cmd.spawn();
    // The pipe's writing ends go with the command, so that the reader sees the end.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(
                output,
                "Lcannot run {}: {}",
                script.to_string_lossy(),
                crate::config::io_reason(&e)
            );
            return;
        }
    };
    let mut lines = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut lines)
            .take(MAX_OUTPUT_LINE as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let long = !line.ends_with(b"\n");
        let text = String::from_utf8_lossy(&line);
        let _ = writeln!(output, "L{}", text.trim_end_matches(['\n', '\r']));
        // The rest of a long line is dropped, a bounded piece at a time.
        let mut rest = Vec::new();
        let mut skipping = long;
        while skipping {
            rest.clear();
            match (&mut lines)
                .take(MAX_OUTPUT_LINE as u64)
                .read_until(b'\n', &mut rest)
            {
                Ok(0) | Err(_) => skipping = false,
                Ok(_) => skipping = !rest.ends_with(b"\n"),
            }
        }
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::lease_file::HwAddr;
    use std::net::Ipv4Addr;

    fn event(action: Action, last: u8, name: Option<&str>, old: Option<&str>) -> Event {
        Event {
            action,
            lease: Lease {
                expires: 100,
                hwaddr: HwAddr::ether([2, 0, 0, 0, 0, last]),
                addr: Ipv4Addr::new(10, 0, 0, last),
                hostname: name.map(str::to_string),
                client_id: None,
            },
            old_hostname: old.map(str::to_string),
            origin: Default::default(),
            request: None,
        }
    }

    fn seen(waiting: &VecDeque<Call>) -> Vec<(Action, u8, Option<&str>)> {
        waiting
            .iter()
            .filter_map(|c| match c {
                Call::Lease(e) => Some(e),
                Call::Other(_) => None,
            })
            .map(|e| {
                (
                    e.action,
                    e.lease.addr.octets()[3],
                    e.lease.hostname.as_deref(),
                )
            })
            .collect()
    }

    #[test]
    fn a_waiting_lease_is_told_of_once_as_it_is_now() {
        let mut w = VecDeque::new();
        take_in(&mut w, Call::Lease(event(Action::Add, 1, Some("a"), None)));
        take_in(&mut w, Call::Lease(event(Action::Add, 2, None, None)));
        take_in(&mut w, Call::Lease(event(Action::Old, 1, Some("b"), None)));
        assert_eq!(
            seen(&w),
            [(Action::Add, 1, Some("b")), (Action::Add, 2, None)]
        );
        // A name's removal keeps its place, and what follows it is not moved before it.
        take_in(&mut w, Call::Lease(event(Action::Old, 1, None, Some("b"))));
        take_in(&mut w, Call::Lease(event(Action::Old, 1, Some("c"), None)));
        take_in(&mut w, Call::Lease(event(Action::Old, 1, Some("d"), None)));
        assert_eq!(
            seen(&w),
            [
                (Action::Add, 1, Some("b")),
                (Action::Add, 2, None),
                (Action::Old, 1, None),
                (Action::Old, 1, Some("d")),
            ]
        );
        // After an end, a lease is new again.
        take_in(&mut w, Call::Lease(event(Action::Del, 2, None, None)));
        take_in(&mut w, Call::Lease(event(Action::Old, 2, Some("e"), None)));
        assert_eq!(w.len(), 6);
    }
}
