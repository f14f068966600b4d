//! Failures of rvisor-vmm itself, each with the exit status it maps to.

use std::fmt;

/// Why rvisor could not run (or finish running) the application.
#[derive(Debug)]
pub enum Failure {
    /// 127: the application file does not exist.
    NotFound(String),
    /// 126: the file exists but is not a runnable x86_64 static Linux ELF.
    NotRunnable(String),
    /// 125: rvisor itself failed (no KVM, bad configuration, guest fault).
    Internal(String),
    /// 124: --timeout expired.
    Timeout(String),
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::NotFound(_) => 127,
            Failure::NotRunnable(_) => 126,
            Failure::Internal(_) => 125,
            Failure::Timeout(_) => 124,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NotFound(m)
            | Failure::NotRunnable(m)
            | Failure::Internal(m)
            | Failure::Timeout(m) => f.write_str(m),
        }
    }
}

/// Shorthand for rvisor-internal failures.
pub fn internal(message: impl Into<String>) -> Failure {
    Failure::Internal(message.into())
}
