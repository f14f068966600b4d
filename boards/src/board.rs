//! Board descriptions: everything the sentry, the VMM and `qemu-runner` must
//! agree on about a machine: how it boots, where RAM and the sentry go, the
//! console, the timer, the interrupt controller, and how the sentry powers
//! the machine off and reports the application's exit status.
//!
//! The numbers the code uses live in the per-architecture modules
//! ([`crate::x86_64`], [`crate::qemu_x86_64`]); a [`Board`] ties them
//! together with names, so that `qemu-runner --board NAME` and the docs
//! (`docs/BOARDS.md`) read from one table.

use crate::x86_64 as kvm_x86;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

/// How the sentry gets control and finds its boot information.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootProtocol {
    /// `rvisor-vmm` starts the vCPU in 64-bit mode on its own page tables
    /// with `rdi` = physical address of a [`crate::bootinfo::BootInfo`].
    VmmLongMode,
    /// `rvisor-vmm` starts the vCPU at EL1 at the sentry's Linux arm64
    /// Image entry with the MMU off and `x0` = its device tree, whose
    /// `/chosen` names the BootInfo and the MMIO doorbell
    /// ([`crate::aarch64::KVM_BOOT_INFO_GPA`], `KVM_DOORBELL_GPA`).
    VmmEl1,
    /// PVH (`qemu -kernel IMAGE`): 32-bit protected mode, `ebx` = physical
    /// address of the `hvm_start_info` ([`crate::pvh`]); the sentry builds
    /// its own page tables and BootInfo; the application comes from the
    /// image's payload segment ([`crate::payload`]).
    Pvh,
    /// Linux arm64 `Image` protocol (`qemu -kernel IMAGE`): EL1, `x0` = the
    /// device tree; the application comes from the payload appended to the
    /// image ([`crate::payload`], [`crate::qemu_aarch64_virt`]).
    Arm64Image,
}

/// A named range of the physical memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRange {
    pub start: u64,
    pub size: u64,
    pub what: &'static str,
}

const fn range(start: u64, size: u64, what: &'static str) -> MemoryRange {
    MemoryRange { start, size, what }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleDevice {
    /// The console ring ([`crate::console`]) drained by the VMM.
    VmmRing,
    /// A 16550 UART at an I/O port (x86).
    Uart16550 { port: u16 },
    /// An Arm PL011 UART at an MMIO address.
    Pl011 { base: u64 },
    /// The Arm semihosting console (`SYS_WRITE0`/`SYS_WRITEC`), which QEMU
    /// sends to its `-semihosting-config chardev=`.
    Semihosting,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The TSC, its frequency from the VMM (KVM_GET_TSC_KHZ).
    TscFromVmm,
    /// The TSC, its frequency measured against the PIT (channel 2) at boot,
    /// else CPUID 0x15/0x16, else assumed 1 GHz.
    TscCalibratedByPit,
    /// The Arm generic timer (CNTVCT_EL0, frequency in CNTFRQ_EL0).
    ArmGeneric,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptController {
    /// The sentry runs with interrupts masked and polls, or leaves waits to
    /// the VMM (x86 boards, kvm-aarch64).
    NoneUsed,
    /// Arm GICv3: distributor and redistributor bases (bare metal: the
    /// generic timer's PPI 27 wakes the sentry from `wfi`).
    GicV3 {
        distributor: u64,
        redistributor: u64,
    },
}

/// How the sentry ends the machine and hands over the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitDevice {
    /// An `Exit` request on the hypercall channel; the VMM exits with the
    /// application's status itself.
    Hypercall,
    /// QEMU's `isa-debug-exit` at `port` (QEMU exits with `(value << 1) | 1`),
    /// preceded by a status line on QEMU's `isa-debugcon` at `status_port`
    /// that carries the full status (see [`crate::qemu_x86_64`]).
    IsaDebugExit { port: u16, status_port: u16 },
    /// Arm semihosting `SYS_EXIT_EXTENDED` (QEMU `-semihosting`), which
    /// carries the full status: QEMU exits with it.
    Semihosting,
}

/// How `qemu-runner` starts QEMU for a board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QemuMachine {
    pub binary: &'static str,
    /// `-machine` value.
    pub machine: &'static str,
    /// `-cpu` value.
    pub cpu: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Board {
    pub name: &'static str,
    pub arch: Arch,
    /// False for boards that are descriptions only so far.
    pub implemented: bool,
    pub summary: &'static str,
    pub boot: BootProtocol,
    /// Fixed parts of the physical memory map (RAM itself comes from the
    /// VMM's `--memory` or the firmware's memory map).
    pub memory_map: &'static [MemoryRange],
    pub console: ConsoleDevice,
    /// Where stderr goes when it is separate from `console`.
    pub stderr_console: Option<ConsoleDevice>,
    pub timer: Timer,
    pub interrupt_controller: InterruptController,
    pub exit: ExitDevice,
    /// `None` for the KVM boards (`rvisor-vmm` runs them).
    pub qemu: Option<QemuMachine>,
}

pub const KVM_X86_64: Board = Board {
    name: "kvm-x86_64",
    arch: Arch::X86_64,
    implemented: true,
    summary: "rvisor-vmm on x86_64 KVM (pvm or hardware); the VMM loads everything",
    boot: BootProtocol::VmmLongMode,
    memory_map: &[
        range(kvm_x86::BOOT_INFO_GPA, 0x1000, "BootInfo"),
        range(kvm_x86::HYPERCALL_PAGE_GPA, 0x1000, "hypercall page"),
        range(
            kvm_x86::PAGE_TABLES_GPA,
            kvm_x86::PAGE_TABLES_END - kvm_x86::PAGE_TABLES_GPA,
            "boot page tables",
        ),
        range(
            kvm_x86::KERNEL_PHYS,
            0,
            "sentry image, then application, strings, console ring, free RAM",
        ),
    ],
    console: ConsoleDevice::VmmRing,
    stderr_console: None,
    timer: Timer::TscFromVmm,
    interrupt_controller: InterruptController::NoneUsed,
    exit: ExitDevice::Hypercall,
    qemu: None,
};

pub const QEMU_X86_64: Board = Board {
    name: "qemu-x86_64",
    arch: Arch::X86_64,
    implemented: true,
    summary: "QEMU microvm (TCG or KVM), booted by PVH `-kernel IMAGE`; native ring 0",
    boot: BootProtocol::Pvh,
    memory_map: &[
        range(0, 0x10_0000, "firmware, PVH start info (left alone)"),
        range(
            kvm_x86::KERNEL_PHYS,
            0,
            "sentry image (page tables and console ring in its bss)",
        ),
        range(
            0,
            0,
            "payload: right after the image, 4 KiB aligned; then free RAM up to 4 GiB",
        ),
    ],
    console: ConsoleDevice::Uart16550 {
        port: crate::qemu_x86_64::COM1_PORT,
    },
    stderr_console: Some(ConsoleDevice::Uart16550 {
        port: crate::qemu_x86_64::COM2_PORT,
    }),
    timer: Timer::TscCalibratedByPit,
    interrupt_controller: InterruptController::NoneUsed,
    exit: ExitDevice::IsaDebugExit {
        port: crate::qemu_x86_64::DEBUG_EXIT_PORT,
        status_port: crate::qemu_x86_64::DEBUGCON_PORT,
    },
    qemu: Some(QemuMachine {
        binary: "qemu-system-x86_64",
        machine: "microvm,rtc=on",
        cpu: "max",
    }),
};

/// The QEMU `virt` board's layout (rvisor-vmm keeps its RAM base and image
/// place, so one sentry build serves both).
const AARCH64_VIRT_MAP: &[MemoryRange] = &[
    range(0x0800_0000, 0x1_0000, "GICv3 distributor"),
    range(0x080a_0000, 0xf6_0000, "GICv3 redistributors"),
    range(0x0900_0000, 0x1000, "PL011 UART"),
    range(0x0901_0000, 0x1000, "PL031 RTC"),
    range(
        0x4000_0000,
        0,
        "RAM: QEMU's boot stub; the sentry at +2 MiB, then the payload, free RAM \
         (the device tree is where x0 says, min(RAM/2, 128 MiB) in)",
    ),
];

/// What rvisor-vmm gives aarch64 guests (see `crate::aarch64`).
const KVM_AARCH64_MAP: &[MemoryRange] = &[
    range(
        crate::aarch64::KVM_DOORBELL_GPA,
        0x1000,
        "hypercall doorbell (MMIO, no memory slot)",
    ),
    range(
        crate::aarch64::KVM_DTB_GPA,
        crate::aarch64::KVM_DTB_MAX_SIZE,
        "device tree",
    ),
    range(
        crate::aarch64::KVM_BOOT_INFO_GPA,
        0x2000,
        "BootInfo page, hypercall page",
    ),
    range(
        crate::aarch64::KERNEL_PHYS,
        0,
        "the sentry, the application, strings, mounts, console ring, free RAM",
    ),
];

pub const KVM_AARCH64: Board = Board {
    name: "kvm-aarch64",
    arch: Arch::Aarch64,
    implemented: true,
    summary: "rvisor-vmm on aarch64 KVM: device tree, MMIO doorbell, PSCI",
    boot: BootProtocol::VmmEl1,
    memory_map: KVM_AARCH64_MAP,
    console: ConsoleDevice::VmmRing,
    stderr_console: None,
    timer: Timer::ArmGeneric,
    interrupt_controller: InterruptController::NoneUsed,
    exit: ExitDevice::Hypercall,
    qemu: None,
};

pub const QEMU_AARCH64_VIRT: Board = Board {
    name: "qemu-aarch64-virt",
    arch: Arch::Aarch64,
    implemented: true,
    summary: "QEMU virt (GICv3, -cpu max, TCG), Linux arm64 Image boot; the sentry at EL1",
    boot: BootProtocol::Arm64Image,
    memory_map: AARCH64_VIRT_MAP,
    console: ConsoleDevice::Pl011 {
        base: crate::aarch64::PL011_BASE,
    },
    stderr_console: Some(ConsoleDevice::Semihosting),
    timer: Timer::ArmGeneric,
    interrupt_controller: InterruptController::GicV3 {
        distributor: 0x0800_0000,
        redistributor: 0x080a_0000,
    },
    exit: ExitDevice::Semihosting,
    qemu: Some(QemuMachine {
        binary: "qemu-system-aarch64",
        machine: "virt,gic-version=3",
        cpu: "max",
    }),
};

pub const BOARDS: &[Board] = &[KVM_X86_64, KVM_AARCH64, QEMU_X86_64, QEMU_AARCH64_VIRT];

pub fn by_name(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}
