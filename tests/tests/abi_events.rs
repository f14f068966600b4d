//! Linux ABI conformance, event descriptors and timers: eventfd, timerfd,
//! signalfd, epoll (level, edge, one-shot, nested, woken by timers), POSIX
//! timers with overruns, futex in one thread, inotify (events of file
//! operations in order, errors, poll, a blocking read, fdinfo), dnotify
//! (notify.c: the signals of F_NOTIFY). Compared with the native run,
//! built against musl and against glibc.

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

#[test]
fn notify_musl() {
    let prog = c_program("notify");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn notify_glibc() {
    let prog = glibc_program("notify");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}
