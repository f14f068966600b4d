//! Linux ABI conformance, sockets inside the sandbox: AF_UNIX pairs and
//! named sockets with descriptor passing across fork, and TCP/UDP over
//! 127.0.0.1 and ::1 between processes (bulk transfer, non-blocking
//! connect, refusals, port rules, an epoll echo server). Compared with the
//! native run, built against musl and against glibc.

use rvisor_tests::*;

#[test]
fn sockets_unix_musl() {
    let prog = c_program("sockets_unix");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn sockets_unix_glibc() {
    let prog = glibc_program("sockets_unix");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn sockets_inet_musl() {
    let prog = c_program("sockets_inet");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn sockets_inet_glibc() {
    let prog = glibc_program("sockets_inet");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

/// The sandbox has no network but its loopback: other destinations are
/// ENETUNREACH. Not run natively (the host has a
/// network, and no test sends traffic off this machine's loopback).
#[test]
fn sockets_off_loopback_unreachable() {
    let prog = c_program("sockets_inet");
    if !require_kvm() {
        return;
    }
    let out = run_sandbox(&prog, &["unreach"], NO_ARGS, None);
    assert_no_panic(&out);
    let stdout = out.stdout_str();
    for line in [
        "TCP connect off loopback: ENETUNREACH ok",
        "UDP sendto off loopback: ENETUNREACH ok",
        "failures=0",
    ] {
        assert!(
            stdout.contains(line),
            "missing {line:?}\n{}",
            out.describe()
        );
    }
    assert_eq!(out.code(), 0, "{}", out.describe());
}

/// The loopback interface as programs discover it (getifaddrs, if_*,
/// SIOCGIF* ioctls, NETLINK_ROUTE by hand), compared with the host's `lo`.
#[test]
fn net_interfaces_musl() {
    let prog = c_program("net_interfaces");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn net_interfaces_glibc() {
    let prog = glibc_program("net_interfaces");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

/// Without --net the sandbox has `lo` and nothing else.
#[test]
fn net_interfaces_only_loopback() {
    let prog = c_program("net_interfaces");
    if !require_kvm() {
        return;
    }
    let out = run_sandbox(&prog, &["list"], NO_ARGS, None);
    assert_no_panic(&out);
    assert_eq!(out.code(), 0, "{}", out.describe());
    let stdout = out.stdout_str();
    let names: std::collections::BTreeSet<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("interface ")?.split(' ').next())
        .collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["lo"],
        "{}",
        out.describe()
    );
}
