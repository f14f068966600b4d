//! Linux ABI conformance, signals within one process: handlers and their
//! frames, siginfo, masks, the alternate stack, faults caught and survived,
//! rt_sigreturn, interval timers interrupting waits, sigtimedwait, SIGPIPE,
//! deaths by signal (128+N), and job control between processes. The same program runs natively and in the
//! sandbox, built against musl and against glibc (their signal code
//! differs: restorers, raise, abort).

use std::path::Path;

use rvisor_tests::*;

/// Each way of dying: the status is 128+N like the native run's.
fn deaths_as_native(prog: &Path) {
    for (how, signal) in [
        ("abort", 6),
        ("term", 15),
        ("segv-in-handler", 11),
        ("ignored-segv", 11),
        ("raise-blocked-then-default", 12),
    ] {
        let native = run_native(prog, &[how], None);
        assert_eq!(
            native.code(),
            128 + signal,
            "native {how}: {}",
            native.describe()
        );
        let sandbox = run_sandbox(prog, &[how], &[], None);
        assert_same(&native, &sandbox, Compare::StdoutAndStatus);
    }
}

#[test]
fn signals_musl() {
    let prog = c_program("signals");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn signals_glibc() {
    let prog = glibc_program("signals");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn deaths_by_signal_musl() {
    let prog = c_program("signals");
    if !require_kvm() {
        return;
    }
    deaths_as_native(&prog);
}

#[test]
fn deaths_by_signal_glibc() {
    let prog = glibc_program("signals");
    if !require_kvm() {
        return;
    }
    deaths_as_native(&prog);
}

/// Job control between processes (stop, continue, their wait reports and
/// SIGCHLD codes, SIGKILL of a stopped process), real-time signals queued
/// with their values, sigqueue to another process.
#[test]
fn job_control_and_queued_signals_musl() {
    let prog = c_program("job_control");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn job_control_and_queued_signals_glibc() {
    let prog = glibc_program("job_control");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

/// Signals to a process with several threads: the thread that does not
/// block the signal takes it, sigwait threads, sigpending per thread,
/// process-directed timers, handlers shared (CLONE_SIGHAND too), vs native.
#[test]
fn process_directed_signals_musl() {
    let prog = c_program("process_signals");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn process_directed_signals_glibc() {
    let prog = glibc_program("process_signals");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

/// Core dumps (the ELF core file, its memory as coredump_filter and
/// MADV_DONTDUMP select, WCOREDUMP and CLD_DUMPED, RLIMIT_CORE and
/// PR_SET_DUMPABLE), RLIMIT_CPU's SIGXCPU and SIGKILL, system time in
/// times/getrusage/wait4, and a zombie's /proc/<pid>/stat, vs native;
/// musl and glibc one after the other (each run spins for 2 s of CPU
/// time: side by side, on a loaded machine, they would near the timeout).
#[test]
fn core_dumps_and_cpu_limit() {
    let programs = [c_program("coredump"), glibc_program("coredump")];
    if !require_kvm() {
        return;
    }
    for prog in &programs {
        assert_conforms(prog, NO_ARGS, NO_ARGS, &[], Compare::All);
    }
}
