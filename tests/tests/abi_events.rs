//! Linux ABI conformance, event descriptors and timers: eventfd, timerfd,
//! signalfd, epoll (level, edge, one-shot, nested, woken by timers), POSIX
//! timers with overruns, futex in one thread. Compared with the native run,
//! built against musl and against glibc.

use std::path::Path;

use rvisor_tests::*;

fn same_as_native(prog: &Path) {
    let native = run_native(prog, NO_ARGS, None);
    assert!(
        native.code() == 0 && native.stdout_str().contains("failures=0\n"),
        "the events program fails natively (fix the program):\n{}",
        native.describe()
    );
    let sandbox = run_sandbox(prog, NO_ARGS, &[], None);
    assert_same(&native, &sandbox, Compare::All);
}

#[test]
fn events_musl() {
    let prog = c_program("events");
    if !require_kvm() {
        return;
    }
    same_as_native(&prog);
}

#[test]
fn events_glibc() {
    let prog = glibc_program("events");
    if !require_kvm() {
        return;
    }
    same_as_native(&prog);
}
