//! The rules a program's ELF must follow to be loaded, shared by the VMM's
//! check before boot (a refused file is exit 126 with the reason) and the
//! sentry's loader (ENOEXEC for execve), so both refuse the same files.

/// Page size of both architectures' user mappings.
pub const PAGE_SIZE: u64 = 4096;

/// The end of user addresses (47 bits on both architectures).
pub const USER_END: u64 = 1 << 47;

/// The lowest address a segment may occupy (Linux's default
/// vm.mmap_min_addr).
pub const MMAP_MIN_ADDR: u64 = 0x10000;

/// Where a position-independent executable (ET_DYN) is loaded: Linux's
/// ELF_ET_DYN_BASE on x86_64 with randomization off.
pub const PIE_BASE: u64 = 0x5555_5555_4000;

/// Program headers larger than this are refused (Linux allows 64 KiB).
pub const MAX_PHDRS_BYTES: u64 = 64 << 10;

/// The load bias of an executable of ELF type `e_type`.
pub fn load_bias(e_type: u16) -> u64 {
    const ET_DYN: u16 = 3;
    if e_type == ET_DYN {
        PIE_BASE
    } else {
        0
    }
}

/// Why a PT_LOAD segment cannot be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentError {
    /// Its file part ends past the end of the file.
    Truncated,
    /// Its file size exceeds its memory size.
    FileLargerThanMemory,
    /// Its address and file offset differ modulo the page size, so it
    /// cannot be mapped from the file.
    Misaligned,
    /// It does not fit in the user address space (the kernel half, a
    /// non-canonical address, a size that wraps or passes 128 TiB), or
    /// lies below the lowest mappable address.
    OutsideUserSpace,
}

impl SegmentError {
    /// The reason, for an error message.
    pub fn reason(self) -> &'static str {
        match self {
            SegmentError::Truncated => "its file data runs past the end of the file",
            SegmentError::FileLargerThanMemory => "its file size exceeds its memory size",
            SegmentError::Misaligned => {
                "its address and file offset are not congruent modulo the page size"
            }
            SegmentError::OutsideUserSpace => "it lies outside the user address space",
        }
    }
}

/// Checks one PT_LOAD segment of a file of `file_size` bytes loaded with
/// `bias`; returns its page-aligned address range.
pub fn check_segment(
    p_offset: u64,
    p_filesz: u64,
    p_vaddr: u64,
    p_memsz: u64,
    bias: u64,
    file_size: u64,
) -> Result<(u64, u64), SegmentError> {
    let file_end = p_offset
        .checked_add(p_filesz)
        .ok_or(SegmentError::Truncated)?;
    if file_end > file_size {
        return Err(SegmentError::Truncated);
    }
    if p_filesz > p_memsz {
        return Err(SegmentError::FileLargerThanMemory);
    }
    if p_vaddr % PAGE_SIZE != p_offset % PAGE_SIZE {
        return Err(SegmentError::Misaligned);
    }
    let vaddr = p_vaddr
        .checked_add(bias)
        .ok_or(SegmentError::OutsideUserSpace)?;
    let mem_end = vaddr
        .checked_add(p_memsz)
        .and_then(|end| end.checked_add(PAGE_SIZE - 1))
        .ok_or(SegmentError::OutsideUserSpace)?;
    let start = vaddr & !(PAGE_SIZE - 1);
    let end = mem_end & !(PAGE_SIZE - 1);
    if end > USER_END || start < MMAP_MIN_ADDR {
        return Err(SegmentError::OutsideUserSpace);
    }
    Ok((start, end))
}

/// Checks the entry point: inside the user address space once biased.
pub fn check_entry(e_entry: u64, bias: u64) -> bool {
    e_entry.checked_add(bias).is_some_and(|e| e < USER_END)
}
