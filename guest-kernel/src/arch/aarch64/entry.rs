//! The sentry's aarch64 exception vectors and the way back to user mode.
//!
//! Every exception saves a [`UserContext`] (all general registers, SP_EL0,
//! ELR/SPSR, ESR/FAR, and the FP/SIMD state, which the sentry's own Rust
//! code may use) on the kernel stack (SP_EL1) and hands it to Rust; the
//! return path restores all of it and `eret`s. Each task has its own kernel
//! stack (see `sentry::sched`); the sentry runs with interrupts masked.

use core::arch::global_asm;

/// The stack the boot code and `virt_main` run on.
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

#[repr(C, align(4096))]
pub struct Stack<const N: usize>(pub [u8; N]);

#[no_mangle]
pub static mut BOOT_STACK: Stack<BOOT_STACK_SIZE> = Stack([0; BOOT_STACK_SIZE]);

/// The user's registers as saved at every exception.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug)]
pub struct UserContext {
    /// x0..x30.
    pub x: [u64; 31],
    /// SP_EL0.
    pub sp: u64,
    /// ELR_EL1: where the exception returns to.
    pub pc: u64,
    /// SPSR_EL1.
    pub pstate: u64,
    pub esr: u64,
    pub far: u64,
    pub fpcr: u64,
    pub fpsr: u64,
    /// q0..q31.
    pub q: [u128; 32],
}

const CTX_SIZE: usize = 31 * 8 + 8 * 7 + 16 * 32;
const _: () = assert!(core::mem::size_of::<UserContext>() == CTX_SIZE);
const _: () = assert!(CTX_SIZE.is_multiple_of(16));

/// ESR_EL1.EC of an `svc` from AArch64 state.
pub const EC_SVC64: u64 = 0x15;

impl UserContext {
    /// A fresh context that starts user code at `pc` with stack `sp`
    /// (EL0t, interrupts unmasked).
    pub fn new_user(pc: u64, sp: u64) -> UserContext {
        UserContext {
            x: [0; 31],
            sp,
            pc,
            pstate: 0,
            esr: 0,
            far: 0,
            fpcr: 0,
            fpsr: 0,
            q: [0; 32],
        }
    }

    /// The user's instruction pointer.
    pub fn pc(&self) -> u64 {
        self.pc
    }

    /// The user's stack pointer.
    pub fn sp(&self) -> u64 {
        self.sp
    }

    /// What trapped, for log lines.
    pub fn trap_summary(&self) -> impl core::fmt::Display {
        TrapSummary(self.esr, self.far)
    }
}

struct TrapSummary(u64, u64);

impl core::fmt::Display for TrapSummary {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        write!(
            f,
            "ESR {:#x} (EC {:#x}), FAR {:#x}",
            self.0,
            self.0 >> 26,
            self.1
        )
    }
}

/// `kind` passed to the Rust handler: (source << 2) | type, with source
/// 0 = EL1 with SP_EL0, 1 = EL1 with SP_EL1, 2 = EL0 AArch64, 3 = EL0
/// AArch32 and type 0 = synchronous, 1 = IRQ, 2 = FIQ, 3 = SError.
pub const KIND_EL0_SYNC: u64 = 8;
pub const KIND_EL0_IRQ: u64 = 9;

// The vector table (2 KiB aligned, 16 entries of 128 bytes) and the common
// save/restore code. Each entry reserves the frame, saves x0/x1 and jumps to
// `save_context` with its kind in x0.
global_asm!(
    r#"
    .macro VECTOR kind
    .balign 0x80
    sub sp, sp, #{ctx_size}
    stp x0, x1, [sp]
    mov x0, #\kind
    b save_context
    .endm

    .section .text.vectors, "ax"
    .balign 2048
    .global exception_vectors
exception_vectors:
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

save_context:
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x19, [sp, #144]
    stp x20, x21, [sp, #160]
    stp x22, x23, [sp, #176]
    stp x24, x25, [sp, #192]
    stp x26, x27, [sp, #208]
    stp x28, x29, [sp, #224]
    mrs x1, sp_el0
    stp x30, x1, [sp, #240]
    mrs x1, elr_el1
    mrs x2, spsr_el1
    stp x1, x2, [sp, #256]
    mrs x1, esr_el1
    mrs x2, far_el1
    stp x1, x2, [sp, #272]
    mrs x1, fpcr
    mrs x2, fpsr
    stp x1, x2, [sp, #288]
    add x2, sp, #304
    stp q0, q1, [x2, #0]
    stp q2, q3, [x2, #32]
    stp q4, q5, [x2, #64]
    stp q6, q7, [x2, #96]
    stp q8, q9, [x2, #128]
    stp q10, q11, [x2, #160]
    stp q12, q13, [x2, #192]
    stp q14, q15, [x2, #224]
    stp q16, q17, [x2, #256]
    stp q18, q19, [x2, #288]
    stp q20, q21, [x2, #320]
    stp q22, q23, [x2, #352]
    stp q24, q25, [x2, #384]
    stp q26, q27, [x2, #416]
    stp q28, q29, [x2, #448]
    stp q30, q31, [x2, #480]
    mov x1, x0
    mov x0, sp
    mov x29, #0
    bl {handler}
    // Only exceptions from user mode come back here (kernel ones are fatal).

    .global return_to_user
return_to_user:
    add x2, sp, #304
    ldp q0, q1, [x2, #0]
    ldp q2, q3, [x2, #32]
    ldp q4, q5, [x2, #64]
    ldp q6, q7, [x2, #96]
    ldp q8, q9, [x2, #128]
    ldp q10, q11, [x2, #160]
    ldp q12, q13, [x2, #192]
    ldp q14, q15, [x2, #224]
    ldp q16, q17, [x2, #256]
    ldp q18, q19, [x2, #288]
    ldp q20, q21, [x2, #320]
    ldp q22, q23, [x2, #352]
    ldp q24, q25, [x2, #384]
    ldp q26, q27, [x2, #416]
    ldp q28, q29, [x2, #448]
    ldp q30, q31, [x2, #480]
    ldp x1, x2, [sp, #288]
    msr fpcr, x1
    msr fpsr, x2
    ldp x1, x2, [sp, #256]
    msr elr_el1, x1
    msr spsr_el1, x2
    ldp x30, x1, [sp, #240]
    msr sp_el0, x1
    ldp x0, x1, [sp, #0]
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x19, [sp, #144]
    ldp x20, x21, [sp, #160]
    ldp x22, x23, [sp, #176]
    ldp x24, x25, [sp, #192]
    ldp x26, x27, [sp, #208]
    ldp x28, x29, [sp, #224]
    add sp, sp, #{ctx_size}
    eret
    "#,
    ctx_size = const CTX_SIZE,
    handler = sym super::exception_from_any,
);

extern "C" {
    pub static exception_vectors: [u8; 2048];
}

// ---------------------------------------------------------------------------
// Kernel stack switch: `switch_kernel_stack(save, next)` keeps the
// callee-saved registers (x19-x30) on the stack, stores sp in *save and
// resumes the task whose stack pointer is `next`. A task returns to EL0
// from the top of its own stack, so the next exception from EL0 lands on it.
global_asm!(
    r#"
    .section .text
    .global switch_kernel_stack
switch_kernel_stack:
    sub sp, sp, #96
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    mov x2, sp
    str x2, [x0]
    mov sp, x1
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    add sp, sp, #96
    ret

    // A new task's first run: sp points at its UserContext.
    .global task_first_entry
task_first_entry:
    mov x0, sp
    mov x29, #0
    bl {first_run}
    b return_to_user
    "#,
    first_run = sym crate::sentry::sched::first_run,
);

extern "C" {
    fn switch_kernel_stack(save: *mut u64, next: u64);
    fn task_first_entry();
}

/// Exceptions from EL0 use SP_EL1 as the task left it at `eret`: nothing
/// to point anywhere.
pub fn set_kernel_stack(_top: u64) {}

/// Switches to the kernel stack saved at `next`, storing this one's stack
/// pointer in `save`.
///
/// # Safety
/// `next` must be a stack pointer saved by this function, or built by
/// [`initial_kernel_sp`], of a stack that stays allocated while it runs;
/// `save` must stay valid until this task is switched back to.
pub unsafe fn switch_stack(save: *mut u64, next: u64) {
    // SAFETY: as the caller guarantees.
    unsafe { switch_kernel_stack(save, next) }
}

/// Prepares a fresh kernel stack whose top is `top` so that switching to
/// the returned stack pointer runs `sched::first_run` and then enters EL0
/// with `ctx`.
///
/// # Safety
/// [top - size_of UserContext - 96, top) must be writable memory owned by
/// the caller.
pub unsafe fn initial_kernel_sp(top: u64, ctx: &UserContext) -> u64 {
    let ctx_at = top - core::mem::size_of::<UserContext>() as u64;
    // SAFETY: inside the stack the caller owns.
    unsafe {
        (ctx_at as *mut UserContext).write(*ctx);
        let sp = ctx_at - 96;
        core::ptr::write_bytes(sp as *mut u64, 0, 12);
        // x30 (the return address) is the last slot.
        ((sp + 88) as *mut u64).write(task_first_entry as *const () as u64);
        sp
    }
}
