//! x86_64: descriptor tables, the platform backends (`native` and `pvm`),
//! the user/kernel transitions and the page tables.
//!
//! Platform differences are small and all live here:
//! * `pvm` registers a vIF page in the first instructions (until then every
//!   kernel instruction is emulated by the host), returns to user mode with
//!   `int $0x19` (sysret-like) and `int $0x17` (iret-like) instead of
//!   `sysretq`/`iretq` (which would each cost a host exit), reads the fault
//!   address from the vIF page, and keeps paired kernel/user PML4s in which
//!   every entry is user-accessible.
//! * `native` is a plain ring-0 kernel.

pub mod cpu;

/// The vDSO mapped into every program (built by build.rs from vdso/).
pub static VDSO_IMAGE: Option<&[u8]> = Some(include_bytes!(env!("RVISOR_VDSO")));
pub mod entry;
pub mod paging;
pub mod ptrace;
pub mod pvh;
pub mod qemu;
pub mod signal;
pub mod syscall_names;

use core::ptr::addr_of;
use core::ptr::addr_of_mut;

use boards::x86_64::{KERNEL_CS, KERNEL_VBASE, TSS_SELECTOR, USER_CS32};
use x86_64::instructions::tables::{lgdt, lidt, load_tss};
use x86_64::structures::gdt::SegmentSelector;
use x86_64::structures::tss::TaskStateSegment;
use x86_64::structures::DescriptorTablePointer;
use x86_64::{PrivilegeLevel, VirtAddr};

pub use super::UserTrap;
pub use boards::x86_64::{PAGE_SIZE, USER_END};

/// Linux's TASK_SIZE_MAX: an FS or GS base at or above it is refused with
/// EPERM (arch_prctl, clone with CLONE_SETTLS). A non-canonical value would
/// fault (#GP) at the MSR write in ring 0.
pub const TLS_BASE_LIMIT: u64 = USER_END - PAGE_SIZE;
pub use entry::UserContext;

/// The architecture's name (docs, messages).
pub const NAME: &str = "x86_64";
/// `e_machine` of the programs this sentry runs.
pub const ELF_MACHINE: u16 = goblin::elf::header::EM_X86_64;
/// AT_PLATFORM (NUL-terminated).
pub const PLATFORM: &[u8] = b"x86_64\0";
/// `uname -m`.
pub const UNAME_MACHINE: &[u8] = b"x86_64";
/// Linux 6.1 has userfaultfd write protection here
/// (CONFIG_HAVE_ARCH_USERFAULTFD_WP; arm64 gained it in 6.10).
pub const USERFAULTFD_WP: bool = true;

/// AT_HWCAP: CPUID.1:EDX, as Linux reports it on x86_64.
pub fn hwcap() -> u64 {
    cpu::cpuid(1, 0).edx as u64
}

/// The syscall number of a SYSCALL entry (rax).
#[inline]
pub fn syscall_number(ctx: &UserContext) -> u64 {
    ctx.rax
}

/// The six syscall arguments (rdi, rsi, rdx, r10, r8, r9).
#[inline]
pub fn syscall_args(ctx: &UserContext) -> [u64; 6] {
    [ctx.rdi, ctx.rsi, ctx.rdx, ctx.r10, ctx.r8, ctx.r9]
}

/// A syscall's return value as stored in the registers.
#[inline]
pub fn syscall_result(ctx: &UserContext) -> u64 {
    ctx.rax
}

/// Makes the interrupted syscall run again on the return to user mode.
/// (The arguments are still in their registers on x86_64.)
pub fn rewind_syscall(ctx: &mut UserContext, nr: u64, _args: [u64; 6]) {
    // SYSCALL is two bytes (0f 05).
    ctx.rip -= 2;
    ctx.rax = nr;
}

/// Stores a syscall's return value (rax).
#[inline]
pub fn set_syscall_result(ctx: &mut UserContext, value: u64) {
    ctx.rax = value;
}

/// AUDIT_ARCH_X86_64: seccomp_data.arch.
pub const AUDIT_ARCH: u32 = 0xc000_003e;
/// What seccomp's strict mode allows: read, write, exit, rt_sigreturn.
pub const STRICT_SECCOMP_SYSCALLS: [u64; 4] = [0, 1, 60, 15];

/// The result register of a syscall a seccomp trap skipped: as at entry
/// (Linux's syscall_rollback puts orig_rax back in rax).
pub fn syscall_rollback_value(nr: u64, _args: [u64; 6]) -> u64 {
    nr
}

/// Guest-physical address of a kernel object (image window, direct map or
/// a kernel stack).
pub fn kernel_virt_to_phys(addr: u64) -> u64 {
    if let Some(phys) = crate::kstack::stack_virt_to_phys(addr) {
        return phys;
    }
    if addr >= KERNEL_VBASE {
        image_virt_to_phys(addr)
    } else {
        addr - boards::x86_64::DIRECT_MAP_BASE
    }
}

/// The pvm host's MSR that registers the per-vCPU vIF page.
const MSR_PVM_VIF: u32 = 0x4b56_4d10;
/// Low bits written with the vIF page address (as established by the probe).
const PVM_VIF_FLAGS: u64 = 0x7f;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_SFMASK: u32 = 0xc000_0084;
/// SFMASK: clear TF, DF, IF, AC, NT on SYSCALL entry.
const SYSCALL_RFLAGS_MASK: u64 = 0x4_7700;

/// GDT: null, unused, kernel code, kernel data, user code32, user data,
/// user code64, unused, TSS (two slots). Selectors in boards::x86_64.
static mut GDT: [u64; 10] = [
    0,
    0,
    0x00af_9a00_0000_ffff, // 0x10 kernel code, 64-bit
    0x00cf_9200_0000_ffff, // 0x18 kernel data
    0x00cf_fa00_0000_ffff, // 0x23 user code, 32-bit (SYSRET base)
    0x00cf_f200_0000_ffff, // 0x2b user data
    0x00af_fa00_0000_ffff, // 0x33 user code, 64-bit
    0,
    0, // 0x40 TSS, filled in by early_init
    0,
];

static mut TSS: TaskStateSegment = TaskStateSegment::new();

#[repr(C, align(16))]
struct Idt([[u64; 2]; 256]);
static mut IDT: Idt = Idt([[0; 2]; 256]);

/// One vIF page per vCPU: {u8 if, u8 pending, u8 pad[6], u64 cr2}.
#[repr(C, align(4096))]
struct VifPage([u64; 512]);
static mut PVM_VIF: VifPage = VifPage([0; 512]);

/// Non-zero when returns to user mode must use the pvm `int` gates; read by
/// the assembly in `entry`.
#[no_mangle]
pub static mut PVM_RETURNS: u8 = 0;

pub fn is_pvm() -> bool {
    // SAFETY: written once in early_init before any reader runs.
    unsafe { PVM_RETURNS != 0 }
}

/// Physical address of something in the sentry's image.
pub fn image_virt_to_phys(addr: u64) -> u64 {
    addr - KERNEL_VBASE
}

/// Descriptor tables, syscall MSRs, and (pvm) the vIF registration.
///
/// On the pvm host this runs in the host's instruction emulator, one
/// instruction at a time (~400 ns each), so it is straight-line code; the
/// IDT is filled in afterwards by [`init_traps`], natively.
pub fn early_init(pvm: bool) {
    // SAFETY: runs once, first thing, on the boot CPU; nothing else touches
    // these statics yet. The tables stay valid for the kernel's lifetime.
    unsafe {
        let tss = addr_of!(TSS) as u64;
        let gdt = &mut *addr_of_mut!(GDT);
        gdt[8] = 0x67 | ((tss & 0xff_ffff) << 16) | (0x89 << 40) | (((tss >> 24) & 0xff) << 56);
        gdt[9] = tss >> 32;
        // Until the first task runs, entries from user mode cannot happen;
        // each task switch points RSP0 at the task's own kernel stack.
        let kernel_stack_top = addr_of!(entry::BOOT_STACK) as u64 + entry::BOOT_STACK_SIZE as u64;
        let fault_stack_top = addr_of!(entry::FAULT_STACK) as u64 + entry::FAULT_STACK_SIZE as u64;
        (*addr_of_mut!(TSS)).privilege_stack_table[0] = VirtAddr::new_truncate(kernel_stack_top);
        (*addr_of_mut!(TSS)).interrupt_stack_table[0] = VirtAddr::new_truncate(fault_stack_top);
        (*addr_of_mut!(TSS)).iomap_base = 0x68;

        lgdt(&DescriptorTablePointer {
            limit: (core::mem::size_of::<[u64; 10]>() - 1) as u16,
            base: VirtAddr::new_truncate(addr_of!(GDT) as u64),
        });
        lidt(&DescriptorTablePointer {
            limit: (core::mem::size_of::<Idt>() - 1) as u16,
            base: VirtAddr::new_truncate(addr_of!(IDT) as u64),
        });
        load_tss(SegmentSelector::new(
            TSS_SELECTOR >> 3,
            PrivilegeLevel::Ring0,
        ));

        cpu::wrmsr(
            MSR_STAR,
            ((USER_CS32 as u64) << 48) | ((KERNEL_CS as u64) << 32),
        );
        cpu::wrmsr(MSR_LSTAR, entry::syscall_entry as *const () as u64);
        cpu::wrmsr(MSR_SFMASK, SYSCALL_RFLAGS_MASK);

        if pvm {
            let vif = image_virt_to_phys(addr_of!(PVM_VIF) as u64);
            cpu::wrmsr(MSR_PVM_VIF, vif | PVM_VIF_FLAGS);
            PVM_RETURNS = 1;
        }
    }
}

/// TSS.RSP0: the stack exceptions from user mode arrive on.
///
/// # Safety
/// Called with entries from user mode impossible (the sentry runs, one vCPU).
pub(crate) unsafe fn set_tss_rsp0(top: u64) {
    // SAFETY: a plain store into the TSS, which the CPU (or the pvm host)
    // reads only when an event from user mode arrives.
    unsafe {
        (*addr_of_mut!(TSS)).privilege_stack_table[0] = VirtAddr::new_truncate(top);
    }
}

/// Fills the IDT: every vector goes to its stub in `entry`. Double faults
/// run on their own stack (IST1).
pub fn init_traps() {
    cpu::enable_fsgsbase(is_pvm());
    // `trap_stubs`: 256 16-byte stubs emitted by entry.rs.
    let stubs = addr_of!(entry::trap_stubs) as u64;
    // SAFETY: single CPU, before any trap can be taken; the IDT was loaded
    // by early_init and only its contents change here.
    let idt = unsafe { &mut *addr_of_mut!(IDT) };
    for (vector, gate) in idt.0.iter_mut().enumerate() {
        let handler = stubs + 16 * vector as u64;
        // Breakpoint and overflow may be raised from user mode (int3, into).
        let dpl: u64 = if vector == 3 || vector == 4 { 3 } else { 0 };
        let ist: u64 = if vector == 8 { 1 } else { 0 };
        let attributes = 0x8e | (dpl << 5); // present, 64-bit interrupt gate
        gate[0] = (handler & 0xffff)
            | ((KERNEL_CS as u64) << 16)
            | (ist << 32)
            | (attributes << 40)
            | (((handler >> 16) & 0xffff) << 48);
        gate[1] = handler >> 32;
    }
    cpu::probe_cpuid_faulting(is_pvm());
}

/// The faulting address of the last page fault.
pub fn fault_address() -> u64 {
    if is_pvm() {
        // SAFETY: the host writes the vIF page's cr2 cell before delivering
        // a #PF; a volatile read sees its latest value.
        unsafe { core::ptr::read_volatile(addr_of!(PVM_VIF.0[1])) }
    } else {
        cpu::read_cr2()
    }
}

/// Called by the SYSCALL entry with the saved user context. Returns true
/// when the fast (sysret-like) return may be used.
extern "C" fn syscall_from_user(ctx: &mut UserContext) -> bool {
    let fast = crate::sentry::syscalls::dispatch(ctx);
    // A non-canonical rip would make SYSRET fault in kernel mode.
    fast && ctx.rip < boards::x86_64::USER_END
}

/// Called by every exception stub. Returns true for a kernel-mode event
/// that returns to the sentry (see `trap_common`).
extern "C" fn trap_from_any_mode(ctx: &mut UserContext) -> bool {
    if !ctx.is_user_mode() && ctx.vector == boards::x86_64::EVENT_VECTOR as u64 {
        // The event nudge, taken like a stray tick: the ring is read at
        // the next return to user mode anyway.
        return true;
    }
    if !ctx.is_user_mode() && ctx.vector == boards::x86_64::TICK_VECTOR as u64 {
        // The VMM injects ticks only while the program runs, but pvm may
        // take one after an exception that arrived with it (e.g. at the
        // first instruction of the page-fault stub): note it for the next
        // return to user mode and go back.
        crate::sentry::sched::note_tick();
        return true;
    }
    if !ctx.is_user_mode() && ctx.vector == 13 {
        // A probing instruction (cpu.rs) that the CPU refused.
        if let Some(landing) = cpu::probe_fixup(ctx.rip) {
            ctx.rip = landing;
            return true;
        }
    }
    if !ctx.is_user_mode() {
        let cr2 = if ctx.vector == 14 { fault_address() } else { 0 };
        panic!(
            "kernel trap: vector {} error {:#x} at rip {:#x} rsp {:#x} cr2 {:#x}{}",
            ctx.vector,
            ctx.error_code,
            ctx.rip,
            ctx.rsp,
            cr2,
            crate::kstack::describe_fault(cr2)
        );
    }
    crate::sentry::traps::handle_user_trap(ctx);
    false
}

pub fn decode_trap(ctx: &UserContext) -> UserTrap {
    match ctx.vector {
        0 => UserTrap::DivideError,
        3 | 1 => UserTrap::Breakpoint,
        6 => UserTrap::InvalidOpcode,
        10..=13 => UserTrap::GeneralProtection,
        14 => UserTrap::PageFault {
            addr: fault_address(),
            write: ctx.error_code & 2 != 0,
            exec: ctx.error_code & 16 != 0,
        },
        16 | 19 => UserTrap::FloatingPoint,
        17 => UserTrap::AlignmentCheck,
        v if v == boards::x86_64::TICK_VECTOR as u64 => {
            qemu::end_tick();
            UserTrap::Tick
        }
        v if v == boards::x86_64::EVENT_VECTOR as u64 => UserTrap::HostEvent,
        v => UserTrap::Other(v),
    }
}

/// User state the sentry does not keep in [`UserContext`]: the FPU/SSE
/// registers (live in the CPU while the sentry runs, as it never touches
/// them). FS/GS bases are in the task.
pub struct ThreadState {
    fpu: signal::FxArea,
    /// ARCH_SET_CPUID 0: CPUID faults (inherited by fork, reset by execve).
    no_cpuid: bool,
}

impl ThreadState {
    /// The running task's state, taken when it is switched out.
    pub fn save() -> ThreadState {
        ThreadState {
            fpu: signal::save_fpu(),
            no_cpuid: cpu::cpuid_faulting(),
        }
    }

    /// The TLS base is the task's fs_base on x86_64.
    pub fn set_tls(&mut self, _tls: u64) {}

    /// Puts a switched-out task's state back before it runs again. The
    /// base MSRs are written only when they change (each WRMSR is a trapped
    /// instruction on pvm; a fork child has its parent's FS base, and GS is
    /// almost always 0).
    pub fn restore(&self, fs_base: u64, gs_base: u64) {
        signal::load_fpu(self.fpu.clone());
        cpu::set_cpuid_faulting(self.no_cpuid);
        cpu::set_fs_base(fs_base);
        cpu::set_user_gs_base(gs_base);
    }
}

/// A fresh program's FPU state and TLS base (execve).
pub fn reset_user_state() {
    signal::reset_fpu();
    cpu::set_cpuid_faulting(false);
    cpu::set_fs_base(0);
    cpu::set_user_gs_base(0);
}

/// A new task's stack (clone with a stack).
pub fn set_stack_pointer(ctx: &mut UserContext, sp: u64) {
    ctx.rsp = sp;
}

/// The tick: injected by the VMM under KVM; on the bare-metal QEMU board
/// the local APIC timer.
pub fn start_ticks() {
    qemu::start_tick();
}
