//! Linux ABI conformance, event descriptors and timers: eventfd, timerfd,
//! signalfd, epoll (level, edge, one-shot, nested, woken by timers), POSIX
//! timers with overruns, futex in one thread, inotify (events of file
//! operations in order, errors, poll, a blocking read, fdinfo), dnotify
//! and fanotify (notify.c: signals of F_NOTIFY, fanotify groups, marks,
//! events and permission events; the native run needs root). Compared
//! with the native run, built against musl and against glibc.

use rvisor_tests::*;

#[test]
fn events_musl() {
    let prog = c_program("events");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn events_glibc() {
    let prog = glibc_program("events");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn inotify_musl() {
    let prog = c_program("inotify");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn inotify_glibc() {
    let prog = glibc_program("inotify");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

/// fanotify needs CAP_SYS_ADMIN natively: the comparison is only made as
/// root.
fn native_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        loud("notify: not root, the native run of fanotify would fail; skipped");
    }
    root
}

#[test]
fn notify_musl() {
    let prog = c_program("notify");
    if !require_kvm() || !native_root() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn notify_glibc() {
    let prog = glibc_program("notify");
    if !require_kvm() || !native_root() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}
