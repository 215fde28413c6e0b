//! Process life as dnsmasq manages it: fork into the background (unless -d or -k), report
//! start-up failure to the shell with the right exit code, write the pid file, and drop
//! root privileges once sockets are bound.

use crate::config::error::{ConfigError, ExitCode};
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// The write end of the pipe back to the process the user started, while in the background.
pub struct Readiness {
    pipe: Option<std::fs::File>,
}

impl Readiness {
    /// Tell the waiting parent that start-up finished (it exits 0).
    pub fn ready(&mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(&[0]);
        }
    }

    /// Tell the waiting parent that start-up failed; it prints the message and exits with
    /// the code. In the foreground, print it here.
    pub fn fail(&mut self, e: &ConfigError) -> ! {
        let msg = format!("{e}");
        crate::log::error(msg.clone());
        match self.pipe.take() {
            Some(mut p) => {
                let mut buf = vec![e.exit.code()];
                buf.extend(msg.as_bytes());
                let _ = p.write_all(&buf);
            }
            None => eprintln!("\nringmasq: {msg}"),
        }
        std::process::exit(i32::from(e.exit.code()));
    }
}

/// Fork into the background: the original process waits on a pipe until the daemon reports
/// ready (exit 0) or failed (its exit code and message). Must run before any thread starts.
pub fn daemonize() -> Readiness {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid two-element array for pipe2.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        eprintln!(
            "ringmasq: cannot create pipe: {}",
            std::io::Error::last_os_error()
        );
        std::process::exit(i32::from(ExitCode::Other.code()));
    }
    // SAFETY: both descriptors were just created and are owned here alone.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: no other threads exist yet (documented precondition).
    match unsafe { libc::fork() } {
        -1 => {
            eprintln!("ringmasq: cannot fork: {}", std::io::Error::last_os_error());
            std::process::exit(i32::from(ExitCode::Other.code()));
        }
        0 => {}
        _ => {
            drop(write_end);
            let mut reply = Vec::new();
            let _ = std::fs::File::from(read_end).read_to_end(&mut reply);
            match reply.split_first() {
                Some((0, _)) => std::process::exit(0),
                Some((code, msg)) => {
                    eprintln!("\nringmasq: {}", String::from_utf8_lossy(msg));
                    std::process::exit(*code as i32);
                }
                None => std::process::exit(i32::from(ExitCode::Other.code())),
            }
        }
    }
    drop(read_end);
    // SAFETY: setsid/fork/chdir/umask in the single-threaded child.
    unsafe {
        libc::setsid();
        if libc::fork() > 0 {
            libc::_exit(0);
        }
        libc::chdir(c"/".as_ptr());
        libc::umask(0o022);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            if null > 2 {
                libc::close(null);
            }
        }
    }
    Readiness {
        pipe: Some(std::fs::File::from(write_end)),
    }
}

/// Staying in the foreground: failures are printed directly.
pub fn foreground() -> Readiness {
    Readiness { pipe: None }
}

/// Write our pid to `path` (empty: no pid file). Failure is exit code 3, as in dnsmasq.
pub fn write_pid_file(path: &str) -> Result<(), ConfigError> {
    if path.is_empty() {
        return Ok(());
    }
    std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
        ConfigError::file(format!(
            "failed to open pidfile {path}: {}",
            crate::config::io_reason(&e)
        ))
    })
}

/// The user id and primary group id of `user`, if there is such a user.
pub fn user_ids(user: &str) -> Option<(u32, u32)> {
    let cuser = CString::new(user).ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null; read immediately.
    let pw = unsafe { libc::getpwnam(cuser.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// Become `user` (and `group`, or the user's own group) if running as root. dnsmasq's
/// defaults: user nobody, group dip if it exists.
pub fn drop_privileges(
    user: Option<&str>,
    group: Option<&str>,
    group_given: bool,
    keep_net_admin: bool,
) -> Result<(), ConfigError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return Ok(());
    };
    let (uid, mut gid) =
        user_ids(user).ok_or_else(|| ConfigError::bad(format!("unknown user or group: {user}")))?;
    if let Some(g) = group.filter(|g| !g.is_empty()) {
        let cgroup =
            CString::new(g).map_err(|_| ConfigError::bad(format!("unknown user or group: {g}")))?;
        // SAFETY: as for getpwnam.
        let gr = unsafe { libc::getgrnam(cgroup.as_ptr()) };
        if !gr.is_null() {
            // SAFETY: gr is non-null.
            gid = unsafe { (*gr).gr_gid };
        } else if group_given {
            return Err(ConfigError::bad(format!("unknown user or group: {g}")));
        }
    }
    // SAFETY: PR_SET_KEEPCAPS takes an integer flag.
    if keep_net_admin && unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
        return Err(ConfigError::bad(format!(
            "failed to keep capabilities: {}",
            std::io::Error::last_os_error()
        ))
        .with_exit(ExitCode::Other));
    }
    // SAFETY: standard privilege drop sequence; each result is checked.
    let ok = unsafe {
        libc::setgroups(0, std::ptr::null()) == 0
            && libc::setgid(gid) == 0
            && libc::setuid(uid) == 0
    };
    if !ok {
        return Err(ConfigError::bad(format!(
            "failed to change user-id to {user}: {}",
            std::io::Error::last_os_error()
        ))
        .with_exit(ExitCode::Other));
    }
    if keep_net_admin {
        keep_only_net_admin().map_err(|e| {
            ConfigError::bad(format!("failed to set capabilities: {e}")).with_exit(ExitCode::Other)
        })?;
    }
    Ok(())
}

/// Capability numbers (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;

/// After the change of user, hold CAP_NET_ADMIN (ARP entries for DHCP replies to clients
/// without an address) and CAP_NET_RAW, and nothing else, as dnsmasq does.
fn keep_only_net_admin() -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let set = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW);
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [
        Data {
            effective: set,
            permitted: set,
            inheritable: 0,
        },
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
    ];
    // SAFETY: capset reads a version 3 header and two data words, both valid here.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
