//! Tearing the VM down after rvisor-vmm has exited, not before.
//!
//! Once the program's exit status is known and its output written, what
//! is left is the host kernel freeing the VM: its shadow page tables and
//! memory slots when the last VM and vCPU descriptors close, the guest's
//! RAM when the last user of the address space exits. In exit_group that
//! took 2 ms for a static hello and 5 ms for `python3 -c pass` here
//! (docs/PLATFORM-x86-kvm.md), all of it after the sandbox's work is done
//! and before whoever waits for rvisor-vmm learns its status.
//!
//! [`spawn_keeper`] moves that work off the exit path. Once the VM is
//! built (before the jail, and before the guest runs a single
//! instruction) a *keeper* process is cloned that shares the VMM's
//! address space (CLONE_VM) and keeps copies of the VM and vCPU
//! descriptors and of the read end of a pipe, and nothing else (not
//! stdin/stdout/stderr: a pipe reading rvisor-vmm's output sees its end
//! when rvisor-vmm exits). It installs a seccomp filter of its own that
//! allows a read of that pipe and exit, nothing more, then waits. When
//! rvisor-vmm exits, however it exits, the pipe's write end closes, the
//! keeper's read returns and it exits: the kernel frees the VM and the
//! guest's memory in the keeper's exit, after rvisor-vmm's parent has its
//! status. The keeper runs no Rust code that could take a lock or
//! allocate: raw system calls only, on a stack of its own. A compromised
//! VMM that rewrites the keeper's stack (shared memory) gains nothing:
//! the keeper can only read one pipe and exit.

use std::os::fd::RawFd;

use crate::error::{internal, Failure};

/// What the keeper keeps open, and its filter (in this process's memory,
/// which the keeper shares).
#[repr(C)]
struct Keep {
    vm: RawFd,
    vcpu: RawFd,
    pipe: RawFd,
    filter: libc::sock_fprog,
}

const KEEPER_STACK: usize = 16 << 10;

/// Clones the keeper (see the module comment). Must be called before any
/// thread but the caller exists (the keeper gets a copy of the descriptor
/// table as it is now) and before the guest runs. On failure the VM is
/// simply torn down in rvisor-vmm's own exit.
pub fn spawn_keeper(vm: RawFd, vcpu: RawFd) -> Result<(), Failure> {
    let mut pipe = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(internal(format!(
            "teardown keeper: pipe2: {}",
            std::io::Error::last_os_error()
        )));
    }
    let [read_end, write_end] = pipe;
    let program: &'static [libc::sock_filter] = {
        let bpf = match crate::seccomp::teardown_keeper(read_end).compile() {
            Ok(bpf) => bpf,
            Err(e) => {
                // SAFETY: our own descriptors, not used elsewhere.
                unsafe { (libc::close(read_end), libc::close(write_end)) };
                return Err(e);
            }
        };
        let raw: Vec<libc::sock_filter> = bpf
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        raw.leak()
    };
    // Leaked on purpose: the keeper reads them until it exits, which is
    // after this process is gone.
    let keep: &'static Keep = Box::leak(Box::new(Keep {
        vm,
        vcpu,
        pipe: read_end,
        filter: libc::sock_fprog {
            len: program.len() as u16,
            filter: program.as_ptr() as *mut libc::sock_filter,
        },
    }));
    let stack: &'static mut [u8] = Box::leak(vec![0u8; KEEPER_STACK].into_boxed_slice());
    // SAFETY: the stack top is inside the leaked buffer, 16-byte aligned
    // (rounded down); the keeper shares this address space (CLONE_VM) and
    // only reads `keep`, which lives for the rest of the process. SIGCHLD
    // as the exit signal lets whoever inherits it reap it.
    let child = unsafe {
        let top = stack.as_mut_ptr().add(KEEPER_STACK) as usize & !15;
        libc::clone(
            keeper,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::SIGCHLD,
            keep as *const Keep as *mut libc::c_void,
        )
    };
    // SAFETY: our own descriptor, not used again here (the keeper has its
    // copy).
    unsafe { libc::close(read_end) };
    if child < 0 {
        // SAFETY: as above.
        unsafe { libc::close(write_end) };
        return Err(internal(format!(
            "teardown keeper: clone: {}",
            std::io::Error::last_os_error()
        )));
    }
    // `write_end` stays open until this process exits: its closing is the
    // keeper's signal.
    Ok(())
}

/// The keeper: closes every descriptor but the VM's two and the pipe's
/// read end (its copies: the parent's are untouched), filters itself,
/// waits for the end of the pipe, exits. Raw system calls only, not even
/// libc's wrappers: they would set `errno` in the parent's thread-local
/// storage, which the keeper shares.
extern "C" fn keeper(keep: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `keep` is the leaked `Keep` the parent passed, never freed.
    let keep = unsafe { &*(keep as *const Keep) };
    let mut kept = [keep.vm, keep.vcpu, keep.pipe].map(|fd| fd as u64);
    kept.sort_unstable();
    let mut from = 0u64;
    for fd in kept {
        if fd > from {
            raw_syscall(libc::SYS_close_range, [from, fd - 1, 0, 0, 0]);
        }
        from = fd + 1;
    }
    raw_syscall(libc::SYS_close_range, [from, u32::MAX as u64, 0, 0, 0]);
    let no_new_privs = raw_syscall(
        libc::SYS_prctl,
        [libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0],
    );
    let filtered = raw_syscall(
        libc::SYS_seccomp,
        [
            libc::SECCOMP_SET_MODE_FILTER as u64,
            0,
            &keep.filter as *const libc::sock_fprog as u64,
            0,
            0,
        ],
    );
    if no_new_privs != 0 || filtered != 0 {
        // Not confined: leave at once (the VM is then freed in the
        // parent's exit, as without a keeper).
        raw_syscall(libc::SYS_exit, [0; 5]);
    }
    let mut byte = 0u8;
    // 0 at the end of the pipe; an error other than EINTR ends it too.
    while raw_syscall(
        libc::SYS_read,
        [keep.pipe as u64, &mut byte as *mut u8 as u64, 1, 0, 0],
    ) == -(libc::EINTR as i64)
    {}
    // This process only (exit, not exit_group: nothing else shares its
    // thread group); the kernel frees the VM here.
    raw_syscall(libc::SYS_exit, [0; 5]);
    0
}

/// A system call with up to five arguments and no `errno`: the result,
/// or a negated errno.
fn raw_syscall(nr: libc::c_long, args: [u64; 5]) -> i64 {
    let ret: i64;
    // SAFETY: the keeper passes calls that close its descriptors, confine
    // it, read into a local byte or end it; the registers follow the
    // kernel's calling convention.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") args[0] as i64 => ret,
            in("x1") args[1],
            in("x2") args[2],
            in("x3") args[3],
            in("x4") args[4],
            options(nostack),
        );
    }
    ret
}
