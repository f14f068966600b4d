//! x86_64 guest setup: the `kvm-x86_64` board's memory layout, boot page
//! tables and the initial long-mode vCPU state.

use boards::x86_64::*;
use boards::Platform;
use kvm_bindings::{kvm_regs, kvm_segment, kvm_sregs};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::error::{internal, Failure};

const PTE_PRESENT: u64 = 1 << 0;
const PTE_WRITABLE: u64 = 1 << 1;
const PTE_USER: u64 = 1 << 2;
const PTE_HUGE: u64 = 1 << 7;
const PTE_NO_EXECUTE: u64 = 1 << 63;

/// Where the loader puts a GDT for the first instructions (the sentry loads
/// its own right away).
pub const BOOT_GDT_GPA: u64 = 0x3000;
/// First guest-physical address past the loader's fixed boot data.
pub const BOOT_DATA_END: u64 = 0x4000;

const BOOT_GDT: [u64; 10] = [
    0,
    0,
    0x00af_9a00_0000_ffff,
    0x00cf_9200_0000_ffff,
    0x00cf_fa00_0000_ffff,
    0x00cf_f200_0000_ffff,
    0x00af_fa00_0000_ffff,
    0,
    0,
    0,
];

/// Builds the boot page tables: the direct map of all RAM (PML4 slot 510)
/// and the sentry's image window (top 2 GiB, slot 511), with 2 MiB pages.
/// On pvm every kernel entry must be user-accessible (the host isolates the
/// kernel through the PML4 pair instead). Returns the end of the tables.
pub fn build_page_tables(
    mem: &GuestMemoryMmap,
    memory_size: u64,
    platform: Platform,
) -> Result<u64, Failure> {
    let user_bit = if platform == Platform::Pvm {
        PTE_USER
    } else {
        0
    };
    let table = PTE_PRESENT | PTE_WRITABLE | user_bit;
    let kernel_root = PAGE_TABLES_GPA;
    let mut next = PAGE_TABLES_GPA + 2 * PAGE_SIZE; // kernel PML4 + user PML4
    let mut alloc = || {
        let page = next;
        next += PAGE_SIZE;
        page
    };
    let write = |addr: u64, value: u64| -> Result<(), Failure> {
        mem.write_obj(value, GuestAddress(addr))
            .map_err(|e| internal(format!("writing boot page tables: {e}")))
    };

    // Direct map: RAM is one range from 0, a multiple of 2 MiB.
    let direct_pdpt = alloc();
    write(
        kernel_root + DIRECT_MAP_PML4_SLOT as u64 * 8,
        direct_pdpt | table,
    )?;
    let gib = memory_size.div_ceil(1 << 30);
    for g in 0..gib {
        let pd = alloc();
        write(direct_pdpt + g * 8, pd | table)?;
        for i in 0..512u64 {
            let phys = (g << 30) | (i << 21);
            if phys >= memory_size {
                break;
            }
            write(pd + i * 8, phys | table | PTE_HUGE | PTE_NO_EXECUTE)?;
        }
    }

    // The sentry's image: KERNEL_VBASE + phys for the first GiB.
    let kernel_pdpt = alloc();
    let kernel_pd = alloc();
    write(
        kernel_root + KERNEL_PML4_SLOT as u64 * 8,
        kernel_pdpt | table,
    )?;
    write(
        kernel_pdpt + ((KERNEL_VBASE >> 30) & 511) * 8,
        kernel_pd | table,
    )?;
    for i in 0..512u64 {
        let phys = i << 21;
        if phys >= memory_size.min(KERNEL_WINDOW) {
            break;
        }
        write(kernel_pd + i * 8, phys | table | PTE_HUGE)?;
    }
    if next > PAGE_TABLES_END {
        return Err(internal("guest memory too large for the boot page tables"));
    }
    Ok(next)
}

fn segment(selector: u16, type_: u8, long: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db: u8::from(!long),
        s: 1,
        l: u8::from(long),
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// Long mode, paging on the boot tables, flat kernel segments.
pub fn boot_sregs(mut sregs: kvm_sregs) -> kvm_sregs {
    sregs.cs = segment(KERNEL_CS, 11, true);
    let data = segment(KERNEL_DS, 3, false);
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = kvm_segment {
        base: 0,
        limit: 0x67,
        selector: TSS_SELECTOR,
        type_: 11,
        present: 1,
        s: 0,
        ..Default::default()
    };
    sregs.ldt = kvm_segment {
        selector: 0,
        type_: 2,
        present: 0,
        unusable: 1,
        limit: 0xffff,
        ..Default::default()
    };
    sregs.gdt.base = BOOT_GDT_GPA;
    sregs.gdt.limit = (BOOT_GDT.len() * 8 - 1) as u16;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr0 = BOOT_CR0;
    sregs.cr3 = PAGE_TABLES_GPA;
    sregs.cr4 = BOOT_CR4;
    sregs.efer = BOOT_EFER;
    sregs
}

pub fn write_boot_gdt(mem: &GuestMemoryMmap) -> Result<(), Failure> {
    for (i, descriptor) in BOOT_GDT.iter().enumerate() {
        mem.write_obj(*descriptor, GuestAddress(BOOT_GDT_GPA + i as u64 * 8))
            .map_err(|e| internal(format!("writing the boot GDT: {e}")))?;
    }
    Ok(())
}

pub fn boot_regs(entry: u64, boot_info_gpa: u64) -> kvm_regs {
    kvm_regs {
        rip: entry,
        rdi: boot_info_gpa,
        rflags: 2,
        ..Default::default()
    }
}
