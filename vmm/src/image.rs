//! The sentry's image in guest RAM, mapped instead of copied.
//!
//! The sentry ELF is embedded in rvisor-vmm, page-aligned, so its segments
//! lie at page-aligned offsets of rvisor-vmm's own file. Mapping them into
//! guest RAM copy-on-write from that file (MAP_PRIVATE | MAP_FIXED over the
//! anonymous RAM) replaces ~450 page copies, each a fresh host page to
//! fault in and zero, by page-cache pages every sandbox shares; the guest
//! touches only what it uses, and only the pages it writes are copied.
//! Whenever that cannot be done (no /proc, an unexpected layout), the
//! caller copies the segments as before: same guest contents either way.
//! Nobody can change the pages under the guest: Linux refuses to open a
//! running executable for writing (ETXTBSY, checked on these hosts), so
//! not even a `:rw` mount that holds rvisor-vmm lets the sandbox write it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use goblin::elf::program_header::{ProgramHeader, PT_LOAD};

use crate::error::{internal, Failure};

const PAGE: u64 = 4096;

/// A value aligned to a page: data embedded with `include_bytes!` then
/// starts at a page boundary of the executable's file too (a mapped
/// segment's addresses and file offsets agree modulo the page size).
#[repr(C, align(4096))]
pub struct PageAligned<T: ?Sized>(pub T);

/// The loadable segments of the embedded sentry ELF. Only the header and
/// the program headers are read: a full `Elf::parse` also walks the symbol
/// and string tables, which cost more than the rest of VM creation.
pub fn sentry_segments(elf: &[u8]) -> Result<Vec<ProgramHeader>, Failure> {
    let bad = |e: goblin::error::Error| internal(format!("embedded sentry ELF: {e}"));
    let header = goblin::elf::Elf::parse_header(elf).map_err(bad)?;
    let ctx = goblin::container::Ctx::new(
        goblin::container::Container::Big,
        goblin::container::Endian::Little,
    );
    let mut segments =
        ProgramHeader::parse(elf, header.e_phoff as usize, header.e_phnum as usize, ctx)
            .map_err(bad)?;
    segments.retain(|p| p.p_type == PT_LOAD);
    Ok(segments)
}

/// Guest RAM as the host sees it: `len` bytes at `host` hold guest-physical
/// addresses from `base`.
pub struct GuestRam {
    pub host: *mut u8,
    pub base: u64,
    pub len: u64,
}

impl GuestRam {
    /// The (single) region of `mem`.
    pub fn of(mem: &vm_memory::GuestMemoryMmap) -> Result<GuestRam, Failure> {
        use vm_memory::{GuestMemoryBackend, GuestMemoryRegion};
        let region = mem
            .iter()
            .next()
            .ok_or_else(|| internal("guest memory has no region"))?;
        Ok(GuestRam {
            host: region
                .get_host_address(vm_memory::MemoryRegionAddress(0))
                .map_err(|e| internal(format!("guest memory: {e}")))?,
            base: region.start_addr().0,
            len: region.len(),
        })
    }
}

/// Maps the loadable segments of `elf` (embedded in this executable) at
/// their physical addresses in `ram`, copy-on-write from the executable's
/// file. Ok(false) when it could not: `ram` then holds zeros there, as
/// before; Err only if guest RAM could not be put back after a failed map.
pub fn map_embedded_elf(ram: &GuestRam, elf: &[u8]) -> Result<bool, Failure> {
    let Some(plan) = plan(elf, ram) else {
        return Ok(false);
    };
    let Some((file, offset)) = locate_in_exe(elf) else {
        return Ok(false);
    };
    if !offset.is_multiple_of(PAGE) {
        return Ok(false);
    }
    let host = ram.host.wrapping_add((plan.start - ram.base) as usize);
    let len = (plan.end - plan.start) as usize;
    // SAFETY: [host, host+len) lies inside guest RAM's own mapping (checked
    // by `plan`), which nothing reads or writes yet: the VM has not run and
    // no other thread exists. MAP_FIXED replaces those pages only; the file
    // is opened read-only and MAP_PRIVATE never writes it back.
    let mapped = unsafe {
        libc::mmap(
            host.cast(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_FIXED,
            file.as_raw_fd(),
            (offset + plan.file_start) as libc::off_t,
        )
    };
    if mapped != host.cast() {
        // A failed MAP_FIXED may have unmapped the range: put anonymous
        // zero pages back, so that copying works.
        // SAFETY: as above, with no file.
        let restored = unsafe {
            libc::mmap(
                host.cast(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if restored != host.cast() {
            return Err(internal(
                "guest RAM could not be restored after mapping the sentry",
            ));
        }
        return Ok(false);
    }
    // Map the page-cache pages now, read-only, in one call: KVM's faults
    // then find them in the host page table. (MAP_POPULATE would fault a
    // writable private mapping for writing, i.e. copy every page.) Only a
    // hint: without it (Linux < 5.14) each page is mapped at first touch.
    // SAFETY: madvise on the range just mapped; it changes no contents.
    unsafe { libc::madvise(host.cast(), len, libc::MADV_POPULATE_READ) };
    // Bytes of the mapped pages outside every segment's file data (between
    // segments, a bss that starts inside a page) read as zeros, as copied
    // segments in fresh RAM would.
    for (gap_start, gap_end) in plan.gaps {
        let at = host.wrapping_add((gap_start - plan.start) as usize);
        // SAFETY: the gap lies inside the range just mapped writable.
        unsafe { std::ptr::write_bytes(at, 0, (gap_end - gap_start) as usize) };
    }
    Ok(true)
}

/// What to map: guest-physical [start, end) from file offset `file_start`
/// (relative to the ELF), and the gaps to clear.
struct Plan {
    start: u64,
    end: u64,
    file_start: u64,
    gaps: Vec<(u64, u64)>,
}

/// One mapping covers every segment when all of them keep one distance
/// between physical address and file offset.
fn plan(elf: &[u8], ram: &GuestRam) -> Option<Plan> {
    let mut segments: Vec<(u64, u64)> = Vec::new();
    let mut distance = None;
    for ph in sentry_segments(elf).ok()? {
        if ph.p_filesz == 0 {
            continue;
        }
        let this = ph.p_paddr.checked_sub(ph.p_offset)?;
        if *distance.get_or_insert(this) != this
            || ph.p_offset.checked_add(ph.p_filesz)? > elf.len() as u64
        {
            return None;
        }
        segments.push((ph.p_paddr, ph.p_paddr + ph.p_filesz));
    }
    let distance = distance?;
    segments.sort_unstable();
    let start = segments.first()?.0 & !(PAGE - 1);
    let end = segments.last()?.1.div_ceil(PAGE) * PAGE;
    if start < ram.base || end > ram.base.checked_add(ram.len)? || start < distance {
        return None;
    }
    let mut gaps = Vec::new();
    let mut covered = start;
    for &(from, to) in &segments {
        if from > covered {
            gaps.push((covered, from));
        }
        covered = covered.max(to);
    }
    if covered < end {
        gaps.push((covered, end));
    }
    Some(Plan {
        start,
        end,
        file_start: start - distance,
        gaps,
    })
}

/// This executable's file (read-only) and the offset in it of `bytes`,
/// which must lie in one of its file-backed mappings.
fn locate_in_exe(bytes: &[u8]) -> Option<(File, u64)> {
    let first = bytes.as_ptr() as u64;
    let last = first.checked_add(bytes.len() as u64)?;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    for line in maps.lines() {
        // start-end perms offset major:minor inode path
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [range, _perms, offset, device, inode, ..] = fields[..] else {
            continue;
        };
        let (start, end) = range.split_once('-')?;
        let (start, end) = (
            u64::from_str_radix(start, 16).ok()?,
            u64::from_str_radix(end, 16).ok()?,
        );
        if first < start || last > end {
            continue;
        }
        let offset = u64::from_str_radix(offset, 16).ok()?;
        let inode: u64 = inode.parse().ok()?;
        let (major, minor) = device.split_once(':')?;
        let (major, minor) = (
            u32::from_str_radix(major, 16).ok()?,
            u32::from_str_radix(minor, 16).ok()?,
        );
        let exe = File::open("/proc/self/exe").ok()?;
        let meta = exe.metadata().ok()?;
        // The file mapped there must be the one opened (not replaced since).
        if inode == 0
            || meta.ino() != inode
            || libc::major(meta.dev()) != major
            || libc::minor(meta.dev()) != minor
        {
            return None;
        }
        return Some((exe, first - start + offset));
    }
    None
}
