//! The bare-metal boot path (board `qemu-aarch64-virt`): the Linux arm64
//! Image header, the entry at EL1 with the MMU off, the sentry's own
//! translation tables, and the BootInfo a VMM would otherwise build.
//!
//! QEMU (`-kernel IMAGE`) sees the Image header, loads the file at RAM +
//! 2 MiB (text_offset 0), and enters `_start` at EL1 (EL2 is handled too)
//! with the MMU off and `x0` = the device tree. The entry code:
//! 1. enables FP/SIMD (the sentry's Rust code uses it), zeroes the bss;
//! 2. builds one level-0 and one level-1 table in the bss: the first 4 GiB
//!    of the physical address space in 1 GiB blocks (the first GiB, the
//!    devices, as Device-nGnRE; the rest Normal write-back), shared by
//!    TTBR1 (the direct map at `DIRECT_MAP_BASE`, where the sentry is
//!    linked) and, for the switch only, TTBR0 (identity);
//! 3. turns the MMU on, jumps to the high addresses, points TTBR0 at the
//!    empty user root, installs the vectors and calls [`virt_main`].
//!
//! Under rvisor-vmm (board `kvm-aarch64`) the entry is the same; the VMM's
//! device tree names a BootInfo it built and the MMIO doorbell in
//! `/chosen`, and [`virt_main`] goes straight to `kernel_entry` with it
//! (no PL011, semihosting or GIC: console, waits and exit are hypercalls).
//! Otherwise [`virt_main`] reads RAM from the device tree, finds the payload (the
//! application and its argv) right after the image, builds the
//! [`BootInfo`] and enters the common `kernel_entry`.

use core::arch::global_asm;
use core::ptr::{addr_of, addr_of_mut};

use boards::aarch64::{
    CHOSEN_BOOT_INFO, CHOSEN_DOORBELL, DIRECT_MAP_BASE, DIRECT_MAP_LIMIT, KERNEL_PHYS, PAGE_SIZE,
    RAM_BASE,
};
use boards::align_up;
use boards::bootinfo::{BootInfo, PhysRange};
use boards::console::{RING_HEADER_SIZE, RING_SIZE};
use boards::payload::{PayloadHeader, PAYLOAD_ALIGN};

use super::entry::{BOOT_STACK, BOOT_STACK_SIZE};
use super::paging::phys_to_virt;
use super::{cpu, image_virt_to_phys, qemu};

#[repr(C, align(4096))]
pub struct Table([u64; 512]);

/// Boot level-0 table: entry 0 -> BOOT_L1 (for both TTBR0 and TTBR1).
#[no_mangle]
static mut BOOT_L0: Table = Table([0; 512]);

/// Physical address of TTBR1's level-0 table (the kernel half).
pub fn kernel_root() -> u64 {
    image_virt_to_phys(addr_of!(BOOT_L0) as u64)
}
/// Boot level-1 table: four 1 GiB blocks.
#[no_mangle]
static mut BOOT_L1: Table = Table([0; 512]);
/// The application's level-0 table (TTBR0 from the switch on).
#[no_mangle]
static mut USER_L0: Table = Table([0; 512]);

/// MAIR_EL1: attribute 0 = Device-nGnRE, attribute 1 = Normal, inner and
/// outer write-back, read/write-allocate.
const MAIR: u64 = 0xff04;
/// TCR_EL1: T0SZ = T1SZ = 16 (48-bit halves), 4 KiB granules (TG0 = 0,
/// TG1 = 2), inner-shareable write-back walks, IPS = 40 bits.
const TCR: u64 = 16
    | (1 << 8)
    | (1 << 10)
    | (3 << 12)
    | (16 << 16)
    | (1 << 24)
    | (1 << 26)
    | (3 << 28)
    | (2 << 30)
    | (2 << 32);
/// SCTLR_EL1: the ARMv8.0 RES1 bits (including SPAN: PAN stays clear on
/// exceptions; EIS/EOS) + M (MMU), C, I (caches), DZE (EL0 `dc zva`), UCT
/// (EL0 reads CTR_EL0), nTWI/nTWE (EL0 wfi/wfe do not trap), UCI (EL0
/// cache maintenance).
const SCTLR: u64 = 0x30d0_0800
    | 1
    | (1 << 2)
    | (1 << 12)
    | (1 << 14)
    | (1 << 15)
    | (1 << 16)
    | (1 << 18)
    | (1 << 26);
/// Level-1 block descriptors: valid, AF, AttrIndx; devices are never
/// executable, RAM is not executable at EL0; neither is accessible at EL0.
const BLOCK_DEVICE: u64 = 1 | (1 << 10) | (1 << 53) | (1 << 54);
const BLOCK_NORMAL: u64 = 1 | (1 << 2) | (3 << 8) | (1 << 10) | (1 << 54);

global_asm!(
    r#"
    .section .text.entry, "ax"
    .global _start
_start:
    // The Linux arm64 Image header (Documentation/arch/arm64/booting.rst).
    b 1f                        // code0
    .long 0                     // code1
    .quad 0                     // text_offset: QEMU loads at RAM + 2 MiB
    .quad __image_size          // image_size (bss included)
    .quad 2                     // flags: little-endian, 4 KiB pages
    .quad 0, 0, 0
    .ascii "ARM\x64"
    .long 0
1:
    mov x19, x0                 // the device tree
    msr daifset, #0xf

    // Started at EL2 (a virtualization-enabled machine): drop to EL1.
    mrs x0, CurrentEL
    lsr x0, x0, #2
    cmp x0, #2
    b.ne 2f
    mov x0, #(1 << 31)          // HCR_EL2.RW: EL1 is AArch64
    msr hcr_el2, x0
    mov x0, #0x33ff             // CPTR_EL2: no FP/SIMD traps
    msr cptr_el2, x0
    mov x0, #3                  // CNTHCTL_EL2: EL1 may use the counters
    msr cnthctl_el2, x0
    msr cntvoff_el2, xzr
    mov x0, #0x3c5              // EL1h, DAIF masked
    msr spsr_el2, x0
    adr x0, 2f
    msr elr_el2, x0
    eret
2:
    // FP/SIMD at EL1 and EL0 (CPACR_EL1.FPEN = 0b11).
    mov x0, #(3 << 20)
    msr cpacr_el1, x0
    isb

    // Zero the bss (physical addresses: adrp is PC-relative).
    adrp x0, __bss_start
    add x0, x0, :lo12:__bss_start
    adrp x1, __kernel_end
    add x1, x1, :lo12:__kernel_end
3:  cmp x0, x1
    b.hs 4f
    str xzr, [x0], #8
    b 3b
4:
    // BOOT_L0[0] -> BOOT_L1; BOOT_L1[0..4] = 1 GiB blocks.
    adrp x0, BOOT_L0
    add x0, x0, :lo12:BOOT_L0
    adrp x1, BOOT_L1
    add x1, x1, :lo12:BOOT_L1
    orr x2, x1, #3
    str x2, [x0]
    ldr x2, ={block_device}
    str x2, [x1]
    ldr x2, ={block_normal} + (1 << 30)
    str x2, [x1, #8]
    ldr x2, ={block_normal} + (2 << 30)
    str x2, [x1, #16]
    ldr x2, ={block_normal} + (3 << 30)
    str x2, [x1, #24]
    dsb sy

    ldr x2, ={mair}
    msr mair_el1, x2
    ldr x2, ={tcr}
    msr tcr_el1, x2
    msr ttbr0_el1, x0
    msr ttbr1_el1, x0
    isb
    tlbi vmalle1
    dsb nsh
    isb
    ldr x2, ={sctlr}
    msr sctlr_el1, x2
    isb
    ldr x2, =5f
    br x2
5:
    // Running from the direct map. TTBR0 -> the empty user root.
    adrp x0, USER_L0
    add x0, x0, :lo12:USER_L0
    ldr x1, ={dmap}
    sub x0, x0, x1
    msr ttbr0_el1, x0
    isb
    tlbi vmalle1
    dsb nsh
    isb
    adrp x0, {stack}
    add x0, x0, :lo12:{stack}
    add x0, x0, #{stack_size}
    mov sp, x0
    adrp x0, exception_vectors
    add x0, x0, :lo12:exception_vectors
    msr vbar_el1, x0
    isb
    mov x0, x19
    mov x29, #0
    mov x30, #0
    bl {virt_main}
6:  wfi
    b 6b
    .ltorg
    "#,
    block_device = const BLOCK_DEVICE,
    block_normal = const BLOCK_NORMAL,
    mair = const MAIR,
    tcr = const TCR,
    sctlr = const SCTLR,
    dmap = const DIRECT_MAP_BASE,
    stack = sym BOOT_STACK,
    stack_size = const BOOT_STACK_SIZE,
    virt_main = sym virt_main,
);

extern "C" {
    /// Start and end of the sentry's image (bss included), from the linker script.
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// The console ring: the same ring as under a VMM, drained synchronously to
/// the board's consoles (see `hv::console`).
#[repr(C, align(4096))]
struct RingMemory([u8; (RING_HEADER_SIZE + RING_SIZE) as usize]);
static mut CONSOLE_RING: RingMemory = RingMemory([0; (RING_HEADER_SIZE + RING_SIZE) as usize]);

static mut BOOT_INFO: BootInfo = BootInfo::zeroed();

/// Under rvisor-vmm (board `kvm-aarch64`): the VMM's device tree names its
/// BootInfo and doorbell in `/chosen`. Returns the BootInfo's physical
/// address, with the fields only the sentry knows filled in; None when the
/// device tree is not a VMM's (bare metal).
fn vmm_boot_info(dtb_phys: u64) -> Option<u64> {
    if dtb_phys == 0 || dtb_phys >= DIRECT_MAP_LIMIT {
        return None;
    }
    // SAFETY: x0 holds a device tree (the VMM's or QEMU's) in RAM the direct
    // map covers; the parser checks its header and bounds.
    let fdt = unsafe { fdt::Fdt::from_ptr(phys_to_virt(dtb_phys)) }.ok()?;
    let chosen = fdt.find_node("/chosen")?;
    let info_phys = chosen.property(CHOSEN_BOOT_INFO)?.as_usize()? as u64;
    let doorbell = chosen
        .property(CHOSEN_DOORBELL)
        .and_then(|p| p.as_usize())
        .map_or(0, |d| d as u64);
    // The doorbell must be in the direct map's device GiB; the BootInfo in
    // RAM. Without a usable doorbell nothing can be reported: power off.
    let usable = doorbell != 0
        && doorbell < RAM_BASE
        && info_phys >= RAM_BASE
        && info_phys + PAGE_SIZE <= DIRECT_MAP_LIMIT;
    cpu::set_doorbell(if usable {
        phys_to_virt(doorbell) as u64
    } else {
        u64::MAX
    });
    if !usable {
        cpu::halt_forever();
    }
    // SAFETY: the VMM put the BootInfo page at `info_phys` (checked to be
    // in direct-mapped RAM); nothing else uses it before `kernel_entry`.
    let info = unsafe { &mut *(phys_to_virt(info_phys) as *mut BootInfo) };
    info.page_table_root = image_virt_to_phys(addr_of!(USER_L0) as u64);
    if info.tsc_khz == 0 {
        info.tsc_khz = cpu::counter_frequency() / 1000;
    }
    Some(info_phys)
}

/// Entered from `_start` on the boot stack, from the direct map.
extern "C" fn virt_main(dtb_phys: u64) -> ! {
    if let Some(boot_info) = vmm_boot_info(dtb_phys) {
        crate::kernel_entry(boot_info);
    }
    qemu::init();
    super::gic::init();
    let kernel_start = image_virt_to_phys(addr_of!(__kernel_start) as u64);
    if kernel_start != KERNEL_PHYS {
        qemu::fail("the image was not loaded at RAM + 2 MiB (text_offset 0)");
    }
    let kernel_end = image_virt_to_phys(addr_of!(__kernel_end) as u64);
    if dtb_phys == 0 || dtb_phys >= DIRECT_MAP_LIMIT {
        qemu::fail("no device tree in x0");
    }
    // SAFETY: QEMU put a flattened device tree at `dtb_phys` (x0), in RAM
    // the direct map covers; the parser checks its header and bounds.
    let fdt = match unsafe { fdt::Fdt::from_ptr(phys_to_virt(dtb_phys)) } {
        Ok(fdt) => fdt,
        Err(_) => qemu::fail("the device tree in x0 does not parse"),
    };

    let payload_phys = align_up(kernel_end, PAYLOAD_ALIGN);
    // SAFETY: the image's payload segment follows the image in RAM (the
    // header is validated before anything else in it is trusted).
    let payload: PayloadHeader =
        unsafe { core::ptr::read_unaligned(phys_to_virt(payload_phys) as *const PayloadHeader) };
    if let Err(why) = payload.validate(DIRECT_MAP_LIMIT - payload_phys) {
        qemu::fail(why);
    }
    // QEMU puts the device tree min(RAM/2, 128 MiB) into RAM, over whatever
    // part of a larger image lies there.
    let payload_end = payload_phys + payload.total_size;
    if dtb_phys < payload_end && dtb_phys + fdt.total_size() as u64 > kernel_start {
        qemu::fail("the image overlaps the device tree QEMU placed at min(RAM/2, 128 MiB): use more memory or a smaller program");
    }

    // SAFETY: single CPU, before anything else reads BOOT_INFO; it is
    // written here once and then only read (through its physical address).
    let info = unsafe { &mut *addr_of_mut!(BOOT_INFO) };
    *info = payload.bare_metal_boot_info(
        payload_phys,
        image_virt_to_phys(addr_of!(USER_L0) as u64),
        PhysRange {
            start: image_virt_to_phys(addr_of!(CONSOLE_RING) as u64),
            size: RING_HEADER_SIZE + RING_SIZE,
        },
    );
    info.tsc_khz = cpu::counter_frequency() / 1000;
    if let Some(now) = qemu::rtc_realtime_ns() {
        info.boot_realtime_ns = now;
    }
    info.random_seed = qemu::random_seed();

    // RAM from the device tree, minus everything below the end of the
    // payload (QEMU's boot stub, the image) and the device tree itself.
    let reserved = [0..payload_end, dtb_phys..dtb_phys + fdt.total_size() as u64];
    let mut total = 0u64;
    for region in fdt.memory().regions() {
        let start = region.starting_address as u64;
        let size = region.size.unwrap_or(0) as u64;
        let end = start.saturating_add(size).min(DIRECT_MAP_LIMIT);
        if end > start {
            info.push_usable_except(start, end, &reserved);
            total += end - start;
        }
    }
    if info.regions().is_empty() {
        qemu::fail("the device tree lists no usable memory");
    }
    info.memory_size = total;

    crate::kernel_entry(image_virt_to_phys(addr_of!(BOOT_INFO) as u64))
}
