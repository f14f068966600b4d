//! The host channel's VMM-to-guest direction: signals sent to rvisor-vmm
//! reach the sandbox's first process as they reach a native program, and
//! stdin readiness wakes a program blocked on stdin while another process
//! computes. Every case runs `host_signal` natively and in the sandbox,
//! sends the same signal to the native program and to rvisor-vmm once the
//! program says "ready", and compares what each printed and how each
//! ended (a native death by signal N is what a shell reports as 128+N,
//! rvisor-vmm's exit status).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rvisor_tests::*;

/// How long a run may take before the test calls it hung (not a timing
/// bound on the feature: runs take well under a second).
const HANG: Duration = Duration::from_secs(60);

struct Ended {
    stdout: String,
    stderr: String,
    /// The exit status a shell would report (128+N for a death by signal N).
    shell_status: i32,
}

fn shell_status(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        _ => -1,
    }
}

/// The signals rvisor-vmm forwards.
const FORWARDED: [i32; 6] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGTERM,
];

/// Starts `cmd` with the forwarded signals at their default action except
/// `ignored` (as a shell starts a foreground job, or `nohup` one with
/// SIGHUP ignored), waits for its "ready" line, sends `signals` in order,
/// then (with `input`) waits for the line `input.0` and writes `input.1`
/// to the program's stdin, and waits for the program to end. Its stdin
/// stays open until then unless input was written.
fn signalled_with(
    mut cmd: Command,
    ignored: Option<i32>,
    signals: &[i32],
    input: Option<(&str, &[u8])>,
    what: &str,
) -> Ended {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls (signal) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for signal in FORWARDED {
                let action = if Some(signal) == ignored {
                    libc::SIG_IGN
                } else {
                    libc::SIG_DFL
                };
                libc::signal(signal, action);
            }
            Ok(())
        });
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot spawn: {e}"));
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let wait_for = |want: &str, lines: &mut Vec<String>, child: &mut std::process::Child| {
        while !lines.iter().any(|l| l == want) {
            match rx.recv_timeout(HANG) {
                Ok(line) => lines.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("{what}: no `{want}` line; got {lines:?}");
                }
            }
        }
    };
    wait_for("ready", &mut lines, &mut child);
    for &signal in signals {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(child.id() as i32, signal) };
        assert_eq!(rc, 0, "{what}: kill failed");
    }
    if let Some((line, bytes)) = input {
        wait_for(line, &mut lines, &mut child);
        // Give the program a moment to block in its wait (correctness does
        // not depend on it: the point is to exercise the wake-up).
        std::thread::sleep(Duration::from_millis(200));
        let mut pipe = stdin.take().unwrap();
        pipe.write_all(bytes).unwrap();
    }
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: did not end within {HANG:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        lines.push(line);
    }
    Ended {
        stdout: lines.join("\n") + "\n",
        stderr: err_reader.join().unwrap_or_default(),
        shell_status: shell_status(status),
    }
}

fn signalled(cmd: Command, signal: Option<i32>, input: Option<(&str, &[u8])>, what: &str) -> Ended {
    signalled_with(cmd, None, signal.as_slice(), input, what)
}

fn native(args: &[&str]) -> Command {
    let mut cmd = Command::new(c_program("host_signal"));
    cmd.env_clear();
    for (k, v) in DEFAULT_ENV {
        cmd.env(k, v);
    }
    cmd.args(args);
    cmd
}

fn sandboxed(args: &[&str]) -> Command {
    let mut cmd = vmm_command();
    cmd.arg("--elf").arg(c_program("host_signal")).arg("--");
    cmd.args(args);
    cmd
}

/// Runs `args` natively and in the sandbox with the same signal and input;
/// asserts the same output and status; returns the sandbox's.
fn same_as_native(args: &[&str], signal: Option<i32>, input: Option<(&str, &[u8])>) -> Ended {
    let what = format!("host_signal {}", args.join(" "));
    let want = signalled(native(args), signal, input, &format!("{what} (native)"));
    let got = signalled(sandboxed(args), signal, input, &format!("{what} (sandbox)"));
    assert_eq!(
        got.stdout, want.stdout,
        "{what}: stdout differs from the native run (sandbox stderr: {})",
        got.stderr
    );
    assert_eq!(
        got.shell_status, want.shell_status,
        "{what}: exit status differs from the native run's under a shell (sandbox stderr: {})",
        got.stderr
    );
    assert!(
        !got.stderr.contains("rvisor"),
        "{what}: rvisor complained: {}",
        got.stderr
    );
    got
}

#[test]
fn sigint_reaches_the_programs_handler() {
    if !require_kvm() {
        return;
    }
    // Waiting in the sentry (pause), computing without syscalls (spin: the
    // interrupt path), and going in and out (nanosleep).
    for how in ["pause", "spin", "sleep"] {
        let got = same_as_native(&["handler", "2", how], Some(libc::SIGINT), None);
        assert_eq!(got.stdout, "ready\nhandler ran\ngot signal 2\n", "{how}");
        assert_eq!(got.shell_status, 0, "{how}");
    }
}

#[test]
fn every_forwarded_signal_reaches_its_handler() {
    if !require_kvm() {
        return;
    }
    for signal in [
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        let n = signal.to_string();
        let got = same_as_native(&["handler", &n, "pause"], Some(signal), None);
        assert_eq!(got.stdout, format!("ready\nhandler ran\ngot signal {n}\n"));
    }
}

#[test]
fn sigterm_without_a_handler_ends_the_sandbox_as_natively() {
    if !require_kvm() {
        return;
    }
    for how in ["pause", "spin", "sleep"] {
        let got = same_as_native(&["default", "15", how], Some(libc::SIGTERM), None);
        assert_eq!(got.shell_status, 128 + libc::SIGTERM, "{how}");
    }
    let got = same_as_native(&["default", "2", "spin"], Some(libc::SIGINT), None);
    assert_eq!(got.shell_status, 128 + libc::SIGINT);
}

#[test]
fn a_signal_interrupts_a_read_of_stdin_and_sa_restart_resumes_it() {
    if !require_kvm() {
        return;
    }
    // The handler runs while the program waits in read(0) (in the host,
    // for the only task), the read then goes on and gets the input.
    let got = same_as_native(
        &["handler", "2", "read"],
        Some(libc::SIGINT),
        Some(("handler ran", b"typed later\n")),
    );
    assert_eq!(
        got.stdout,
        "ready\nhandler ran\nread 12 bytes: typed later\ngot signal 2\n"
    );
    // Without a handler the signal ends the blocked read and the program.
    let got = same_as_native(&["default", "2", "read"], Some(libc::SIGINT), None);
    assert_eq!(got.shell_status, 128 + libc::SIGINT);
}

#[test]
fn stdin_readiness_wakes_a_reader_while_another_process_computes() {
    if !require_kvm() {
        return;
    }
    let got = same_as_native(&["stdin"], None, Some(("ready", b"line from the host\n")));
    assert_eq!(
        got.stdout,
        "ready\nstdin is readable\nread: line from the host\nchild ended by signal 9\n"
    );
}

#[test]
fn waiting_for_stdin_costs_no_exit_per_tick() {
    if !require_kvm() {
        return;
    }
    // While the reader waits and the child computes, the VMM watches stdin
    // itself (no ConsolePoll request per tick): the run's hypercall batches
    // stay a handful however long it waits.
    let mut cmd = vmm_command();
    cmd.arg("--stats")
        .arg("--elf")
        .arg(c_program("host_signal"))
        .arg("--")
        .arg("stdin");
    let ended = signalled(
        cmd,
        None,
        Some(("ready", b"x\n")),
        "host_signal stdin --stats",
    );
    assert_eq!(ended.shell_status, 0, "stderr: {}", ended.stderr);
    let stats = ended
        .stderr
        .lines()
        .find(|l| l.starts_with("rvisor: stats:"))
        .unwrap_or_else(|| panic!("no stats line: {}", ended.stderr));
    let kv = parse_kv(stats);
    let batches: u64 = kv["hypercalls"].parse().unwrap();
    let ticks: u64 = kv.get("exits_tick").map_or(0, |t| t.parse().unwrap());
    assert!(
        ticks >= 10,
        "the run should have waited through ticks (200 ms): {stats}"
    );
    assert!(
        batches < 10,
        "stdin is polled through requests while waiting: {stats}"
    );
}

#[test]
fn a_signal_rvisor_vmm_inherited_ignored_stays_ignored() {
    if !require_kvm() {
        return;
    }
    // `nohup rvisor-vmm ...`: SIGHUP is ignored by the program natively
    // (dispositions to ignore survive exec); the SIGTERM after it ends it.
    let args = ["default", "1", "pause"];
    let signals = [libc::SIGHUP, libc::SIGTERM];
    let want = signalled_with(native(&args), Some(libc::SIGHUP), &signals, None, "native");
    let got = signalled_with(
        sandboxed(&args),
        Some(libc::SIGHUP),
        &signals,
        None,
        "sandbox",
    );
    assert_eq!(want.shell_status, 128 + libc::SIGTERM);
    assert_eq!(got.shell_status, want.shell_status, "{}", got.stderr);
    assert_eq!(got.stdout, want.stdout);
}
