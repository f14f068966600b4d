//! The sandbox under hostile input from inside: random syscall arguments
//! must get answers (values or errnos), never a sentry fault (exit 125).

use rvisor_tests::*;

#[test]
fn random_syscall_arguments_do_not_break_the_sentry() {
    let prog = c_program("syscall_fuzz");
    if !require_kvm() {
        return;
    }
    // Not run natively: on the host these calls would act on the machine.
    let out = run_sandbox(&prog, &["40"], &[], Some(b""));
    assert_no_panic(&out);
    assert_eq!(out.code(), 0, "{}", out.describe());
    let stdout = out.stdout_str();
    let calls: u64 = stdout
        .strip_prefix("survived ")
        .and_then(|s| s.strip_suffix(" syscalls\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output: {}", out.describe()));
    assert!(calls >= 40 * 400, "only {calls} calls made");
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
        sandbox.stdout_str().contains("Linux 6.1.0-rvisor"),
        "{}",
        sandbox.describe()
    );
}
