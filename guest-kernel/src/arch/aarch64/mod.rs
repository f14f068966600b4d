//! aarch64: the sentry at EL1, the application at EL0 (entering with
//! `svc #0`), the exception vectors, the translation tables (TTBR0 user,
//! TTBR1 kernel), and the `qemu-aarch64-virt` board's devices.
//!
//! * `boot`: the Linux arm64 Image header and entry, the MMU switch, and
//!   the BootInfo built from the device tree and the image's payload;
//! * `entry`: vectors, [`UserContext`], the return to EL0;
//! * `paging`: the user translation tables, same API as x86_64's;
//! * `qemu`: PL011 (stdout), semihosting (stderr, exit), PL031 (wall clock);
//! * `gic`: GICv3 and the generic timer interrupt.

pub mod boot;
pub mod cpu;

/// No vDSO on aarch64 yet: time is a syscall.
pub static VDSO_IMAGE: Option<&[u8]> = None;
pub mod entry;
pub mod gic;
pub mod paging;
pub mod ptrace;
pub mod qemu;
pub mod signal;
pub mod syscall_names;

pub use super::UserTrap;
pub use boards::aarch64::{PAGE_SIZE, USER_END};
pub use entry::UserContext;

use boards::aarch64::DIRECT_MAP_BASE;
use entry::{EC_SVC64, KIND_EL0_IRQ, KIND_EL0_SYNC};

/// The architecture's name (docs, messages).
pub const NAME: &str = "aarch64";
/// `e_machine` of the programs this sentry runs.
pub const ELF_MACHINE: u16 = goblin::elf::header::EM_AARCH64;
/// AT_PLATFORM (NUL-terminated), as arm64 Linux reports it.
pub const PLATFORM: &[u8] = b"aarch64\0";
/// `uname -m`.
pub const UNAME_MACHINE: &[u8] = b"aarch64";
/// Linux 6.1 has no userfaultfd write protection on arm64
/// (CONFIG_HAVE_ARCH_USERFAULTFD_WP came in 6.10): UFFDIO_REGISTER_MODE_WP
/// is EINVAL and UFFD_FEATURE_PAGEFAULT_FLAG_WP is not offered.
pub const USERFAULTFD_WP: bool = false;

/// arm64 Linux HWCAP bits the sentry promises.
const HWCAP_FP: u64 = 1 << 0;
const HWCAP_ASIMD: u64 = 1 << 1;

/// AT_HWCAP: FP and Advanced SIMD, which every ARMv8-A Linux system has.
/// Nothing more is advertised (in particular not HWCAP_CPUID: the sentry
/// does not emulate EL0 reads of the ID registers), so libc picks its
/// baseline routines.
pub fn hwcap() -> u64 {
    HWCAP_FP | HWCAP_ASIMD
}

/// The syscall number of an `svc #0` (x8).
#[inline]
pub fn syscall_number(ctx: &UserContext) -> u64 {
    ctx.x[8]
}

/// The six syscall arguments (x0..x5).
#[inline]
pub fn syscall_args(ctx: &UserContext) -> [u64; 6] {
    [ctx.x[0], ctx.x[1], ctx.x[2], ctx.x[3], ctx.x[4], ctx.x[5]]
}

/// A syscall's return value as stored in the registers.
#[inline]
pub fn syscall_result(ctx: &UserContext) -> u64 {
    ctx.x[0]
}

/// Makes the interrupted syscall run again on the return to user mode.
pub fn rewind_syscall(ctx: &mut UserContext, nr: u64, args: [u64; 6]) {
    // SVC is one 4-byte instruction; x0 was overwritten by the result.
    ctx.pc -= 4;
    ctx.x[8] = nr;
    ctx.x[0] = args[0];
}

/// Stores a syscall's return value (x0).
#[inline]
pub fn set_syscall_result(ctx: &mut UserContext, value: u64) {
    ctx.x[0] = value;
}

/// AUDIT_ARCH_AARCH64: seccomp_data.arch.
pub const AUDIT_ARCH: u32 = 0xc000_00b7;
/// What seccomp's strict mode allows: read, write, exit, rt_sigreturn.
pub const STRICT_SECCOMP_SYSCALLS: [u64; 4] = [63, 64, 93, 139];

/// The result register of a syscall a seccomp trap skipped: as at entry
/// (Linux's syscall_rollback puts orig_x0 back in x0).
pub fn syscall_rollback_value(_nr: u64, args: [u64; 6]) -> u64 {
    args[0]
}

/// Physical address of something in the sentry's image (which runs from
/// the direct map).
pub fn image_virt_to_phys(addr: u64) -> u64 {
    addr - DIRECT_MAP_BASE
}

/// Physical address of a kernel object (image or heap: both direct-mapped;
/// or a kernel stack).
pub fn kernel_virt_to_phys(addr: u64) -> u64 {
    if let Some(phys) = crate::kstack::stack_virt_to_phys(addr) {
        return phys;
    }
    addr - DIRECT_MAP_BASE
}

/// Nothing to do: the boot code set up the MMU, the stack and the vectors
/// before any Rust ran. (x86_64 loads its descriptor tables here.)
pub fn early_init(_pvm: bool) {}

/// Installs the exception vectors (again: the boot code did it first, so
/// that a fault in the earliest Rust code is reported).
pub fn init_traps() {
    // SAFETY: the vector table is 2 KiB aligned code in the image; VBAR_EL1
    // only decides where exceptions go.
    unsafe {
        let vectors = core::ptr::addr_of!(entry::exception_vectors) as u64;
        core::arch::asm!("msr vbar_el1, {0}", "isb", in(reg) vectors, options(nostack, preserves_flags));
    }
}

/// Called by the vectors with the saved context and the vector's kind.
/// Returns only for exceptions from user mode (to `return_to_user`).
extern "C" fn exception_from_any(ctx: &mut UserContext, kind: u64) {
    match kind {
        KIND_EL0_SYNC if ctx.esr >> 26 == EC_SVC64 => {
            crate::sentry::syscalls::dispatch(ctx);
        }
        KIND_EL0_SYNC => crate::sentry::traps::handle_user_trap(ctx),
        KIND_EL0_IRQ if !gic::ready() => {
            // Under rvisor-vmm (no GIC): the VMM raised our IRQ line after
            // it published an event. Saying so lowers it (one exit), and
            // the event ring is read on the way back to the program.
            crate::hv::ack_nudge();
            crate::sentry::traps::handle_host_event(ctx);
        }
        KIND_EL0_IRQ => {
            if gic::handle_irq() {
                crate::sentry::traps::handle_tick(ctx);
            }
        }
        _ => panic!(
            "kernel exception: kind {kind} ESR {:#x} ELR {:#x} FAR {:#x} SPSR {:#x}{}",
            ctx.esr,
            ctx.pc,
            ctx.far,
            ctx.pstate,
            crate::kstack::describe_fault(ctx.far)
        ),
    }
}

/// Fault status codes (DFSC/IFSC) the memory manager resolves: translation
/// (0b0001xx), access flag (0b0010xx) and permission (0b0011xx) faults.
fn is_mmu_fault(fsc: u64) -> bool {
    (0b000100..=0b001111).contains(&fsc)
}

pub fn decode_trap(ctx: &UserContext) -> UserTrap {
    let ec = ctx.esr >> 26;
    let fsc = ctx.esr & 0x3f;
    match ec {
        // Instruction abort from EL0.
        0x20 if is_mmu_fault(fsc) => UserTrap::PageFault {
            addr: ctx.far,
            write: false,
            exec: true,
        },
        // Data abort from EL0: WnR (bit 6) unless a cache maintenance op (CM, bit 8).
        0x24 if is_mmu_fault(fsc) => UserTrap::PageFault {
            addr: ctx.far,
            write: ctx.esr & (1 << 6) != 0 && ctx.esr & (1 << 8) == 0,
            exec: false,
        },
        0x24 if fsc == 0b100001 => UserTrap::AlignmentCheck,
        0x20 | 0x24 => UserTrap::GeneralProtection,
        // Unknown instruction, illegal execution state, trapped MSR/MRS or SVE.
        0x00 | 0x0e | 0x18 | 0x19 => UserTrap::InvalidOpcode,
        // PC or SP alignment.
        0x22 | 0x26 => UserTrap::AlignmentCheck,
        // BRK.
        0x3c => UserTrap::Breakpoint,
        // Trapped floating-point exception.
        0x2c => UserTrap::FloatingPoint,
        other => UserTrap::Other(other),
    }
}

/// User state the sentry does not keep in [`UserContext`]: the TLS register
/// (TPIDR_EL0), which the program writes itself and exceptions leave alone.
pub struct ThreadState {
    tpidr: u64,
}

impl ThreadState {
    pub fn save() -> ThreadState {
        let tpidr: u64;
        // SAFETY: reading the EL0 thread pointer has no side effects.
        unsafe { core::arch::asm!("mrs {}, tpidr_el0", out(reg) tpidr, options(nomem, nostack)) };
        ThreadState { tpidr }
    }

    pub fn set_tls(&mut self, tls: u64) {
        self.tpidr = tls;
    }

    pub fn restore(&self, _fs_base: u64, _gs_base: u64) {
        // SAFETY: TPIDR_EL0 is the user's own register.
        unsafe {
            core::arch::asm!("msr tpidr_el0, {}", in(reg) self.tpidr, options(nomem, nostack))
        };
    }
}

/// A fresh program's TLS register (execve); FP/SIMD state is in the
/// context, which execve replaces.
pub fn reset_user_state() {
    // SAFETY: as above.
    unsafe { core::arch::asm!("msr tpidr_el0, xzr", options(nomem, nostack)) };
}

/// A new task's stack (clone with a stack).
pub fn set_stack_pointer(ctx: &mut UserContext, sp: u64) {
    ctx.sp = sp;
}

/// Starts the preemption tick (bare metal, where the sentry drives the
/// GIC and the generic timer itself).
pub fn start_ticks() {
    gic::arm_tick();
}
