//! The sentry's x86_64 entry points, in assembly: the boot entry `_start`, the
//! SYSCALL entry, the exception stubs and the two ways back to user mode.
//!
//! Every entry from user mode builds a [`UserContext`] on the kernel stack and
//! hands it to Rust; every return to user mode pops one. The sentry runs one
//! application thread on one vCPU, so a single kernel stack serves the
//! syscall path and exceptions from user mode alike (TSS.RSP0 points at its
//! top) and the user stack pointer can be parked in a static at SYSCALL entry
//! (no SWAPGS, which the pvm host would trap and emulate).

use core::arch::global_asm;

use boards::x86_64::{USER_CS, USER_DS};

/// Stack for double faults (IST1), so a kernel stack overflow still reports.
pub const FAULT_STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(4096))]
pub struct Stack<const N: usize>(pub [u8; N]);

/// The stack `_start` runs the boot code on (each task has its own kernel
/// stack, see `sentry::sched`).
pub const BOOT_STACK_SIZE: usize = 64 * 1024;
#[no_mangle]
pub static mut BOOT_STACK: Stack<BOOT_STACK_SIZE> = Stack([0; BOOT_STACK_SIZE]);
#[no_mangle]
pub static mut FAULT_STACK: Stack<FAULT_STACK_SIZE> = Stack([0; FAULT_STACK_SIZE]);

/// The user's registers as saved on the kernel stack at every entry from user
/// mode. The tail (`rip`..`ss`) is the hardware interrupt frame.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserContext {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Exception vector, or [`SYSCALL_VECTOR`] for the SYSCALL entry.
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

struct TrapSummary(u64, u64);

impl core::fmt::Display for TrapSummary {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        write!(f, "vector {}, error {:#x}", self.0, self.1)
    }
}

/// `UserContext::vector` of a SYSCALL entry (not a hardware vector).
pub const SYSCALL_VECTOR: u64 = 0x100;

impl UserContext {
    /// A fresh context that starts user code at `rip` with stack `rsp`.
    pub fn new_user(rip: u64, rsp: u64) -> UserContext {
        UserContext {
            rip,
            rsp,
            cs: USER_CS as u64,
            ss: USER_DS as u64,
            rflags: 0x202,
            ..UserContext::default()
        }
    }

    pub fn is_user_mode(&self) -> bool {
        self.cs & 3 == 3
    }

    /// The user's instruction pointer.
    pub fn pc(&self) -> u64 {
        self.rip
    }

    /// The user's stack pointer.
    pub fn sp(&self) -> u64 {
        self.rsp
    }

    /// What trapped, for log lines.
    pub fn trap_summary(&self) -> impl core::fmt::Display {
        TrapSummary(self.vector, self.error_code)
    }
}

const _: () = assert!(core::mem::size_of::<UserContext>() == 22 * 8);

// Offsets used by the assembly below.
const CTX_RIP: usize = 17 * 8;
const CTX_RFLAGS: usize = 19 * 8;
const CTX_RSP: usize = 20 * 8;

// ---------------------------------------------------------------------------
// Boot entry. The loader (rvisor-vmm) starts us in 64-bit mode on its page
// tables with rdi = guest-physical address of the BootInfo. On the pvm host
// every instruction until the vIF registration in `early_init` is emulated
// (~400 ns each), so nothing here loops.
global_asm!(
    r#"
    .section .text.entry, "ax"
    .global _start
_start:
    lea {stack}+{stack_size}(%rip), %rsp
    xor %ebp, %ebp
    call {kernel_entry}
2:  hlt
    jmp 2b
    "#,
    stack = sym BOOT_STACK,
    stack_size = const BOOT_STACK_SIZE,
    kernel_entry = sym crate::kernel_entry,
    options(att_syntax)
);

// ---------------------------------------------------------------------------
// SYSCALL entry: rcx = user rip, r11 = user rflags, rsp = user rsp.
global_asm!(
    r#"
    // The general registers in UserContext order (r15 lowest).
    .macro PUSH_GPRS
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    .endm
    .macro POP_GPRS
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    .endm

    .section .text
    .global syscall_entry
    .balign 64
syscall_entry:
    mov %rsp, {user_rsp}(%rip)
    mov {kstack_top}(%rip), %rsp
    pushq ${user_ds}
    pushq {user_rsp}(%rip)
    push %r11
    pushq ${user_cs}
    push %rcx
    pushq $0
    pushq ${syscall_vector}
    PUSH_GPRS
    mov %rsp, %rdi
    xor %ebp, %ebp
    call {syscall_handler}
    test %al, %al
    jz return_to_user_full

    // Fast return (sysret semantics): rcx = rip, r11 = rflags, like Linux.
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    add $8, %rsp            // r11: reloaded from rflags below
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    add $8, %rsp            // rcx: reloaded from rip below
    pop %rbx
    pop %rax
    // rsp now points at `vector`; the frame follows.
    mov {ctx_rip}-{ctx_vector}(%rsp), %rcx
    mov {ctx_rflags}-{ctx_vector}(%rsp), %r11
    cmpb $0, {fast_return_pvm}(%rip)
    mov {ctx_rsp}-{ctx_vector}(%rsp), %rsp
    je 1f
    int $0x19               // pvm: "sysret" without a host exit
1:  sysretq

    // Full return: every register from the UserContext at rsp.
    .global return_to_user_full
return_to_user_full:
    POP_GPRS
    add $16, %rsp           // vector, error code
    cmpb $0, {fast_return_pvm}(%rip)
    je 1f
    int $0x17               // pvm: iret frame at rsp, without a host exit
1:  iretq
    "#,
    user_rsp = sym SYSCALL_USER_RSP,
    kstack_top = sym KERNEL_STACK_TOP,
    user_ds = const USER_DS,
    user_cs = const USER_CS,
    syscall_vector = const SYSCALL_VECTOR,
    syscall_handler = sym super::syscall_from_user,
    ctx_rip = const CTX_RIP,
    ctx_rflags = const CTX_RFLAGS,
    ctx_rsp = const CTX_RSP,
    ctx_vector = const 15 * 8,
    fast_return_pvm = sym super::PVM_RETURNS,
    options(att_syntax)
);

/// The user rsp between SYSCALL entry and the push into the UserContext.
#[no_mangle]
static mut SYSCALL_USER_RSP: u64 = 0;

/// Top of the running task's kernel stack: where the SYSCALL entry builds
/// the UserContext (traps find the same address in TSS.RSP0). Written by
/// [`set_kernel_stack`] at every task switch.
#[no_mangle]
static mut KERNEL_STACK_TOP: u64 = 0;

/// Makes `top` the kernel stack of entries from user mode (SYSCALL and
/// exceptions alike).
pub fn set_kernel_stack(top: u64) {
    // SAFETY: one vCPU; the SYSCALL entry and the TSS read these only on
    // an entry from user mode, never while the sentry runs.
    unsafe {
        core::ptr::addr_of_mut!(KERNEL_STACK_TOP).write(top);
        super::set_tss_rsp0(top);
    }
}

// ---------------------------------------------------------------------------
// Kernel stack switch. `switch_kernel_stack(save, next)` pushes the
// callee-saved registers, stores rsp in *save, loads `next` and pops the
// next task's registers: it returns in the other task, where that task
// called it (or in `task_first_entry` for a task that never ran).
global_asm!(
    r#"
    .section .text
    .global switch_kernel_stack
switch_kernel_stack:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, (%rdi)
    mov %rsi, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

    // A new task's first run: rsp points at its UserContext.
    .global task_first_entry
task_first_entry:
    mov %rsp, %rdi
    xor %ebp, %ebp
    call {first_run}
    jmp return_to_user_full
    "#,
    first_run = sym crate::sentry::sched::first_run,
    options(att_syntax)
);

extern "C" {
    fn switch_kernel_stack(save: *mut u64, next: u64);
    fn task_first_entry();
}

/// Switches to the kernel stack saved at `next` (see the assembly above),
/// storing this one's stack pointer in `save`.
///
/// # Safety
/// `next` must be a stack pointer saved by this function, or one built by
/// [`initial_kernel_sp`], of a stack that stays allocated while it runs;
/// `save` must stay valid until this task is switched back to.
pub unsafe fn switch_stack(save: *mut u64, next: u64) {
    // SAFETY: as the caller guarantees.
    unsafe { switch_kernel_stack(save, next) }
}

/// Prepares a fresh kernel stack whose top is `top` so that switching to
/// the returned stack pointer runs `sched::first_run` and then enters user
/// mode with `ctx`.
///
/// # Safety
/// [top - 256, top) must be writable memory owned by the caller.
pub unsafe fn initial_kernel_sp(top: u64, ctx: &UserContext) -> u64 {
    let ctx_at = top - core::mem::size_of::<UserContext>() as u64;
    // SAFETY: inside the stack the caller owns.
    unsafe {
        (ctx_at as *mut UserContext).write(*ctx);
        let ret = ctx_at - 8;
        (ret as *mut u64).write(task_first_entry as *const () as u64);
        // Six callee-saved registers, zero.
        let sp = ret - 6 * 8;
        core::ptr::write_bytes(sp as *mut u64, 0, 6);
        sp
    }
}

// ---------------------------------------------------------------------------
// Exception stubs: 256 of 16 bytes each, at `trap_stubs + 16 * vector`. Each
// pushes a zero error code where the CPU does not push one, then the vector.
global_asm!(
    r#"
    .section .text
    .balign 16
    .global trap_stubs
trap_stubs:
    .set vector, 0
    .rept 256
    .if (vector == 8) || ((vector >= 10) && (vector <= 14)) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    pushq $0
    .endif
    pushq $vector
    jmp trap_common
    .balign 16, 0xcc
    .set vector, vector + 1
    .endr

trap_common:
    PUSH_GPRS
    // Rust code assumes DF = 0: a program that set DF (popf, or a signal
    // frame's eflags) and then trapped would otherwise run the sentry's
    // memcpy backwards over its own memory (found by the syscall fuzzer).
    cld
    mov %rsp, %rdi
    xor %ebp, %ebp
    call {trap_handler}
    // Traps from user mode return there; the one kernel-mode event that
    // comes back (a tick that pvm delivered while the sentry ran) returns
    // to the sentry with a plain iretq (a host exit on pvm, and rare).
    test %al, %al
    jz return_to_user_full
    POP_GPRS
    add $16, %rsp           // vector, error code
    iretq
    "#,
    trap_handler = sym super::trap_from_any_mode,
    options(att_syntax)
);

extern "C" {
    pub fn syscall_entry();
    pub static trap_stubs: [u8; 256 * 16];
}
