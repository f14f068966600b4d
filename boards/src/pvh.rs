//! The PVH boot ABI (Xen's `arch/x86/hvm/start_info.h`), as QEMU implements
//! it for `-kernel` of an ELF that carries a `XEN_ELFNOTE_PHYS32_ENTRY` note.
//!
//! The loader enters the note's address in 32-bit protected mode, paging
//! off, flat segments, interrupts off, with `ebx` = physical address of a
//! [`StartInfo`]. All addresses are physical.

/// `XEN_ELFNOTE_PHYS32_ENTRY`: the note type holding the 32-bit entry.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
/// [`StartInfo::magic`]: "xEn3" with bit 7 of the 'E' set.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;

/// `struct hvm_start_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct StartInfo {
    pub magic: u32,
    /// 0: up to `rsdp_paddr`; 1: adds the memory map.
    pub version: u32,
    pub flags: u32,
    pub nr_modules: u32,
    /// Array of `nr_modules` [`ModListEntry`].
    pub modlist_paddr: u64,
    pub cmdline_paddr: u64,
    pub rsdp_paddr: u64,
    /// Array of `memmap_entries` [`MemmapEntry`] (version >= 1).
    pub memmap_paddr: u64,
    pub memmap_entries: u32,
    pub reserved: u32,
}

/// `struct hvm_modlist_entry`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ModListEntry {
    pub paddr: u64,
    pub size: u64,
    pub cmdline_paddr: u64,
    pub reserved: u64,
}

/// `struct hvm_memmap_table_entry` (E820 types).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MemmapEntry {
    pub addr: u64,
    pub size: u64,
    pub type_: u32,
    pub reserved: u32,
}

/// E820 type of usable RAM.
pub const E820_RAM: u32 = 1;

const _: () = assert!(core::mem::size_of::<StartInfo>() == 56);
const _: () = assert!(core::mem::size_of::<ModListEntry>() == 32);
const _: () = assert!(core::mem::size_of::<MemmapEntry>() == 24);
