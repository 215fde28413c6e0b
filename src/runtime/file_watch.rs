//! The files whose changes make the control thread rebuild the local snapshot: resolv
//! files, polled by modification time as dnsmasq polls them (not under --no-poll or
//! --no-resolv), and the directories of --hostsdir and --addn-hosts, watched with inotify
//! (a file added, changed, moved or deleted there is read again or forgotten); and the
//! directories of --dhcp-hostsdir and --dhcp-optsdir, whose changes make the DHCP server
//! read its files again.

use crate::config::parse::Value;
use crate::config::Config;
use crate::log;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::SystemTime;

/// inotify events worth a reload: a file written and closed, created, moved or deleted.
const DIR_EVENTS: u32 = libc::IN_CLOSE_WRITE
    | libc::IN_CREATE
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_DELETE;
/// Bytes of inotify events read per drain call.
const EVENT_BUFFER: usize = 4096;

/// What changed since the last look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changed {
    pub resolv: bool,
    pub hosts: bool,
    /// A DHCP hosts or options directory (not the DNS snapshot's business).
    pub dhcp: bool,
}

impl Changed {
    /// Whether the DNS snapshot needs rebuilding.
    pub fn any(&self) -> bool {
        self.resolv || self.hosts
    }
}

/// The watched files and directories.
pub struct Files {
    /// Resolv files with the modification time each had when last read.
    resolv: Vec<(String, Option<SystemTime>)>,
    /// The inotify instance watching the hosts directories, if there are any.
    inotify: Option<OwnedFd>,
    /// The one watching the DHCP hosts and options directories.
    dhcp_inotify: Option<OwnedFd>,
}

impl Files {
    /// Watch `resolv_files` (unless --no-poll or --no-resolv) and the hosts directories.
    pub fn from_config(config: &Config, resolv_files: &[String]) -> Files {
        let polled = !config.has("no-resolv") && !config.has("no-poll");
        let resolv = match polled {
            true => resolv_files
                .iter()
                .map(|f| (f.clone(), modified(f)))
                .collect(),
            false => Vec::new(),
        };
        let dirs = dirs_of(config, &["hostsdir", "addn-hosts"]);
        let dhcp_dirs = dirs_of(config, &["dhcp-hostsdir", "dhcp-optsdir"]);
        Files {
            resolv,
            inotify: watch_dirs(&dirs),
            dhcp_inotify: watch_dirs(&dhcp_dirs),
        }
    }

    /// What changed since the last call.
    pub fn changed(&mut self) -> Changed {
        let mut changed = Changed::default();
        for (path, seen) in &mut self.resolv {
            let now = modified(path);
            if now != *seen {
                *seen = now;
                changed.resolv = true;
            }
        }
        if let Some(fd) = &self.inotify {
            changed.hosts = drain(fd);
        }
        if let Some(fd) = &self.dhcp_inotify {
            changed.dhcp = drain(fd);
        }
        changed
    }
}

/// The directories among the paths these options give.
fn dirs_of(config: &Config, options: &[&str]) -> Vec<String> {
    options
        .iter()
        .flat_map(|o| config.values(o))
        .filter_map(|v| match v {
            Value::Text(Some(p)) if std::path::Path::new(p).is_dir() => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn modified(path: &str) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// An inotify instance watching `dirs`, or None if there are none (or inotify fails,
/// which is logged: the directories are then read at start-up and on SIGHUP only).
fn watch_dirs(dirs: &[String]) -> Option<OwnedFd> {
    if dirs.is_empty() {
        return None;
    }
    // SAFETY: plain syscall; the descriptor is owned below.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        log::error(format!(
            "failed to create inotify: {}",
            std::io::Error::last_os_error()
        ));
        return None;
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    for d in dirs {
        let Ok(path) = CString::new(d.as_str()) else {
            continue;
        };
        // SAFETY: fd is open and path is a valid C string.
        let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), DIR_EVENTS) };
        if wd < 0 {
            log::error(format!(
                "failed to create inotify for {d}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Some(fd)
}

/// Read every pending event; whether there was any.
fn drain(fd: &OwnedFd) -> bool {
    let mut buf = [0u8; EVENT_BUFFER];
    let mut any = false;
    loop {
        // SAFETY: buf is writable for its whole length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return any;
        }
        any = true;
    }
}
