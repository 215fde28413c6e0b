//! Logging as dnsmasq does it: syslog by default (facility daemon), or a file, or stderr
//! (`--log-facility`), optionally through a bounded queue so a slow log never blocks
//! (`--log-async`). SIGUSR2 reopens a log file for rotation.

use crate::config::parse::LogTarget;
use crossbeam::channel::{bounded, Sender, TrySendError};
use std::ffi::{CStr, CString};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Syslog priorities used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error = 3,
    Warning = 4,
    Info = 6,
    Debug = 7,
}

/// Which part of the server a line is from: dnsmasq names DHCP's lines `dnsmasq-dhcp`
/// and TFTP's `dnsmasq-tftp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Main,
    Dhcp,
    Tftp,
}

impl Source {
    /// The program name its lines go under: a static string, as openlog keeps the
    /// pointer it is given.
    fn syslog_ident(self) -> &'static CStr {
        match self {
            Source::Main => c"ringmasq",
            Source::Dhcp => c"ringmasq-dhcp",
            Source::Tftp => c"ringmasq-tftp",
        }
    }

    fn ident(self) -> &'static str {
        self.syslog_ident().to_str().unwrap_or_default()
    }
}

/// The LOG_DAEMON facility, dnsmasq's default.
pub const FACILITY_DAEMON: i32 = 3 << 3;

enum Sink {
    Syslog {
        facility: i32,
    },
    Stderr,
    File {
        path: String,
        file: Option<std::fs::File>,
    },
}

struct Logger {
    sink: Mutex<Sink>,
    queue: Option<Sender<(Level, Source, String)>>,
    dropped: AtomicU64,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

fn open_append(path: &str) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// Set up logging. `queue_len` is `--log-async`'s length (None: log synchronously).
/// Returns an error message if a log file cannot be opened (dnsmasq exits 3).
pub fn init(target: &LogTarget, queue_len: Option<usize>, debug: bool) -> Result<(), String> {
    let sink = match target {
        LogTarget::Stderr => Sink::Stderr,
        LogTarget::File(path) => {
            let file = open_append(path)
                .map_err(|e| format!("cannot open log {path}: {}", crate::config::io_reason(&e)))?;
            Sink::File {
                path: path.clone(),
                file: Some(file),
            }
        }
        LogTarget::Facility(facility) => {
            let ident = Source::Main.syslog_ident();
            // SAFETY: ident lives for the whole process (static), as openlog requires.
            unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID, *facility) };
            Sink::Syslog {
                facility: *facility,
            }
        }
    };
    let queue = queue_len.map(|len| {
        let (tx, rx) = bounded::<(Level, Source, String)>(len.max(1));
        std::thread::Builder::new()
            .name("log".into())
            .spawn(move || {
                for (level, source, line) in rx {
                    write_now(level, source, &line);
                }
            })
            .map(|_| tx)
    });
    let queue = match queue {
        Some(Ok(tx)) => Some(tx),
        Some(Err(e)) => return Err(format!("cannot start log thread: {e}")),
        None => None,
    };
    let _ = LOGGER.set(Logger {
        sink: Mutex::new(sink),
        queue,
        dropped: AtomicU64::new(0),
        debug,
    });
    Ok(())
}

fn write_now(level: Level, source: Source, line: &str) {
    let ident = source.ident();
    let Some(logger) = LOGGER.get() else {
        eprintln!("{ident}: {line}");
        return;
    };
    let mut sink = match logger.sink.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    match &mut *sink {
        Sink::Stderr => eprintln!("{ident}: {line}"),
        Sink::Syslog { facility } => {
            if let Ok(c) = CString::new(line.replace('\0', " ")) {
                let other = source != Source::Main;
                // SAFETY: "%s" with one valid C string argument; the idents are statics,
                // as openlog requires, and every syslog call is made under this lock, so
                // the ident changed for one line is changed back before the next.
                unsafe {
                    if other {
                        libc::openlog(source.syslog_ident().as_ptr(), libc::LOG_PID, *facility);
                    }
                    libc::syslog(level as i32, c"%s".as_ptr(), c.as_ptr());
                    if other {
                        let main = Source::Main.syslog_ident();
                        libc::openlog(main.as_ptr(), libc::LOG_PID, *facility);
                    }
                }
            }
        }
        Sink::File { file, .. } => {
            if let Some(f) = file {
                let _ = writeln!(f, "{} {ident}[{}]: {line}", timestamp(), std::process::id());
            }
        }
    }
}

/// `Nov 21 12:34:56`, as syslog and dnsmasq's log files write times.
fn timestamp() -> String {
    let mut now: libc::time_t = 0;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let mut buf = [0u8; 32];
    // SAFETY: plain libc time formatting into a stack buffer of sufficient size.
    let n = unsafe {
        libc::time(&mut now);
        libc::localtime_r(&now, &mut tm);
        libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%b %e %H:%M:%S".as_ptr(),
            &tm,
        )
    };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Log one line. With `--log-async`, a full queue drops the line and counts it.
pub fn log(level: Level, line: String) {
    log_from(level, Source::Main, line)
}

/// Log one line from `source`.
pub fn log_from(level: Level, source: Source, line: String) {
    let Some(logger) = LOGGER.get() else {
        eprintln!("{}: {line}", source.ident());
        return;
    };
    if level == Level::Debug && !logger.debug {
        return;
    }
    match &logger.queue {
        None => write_now(level, source, &line),
        Some(tx) => {
            let lost = logger.dropped.swap(0, Ordering::Relaxed);
            if lost > 0 {
                let _ = tx.try_send((
                    Level::Warning,
                    Source::Main,
                    format!("overflow: {lost} log entries lost"),
                ));
            }
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                tx.try_send((level, source, line))
            {
                logger.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Reopen the log file (SIGUSR2), so rotation tools can move the old one away.
pub fn reopen() {
    let Some(logger) = LOGGER.get() else { return };
    let mut sink = match logger.sink.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Sink::File { path, file } = &mut *sink {
        *file = open_append(path).ok();
    }
}

pub fn info(line: impl Into<String>) {
    log(Level::Info, line.into());
}

pub fn warn(line: impl Into<String>) {
    log(Level::Warning, line.into());
}

pub fn error(line: impl Into<String>) {
    log(Level::Error, line.into());
}

/// A line of DHCP's (under `ringmasq-dhcp`, as dnsmasq's go under `dnsmasq-dhcp`).
pub fn dhcp(line: impl Into<String>) {
    log_from(Level::Info, Source::Dhcp, line.into());
}

/// A warning of DHCP's.
pub fn dhcp_warn(line: impl Into<String>) {
    log_from(Level::Warning, Source::Dhcp, line.into());
}

/// A line of TFTP's (under `ringmasq-tftp`).
pub fn tftp(line: impl Into<String>) {
    log_from(Level::Info, Source::Tftp, line.into());
}

/// An error of TFTP's.
pub fn tftp_error(line: impl Into<String>) {
    log_from(Level::Error, Source::Tftp, line.into());
}
