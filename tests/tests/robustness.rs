//! The sandbox under hostile input from inside: random syscall arguments
//! must get answers (values or errnos), never a sentry fault (exit 125).

use rvisor_tests::*;

/// The fuzzer's seed: RVISOR_FUZZ_SEED, else a new one each run (printed
/// with any failure, to reproduce it).
fn fuzz_seed() -> u64 {
    std::env::var("RVISOR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// Seconds per fuzz run: RVISOR_FUZZ_SECONDS (scripts/fuzz.sh runs long
/// ones), else 12 (CI).
fn fuzz_seconds() -> String {
    std::env::var("RVISOR_FUZZ_SECONDS").unwrap_or_else(|_| "12".into())
}

#[test]
fn random_syscall_arguments_do_not_break_the_sentry() {
    let prog = c_program("syscall_fuzz");
    if !require_kvm() {
        return;
    }
    // Not run natively: on the host these calls would act on the machine.
    let seed = fuzz_seed().to_string();
    let out = run_sandbox(&prog, &["-s", &seed, "-t", &fuzz_seconds()], &[], Some(b""));
    assert_no_panic(&out);
    assert_eq!(out.code(), 0, "seed {seed}: {}", out.describe());
    let stdout = out.stdout_str();
    let calls: u64 = stdout
        .strip_prefix("survived ")
        .and_then(|s| s.strip_suffix(" syscalls\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("seed {seed}: unexpected output: {}", out.describe()));
    assert!(calls >= 400, "seed {seed}: only {calls} calls made");
}

/// The same in forked children, which may also make the calls that end,
/// block or unmap the caller; a blocked child must die by SIGKILL.
#[test]
fn random_syscalls_in_forked_children_do_not_break_the_sentry() {
    let prog = c_program("syscall_fuzz");
    if !require_kvm() {
        return;
    }
    let seed = fuzz_seed().to_string();
    let seconds = fuzz_seconds();
    let timeout = (seconds.parse::<f64>().unwrap_or(12.0) * 3.0 + 30.0).to_string();
    let out = run_vmm(
        &[
            "--timeout",
            &timeout,
            "--elf",
            prog.to_str().unwrap(),
            "--",
            "-f",
            "-s",
            &seed,
            "-t",
            &seconds,
        ],
        Some(b""),
    );
    assert_no_panic(&out);
    assert_eq!(out.code(), 0, "seed {seed}: {}", out.describe());
    let children: u64 = out
        .stdout_str()
        .strip_prefix("survived ")
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("seed {seed}: unexpected output: {}", out.describe()));
    assert!(children >= 1, "seed {seed}: {}", out.describe());
}

#[test]
fn demo_program_runs() {
    let prog = c_program("demo");
    if !require_kvm() {
        return;
    }
    let native = run_native(&prog, &["x y"], None);
    let sandbox = run_sandbox(&prog, &["x y"], &[], None);
    assert_eq!(native.code(), 0, "{}", native.describe());
    assert_eq!(sandbox.code(), 0, "{}", sandbox.describe());
    // The first line and the argument line do not depend on the kernel.
    let first = |o: &RunOutput| o.stdout_str().lines().next().map(str::to_string);
    assert_eq!(first(&native), first(&sandbox));
    assert!(
        sandbox.stdout_str().contains("1 argument(s): [x y]"),
        "{}",
        sandbox.describe()
    );
    assert!(
        sandbox.stdout_str().contains("Linux 6.8.0-rvisor"),
        "{}",
        sandbox.describe()
    );
}
