//! Booting an image in QEMU and turning what happened into an exit status.
//!
//! QEMU's devices for the `qemu-x86_64` board (`boards::qemu_x86_64`):
//! COM1 carries the application's stdout, COM2 its stderr (and the sentry's
//! messages), `isa-debugcon` the exit-status line, `isa-debug-exit` stops
//! QEMU. Each character device is a pipe handed to QEMU as fd 3, 4 and 5
//! (`-chardev file,path=/dev/fd/N`), so the program's stdout and stderr stay
//! separate and QEMU's own messages (on its stderr) are kept apart too.
//!
//! `qemu-aarch64-virt` (`boards::qemu_aarch64_virt`): the PL011 carries
//! stdout (fd 3), the semihosting console stderr (fd 4); the sentry ends
//! QEMU with semihosting `SYS_EXIT_EXTENDED`, so QEMU's own exit status is
//! the application's.

use std::ffi::OsString;
use std::io::{PipeReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use boards::board::{Arch, Board};
use boards::qemu_x86_64::*;
use rvisor_vmm::error::{internal, Failure};

/// How QEMU is started.
pub struct Launch {
    pub board: &'static Board,
    /// The QEMU binary: from --qemu, or the board's looked up in PATH.
    pub binary: OsString,
    pub memory_mib: u64,
    pub timeout: Duration,
    pub verbose: bool,
}

/// The machine part of the command line (everything but the character
/// devices): also what `--help` and `--image-out` tell users to run.
pub fn machine_args(board: &Board, memory_mib: u64, image: &Path) -> Vec<OsString> {
    let qemu = board.qemu.expect("a QEMU board");
    let mut args: Vec<OsString> = [
        "-machine",
        qemu.machine,
        "-cpu",
        qemu.cpu,
        "-smp",
        "1",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push("-m".into());
    args.push(format!("{memory_mib}M").into());
    args.push("-kernel".into());
    args.push(image.into());
    if board.arch == Arch::X86_64 {
        args.push("-device".into());
        args.push(
            format!("isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize={DEBUG_EXIT_IOSIZE:#x}")
                .into(),
        );
    }
    args
}

/// A one-line shell command that boots `image` by hand. x86_64: stdout and
/// stderr both on the terminal via COM1, exit status `(status << 1) | 1`.
/// aarch64: stdout on the terminal via the PL011, stderr on QEMU's stderr
/// (semihosting console), exit status = the application's.
pub fn manual_command(board: &Board, memory_mib: u64, image: &Path) -> String {
    let qemu = board.qemu.expect("a QEMU board");
    let mut words = vec![qemu.binary.to_string()];
    words.extend(
        machine_args(board, memory_mib, image)
            .iter()
            .map(|a| a.to_string_lossy().into_owned()),
    );
    words.push("-serial".into());
    words.push("stdio".into());
    if board.arch == Arch::Aarch64 {
        words.push("-semihosting-config".into());
        words.push("enable=on,target=native".into());
    }
    words.join(" ")
}

/// Finds `name` in PATH (or takes it as a path when it has a slash).
pub fn find_binary(name: &OsString) -> Option<PathBuf> {
    let path = Path::new(name);
    if name.as_encoded_bytes().contains(&b'/') {
        return path.is_file().then(|| path.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|dirs| {
        std::env::split_paths(&dirs)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// How the application (or the machine) ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    Exited(u8),
    Signaled(u8),
    /// The sentry reported a fatal error (its message went to stderr).
    Panic,
}

/// Parses the last exit-status line the sentry wrote to the debugcon.
pub fn parse_status(debugcon: &[u8]) -> Option<Ending> {
    let text = String::from_utf8_lossy(debugcon);
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix(EXIT_LINE_PREFIX))?;
    let mut words = line.split_whitespace();
    let kind = words.next()?;
    let code: u32 = words.next()?.parse().ok()?;
    match kind {
        "exited" => u8::try_from(code).ok().map(Ending::Exited),
        "signaled" => u8::try_from(code).ok().map(Ending::Signaled),
        "panic" => Some(Ending::Panic),
        _ => None,
    }
}

/// Copies everything from `from` to our fd `to` (1 or 2) until EOF.
fn forward(mut from: PipeReader, to: i32) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let _ = if to == 1 {
                        let mut out = std::io::stdout().lock();
                        out.write_all(&buf[..n]).and_then(|_| out.flush())
                    } else {
                        std::io::stderr().lock().write_all(&buf[..n])
                    };
                }
            }
        }
    })
}

fn collect(mut from: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        bytes
    })
}

/// A pipe whose write end is parked on a high, close-on-exec fd (so the
/// `dup2` onto 3..5 in the child can never clobber another one).
fn pipe_for_child() -> Result<(PipeReader, OwnedFd), Failure> {
    let (reader, writer) =
        std::io::pipe().map_err(|e| internal(format!("cannot create a pipe: {e}")))?;
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new fd we own (or -1).
    let high = unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if high < 0 {
        return Err(internal(format!(
            "cannot duplicate a pipe: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: `high` is a fresh fd nobody else owns.
    Ok((reader, unsafe { OwnedFd::from_raw_fd(high) }))
}

/// Boots `image` and returns the exit status qemu-runner should exit with.
pub fn run(launch: &Launch, image: &Path) -> Result<i32, Failure> {
    let (out_reader, out_writer) = pipe_for_child()?;
    let (err_reader, err_writer) = pipe_for_child()?;
    let (status_reader, status_writer) = pipe_for_child()?;

    let mut cmd = Command::new(&launch.binary);
    cmd.args(machine_args(launch.board, launch.memory_mib, image));
    let aarch64 = launch.board.arch == Arch::Aarch64;
    if aarch64 {
        cmd.args([
            "-chardev",
            "file,id=rvisor-stdout,path=/dev/fd/3,append=on",
            "-serial",
            "chardev:rvisor-stdout",
            "-chardev",
            "file,id=rvisor-stderr,path=/dev/fd/4,append=on",
            "-semihosting-config",
            "enable=on,target=native,chardev=rvisor-stderr",
        ]);
    } else {
        cmd.args([
            "-chardev",
            "file,id=rvisor-stdout,path=/dev/fd/3,append=on",
            "-serial",
            "chardev:rvisor-stdout",
            "-chardev",
            "file,id=rvisor-stderr,path=/dev/fd/4,append=on",
            "-device",
            &format!("isa-serial,chardev=rvisor-stderr,iobase={COM2_PORT:#x},irq=3"),
            "-chardev",
            "file,id=rvisor-status,path=/dev/fd/5,append=on",
            "-device",
            &format!("isa-debugcon,chardev=rvisor-status,iobase={DEBUGCON_PORT:#x}"),
        ]);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if launch.verbose {
        eprintln!("qemu-runner: {cmd:?}");
    }
    let fds = [
        out_writer.as_raw_fd(),
        err_writer.as_raw_fd(),
        status_writer.as_raw_fd(),
    ];
    // SAFETY: the closure only calls dup2 (async-signal-safe) on fds that
    // are open in the child (inherited; they are >= 10, the targets 3..5).
    unsafe {
        cmd.pre_exec(move || {
            for (i, fd) in fds.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        internal(format!(
            "cannot run {}: {e}",
            launch.binary.to_string_lossy()
        ))
    })?;
    // Only QEMU holds the write ends now: EOF when it exits.
    drop((out_writer, err_writer, status_writer));
    let stdout_thread = forward(out_reader, 1);
    let stderr_thread = forward(err_reader, 2);
    let status_thread = collect(status_reader);
    let qemu_stderr_thread = collect(child.stderr.take().expect("piped stderr"));

    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(e) => return Err(internal(format!("waiting for QEMU: {e}"))),
        }
        if started.elapsed() >= launch.timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = stdout_thread.join();
    let _ = stderr_thread.join();
    let debugcon = status_thread.join().unwrap_or_default();
    let qemu_stderr = qemu_stderr_thread.join().unwrap_or_default();
    if launch.verbose {
        eprintln!(
            "qemu-runner: QEMU ran {:.3} s, {status:?}",
            started.elapsed().as_secs_f64()
        );
    }
    let Some(status) = status else {
        return Err(Failure::Timeout(format!(
            "timed out after {} s (--timeout); QEMU stopped",
            launch.timeout.as_secs_f64()
        )));
    };
    if aarch64 {
        return semihosting_status(status, &qemu_stderr);
    }
    match parse_status(&debugcon) {
        Some(Ending::Exited(code)) => Ok(code as i32),
        Some(Ending::Signaled(signal)) => Ok(128 + signal as i32),
        Some(Ending::Panic) => Err(internal("the sentry failed (its message is above)")),
        None => {
            let qemu_said = String::from_utf8_lossy(&qemu_stderr);
            let qemu_said = qemu_said.trim();
            if !status.success() && !qemu_said.is_empty() {
                Err(internal(format!("QEMU failed ({status}): {qemu_said}")))
            } else {
                Err(internal(format!(
                    "the guest stopped without reporting an exit status (QEMU {status}; \
                     a triple fault ends QEMU under -no-reboot){}",
                    if qemu_said.is_empty() {
                        String::new()
                    } else {
                        format!("; QEMU said: {qemu_said}")
                    }
                )))
            }
        }
    }
}

/// aarch64: the sentry ends QEMU with semihosting SYS_EXIT_EXTENDED, so
/// QEMU's exit status is the application's (125 when the sentry failed: its
/// message is already on stderr, and 125 is what qemu-runner reports for
/// that anyway). QEMU killed by a signal, or failing on its own (status 1
/// with a message on its stderr), is a crash.
fn semihosting_status(
    status: std::process::ExitStatus,
    qemu_stderr: &[u8],
) -> Result<i32, Failure> {
    let qemu_said = String::from_utf8_lossy(qemu_stderr);
    let qemu_said = qemu_said.trim();
    match status.code() {
        Some(1) if !qemu_said.is_empty() => {
            Err(internal(format!("QEMU failed ({status}): {qemu_said}")))
        }
        Some(code) => Ok(code),
        None => Err(internal(format!(
            "QEMU ended without an exit status ({status}){}",
            if qemu_said.is_empty() {
                String::new()
            } else {
                format!("; QEMU said: {qemu_said}")
            }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status(b"RVISOR-EXIT exited 42\n"),
            Some(Ending::Exited(42))
        );
        assert_eq!(
            parse_status(b"noise\nRVISOR-EXIT signaled 11\n"),
            Some(Ending::Signaled(11))
        );
        assert_eq!(
            parse_status(b"RVISOR-EXIT panic 125\n"),
            Some(Ending::Panic)
        );
        assert_eq!(parse_status(b"RVISOR-EXIT exited 300\n"), None);
        assert_eq!(parse_status(b""), None);
    }
}
