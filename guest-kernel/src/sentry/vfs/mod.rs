//! The sentry's files. For now: the console (fds 0-2) and the application's
//! own executable, visible read-only at its absolute host path (so a program
//! can read or re-exec itself). The tmpfs root, /dev, /proc and shared host
//! directories come with the Linux ABI core work.

pub mod console;
pub mod memfile;

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::sentry::errno::*;
use crate::sentry::fd::File;

/// The files reachable by path.
pub struct Namespace {
    exe_path: Vec<u8>,
    exe: Arc<memfile::MemFile>,
}

impl Namespace {
    pub fn new(exe_path: Vec<u8>, exe: Arc<memfile::MemFile>) -> Namespace {
        Namespace { exe_path, exe }
    }

    pub fn exe_path(&self) -> &[u8] {
        &self.exe_path
    }

    /// Looks up an absolute path.
    pub fn lookup(&self, path: &[u8]) -> Result<Arc<dyn File>, Errno> {
        if path.is_empty() {
            return Err(ENOENT);
        }
        if normalize(path) == normalize(&self.exe_path) || path == b"/proc/self/exe" {
            return Ok(self.exe.clone());
        }
        Err(ENOENT)
    }
}

/// Collapses repeated slashes and "." components (".." is not resolved
/// here: nothing but the executable exists yet).
fn normalize(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for component in path.split(|&b| b == b'/') {
        if component.is_empty() || component == b"." {
            continue;
        }
        out.push(b'/');
        out.extend_from_slice(component);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}
