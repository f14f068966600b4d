//! The bare-metal boot path (board `qemu-x86_64`): PVH entry, the sentry's
//! own boot page tables, and the BootInfo the VMM would otherwise build.
//!
//! QEMU (`-kernel IMAGE`) finds the `XEN_ELFNOTE_PHYS32_ENTRY` note below and
//! enters `pvh_start32` in 32-bit protected mode, paging off, interrupts off,
//! with `ebx` = physical address of the `hvm_start_info`. The trampoline
//! builds the same kernel half the VMM builds (`vmm/src/x86_64`): a direct
//! map of the first 4 GiB at PML4 slot 510 (NX) and the image window (first
//! GiB at KERNEL_VBASE, executable), 2 MiB pages, U=0 (native). PML4 slot 0
//! identity-maps the first GiB (executable) only for the jump into long
//! mode and is cleared before any Rust code runs (the user half must start
//! empty). The
//! tables live in the image's bss, next to a 2-page PML4 (the sentry's
//! paging code mirrors PML4 entries into the page after the root).
//!
//! [`pvh_main`] then turns the start info into a [`BootInfo`] (memory map
//! from the PVH memmap, the application from the image's payload segment or
//! the first PVH module, platform = native, no hypercall page) and enters
//! the common `kernel_entry`.

use core::arch::global_asm;
use core::ptr::{addr_of, addr_of_mut};

use boards::align_up;
use boards::bootinfo::{BootInfo, PhysRange};
use boards::console::{RING_HEADER_SIZE, RING_SIZE};
use boards::payload::{PayloadHeader, PAYLOAD_ALIGN, PAYLOAD_HEADER_SIZE};
use boards::pvh::{MemmapEntry, ModListEntry, StartInfo, E820_RAM, START_INFO_MAGIC};
use boards::qemu_x86_64::DIRECT_MAP_LIMIT;
use boards::x86_64::{KERNEL_CS, KERNEL_DS, KERNEL_VBASE};

use super::entry::{BOOT_STACK, BOOT_STACK_SIZE};
use super::image_virt_to_phys;
use super::paging::phys_to_virt;
use super::qemu;

#[repr(C, align(8192))]
pub struct Pml4Pair([u64; 1024]);
#[repr(C, align(4096))]
pub struct Table([u64; 512]);
#[repr(C, align(4096))]
pub struct Tables4<const N: usize>([[u64; 512]; N]);

/// Kernel PML4 + the (unused on native) user PML4 the paging code mirrors to.
#[no_mangle]
pub static mut BOOT_PML4: Pml4Pair = Pml4Pair([0; 1024]);
#[no_mangle]
static mut BOOT_PDPT_DIRECT: Table = Table([0; 512]);
/// Four page directories: the direct map of the first 4 GiB.
#[no_mangle]
static mut BOOT_PD_DIRECT: Tables4<4> = Tables4([[0; 512]; 4]);
#[no_mangle]
static mut BOOT_PDPT_KERNEL: Table = Table([0; 512]);
#[no_mangle]
static mut BOOT_PD_KERNEL: Table = Table([0; 512]);

/// Flat GDT for the switch to long mode (the sentry loads its own in
/// `early_init`); same selectors as the VMM's boot GDT.
#[no_mangle]
static BOOT_GDT: [u64; 4] = [0, 0, 0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff];

// The PVH ELF note and the 32-bit trampoline. Physical address of a symbol
// = symbol - KERNEL_VBASE (the linker resolves it; the image is loaded at
// its physical addresses, paging is off).
global_asm!(
    r#"
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                             // name size
    .long 8                             // descriptor size (a pointer, as Linux)
    .long {note_type}
    .asciz "Xen"
    .balign 4
    .quad pvh_start32 - {vbase}
    .balign 4

    .section .text.boot32, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cld
    mov %ebx, %edi                      // start info, kept for pvh_main

    // PML4: slot 510 is the direct map, slot 511 the image window. Slot 0
    // (boot only) shares the image window's PDPT, whose slot 0 (boot only)
    // maps the first GiB executable: an identity map for the switch.
    mov ${pdpt_direct} - {vbase} + 3, %eax
    mov %eax, {pml4} - {vbase} + 510 * 8
    mov ${pdpt_kernel} - {vbase} + 3, %eax
    mov %eax, {pml4} - {vbase} + 511 * 8
    mov %eax, {pml4} - {vbase}
    mov ${pd_kernel} - {vbase} + 3, %eax
    mov %eax, {pdpt_kernel} - {vbase}

    // Direct-map PDPT: 4 PDs for the first 4 GiB.
    mov ${pd_direct} - {vbase} + 3, %eax
    mov ${pdpt_direct} - {vbase}, %esi
    mov %eax, 0(%esi)
    add $4096, %eax
    mov %eax, 8(%esi)
    add $4096, %eax
    mov %eax, 16(%esi)
    add $4096, %eax
    mov %eax, 24(%esi)

    // 2048 x 2 MiB: present, writable, huge, NX.
    mov ${pd_direct} - {vbase}, %esi
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    mov %eax, (%esi,%ecx,8)
    movl $0x80000000, 4(%esi,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jb 1b

    // Image window: PDPT slot 510 -> 512 x 2 MiB of the first GiB, executable.
    mov ${pd_kernel} - {vbase} + 3, %eax
    mov %eax, {pdpt_kernel} - {vbase} + 510 * 8
    mov ${pd_kernel} - {vbase}, %esi
    xor %ecx, %ecx
2:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    mov %eax, (%esi,%ecx,8)
    movl $0, 4(%esi,%ecx,8)
    inc %ecx
    cmp $512, %ecx
    jb 2b

    // Long mode: PAE + SSE (CR4), page tables, EFER.LME|NXE|SCE, paging.
    mov $0x620, %eax
    mov %eax, %cr4
    mov ${pml4} - {vbase}, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx
    rdmsr
    or $0x901, %eax
    wrmsr
    mov $0x80050033, %eax
    mov %eax, %cr0
    lgdt boot_gdt_ptr32 - {vbase}
    ljmp ${kernel_cs}, $pvh_start64_low - {vbase}

    .code64
pvh_start64_low:
    movabs $pvh_start64, %rax
    jmp *%rax
pvh_start64:
    lgdt boot_gdt_ptr64(%rip)
    mov ${kernel_ds}, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    lea {stack}+{stack_size}(%rip), %rsp
    // Drop the identity map: the user half starts empty.
    movq $0, {pml4}(%rip)
    movq $0, {pdpt_kernel}(%rip)
    mov %cr3, %rax
    mov %rax, %cr3
    mov %edi, %edi
    xor %ebp, %ebp
    call {pvh_main}
3:  hlt
    jmp 3b

    .section .rodata.boot, "a"
    .balign 8
boot_gdt_ptr32:
    .word 4 * 8 - 1
    .long {gdt} - {vbase}
    .balign 8
boot_gdt_ptr64:
    .word 4 * 8 - 1
    .quad {gdt}
    .text
    "#,
    note_type = const boards::pvh::XEN_ELFNOTE_PHYS32_ENTRY,
    vbase = const KERNEL_VBASE,
    pml4 = sym BOOT_PML4,
    pdpt_direct = sym BOOT_PDPT_DIRECT,
    pd_direct = sym BOOT_PD_DIRECT,
    pdpt_kernel = sym BOOT_PDPT_KERNEL,
    pd_kernel = sym BOOT_PD_KERNEL,
    gdt = sym BOOT_GDT,
    kernel_cs = const KERNEL_CS,
    kernel_ds = const KERNEL_DS,
    stack = sym BOOT_STACK,
    stack_size = const BOOT_STACK_SIZE,
    pvh_main = sym pvh_main,
    options(att_syntax)
);

extern "C" {
    /// End of the sentry's image (bss included), from the linker script.
    static __kernel_end: u8;
}

/// The console ring: the same ring as under a VMM, drained synchronously to
/// the UARTs (see `hv::console`).
#[repr(C, align(4096))]
struct RingMemory([u8; (RING_HEADER_SIZE + RING_SIZE) as usize]);
static mut CONSOLE_RING: RingMemory = RingMemory([0; (RING_HEADER_SIZE + RING_SIZE) as usize]);

static mut BOOT_INFO: BootInfo = BootInfo::zeroed();

fn read_phys<T: Copy>(phys: u64) -> T {
    // SAFETY: callers pass addresses from the PVH start info, which the
    // loader placed in RAM below 4 GiB, all of which the direct map covers.
    // `read_unaligned`: the structures come from outside.
    unsafe { core::ptr::read_unaligned(phys_to_virt(phys) as *const T) }
}

/// Where the payload is: embedded after the image, else the first module.
fn find_payload(start_info: &StartInfo) -> Result<(u64, PayloadHeader), &'static str> {
    let kernel_end = image_virt_to_phys(addr_of!(__kernel_end) as u64);
    let embedded = align_up(kernel_end, PAYLOAD_ALIGN);
    let header: PayloadHeader = read_phys(embedded);
    if header.validate(DIRECT_MAP_LIMIT - embedded).is_ok() {
        return Ok((embedded, header));
    }
    if start_info.nr_modules > 0 && start_info.modlist_paddr != 0 {
        let module: ModListEntry = read_phys(start_info.modlist_paddr);
        if module.paddr.saturating_add(module.size) <= DIRECT_MAP_LIMIT
            && module.size >= PAYLOAD_HEADER_SIZE
        {
            let header: PayloadHeader = read_phys(module.paddr);
            header.validate(module.size)?;
            return Ok((module.paddr, header));
        }
        return Err("the PVH module lies above 4 GiB or is too small");
    }
    Err("no application payload in the image and no PVH module")
}

/// Entered from `pvh_start32` in 64-bit mode on the boot tables.
extern "C" fn pvh_main(start_info_phys: u64) -> ! {
    qemu::init();
    let start_info: StartInfo = read_phys(start_info_phys);
    if start_info.magic != START_INFO_MAGIC {
        qemu::fail("bad PVH start info magic");
    }
    let (payload_phys, payload) = match find_payload(&start_info) {
        Ok(found) => found,
        Err(why) => qemu::fail(why),
    };

    // SAFETY: single CPU, before anything else reads BOOT_INFO; it is
    // written here once and then only read (through its physical address).
    let info = unsafe { &mut *addr_of_mut!(BOOT_INFO) };
    *info = payload.bare_metal_boot_info(
        payload_phys,
        image_virt_to_phys(addr_of!(BOOT_PML4) as u64),
        PhysRange {
            start: image_virt_to_phys(addr_of!(CONSOLE_RING) as u64),
            size: RING_HEADER_SIZE + RING_SIZE,
        },
    );
    info.tsc_khz = qemu::tsc_khz();
    if let Some(now) = qemu::rtc_realtime_ns() {
        info.boot_realtime_ns = now;
    }
    info.random_seed = qemu::random_seed();

    // Memory: PVH RAM entries below the direct-map limit, minus the low
    // MiB (firmware, start info), the image and the payload.
    let kernel_end = image_virt_to_phys(addr_of!(__kernel_end) as u64);
    let reserved = [
        0..kernel_end.max(1 << 20),
        payload_phys..payload_phys + payload.total_size,
    ];
    let mut top = 0u64;
    if start_info.version >= 1 && start_info.memmap_paddr != 0 {
        let entries = (start_info.memmap_entries as usize).min(128);
        for i in 0..entries {
            let entry: MemmapEntry = read_phys(
                start_info.memmap_paddr + (i * core::mem::size_of::<MemmapEntry>()) as u64,
            );
            if entry.type_ != E820_RAM {
                continue;
            }
            let end = entry.addr.saturating_add(entry.size).min(DIRECT_MAP_LIMIT);
            if end > entry.addr {
                info.push_usable_except(entry.addr, end, &reserved);
                top = top.max(end);
            }
        }
    }
    if info.regions().is_empty() {
        qemu::fail("the PVH start info has no usable memory map (version 0?)");
    }
    info.memory_size = top;

    crate::kernel_entry(image_virt_to_phys(addr_of!(BOOT_INFO) as u64))
}
