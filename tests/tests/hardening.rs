//! Red-team findings (issue 11): guest actions that crashed the sentry
//! (exit 125) or froze it must get Linux's answers. Each test runs
//! `tests/programs/hostile.c` in one mode, natively where that is safe, and
//! compares.

use std::time::{Duration, Instant};

use rvisor_tests::*;

/// Runs `hostile MODE` natively and in the sandbox (with `opts`) and
/// compares stdout and status.
#[track_caller]
fn same_as_native(args: &[&str], opts: &[&str]) -> RunOutput {
    let prog = c_program("hostile");
    let native = run_native(&prog, args, None);
    assert_eq!(native.code(), 0, "native run fails:\n{}", native.describe());
    let sandbox = run_sandbox(&prog, args, opts, None);
    assert_same(&native, &sandbox, Compare::StdoutAndStatus);
    sandbox
}

/// clone(CLONE_SETTLS) and arch_prctl(ARCH_SET_FS/GS) with a TLS base
/// outside the user half: EPERM, as Linux (the FS-base MSR write took a #GP
/// in ring 0).
#[test]
fn bad_tls_base_is_eperm() {
    if !require_kvm() {
        return;
    }
    let out = same_as_native(&["tls"], &[]);
    assert!(
        out.stdout_str().contains("still running"),
        "{}",
        out.describe()
    );
}

/// Pipes until the fd table is full: the last read end fits, its write end
/// does not; that pipe is undone and the call fails with EMFILE (the error
/// path locked the table a second time: "fd table lock re-entered").
#[test]
fn pipes_filling_the_fd_table_end_with_emfile() {
    if !require_kvm() {
        return;
    }
    same_as_native(&["pipes"], &[]);
}

/// A blocking write that does not fit an eventfd's counter waits (the
/// counter polls writable, so waiting for POLLOUT retried at once: the
/// sentry spun until --timeout) until a signal interrupts it or a reader
/// makes room.
#[test]
fn eventfd_overflowing_write_waits() {
    if !require_kvm() {
        return;
    }
    let start = Instant::now();
    same_as_native(&["eventfd"], &["--timeout", "20"]);
    assert!(start.elapsed() < Duration::from_secs(10));
}

/// Many host files held open, each read once: the read-ahead is sized to
/// the file and bounded for all files together (a 1 MiB buffer per file
/// exhausted the heap with 16 files at --memory 256M).
#[test]
fn many_open_host_files_fit() {
    if !require_kvm() {
        return;
    }
    let dir = abi::fresh_dir("hostfiles");
    for i in 0..64usize {
        let size = (i % 4) * 700_000 + 5000;
        std::fs::write(dir.join(format!("f{i}")), test_bytes(size)).unwrap();
    }
    let path = dir.to_str().unwrap();
    let prog = c_program("hostile");
    let native = run_native(&prog, &["hostfiles", path, "64"], None);
    assert_eq!(native.code(), 0, "{}", native.describe());
    for memory in ["256M", "64M"] {
        for n in ["16", "64"] {
            let mount = abi::mount_arg(&dir, "/data", None);
            let opts = ["--memory", memory, "--mount", &mount];
            let out = run_sandbox(&prog, &["hostfiles", "/data", n], &opts, None);
            assert_no_panic(&out);
            assert_eq!(out.code(), 0, "{}", out.describe());
            if n == "64" {
                assert_eq!(out.stdout_str(), native.stdout_str());
            }
        }
    }
}

/// Objects a program can multiply, created until a call fails, in a small
/// sandbox: the failure is an errno (the sentry's heap grows into the
/// sandbox's memory, and new objects are refused while little is left),
/// never a failed allocation in the sentry (exit 125), and the sandbox
/// works on once they are freed. Not run natively: the host would run out
/// of memory first.
#[test]
fn kernel_memory_exhaustion_is_an_errno() {
    if !require_kvm() {
        return;
    }
    let prog = c_program("hostile");
    let kinds = [
        ("vmas", &["ENOMEM"][..]),
        ("epolls", &["EMFILE", "ENFILE"]),
        ("epoll-watches", &["EMFILE", "ENFILE", "ENOMEM"]),
        ("timerfds", &["EMFILE", "ENFILE"]),
        ("eventfds", &["EMFILE", "ENFILE"]),
        ("pipes", &["EMFILE", "ENFILE"]),
        ("pipedata", &["ENOMEM", "EMFILE", "ENFILE"]),
        ("memfds", &["EMFILE", "ENFILE"]),
        ("files", &["ENFILE", "ENOSPC"]),
        ("dirs", &["ENOSPC"]),
        ("symlinks", &["ENOSPC"]),
        ("names", &["ENOSPC"]),
        ("timers", &["EAGAIN"]),
        ("tmpdata", &["ENOSPC"]),
    ];
    for (kind, errnos) in kinds {
        let out = run_sandbox(
            &prog,
            &["exhaust", kind],
            &["--memory", "64M", "--timeout", "50"],
            None,
        );
        assert_no_panic(&out);
        assert_eq!(out.code(), 0, "{kind}: {}", out.describe());
        let stdout = out.stdout_str();
        assert!(
            errnos
                .iter()
                .any(|e| stdout.contains(&format!("{kind}: {e} after "))),
            "{kind}: {}",
            out.describe()
        );
    }
}

/// The whole fd table (65536 descriptors) filled with pipes in a small
/// sandbox ends with a limit error, not a failed allocation.
#[test]
fn pipes_filling_a_large_fd_table_in_a_small_sandbox() {
    if !require_kvm() {
        return;
    }
    let prog = c_program("hostile");
    let out = run_sandbox(&prog, &["pipes-max"], &["--memory", "64M"], None);
    assert_no_panic(&out);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(
        out.stdout_str().contains("pipes: then a limit error"),
        "{}",
        out.describe()
    );
}

/// A shared writable mapping of a file opened O_RDONLY is EACCES, from mmap
/// and from mprotect (the mprotect was allowed: on a `:rw` mount the write
/// reached the host file), on tmpfs-backed host mounts `:ro` and `:rw`; the
/// vvar page cannot be made writable. Compared with Linux.
#[test]
fn mappings_follow_the_open_mode() {
    if !require_kvm() {
        return;
    }
    let dir = abi::fresh_dir("mmap-ro");
    std::fs::write(dir.join("ro.txt"), b"read only\n").unwrap();
    let prog = c_program("hostile");
    let host_path = dir.join("ro.txt");
    let native = run_native(&prog, &["mmap-ro", host_path.to_str().unwrap()], None);
    assert_eq!(native.code(), 0, "{}", native.describe());
    assert!(
        native.stdout_str().contains("of it: EACCES"),
        "{}",
        native.describe()
    );
    for mode in ["ro", "rw"] {
        let mount = abi::mount_arg(&dir, "/d", Some(mode));
        let sandbox = run_sandbox(&prog, &["mmap-ro", "/d/ro.txt"], &["--mount", &mount], None);
        assert_same(&native, &sandbox, Compare::StdoutAndStatus);
    }
    same_as_native(&["vvar"], &[]);
}

/// Files in a `:rw` mount carry no host privilege: setuid and setgid bits
/// are stripped on create, chmod and mkdir; chown to ids other than the
/// sandbox's own (root inside = the invoking user outside) is EPERM;
/// renameat2 takes only RENAME_NOREPLACE and RENAME_EXCHANGE
/// (RENAME_WHITEOUT made a character device on the host). Not run natively:
/// it would change the host.
#[test]
fn mounts_carry_no_host_privilege() {
    use std::os::unix::fs::MetadataExt;
    if !require_kvm() {
        return;
    }
    let dir = abi::fresh_dir("hostpriv");
    let prog = c_program("hostile");
    let mount = abi::mount_arg(&dir, "/d", Some("rw"));
    let out = run_sandbox(&prog, &["hostpriv", "/d"], &["--mount", &mount], None);
    assert_no_panic(&out);
    assert_eq!(out.code(), 0, "{}", out.describe());
    let expected = "create 06755: 0\nchmod 06755: 0\nchown 0:0 (the sandbox's root): 0\n\
        chown -1:-1: 0\nchown 1234:-1: -1 EPERM\nchown -1:1234: -1 EPERM\n\
        chmod 06755 again: 0\nmkdir 07777: 0\nrenameat2(RENAME_WHITEOUT): -1 EINVAL\n\
        renameat2(1 << 8): -1 EINVAL\nrenameat2(RENAME_NOREPLACE): 0\n";
    assert_eq!(out.stdout_str(), expected, "{}", out.describe());
    // SAFETY: geteuid/getegid only read this process's credentials.
    let me = unsafe { (libc::geteuid(), libc::getegid()) };
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        assert_eq!(
            meta.mode() & 0o6000,
            0,
            "{} has setuid/setgid bits: {:o}",
            entry.path().display(),
            meta.mode()
        );
        assert!(meta.file_type().is_file() || meta.file_type().is_dir());
        assert_eq!((meta.uid(), meta.gid()), me, "{}", entry.path().display());
    }
}

/// Writes on a full host file system fail with ENOSPC in the program soon
/// (they were queued and never failed), and the VMM logs it once (it
/// flooded stderr). Needs root to mount a small tmpfs; skipped otherwise.
#[test]
fn full_host_file_system_is_enospc() {
    if !require_kvm() {
        return;
    }
    let dir = abi::fresh_dir("full");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        loud("cannot mount a small tmpfs (not root?): full_host_file_system_is_enospc skipped");
        return;
    }
    let prog = c_program("hostile");
    let mount = abi::mount_arg(&dir, "/d", Some("rw"));
    let out = run_sandbox(
        &prog,
        &["fill", "/d/big"],
        &["--mount", &mount, "--timeout", "30"],
        None,
    );
    let _ = std::process::Command::new("umount").arg(&dir).status();
    assert_no_panic(&out);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(
        out.stdout_str()
            .starts_with("write: ENOSPC after some data\n"),
        "{}",
        out.describe()
    );
    assert!(out.stderr.len() < 1000, "{}", out.describe());
}

/// Starts `rvisor-vmm --timeout 2 ... hostile print` (output forever) with
/// stdout a pipe that the test reads with `read_stdout` (or not at all),
/// and returns how long it took and its exit status.
fn timed_print_run(read_stdout: Option<Duration>) -> (Duration, i32) {
    use std::io::Read;
    use std::process::Stdio;
    let prog = c_program("hostile");
    let mut cmd = vmm_command();
    cmd.args(["--timeout", "2", "--elf"])
        .arg(&prog)
        .args(["--", "print"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn rvisor-vmm");
    let mut stdout = child.stdout.take().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("rvisor-vmm --timeout 2 still runs after 20 s");
        }
        match read_stdout {
            Some(pause) => {
                let mut buf = [0u8; 100];
                let _ = stdout.read(&mut buf);
                std::thread::sleep(pause);
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    (start.elapsed(), status.code().unwrap_or(-1))
}

/// --timeout ends the sandbox on time (124) when the stdout reader does
/// not read at all, or reads slowly (the VMM blocked in write_all: 12 s,
/// or never).
#[test]
fn timeout_holds_whatever_the_stdout_reader_does() {
    if !require_kvm() {
        return;
    }
    for read in [None, Some(Duration::from_millis(50))] {
        let (took, code) = timed_print_run(read);
        assert_eq!(code, 124, "reader {read:?}");
        assert!(
            took < Duration::from_secs(4),
            "reader {read:?}: took {took:?}"
        );
    }
}

/// Descriptors the VMM inherits (beyond stdio) are closed at start.
#[test]
fn inherited_descriptors_are_closed() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    if !require_kvm() {
        return;
    }
    let secret = abi::fresh_dir("inherited").join("secret");
    std::fs::write(&secret, b"not for the VMM").unwrap();
    let file = std::fs::File::open(&secret).unwrap();
    let fd = file.as_raw_fd();
    let mut seen = Vec::new();
    let prog = c_program("hostile");
    let mut cmd = vmm_command();
    cmd.args(["--timeout", "1", "--elf"])
        .arg(&prog)
        .args(["--", "print"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: as above.
    unsafe {
        cmd.pre_exec(move || {
            libc::fcntl(fd, libc::F_SETFD, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{}/fd", child.id())) {
        for entry in dir.flatten() {
            if let Ok(target) = std::fs::read_link(entry.path()) {
                seen.push(target);
            }
        }
    }
    let _ = child.wait();
    assert!(!seen.is_empty(), "could not list the VMM's descriptors");
    assert!(
        !seen.iter().any(|t| t == &secret),
        "the VMM kept an inherited descriptor: {seen:?}"
    );
}

/// Page faults taken while the program has the direction flag set: the
/// sentry clears it on entry (it ran its copies backwards: triple fault).
#[test]
fn direction_flag_does_not_reach_the_sentry() {
    if !require_kvm() {
        return;
    }
    same_as_native(&["df"], &[]);
}

/// Privileged instructions in ring 3 (hlt, cli, port I/O, MSRs, control
/// and debug registers, descriptor tables, ...): the same signals as
/// native Linux, the sandbox going on.
#[test]
fn privileged_instructions_in_ring_3_are_signals() {
    if !require_kvm() {
        return;
    }
    same_as_native(&["priv"], &[]);
}
