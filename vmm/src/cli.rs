//! Command-line pieces shared by `rvisor-vmm` and `qemu-runner`: the
//! program's environment (`--env`) and clap's usage errors as rvisor's own
//! one-line failures (exit status 125).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

/// The environment a program gets when no `--env` is given.
pub const DEFAULT_ENV: [&str; 2] = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/"];

/// clap value parser for `--env KEY=VALUE` (any bytes but NUL).
pub fn parse_env(s: OsString) -> Result<OsString, String> {
    let bytes = s.as_bytes();
    match bytes.iter().position(|&b| b == b'=') {
        Some(i) if i > 0 && !bytes.contains(&0) => Ok(s),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

fn env_key(var: &OsStr) -> &[u8] {
    let bytes = var.as_bytes();
    let end = bytes.iter().position(|&b| b == b'=').unwrap_or(bytes.len());
    &bytes[..end]
}

/// The program's environment: the defaults, overridden or extended by
/// `--env` in order; nothing is inherited from the host.
pub fn environment(overrides: &[OsString]) -> Vec<OsString> {
    let mut env: Vec<OsString> = DEFAULT_ENV.iter().map(OsString::from).collect();
    for var in overrides {
        env.retain(|existing| env_key(existing) != env_key(var));
        env.push(var.clone());
    }
    env
}

/// Parses the command line; on a usage error prints one `PROGRAM: ...` line
/// and returns the exit code to end with (125; 0 for --help/--version).
pub fn parse_or_exit<P: clap::Parser>(program: &str) -> Result<P, ExitCode> {
    match P::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            Err(ExitCode::SUCCESS)
        }
        Err(e) => {
            // clap's first paragraph, on one line.
            let rendered = e.to_string();
            let paragraph: Vec<&str> = rendered
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .map(str::trim)
                .collect();
            let joined = paragraph.join(" ");
            let message = joined.strip_prefix("error: ").unwrap_or(&joined);
            eprintln!("{program}: {message} (see --help)");
            Err(ExitCode::from(125))
        }
    }
}

/// Closes every inherited descriptor but stdin, stdout and stderr: the VMM
/// opens what it needs itself (/dev/kvm, the mounts, the program), and a
/// descriptor it inherited (a socket, a privileged file) must not be
/// within reach of a compromised VMM.
pub fn close_inherited_fds() {
    // SAFETY: close_range on descriptors nothing in this process uses yet
    // (it runs first in main, before anything is opened).
    if unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) } == 0 {
        return;
    }
    // Kernels before 5.9: close what /proc/self/fd lists.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|&fd| fd > 2)
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        // SAFETY: as above; the directory's own fd is already closed (EBADF).
        unsafe { libc::close(fd) };
    }
}
