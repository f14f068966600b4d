//! The teardown keeper (vmm/src/teardown.rs): while a sandbox runs,
//! rvisor-vmm has one child process that holds only the VM's two
//! descriptors and a pipe, under a seccomp filter of its own; after
//! rvisor-vmm exits (its status and output already delivered), that child
//! exits by itself, freeing the VM, and nothing is left behind.
//!
//! This test binary makes itself a child subreaper, so the keeper, once
//! orphaned, becomes this process's child and can be waited for.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rvisor_tests::*;

/// Children of `pid` (all its threads').
fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return found;
    };
    for task in tasks.flatten() {
        let path = task.path().join("children");
        if let Ok(list) = std::fs::read_to_string(path) {
            found.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    found
}

fn status_field(pid: u32, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
}

#[test]
fn the_vm_is_freed_by_a_confined_keeper_after_the_vmm_exits() {
    let prog = c_program("stdin_echo");
    if !require_kvm() {
        return;
    }
    // SAFETY: prctl with integer arguments.
    let subreaper = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(subreaper, 0);

    let mut vmm = vmm_command()
        .arg("--elf")
        .arg(&prog)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rvisor-vmm");
    let vmm_pid = vmm.id();

    // While the program waits for input: exactly one child, the keeper.
    let deadline = Instant::now() + Duration::from_secs(20);
    let keeper = loop {
        let children = children_of(vmm_pid);
        if let [keeper] = children[..] {
            break keeper;
        }
        assert!(children.len() <= 1, "children of rvisor-vmm: {children:?}");
        assert!(Instant::now() < deadline, "no keeper appeared");
        std::thread::sleep(Duration::from_millis(10));
    };
    // Confined: a seccomp filter (mode 2), and only three descriptors:
    // the VM, its vCPU and the pipe.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if status_field(keeper, "Seccomp:").as_deref() == Some("2") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the keeper never installed its filter"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut targets: Vec<String> = std::fs::read_dir(format!("/proc/{keeper}/fd"))
        .expect("keeper's fds")
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .map(|t| {
            if t.starts_with("pipe:") {
                "pipe".to_string()
            } else {
                t
            }
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        ["anon_inode:kvm-vcpu:0", "anon_inode:kvm-vm", "pipe"],
        "the keeper's descriptors"
    );

    // The sandbox ends normally, with its output and status intact.
    let mut stdin = vmm.stdin.take().unwrap();
    stdin.write_all(b"through the sandbox\n").unwrap();
    drop(stdin);
    let out = vmm.wait_with_output().expect("wait for rvisor-vmm");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"through the sandbox\n");

    // The keeper, now this subreaper's child, exits by itself (status 0).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut status = 0;
        // SAFETY: waitpid on a pid that is (now) our child, WNOHANG.
        let reaped = unsafe { libc::waitpid(keeper as i32, &mut status, libc::WNOHANG) };
        if reaped == keeper as i32 {
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "keeper status {status:#x}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the keeper did not exit after rvisor-vmm"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
