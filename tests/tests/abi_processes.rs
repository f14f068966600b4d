//! Linux ABI conformance, processes: fork, vfork, posix_spawn, execve (ELF
//! and #! scripts), wait4/waitid, statuses, pipes and signals between
//! processes, process groups, what exec keeps and resets. Compared with
//! the native run, built against musl and against glibc; and busybox
//! shells, pipelines and applets that fork, compared with native busybox.

use std::path::Path;

use rvisor_tests::abi::*;
use rvisor_tests::*;

fn same_as_native(prog: &Path, tag: &str) {
    let native_dir = fresh_dir(tag);
    let native_work = native_dir.join("w");
    assert_conforms(
        prog,
        &[native_work.to_str().unwrap()],
        &["/tmp/w"],
        &[],
        Compare::All,
    );
}

#[test]
fn processes_musl() {
    let prog = c_program("processes");
    if !require_kvm() {
        return;
    }
    same_as_native(&prog, "processes_musl");
}

#[test]
fn processes_glibc() {
    let prog = glibc_program("processes");
    if !require_kvm() {
        return;
    }
    same_as_native(&prog, "processes_glibc");
}

/// busybox sh with pipelines, command substitution, subshells and applets
/// that fork (xargs, find -exec, zcat, timeout), on a shared directory.
#[test]
fn busybox_shell_pipelines() {
    let bb = busybox();
    if !require_kvm() {
        return;
    }
    let dir = fresh_dir("bb_sh");
    populate(&dir);
    let host = dir.to_str().unwrap().to_string();
    let script = "cd @ && ls | sort | head -3; \
                  cat unsorted.txt | sort -n | tail -2; \
                  x=$(wc -l < unsorted.txt); echo lines=$x; \
                  (echo one; echo two) | tr a-z A-Z; \
                  find . -name '*.txt' | sort | xargs -n 2 echo pair; \
                  find sub -type f -exec wc -c {} \\; | sort; \
                  gzip -c hello.txt | zcat; \
                  timeout 5 sleep 0.05; echo timeout=$?; \
                  false || echo or-ran; true && echo and-ran; \
                  sh -c 'exit 3'; echo sub-exit=$?; \
                  (sleep 0.1; echo background) & echo foreground; wait; echo waited";
    let native = run_native(&bb, &["sh", "-c", &script.replace('@', &host)], None);
    let mount = mount_arg(&dir, "/data", None);
    let sandbox = run_sandbox(
        &bb,
        &["sh", "-c", &script.replace('@', "/data")],
        &["--mount", &mount],
        None,
    );
    assert_eq!(native.code(), 0, "{}", native.describe());
    assert_same(&native, &sandbox, Compare::All);
}

/// Rust std: threads with channels, a mutex and a condition variable,
/// thread names, and std::process::Command running the program again.
#[test]
fn rust_threads_and_child_process() {
    let prog = rust_hello();
    if !require_kvm() {
        return;
    }
    let native = run_native(&prog, &["threads"], None);
    assert_eq!(native.code(), 0, "{}", native.describe());
    let sandbox = run_sandbox(&prog, &["threads"], &[], None);
    assert_same(&native, &sandbox, Compare::All);
    assert!(
        sandbox.stdout_str().contains("mutex counter=4000"),
        "{}",
        sandbox.describe()
    );
}

#[test]
fn threads_musl() {
    let prog = c_program("threads");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn threads_glibc() {
    let prog = glibc_program("threads");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

/// The sentry core: a 200000-byte blocking pipe write arrives whole,
/// flock and fcntl locks hold between processes, /proc shows the live
/// parent after reparenting and the live thread count, a timer armed by
/// another thread fires, a blocked read is woken by another thread.
#[test]
fn core_blocking_musl() {
    let prog = c_program("core_blocking");
    if !require_kvm() {
        return;
    }
    same_as_native(&prog, "core_blocking_musl");
}

#[test]
fn core_blocking_glibc() {
    let prog = glibc_program("core_blocking");
    if !require_kvm() {
        return;
    }
    same_as_native(&prog, "core_blocking_glibc");
}

/// clone's sharing combinations (CLONE_VM without CLONE_VFORK,
/// CLONE_FILES, CLONE_FS) and clone3, vs native.
#[test]
fn clone_shares_musl() {
    let prog = c_program("clone_shares");
    if !require_kvm() {
        return;
    }
    same_as_native(&prog, "clone_shares_musl");
}

#[test]
fn clone_shares_glibc() {
    let prog = glibc_program("clone_shares");
    if !require_kvm() {
        return;
    }
    same_as_native(&prog, "clone_shares_glibc");
}

/// busybox ps and df inside the sandbox: they read /proc/<pid>/stat and
/// /proc/mounts. (Their output cannot match the host's: other processes,
/// other filesystems; the checks are on what the sandbox must show.)
#[test]
fn busybox_ps_and_df_see_the_sandbox() {
    let bb = busybox();
    if !require_kvm() {
        return;
    }
    let dir = fresh_dir("bb_ps");
    let mount = mount_arg(&dir, "/data", None);
    let out = run_sandbox(
        &bb,
        &["sh", "-c", "sleep 1 & ps; df /data; kill %1"],
        &["--mount", &mount],
        None,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    let text = out.stdout_str();
    let ps_lines: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Filesystem"))
        .collect();
    assert!(ps_lines[0].contains("PID"), "{}", out.describe());
    assert!(
        ps_lines
            .iter()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("sh -c")),
        "ps shows the first process:\n{text}"
    );
    assert!(
        ps_lines.iter().any(|l| l.contains("sleep 1")),
        "ps shows the background job:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("rvisor-host") && l.ends_with("/data")),
        "df finds the shared directory in /proc/mounts:\n{text}"
    );
}

/// Preemption (x86_64 KVM): a busy loop gets its timer signal, a spinning
/// thread and a busy child lose the vCPU to the others.
#[test]
fn busy_code_is_preempted() {
    let prog = c_program("preempt");
    if !require_kvm() {
        return;
    }
    let native = run_native(&prog, NO_ARGS, None);
    assert_eq!(native.code(), 0, "{}", native.describe());
    let mut cmd = vmm_command();
    cmd.args(["--timeout", "20", "--elf"]).arg(&prog);
    let sandbox = run_command(&mut cmd, None);
    assert_same(&native, &sandbox, Compare::All);
    assert_eq!(
        sandbox.stdout_str().matches(": yes").count(),
        3,
        "{}",
        sandbox.describe()
    );
}

/// pidfds (pidfd_open, pidfd_send_signal, pidfd_getfd, waitid(P_PIDFD),
/// poll, PIDFD_NONBLOCK, CLONE_PIDFD with clone and clone3), compared with
/// the host's run.
#[test]
fn pidfd_musl() {
    let prog = c_program("pidfd");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn pidfd_glibc() {
    let prog = glibc_program("pidfd");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

/// Namespaces: /proc/<pid>/ns and nsfs files, the NS_GET_* ioctls,
/// unshare and setns of mount, UTS and IPC namespaces (and of the fs
/// context and descriptor table), clone's namespace flags, sethostname,
/// and the pidfd ioctls (PIDFD_GET_INFO, PIDFD_GET_*_NAMESPACE), compared
/// with the host's run (as root: the checks need CAP_SYS_ADMIN).
#[test]
fn namespaces() {
    let programs = [c_program("namespaces"), glibc_program("namespaces")];
    if !require_kvm() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        loud("SKIPPED namespaces: the native run needs root (CAP_SYS_ADMIN)");
        return;
    }
    for prog in &programs {
        assert_conforms(prog, NO_ARGS, NO_ARGS, &[], Compare::All);
    }
}

/// Time namespaces: unshare(CLONE_NEWTIME), /proc/<pid>/ns/time and
/// time_for_children, /proc/self/timens_offsets, the clocks (vDSO and
/// syscall), uptimes and absolute deadlines in a namespace, entering one
/// at fork, exec, clone3 and setns, compared with the host's run (as
/// root: the checks need CAP_SYS_ADMIN and CAP_SYS_TIME).
#[test]
fn time_namespaces() {
    let programs = [c_program("timens"), glibc_program("timens")];
    if !require_kvm() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        loud("SKIPPED time_namespaces: the native run needs root (CAP_SYS_ADMIN)");
        return;
    }
    for prog in &programs {
        assert_conforms(prog, NO_ARGS, NO_ARGS, &[], Compare::All);
    }
}

/// kcmp: files, address spaces, descriptor tables, fs contexts, signal
/// handlers and semaphore undo lists compared between the caller, a
/// thread, forked and cloned children; KCMP_EPOLL_TFD; the errors.
#[test]
fn kcmp_musl() {
    let prog = c_program("kcmp");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn kcmp_glibc() {
    let prog = glibc_program("kcmp");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

/// process_vm_readv/process_vm_writev: scatter/gather with itself and a
/// child, partial transfers at a bad page on either side, the errors.
#[test]
fn process_vm_musl() {
    let prog = c_program("process_vm");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn process_vm_glibc() {
    let prog = glibc_program("process_vm");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

/// ptrace: TRACEME, the signal-delivery stop and GETSIGINFO, PEEK/POKE
/// (a forced write into a read-only page), TracerPid, the registers
/// (GETREGS, GETREGSET, PEEKUSER, debug registers), syscall stops with
/// TRACESYSGOOD and a rewritten syscall number, a suppressed signal, the
/// fork event and a traced grandchild, PTRACE_KILL, the errors.
#[test]
fn ptrace_musl() {
    let prog = c_program("ptrace");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn ptrace_glibc() {
    let prog = glibc_program("ptrace");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}
