//! The VMM's jail under a simulated compromise: an attacker who controls
//! the VMM process (as a guest exploiting a VMM bug would) is played by
//! this test, which ptraces a running rvisor-vmm while its guest sleeps,
//! stops both of its threads, and makes them issue syscalls of its choice
//! (registers set to the call, rip on a `syscall` instruction, one
//! single-step). What those calls reach is then checked on the host: no
//! file outside the mounts read, created, changed or removed, no setuid,
//! setgid or device file anywhere. A call the seccomp filter refuses kills
//! the VMM (SIGSYS); one it lets through must be refused by Landlock.
//!
//! The VMM is non-dumpable once jailed; the test runs as root and attaches
//! with CAP_SYS_PTRACE (it skips, loudly, when not root).

#![cfg(target_arch = "x86_64")]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rvisor_tests::*;

/// A running VMM with a `:rw` mount, and a directory beside the mount
/// (outside it) holding a sentinel file.
struct Victim {
    child: Option<Child>,
    pid: i32,
    mount: PathBuf,
    outside: PathBuf,
    /// Set when our own waitpid reaped the VMM.
    status: Option<i32>,
    /// Threads this test traces (each must be reaped by us).
    traced: Vec<i32>,
}

const SENTINEL: &[u8] = b"outside every mount";

fn sentinel(victim: &Victim) -> PathBuf {
    victim.outside.join("sentinel")
}

impl Victim {
    fn start(tag: &str, extra: &[&str]) -> Victim {
        let base = abi::fresh_dir(tag);
        let mount = base.join("mount");
        let outside = base.join("outside");
        std::fs::create_dir_all(&mount).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(mount.join("victim"), b"inside").unwrap();
        std::fs::write(outside.join("sentinel"), SENTINEL).unwrap();
        std::fs::set_permissions(
            outside.join("sentinel"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let prog = c_program("sleep_ms");
        let mut cmd = vmm_command();
        cmd.args(extra)
            .arg("--mount")
            .arg(format!("{}:/data:rw", mount.display()))
            .args(["--timeout", "60", "--elf"])
            .arg(&prog)
            .arg("30000")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let child = cmd.spawn().unwrap();
        let pid = child.id() as i32;
        let victim = Victim {
            child: Some(child),
            pid,
            mount,
            outside,
            status: None,
            traced: Vec::new(),
        };
        victim.wait_running(!extra.contains(&"--no-jail"));
        victim
    }

    /// The VMM's own threads (not the kernel's KVM worker tasks that
    /// live in the process too), the main (vCPU) thread first.
    fn threads(&self) -> Vec<i32> {
        let mut tids: Vec<i32> = std::fs::read_dir(format!("/proc/{}/task", self.pid))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .filter(|tid| {
                        std::fs::read_to_string(format!("/proc/{}/task/{tid}/comm", self.pid))
                            .is_ok_and(|c| c.starts_with("rvisor"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        tids.sort();
        tids
    }

    /// Until both threads run (and, jailed, both have their filter).
    fn wait_running(&self, jailed: bool) {
        let start = Instant::now();
        loop {
            let tids = self.threads();
            let filtered = tids.iter().all(|tid| {
                std::fs::read_to_string(format!("/proc/{}/task/{tid}/status", self.pid))
                    .map(|s| s.contains("Seccomp:\t2"))
                    .unwrap_or(false)
            });
            // The vCPU (main) and event threads, and with a mount the
            // host-file I/O thread.
            if tids.len() >= 3 && (filtered || !jailed) {
                // The guest is then asleep (or about to be) in nanosleep.
                std::thread::sleep(Duration::from_millis(300));
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the VMM did not start: threads {tids:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The VMM's descriptor whose link is `target` (a mount's directory).
    fn fd_of(&self, target: &Path) -> u64 {
        for entry in std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .unwrap()
            .flatten()
        {
            if std::fs::read_link(entry.path()).ok().as_deref() == Some(target) {
                return entry.file_name().to_str().unwrap().parse().unwrap();
            }
        }
        panic!("the VMM holds no descriptor for {}", target.display());
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        if self.status.is_none() {
            // SAFETY: kill and waitpid on our own child and tracees: a
            // traced thread's end is reported to us, its tracer, and the
            // process cannot be reaped before.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                let mut status = 0;
                for &tid in self.traced.iter().filter(|&&t| t != self.pid) {
                    libc::waitpid(tid, &mut status, libc::__WALL);
                }
                libc::waitpid(self.pid, &mut status, libc::__WALL);
            }
            self.child = None;
        }
    }
}

/// One thread of the VMM, stopped under ptrace.
struct Tracee {
    tid: i32,
    saved: libc::user_regs_struct,
    /// The address of a `syscall` instruction (the one the thread was
    /// stopped in).
    syscall_insn: u64,
    /// Stack memory below the thread's red zone, for strings.
    scratch: u64,
}

/// What an injected call came to.
#[derive(Debug, PartialEq)]
enum Outcome {
    Returned(i64),
    /// The process died (the seccomp filter killed it): its wait status.
    Died(i32),
}

fn ptrace(request: libc::c_uint, tid: i32, addr: u64, data: u64) -> i64 {
    // SAFETY: ptrace on a tracee of ours; addr/data are plain values or
    // pointers to our own structs, as each request needs.
    unsafe {
        libc::ptrace(
            request,
            tid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    }
}

fn wait_tid(tid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: waits for one tracee of ours.
    let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL) };
    assert_eq!(r, tid, "waitpid: {}", std::io::Error::last_os_error());
    status
}

fn get_regs(tid: i32) -> libc::user_regs_struct {
    // SAFETY: user_regs_struct is plain data.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    assert_eq!(
        ptrace(libc::PTRACE_GETREGS, tid, 0, &mut regs as *mut _ as u64),
        0,
        "PTRACE_GETREGS"
    );
    regs
}

impl Tracee {
    /// Seizes and stops thread `tid`, stopped inside a syscall.
    fn seize(tid: i32) -> Option<Tracee> {
        if ptrace(libc::PTRACE_SEIZE, tid, 0, 0) != 0 {
            loud(&format!(
                "PTRACE_SEIZE {tid}: {}",
                std::io::Error::last_os_error()
            ));
            return None;
        }
        for _ in 0..200 {
            assert_eq!(
                ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0),
                0,
                "PTRACE_INTERRUPT"
            );
            let status = wait_tid(tid);
            assert!(libc::WIFSTOPPED(status), "status {status:#x}");
            let regs = get_regs(tid);
            let word = ptrace(libc::PTRACE_PEEKTEXT, tid, regs.rip - 2, 0) as u64;
            if word & 0xffff == 0x050f {
                return Some(Tracee {
                    tid,
                    saved: regs,
                    syscall_insn: regs.rip - 2,
                    scratch: (regs.rsp - 16384) & !0xf,
                });
            }
            // In user space: let it run into its next syscall.
            ptrace(libc::PTRACE_CONT, tid, 0, 0);
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("thread {tid} was never stopped in a syscall");
    }

    /// Writes `bytes` (NUL-terminated strings, structs) at scratch+offset.
    fn poke(&self, offset: u64, bytes: &[u8]) -> u64 {
        let addr = self.scratch + offset;
        let mut padded = bytes.to_vec();
        padded.resize(bytes.len().div_ceil(8) * 8 + 8, 0);
        for (i, word) in padded.chunks(8).enumerate() {
            let value = u64::from_le_bytes(word.try_into().unwrap());
            assert_eq!(
                ptrace(libc::PTRACE_POKEDATA, self.tid, addr + 8 * i as u64, value),
                0,
                "PTRACE_POKEDATA"
            );
        }
        addr
    }

    fn string(&self, slot: u64, s: &str) -> u64 {
        let mut bytes = s.as_bytes().to_vec();
        bytes.push(0);
        self.poke(slot * 1024, &bytes)
    }

    /// Runs syscall `nr` with `args` in the thread.
    fn call(&self, victim: &mut Victim, nr: i64, args: [u64; 6]) -> Outcome {
        let mut regs = self.saved;
        regs.rax = nr as u64;
        regs.orig_rax = u64::MAX; // no syscall restart on resuming
        regs.rdi = args[0];
        regs.rsi = args[1];
        regs.rdx = args[2];
        regs.r10 = args[3];
        regs.r8 = args[4];
        regs.r9 = args[5];
        regs.rip = self.syscall_insn;
        assert_eq!(
            ptrace(libc::PTRACE_SETREGS, self.tid, 0, &regs as *const _ as u64),
            0
        );
        loop {
            ptrace(libc::PTRACE_SINGLESTEP, self.tid, 0, 0);
            let status = self.wait_step(victim);
            if !libc::WIFSTOPPED(status) {
                victim.status = Some(status);
                victim.child = None;
                return Outcome::Died(status);
            }
            let now = get_regs(self.tid);
            // A signal stop before the instruction ran (a pending kick,
            // suppressed here): step again.
            if now.rip != self.syscall_insn {
                return Outcome::Returned(now.rax as i64);
            }
        }
    }

    /// This thread's next report; when the process dies, every traced
    /// thread's end is reaped (a traced thread must be, by its tracer,
    /// before the leader's end is reported) and the leader's status is
    /// returned.
    fn wait_step(&self, victim: &mut Victim) -> i32 {
        let start = Instant::now();
        let mut dead = Vec::new();
        loop {
            for &tid in &victim.traced {
                let mut status = 0;
                // SAFETY: polls one tracee of ours.
                let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::WNOHANG) };
                if r != tid {
                    continue;
                }
                if tid == self.tid && libc::WIFSTOPPED(status) {
                    return status;
                }
                if !libc::WIFSTOPPED(status) {
                    dead.push((tid, status));
                }
            }
            victim.traced.retain(|t| !dead.iter().any(|(d, _)| d == t));
            if let Some(&(_, status)) = dead.iter().find(|(tid, _)| *tid == victim.pid) {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no report from {}",
                self.tid
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The vCPU thread (the main one) and the event thread stopped (the
/// host-file I/O thread goes on serving).
fn stop_all(victim: &mut Victim) -> Option<(Tracee, Tracee)> {
    let tids = victim.threads();
    let named = |name: &str| {
        tids.iter().copied().find(|tid| {
            std::fs::read_to_string(format!("/proc/{}/task/{tid}/comm", victim.pid))
                .is_ok_and(|c| c.trim() == name)
        })
    };
    let event_tid = named("rvisor-events").expect("the event thread");
    let events = Tracee::seize(event_tid)?;
    victim.traced.push(event_tid);
    let vcpu = Tracee::seize(tids[0])?;
    victim.traced.push(tids[0]);
    assert_eq!(vcpu.tid, victim.pid);
    Some((vcpu, events))
}

fn killed_by_sigsys(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Died(s) if libc::WIFSIGNALED(*s) && libc::WTERMSIG(*s) == libc::SIGSYS)
}

/// Files under `dir` with their mode, type and size.
fn listing(dir: &Path) -> BTreeMap<PathBuf, (u32, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            if md.is_dir() {
                stack.push(e.path());
            }
            out.insert(e.path(), (md.mode(), md.len()));
        }
    }
    out
}

/// Nothing with host privilege anywhere near the victim, and the sentinel
/// untouched.
fn assert_no_damage(victim: &Victim, what: &str) {
    for dir in [&victim.mount, &victim.outside] {
        for (path, (mode, _)) in listing(dir) {
            let kind = mode & libc::S_IFMT;
            assert!(
                mode & (libc::S_ISUID | libc::S_ISGID) == 0,
                "{what}: {} is setuid/setgid ({mode:o})",
                path.display()
            );
            assert!(
                kind != libc::S_IFCHR && kind != libc::S_IFBLK,
                "{what}: {} is a device ({mode:o})",
                path.display()
            );
        }
    }
    let outside = listing(&victim.outside);
    assert_eq!(
        outside.keys().collect::<Vec<_>>(),
        vec![&sentinel(victim)],
        "{what}: something appeared outside the mount"
    );
    assert_eq!(std::fs::read(sentinel(victim)).unwrap(), SENTINEL, "{what}");
    let md = std::fs::metadata(sentinel(victim)).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o644, "{what}: sentinel mode changed");
    assert!(!Path::new("/tmp/rvisor-jail-evil").exists(), "{what}");
}

fn can_trace() -> bool {
    if !require_kvm() {
        return false;
    }
    // SAFETY: geteuid only reads our id.
    if unsafe { libc::geteuid() } != 0 {
        loud("*** SKIPPED: the syscall-injection test attaches to a non-dumpable VMM: it needs root ***");
        return false;
    }
    true
}

fn landlock_available() -> bool {
    // SAFETY: landlock_create_ruleset(NULL, 0, VERSION) only queries.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    abi >= 1
}

const O_RDONLY: u64 = libc::O_RDONLY as u64;
const AT_FDCWD: u64 = libc::AT_FDCWD as i64 as u64;

/// An open_how for openat2, in the tracee's memory.
fn open_how(tracee: &Tracee, slot: u64, flags: u64, mode: u64) -> u64 {
    let mut how = Vec::new();
    how.extend_from_slice(&flags.to_le_bytes());
    how.extend_from_slice(&mode.to_le_bytes());
    how.extend_from_slice(&0u64.to_le_bytes()); // resolve: none
    tracee.poke(slot * 1024, &how)
}

/// Calls the filter lets through, which reach for the host outside the
/// mount: each must fail (Landlock), the VMM surviving them.
#[test]
fn injected_calls_reach_nothing_outside_the_mounts() {
    if !can_trace() {
        return;
    }
    let mut victim = Victim::start("jail-inject", &[]);
    let mount_fd = victim.fd_of(&victim.mount.clone());
    let proc_fd = victim.fd_of(&PathBuf::from(format!("/proc/{}/fd", victim.pid)));
    let Some((vcpu, _events)) = stop_all(&mut victim) else {
        return;
    };
    // The injection works: getpid answers in the VMM.
    assert_eq!(
        vcpu.call(&mut victim, libc::SYS_getpid, [0; 6]),
        Outcome::Returned(victim.pid as i64)
    );
    // The mount's sibling.
    let rel = "../outside/sentinel".to_string();
    let abs = sentinel(&victim).to_str().unwrap().to_string();
    let deep = format!("../../../../../../../../..{abs}");
    let landlock = landlock_available();
    let mut refused = Vec::new();
    let mut check = |what: &str, outcome: Outcome, victim: &Victim| {
        match outcome {
            Outcome::Returned(r) => {
                assert!(r < 0, "{what}: succeeded ({r}) in the jailed VMM");
                refused.push(format!("{what}: errno {}", -r));
            }
            Outcome::Died(s) => panic!("{what}: the VMM died ({s:#x}); expected an errno"),
        }
        assert_no_damage(victim, what);
    };
    for (i, path) in [rel.as_str(), abs.as_str(), deep.as_str(), "/etc/shadow"]
        .iter()
        .enumerate()
    {
        let p = vcpu.string(1, path);
        let how = open_how(&vcpu, 2, O_RDONLY, 0);
        check(
            &format!("openat2(mount, {path:?}, O_RDONLY) #{i}"),
            vcpu.call(&mut victim, libc::SYS_openat2, [mount_fd, p, how, 24, 0, 0]),
            &victim,
        );
        let how = open_how(&vcpu, 2, (libc::O_RDWR | libc::O_TRUNC) as u64, 0);
        check(
            &format!("openat2(mount, {path:?}, O_RDWR|O_TRUNC)"),
            vcpu.call(&mut victim, libc::SYS_openat2, [mount_fd, p, how, 24, 0, 0]),
            &victim,
        );
        check(
            &format!("openat(/proc/self/fd, {path:?})"),
            vcpu.call(
                &mut victim,
                libc::SYS_openat,
                [proc_fd, p, O_RDONLY, 0, 0, 0],
            ),
            &victim,
        );
        check(
            &format!("unlinkat(mount, {path:?})"),
            vcpu.call(&mut victim, libc::SYS_unlinkat, [mount_fd, p, 0, 0, 0, 0]),
            &victim,
        );
        let stolen = vcpu.string(3, "stolen");
        check(
            &format!("linkat(mount, {path:?}, mount, stolen)"),
            vcpu.call(
                &mut victim,
                libc::SYS_linkat,
                [
                    mount_fd,
                    p,
                    mount_fd,
                    stolen,
                    libc::AT_SYMLINK_FOLLOW as u64,
                    0,
                ],
            ),
            &victim,
        );
        check(
            &format!("renameat2(mount, {path:?}, mount, stolen)"),
            vcpu.call(
                &mut victim,
                libc::SYS_renameat2,
                [mount_fd, p, mount_fd, stolen, 0, 0],
            ),
            &victim,
        );
        assert!(!victim.mount.join("stolen").exists());
    }
    // Through /proc: another process's root, our own cwd and root.
    for path in [
        "../../1/root/etc/shadow",
        "../cwd/etc/shadow",
        "../root/etc/shadow",
    ] {
        let p = vcpu.string(1, path);
        check(
            &format!("openat(/proc/self/fd, {path:?})"),
            vcpu.call(
                &mut victim,
                libc::SYS_openat,
                [proc_fd, p, O_RDONLY, 0, 0, 0],
            ),
            &victim,
        );
    }
    // Creating outside: in /tmp and beside the mount.
    for path in ["/tmp/rvisor-jail-evil", "../outside/evil"] {
        let p = vcpu.string(1, path);
        let how = open_how(&vcpu, 2, (libc::O_CREAT | libc::O_WRONLY) as u64, 0o755);
        check(
            &format!("openat2(mount, {path:?}, O_CREAT)"),
            vcpu.call(&mut victim, libc::SYS_openat2, [mount_fd, p, how, 24, 0, 0]),
            &victim,
        );
        check(
            &format!("mkdirat(mount, {path:?})"),
            vcpu.call(
                &mut victim,
                libc::SYS_mkdirat,
                [mount_fd, p, 0o755, 0, 0, 0],
            ),
            &victim,
        );
        let target = vcpu.string(3, "/etc/shadow");
        check(
            &format!("symlinkat(/etc/shadow, mount, {path:?})"),
            vcpu.call(
                &mut victim,
                libc::SYS_symlinkat,
                [target, mount_fd, p, 0, 0, 0],
            ),
            &victim,
        );
    }
    // Moving a file of the mount out of it.
    let inside = vcpu.string(1, "victim");
    let out = vcpu.string(3, "../outside/moved");
    check(
        "renameat2(mount, victim, mount, ../outside/moved)",
        vcpu.call(
            &mut victim,
            libc::SYS_renameat2,
            [mount_fd, inside, mount_fd, out, 0, 0],
        ),
        &victim,
    );
    assert!(victim.mount.join("victim").exists());
    if !landlock {
        loud("*** the kernel has no Landlock: the jail's file-system wall was not tested ***");
    }
    eprintln!("refused:\n  {}", refused.join("\n  "));
}

/// Calls the seccomp filter refuses: each kills the VMM (SIGSYS) before
/// it acts. One VMM per call.
#[test]
fn injected_forbidden_calls_kill_the_vmm() {
    if !can_trace() {
        return;
    }
    type Attack = (
        &'static str,
        bool,
        fn(&Tracee, &Victim, u64) -> (i64, [u64; 6]),
    );
    let attacks: Vec<Attack> = vec![
        ("openat(AT_FDCWD, sentinel)", false, |t, v, _| {
            let p = t.string(1, sentinel(v).to_str().unwrap());
            (libc::SYS_openat, [AT_FDCWD, p, O_RDONLY, 0, 0, 0])
        }),
        ("open(/etc/shadow)", false, |t, _, _| {
            (
                libc::SYS_open,
                [t.string(1, "/etc/shadow"), O_RDONLY, 0, 0, 0, 0],
            )
        }),
        ("openat(mount, x, O_CREAT, 04755)", false, |t, _, m| {
            let flags = (libc::O_CREAT | libc::O_WRONLY) as u64;
            (libc::SYS_openat, [m, t.string(1, "x"), flags, 0o4755, 0, 0])
        }),
        ("fchmodat(mount, victim, 04755)", false, |t, _, m| {
            (
                libc::SYS_fchmodat,
                [m, t.string(1, "victim"), 0o4755, 0, 0, 0],
            )
        }),
        ("chmod(sentinel, 04755)", false, |t, v, _| {
            (
                libc::SYS_chmod,
                [
                    t.string(1, sentinel(v).to_str().unwrap()),
                    0o4755,
                    0,
                    0,
                    0,
                    0,
                ],
            )
        }),
        ("fchmodat2(mount, victim, 04755, 0)", false, |t, _, m| {
            (452, [m, t.string(1, "victim"), 0o4755, 0, 0, 0])
        }),
        (
            "fchmodat2(mount, \"\", 06755, AT_EMPTY_PATH)",
            false,
            |t, _, m| {
                (
                    452,
                    [m, t.string(1, ""), 0o6755, libc::AT_EMPTY_PATH as u64, 0, 0],
                )
            },
        ),
        ("fchownat(mount, victim, 0, 0)", false, |t, _, m| {
            (libc::SYS_fchownat, [m, t.string(1, "victim"), 0, 0, 0, 0])
        }),
        ("mknodat(mount, dev, S_IFCHR, 1:3)", false, |t, _, m| {
            let mode = (libc::S_IFCHR | 0o666) as u64;
            (
                libc::SYS_mknodat,
                [m, t.string(1, "dev"), mode, libc::makedev(1, 3), 0, 0],
            )
        }),
        ("mkdirat(mount, d, 02755)", false, |t, _, m| {
            (libc::SYS_mkdirat, [m, t.string(1, "d"), 0o2755, 0, 0, 0])
        }),
        (
            "renameat2(victim, wh, RENAME_WHITEOUT)",
            false,
            |t, _, m| {
                let a = t.string(1, "victim");
                let b = t.string(2, "wh");
                (
                    libc::SYS_renameat2,
                    [m, a, m, b, libc::RENAME_WHITEOUT as u64, 0],
                )
            },
        ),
        ("truncate(sentinel)", false, |t, v, _| {
            (
                libc::SYS_truncate,
                [t.string(1, sentinel(v).to_str().unwrap()), 0, 0, 0, 0, 0],
            )
        }),
        ("execve(/bin/sh)", false, |t, _, _| {
            (libc::SYS_execve, [t.string(1, "/bin/sh"), 0, 0, 0, 0, 0])
        }),
        ("socket(AF_INET)", false, |_, _, _| {
            (
                libc::SYS_socket,
                [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0],
            )
        }),
        ("setresuid(0, 0, 0)", false, |_, _, _| {
            (libc::SYS_setresuid, [0, 0, 0, 0, 0, 0])
        }),
        ("mmap(PROT_EXEC)", false, |_, _, _| {
            let prot = (libc::PROT_READ | libc::PROT_EXEC) as u64;
            let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
            (libc::SYS_mmap, [0, 4096, prot, flags, u64::MAX, 0])
        }),
        ("kill(1, SIGKILL)", false, |_, _, _| {
            (libc::SYS_kill, [1, 9, 0, 0, 0, 0])
        }),
        ("ioctl(mount, FIONREAD)", false, |_, _, m| {
            (libc::SYS_ioctl, [m, libc::FIONREAD, 0, 0, 0, 0])
        }),
        ("ptrace(PTRACE_ATTACH, 1)", false, |_, _, _| {
            (
                libc::SYS_ptrace,
                [libc::PTRACE_ATTACH as u64, 1, 0, 0, 0, 0],
            )
        }),
        // The event thread has no file calls at all.
        (
            "openat2(mount, victim) on the event thread",
            true,
            |t, _, m| {
                let how = open_how(t, 2, O_RDONLY, 0);
                (libc::SYS_openat2, [m, t.string(1, "victim"), how, 24, 0, 0])
            },
        ),
        (
            "ioctl(vcpu, KVM_RUN) on the event thread",
            true,
            |_, _, _| (libc::SYS_ioctl, [3, 0xae80, 0, 0, 0, 0]),
        ),
    ];
    for (what, on_event_thread, make) in attacks {
        let mut victim = Victim::start("jail-kill", &[]);
        let mount_fd = victim.fd_of(&victim.mount.clone());
        let Some((vcpu, events)) = stop_all(&mut victim) else {
            return;
        };
        let tracee = if on_event_thread { &events } else { &vcpu };
        let (nr, args) = make(tracee, &victim, mount_fd);
        let outcome = tracee.call(&mut victim, nr, args);
        assert!(
            killed_by_sigsys(&outcome),
            "{what}: expected the VMM killed by SIGSYS, got {outcome:?}"
        );
        assert_no_damage(&victim, what);
        assert!(!victim.mount.join("x").exists(), "{what}");
        assert!(!victim.mount.join("dev").exists(), "{what}");
        assert!(!victim.mount.join("wh").exists(), "{what}");
        assert!(!victim.mount.join("d").exists(), "{what}");
        let md = std::fs::metadata(victim.mount.join("victim")).unwrap();
        assert_eq!(md.mode() & 0o7000, 0, "{what}");
    }
}

/// The control: without the jail the same injection does reach outside
/// (so the tests above would see an escape).
#[test]
fn without_the_jail_injected_calls_reach_the_host() {
    if !can_trace() {
        return;
    }
    let mut victim = Victim::start("jail-none", &["--no-jail"]);
    let Some((vcpu, _events)) = stop_all(&mut victim) else {
        return;
    };
    let p = vcpu.string(1, sentinel(&victim).to_str().unwrap());
    let outcome = vcpu.call(
        &mut victim,
        libc::SYS_openat,
        [AT_FDCWD, p, O_RDONLY, 0, 0, 0],
    );
    assert!(
        matches!(outcome, Outcome::Returned(fd) if fd >= 0),
        "openat of the sentinel without the jail: {outcome:?}"
    );
}

/// The jailed VMM's credentials: no capabilities, no_new_privs,
/// non-dumpable, --uid/--gid applied, both threads filtered.
#[test]
fn jailed_vmm_has_no_privileges() {
    if !can_trace() {
        return;
    }
    let victim = Victim::start("jail-creds", &["--uid", "65534", "--gid", "65534"]);
    for tid in victim.threads() {
        let status =
            std::fs::read_to_string(format!("/proc/{}/task/{tid}/status", victim.pid)).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or_else(|| panic!("no {name} in {status}"))
                .to_string()
        };
        for caps in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
            assert_eq!(field(caps), "0000000000000000", "{caps} of thread {tid}");
        }
        assert_eq!(field("NoNewPrivs:"), "1");
        assert_eq!(field("Seccomp:"), "2");
        assert!(
            field("Uid:").split_whitespace().all(|id| id == "65534"),
            "{status}"
        );
        assert!(
            field("Gid:").split_whitespace().all(|id| id == "65534"),
            "{status}"
        );
        assert_eq!(field("Groups:"), "");
    }
    // Non-dumpable: /proc/PID/environ and mem belong to root now.
    let md = std::fs::metadata(format!("/proc/{}/mem", victim.pid)).unwrap();
    assert_eq!(md.uid(), 0);
}
