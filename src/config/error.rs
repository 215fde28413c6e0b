//! Configuration errors a user can cause, with dnsmasq's exit codes and messages.

use std::fmt;

/// dnsmasq's documented exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    Ok,
    /// A problem with the configuration.
    Config,
    /// A problem with network access (address in use, privileged port).
    Network,
    /// A problem with a file or directory.
    File,
    /// Out of memory.
    Memory,
    /// Anything else.
    Other,
    /// A `conf-script` program failed (dnsmasq's own code for this case).
    ScriptFailed,
    /// The lease-change script's `init` call exited with this code (dnsmasq exits with
    /// it plus 10).
    LeaseInit(u8),
}

impl ExitCode {
    /// The process's exit status.
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::Config => 1,
            ExitCode::Network => 2,
            ExitCode::File => 3,
            ExitCode::Memory => 4,
            ExitCode::Other => 5,
            ExitCode::ScriptFailed => 10,
            ExitCode::LeaseInit(code) => code.saturating_add(10),
        }
    }
}

/// Where a bad value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    CommandLine,
    File {
        path: String,
        line: usize,
    },
    /// Output of a `conf-script` program.
    Script {
        command: String,
    },
    /// Checks made after all options are read.
    Whole,
}

/// An error that stops start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// dnsmasq's wording, such as `bad dhcp-range`.
    pub message: String,
    /// The option and value, with what exactly is wrong; empty where the message says it all.
    pub detail: String,
    pub origin: Origin,
    pub exit: ExitCode,
}

impl ConfigError {
    /// A bad configuration value, to be given its origin by the caller.
    pub fn bad(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
            detail: String::new(),
            origin: Origin::Whole,
            exit: ExitCode::Config,
        }
    }

    /// A file or directory that cannot be read.
    pub fn file(message: impl Into<String>) -> Self {
        ConfigError {
            exit: ExitCode::File,
            ..ConfigError::bad(message)
        }
    }

    pub fn with_exit(mut self, exit: ExitCode) -> Self {
        self.exit = exit;
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn at(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::CommandLine => write!(f, "bad command line options: {}", self.message)?,
            Origin::Script { command } => write!(f, "{} in output from {}", self.message, command)?,
            Origin::File { path, line } => {
                write!(f, "{} at line {} of {}", self.message, line, path)?
            }
            Origin::Whole => write!(f, "{}", self.message)?,
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
