//! exec: loads an ELF executable into a fresh address space (static,
//! static-PIE, or dynamically linked: then also the interpreter its
//! PT_INTERP names, as Linux's binfmt_elf does) and builds the initial
//! stack (argc, argv, envp, auxv) as Linux does; "#!" scripts.
//!
//! The ELF is untrusted: every header field is checked against the image
//! before use and a malformed file is ENOEXEC, never a sentry fault.

use alloc::sync::Arc;
use alloc::vec::Vec;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header::{Header, ET_DYN, ET_EXEC};
use goblin::elf::program_header::{ProgramHeader, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use goblin::elf::Elf;

use super::errno::*;
use super::mm::{
    page_align_up, AddressSpace, FileBacking, Protection, VmFlags, Vma, VmaKind, STACK_MAX,
    STACK_TOP,
};
use super::vfs::perm::{Accessor, MAY_EXEC};
use super::vfs::{accessor_for, owned as vfs_owned, FileKind, Inode, Namespace, PathStack};
use crate::arch::{PAGE_SIZE, USER_END};

// The loader's rules (boards::elf) assume this architecture's layout.
const _: () = assert!(USER_END == boards::elf::USER_END && PAGE_SIZE == boards::elf::PAGE_SIZE);
/// Upper bound of argv + envp strings (Linux: a quarter of the stack limit).
pub const MAX_ARG_BYTES: usize = (STACK_MAX / 4) as usize;

pub struct LoadedElf {
    /// The program's own entry (AT_ENTRY).
    pub entry: u64,
    /// Where execution starts: the interpreter's entry for a dynamically
    /// linked program, else `entry`.
    pub start: u64,
    /// The interpreter's load address (AT_BASE), 0 without one.
    pub interp_base: u64,
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
}

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_HWCAP2: u64 = 26;
const AT_EXECFN: u64 = 31;
const AT_SYSINFO_EHDR: u64 = 33;

/// Where the vDSO goes (its vvar page is the page below): above the mmap
/// area, below the stack.
pub const VDSO_BASE: u64 = super::mm::MMAP_TOP + (1 << 20);

/// Maps the vDSO and its vvar page; returns the vDSO's address (for
/// AT_SYSINFO_EHDR), or None where the architecture has no vDSO.
pub fn map_vdso(mm: &mut AddressSpace) -> Result<Option<u64>, Errno> {
    let Some(image) = crate::arch::VDSO_IMAGE else {
        #[cfg(target_arch = "aarch64")]
        map_sigreturn_trampoline(mm)?;
        return Ok(None);
    };
    let pages = page_align_up(image.len() as u64).ok_or(ENOEXEC)?;
    let vvar = VDSO_BASE - PAGE_SIZE;
    let read_only = Protection {
        read: true,
        write: false,
        exec: false,
    };
    mm.map_fixed(Vma {
        start: vvar,
        end: VDSO_BASE,
        prot: read_only,
        kind: VmaKind::Vvar,
        shared: false,
        file: None,
        flags: VmFlags::NONE,
        uffd: None,
    })?;
    mm.map_fixed(Vma {
        start: VDSO_BASE,
        end: VDSO_BASE + pages,
        prot: Protection {
            exec: true,
            ..read_only
        },
        kind: VmaKind::Vdso,
        shared: false,
        file: None,
        flags: VmFlags::NONE,
        uffd: None,
    })?;
    let params = super::time::parameters();
    copy_into(mm, vvar, zerocopy::IntoBytes::as_bytes(&params))?;
    copy_into(mm, VDSO_BASE, image)?;
    Ok(Some(VDSO_BASE))
}

/// Rewrites the vvar page of `mm` (where the program still has it) so
/// that the vDSO reads the clocks of a time namespace with `offsets`: a
/// process that enters a namespace (fork, exec, setns) has its address
/// space to itself, so its vDSO's clocks change with it (Linux remaps the
/// vvar page). The page is written as a tracer would (a private copy when
/// it is shared since a fork). Nothing to do without a vDSO.
pub fn set_vdso_time_offsets(
    mm: &mut AddressSpace,
    offsets: &super::timens::Offsets,
) -> Result<(), Errno> {
    let Some(vvar) = mm
        .areas_in(0, u64::MAX)
        .find(|v| v.kind == VmaKind::Vvar)
        .map(|v| v.start)
    else {
        return Ok(());
    };
    let mut params = super::time::parameters();
    // The vDSO adds the ns since boot to these (with wrapping u64
    // arithmetic, so a negative offset works as well).
    params.monotonic_base_ns = params
        .monotonic_base_ns
        .wrapping_add(offsets.monotonic.ns() as u64);
    params.boottime_base_ns = params
        .boottime_base_ns
        .wrapping_add(offsets.boottime.ns() as u64);
    mm.write_forced(vvar, zerocopy::IntoBytes::as_bytes(&params))
}

/// Where a handler without SA_RESTORER returns to on aarch64 (Linux
/// points it at the vDSO's sigreturn trampoline; glibc relies on that).
#[cfg(target_arch = "aarch64")]
pub fn sigreturn_trampoline() -> u64 {
    VDSO_BASE
}

/// Maps the one-page sigreturn trampoline (shown as [vdso]).
#[cfg(target_arch = "aarch64")]
fn map_sigreturn_trampoline(mm: &mut AddressSpace) -> Result<(), Errno> {
    mm.map_fixed(Vma {
        start: VDSO_BASE,
        end: VDSO_BASE + PAGE_SIZE,
        prot: Protection {
            read: true,
            write: false,
            exec: true,
        },
        kind: VmaKind::Vdso,
        shared: false,
        file: None,
        flags: VmFlags::NONE,
        uffd: None,
    })?;
    let code = crate::arch::signal::SIGRETURN_TRAMPOLINE;
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&code[0].to_le_bytes());
    bytes[4..].copy_from_slice(&code[1].to_le_bytes());
    copy_into(mm, VDSO_BASE, &bytes)
}

/// Copies `bytes` to user memory at `addr`, whatever the protection.
fn copy_into(mm: &mut AddressSpace, addr: u64, bytes: &[u8]) -> Result<(), Errno> {
    for (i, chunk) in bytes.chunks(PAGE_SIZE as usize).enumerate() {
        let frame = mm.frame_for_kernel(addr + i as u64 * PAGE_SIZE)?;
        crate::mm::frame::write(frame, 0, chunk);
    }
    Ok(())
}

/// Where an executable's bytes come from: the boot image in memory, or a
/// file (execve reads straight from it into the new pages, so a large
/// binary never has to fit in the sentry's heap).
pub trait ExecImage {
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`; ENOEXEC if the file is shorter.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Errno>;
    /// The file, when the image is one (its segments are then mapped from
    /// it rather than copied), and its path if known.
    fn backing(&self) -> Option<FileBacking> {
        None
    }
}

/// A file in the sandbox with its path (the interpreter: its mappings show
/// the path in /proc/<pid>/maps).
struct Named {
    inode: Arc<dyn Inode>,
    path: Arc<Vec<u8>>,
}

impl ExecImage for Named {
    fn size(&self) -> u64 {
        self.inode.size()
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Errno> {
        self.inode.read_exact_at(offset, buf)
    }

    fn backing(&self) -> Option<FileBacking> {
        Some(FileBacking {
            inode: self.inode.clone(),
            offset: 0,
            // A private mapping: mprotect may make it writable.
            may_write: true,
            path: Some(self.path.clone()),
        })
    }
}

impl ExecImage for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let start = usize::try_from(offset).map_err(|_| ENOEXEC)?;
        let end = start.checked_add(buf.len()).ok_or(ENOEXEC)?;
        buf.copy_from_slice(self.get(start..end).ok_or(ENOEXEC)?);
        Ok(())
    }
}

impl ExecImage for Arc<dyn Inode> {
    fn size(&self) -> u64 {
        self.stat().size.max(0) as u64
    }

    fn backing(&self) -> Option<FileBacking> {
        Some(FileBacking {
            inode: self.clone(),
            offset: 0,
            may_write: true,
            path: None,
        })
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read_at(offset + done as u64, &mut buf[done..])?;
            if n == 0 {
                return Err(ENOEXEC);
            }
            done += n;
        }
        Ok(())
    }
}

/// Program headers larger than this are refused (Linux allows 64 KiB).
const MAX_PHDRS_BYTES: usize = boards::elf::MAX_PHDRS_BYTES as usize;

/// Finds the file a PT_INTERP names (in the sandbox's namespace): the file
/// and its path as resolved.
pub type InterpreterLookup<'a> =
    &'a mut dyn FnMut(&[u8]) -> Result<(Arc<dyn Inode>, Vec<u8>), Errno>;

/// An ELF file's header and program headers, checked.
struct ParsedElf {
    header: Header,
    phdrs: Vec<ProgramHeader>,
}

fn parse_elf(image: &dyn ExecImage) -> Result<ParsedElf, Errno> {
    let mut ident = [0u8; 64];
    if image.size() < ident.len() as u64 {
        return Err(ENOEXEC);
    }
    image.read_exact_at(0, &mut ident)?;
    let header: Header = Elf::parse_header(&ident).map_err(|_| ENOEXEC)?;
    if header.e_ident[goblin::elf::header::EI_CLASS] != goblin::elf::header::ELFCLASS64
        || header.e_ident[goblin::elf::header::EI_DATA] != goblin::elf::header::ELFDATA2LSB
        || header.e_machine != crate::arch::ELF_MACHINE
        || (header.e_type != ET_EXEC && header.e_type != ET_DYN)
        || header.e_phentsize as usize
            != core::mem::size_of::<goblin::elf64::program_header::ProgramHeader>()
    {
        return Err(ENOEXEC);
    }
    let phdrs_size = header.e_phnum as usize * header.e_phentsize as usize;
    if header.e_phnum == 0 || phdrs_size > MAX_PHDRS_BYTES {
        return Err(ENOEXEC);
    }
    let mut phdr_bytes = alloc::vec![0u8; phdrs_size];
    image.read_exact_at(header.e_phoff, &mut phdr_bytes)?;
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phdrs =
        ProgramHeader::parse(&phdr_bytes, 0, header.e_phnum as usize, ctx).map_err(|_| ENOEXEC)?;
    if !phdrs.iter().any(|p| p.p_type == PT_LOAD) {
        return Err(ENOEXEC);
    }
    Ok(ParsedElf { header, phdrs })
}

/// The lowest page and the end of the PT_LOAD segments (unbiased).
fn load_span(phdrs: &[ProgramHeader]) -> Result<(u64, u64), Errno> {
    let mut low = u64::MAX;
    let mut high = 0u64;
    for p in phdrs.iter().filter(|p| p.p_type == PT_LOAD) {
        low = low.min(p.p_vaddr & !(PAGE_SIZE - 1));
        high = high.max(p.p_vaddr.checked_add(p.p_memsz).ok_or(ENOEXEC)?);
    }
    if low >= high {
        return Err(ENOEXEC);
    }
    Ok((low, page_align_up(high).ok_or(ENOEXEC)?))
}

/// A random page-aligned offset below `2^bits` pages (ASLR).
fn random_pages(bits: u32) -> u64 {
    let mut bytes = [0u8; 8];
    super::random::fill(&mut bytes);
    (u64::from_le_bytes(bytes) & ((1u64 << bits) - 1)) * PAGE_SIZE
}

/// Bits of randomness of the executable's and the interpreter's base.
const ASLR_BITS: u32 = 16;

/// Maps every PT_LOAD segment at `bias`; returns the highest end.
fn map_segments(
    mm: &mut AddressSpace,
    image: &dyn ExecImage,
    phdrs: &[ProgramHeader],
    bias: u64,
    kind: VmaKind,
) -> Result<u64, Errno> {
    let mut highest = 0u64;
    for phdr in phdrs.iter().filter(|p| p.p_type == PT_LOAD) {
        let end = load_segment(mm, image, phdr, bias, kind)?;
        highest = highest.max(end);
    }
    Ok(highest)
}

/// The path a PT_INTERP segment names.
fn interpreter_path(image: &dyn ExecImage, phdr: &ProgramHeader) -> Result<Vec<u8>, Errno> {
    if phdr.p_filesz < 2 || phdr.p_filesz > crate::sentry::vfs::PATH_MAX as u64 {
        return Err(ENOEXEC);
    }
    let mut path = alloc::vec![0u8; phdr.p_filesz as usize];
    image.read_exact_at(phdr.p_offset, &mut path)?;
    // NUL-terminated, and nothing before the terminator may be NUL.
    if path.pop() != Some(0) || path.contains(&0) {
        return Err(ENOEXEC);
    }
    Ok(path)
}

/// Loads the ELF `image` into `mm`; a dynamically linked one also gets its
/// interpreter (PT_INTERP, found through `interpreter`), which is where
/// the program then starts, as on Linux.
pub fn load_elf(
    mm: &mut AddressSpace,
    image: &dyn ExecImage,
    interpreter: InterpreterLookup,
) -> Result<LoadedElf, Errno> {
    let ParsedElf { header, phdrs } = parse_elf(image)?;
    let interp_path = match phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        Some(p) => Some(interpreter_path(image, p)?),
        None => None,
    };
    let bias = if header.e_type == ET_DYN {
        let (low, _) = load_span(&phdrs)?;
        // Linux: ELF_ET_DYN_BASE plus a random offset; the segments keep
        // their relative placement.
        (boards::elf::PIE_BASE + random_pages(ASLR_BITS))
            .checked_sub(low)
            .ok_or(ENOEXEC)?
    } else {
        0
    };
    let highest = map_segments(mm, image, &phdrs, bias, VmaKind::Image)?;

    let phdr_addr = match phdrs.iter().find(|p| p.p_type == PT_PHDR) {
        Some(p) => p.p_vaddr.wrapping_add(bias),
        None => phdrs
            .iter()
            .find(|p| {
                p.p_type == PT_LOAD
                    && p.p_offset <= header.e_phoff
                    && header.e_phoff < p.p_offset.saturating_add(p.p_filesz)
            })
            .map(|p| {
                p.p_vaddr
                    .wrapping_add(bias)
                    .wrapping_add(header.e_phoff - p.p_offset)
            })
            .unwrap_or(0),
    };

    // The heap starts on a 2 MiB boundary (Linux starts it at a random
    // page within 32 MiB of the image's end): a large brk heap then maps
    // as whole blocks, which fork shares instead of copying their pages.
    let brk = highest
        .checked_next_multiple_of(crate::mm::BLOCK_SIZE)
        .ok_or(ENOEXEC)?;
    mm.brk_start = brk;
    mm.brk = brk;
    if !boards::elf::check_entry(header.e_entry, bias) {
        return Err(ENOEXEC);
    }
    let entry = header.e_entry + bias;
    let (start, interp_base) = match interp_path {
        None => (entry, 0),
        Some(path) => load_interpreter(mm, &path, interpreter)?,
    };
    Ok(LoadedElf {
        entry,
        start,
        interp_base,
        phdr: phdr_addr,
        phent: header.e_phentsize as u64,
        phnum: header.e_phnum as u64,
    })
}

/// Loads the dynamic linker below the mmap area's top (where Linux's
/// first mmap would place it): returns (its entry, its base).
fn load_interpreter(
    mm: &mut AddressSpace,
    path: &[u8],
    lookup: InterpreterLookup,
) -> Result<(u64, u64), Errno> {
    let (inode, resolved) = lookup(path)?;
    if inode.kind() != FileKind::Regular {
        return Err(EACCES);
    }
    let image = Named {
        inode,
        path: Arc::new(resolved),
    };
    let image: &dyn ExecImage = &image;
    // As Linux: an interpreter that is no ELF file for this machine is
    // ELIBBAD (the program itself was fine).
    let ParsedElf { header, phdrs } =
        parse_elf(image).map_err(|e| if e == ENOEXEC { ELIBBAD } else { e })?;
    // As Linux: the interpreter's own PT_INTERP, if any, is ignored.
    let bias = if header.e_type == ET_DYN {
        let (low, high) = load_span(&phdrs)?;
        let span = high - low;
        let top = span
            .checked_add(random_pages(ASLR_BITS))
            .and_then(|below| super::mm::MMAP_TOP.checked_sub(below))
            .ok_or(ENOEXEC)?;
        (top & !(PAGE_SIZE - 1)).checked_sub(low).ok_or(ENOEXEC)?
    } else {
        0
    };
    // Shown in /proc/<pid>/maps as a file mapping, not as the executable.
    map_segments(mm, image, &phdrs, bias, VmaKind::File)?;
    if !boards::elf::check_entry(header.e_entry, bias) {
        return Err(ENOEXEC);
    }
    let entry = header.e_entry + bias;
    Ok((entry, bias))
}

/// Maps one PT_LOAD segment and copies its file bytes in; returns its end.
fn load_segment(
    mm: &mut AddressSpace,
    image: &dyn ExecImage,
    phdr: &ProgramHeader,
    bias: u64,
    kind: VmaKind,
) -> Result<u64, Errno> {
    // The same rules as the VMM's check before boot (boards::elf).
    let (start, end) = boards::elf::check_segment(
        phdr.p_offset,
        phdr.p_filesz,
        phdr.p_vaddr,
        phdr.p_memsz,
        bias,
        image.size(),
    )
    .map_err(|_| ENOEXEC)?;
    let vaddr = phdr.p_vaddr + bias;
    let mem_end = vaddr + phdr.p_memsz;
    if end == start {
        return Ok(mem_end);
    }
    let prot = Protection {
        read: phdr.p_flags & PF_R != 0,
        write: phdr.p_flags & PF_W != 0,
        exec: phdr.p_flags & PF_X != 0,
    };
    // Pages backed by the file get the file's bytes from the page-aligned
    // offset on (as Linux's mmap of the segment would show them) up to the
    // end of the segment's file part; the rest stays zero (bss). Whole
    // pages of a file in the sandbox are mapped from it, demand-paged and
    // shared with its page cache until written (as a private file mapping);
    // the last partial page and the bss are private pages filled now.
    let file_page_offset = phdr.p_offset - (vaddr - start);
    let file_part_end = vaddr + phdr.p_filesz;
    let backing = image.backing();
    // Without bss the last page comes from the file too (its bytes past
    // the segment are the file's, as Linux maps them); with bss it is a
    // private copy whose tail is zero.
    let mapped_end = match backing {
        Some(_) if phdr.p_filesz == phdr.p_memsz => end,
        Some(_) => (file_part_end & !(PAGE_SIZE - 1)).max(start),
        None => start,
    };
    if let Some(backing) = backing.filter(|_| mapped_end > start) {
        mm.map_fixed(Vma {
            start,
            end: mapped_end,
            prot,
            kind,
            shared: false,
            file: Some(FileBacking {
                offset: file_page_offset,
                ..backing
            }),
            flags: VmFlags::NONE,
            uffd: None,
        })?;
        if prot.write {
            // Data, GOT and relocated pointers: nearly every page gets
            // written, so they are copied now (the mapping still shows the
            // file in /proc/<pid>/maps, as Linux's does).
            mm.populate_private_copies(start, mapped_end);
        }
    }
    if end > mapped_end {
        mm.map_fixed(Vma {
            start: mapped_end,
            end,
            prot,
            kind,
            shared: false,
            file: None,
            flags: VmFlags::NONE,
            uffd: None,
        })?;
    }
    let mut page = mapped_end;
    while page < file_part_end {
        let frame = mm.frame_for_kernel(page)?;
        let n = (file_part_end - page).min(PAGE_SIZE) as usize;
        let src = file_page_offset + (page - start);
        let mut bytes = [0u8; PAGE_SIZE as usize];
        image.read_exact_at(src, &mut bytes[..n])?;
        crate::mm::frame::write(frame, 0, &bytes[..n]);
        page += PAGE_SIZE;
    }
    Ok(mem_end)
}

/// Builds the initial stack; returns the user rsp (pointing at argc).
pub fn build_stack(
    mm: &mut AddressSpace,
    loaded: &LoadedElf,
    argv: &[&[u8]],
    envp: &[&[u8]],
    execfn: &[u8],
    hwcap: u64,
) -> Result<u64, Errno> {
    let string_bytes: usize = argv.iter().chain(envp.iter()).map(|s| s.len() + 1).sum();
    if string_bytes + execfn.len() + 1 > MAX_ARG_BYTES {
        return Err(E2BIG);
    }
    mm.map_fixed(Vma {
        start: STACK_TOP - STACK_MAX,
        end: STACK_TOP,
        prot: Protection::READ_WRITE,
        kind: VmaKind::Stack,
        shared: false,
        file: None,
        flags: VmFlags::NONE,
        uffd: None,
    })?;

    // Strings at the very top, as Linux places them: execfn last (highest).
    let mut sp = STACK_TOP - 8;
    let push_bytes = |mm: &mut AddressSpace, bytes: &[u8], sp: &mut u64| -> Result<u64, Errno> {
        *sp -= bytes.len() as u64;
        mm.copy_to_user(*sp, bytes)?;
        Ok(*sp)
    };
    let mut execfn_z = Vec::with_capacity(execfn.len() + 1);
    execfn_z.extend_from_slice(execfn);
    execfn_z.push(0);
    let execfn_addr = push_bytes(mm, &execfn_z, &mut sp)?;
    let mut env_addrs = Vec::with_capacity(envp.len());
    for s in envp.iter().rev() {
        sp -= 1;
        mm.copy_to_user(sp, &[0])?;
        env_addrs.push(push_bytes(mm, s, &mut sp)?);
    }
    env_addrs.reverse();
    let mut arg_addrs = Vec::with_capacity(argv.len());
    for s in argv.iter().rev() {
        sp -= 1;
        mm.copy_to_user(sp, &[0])?;
        arg_addrs.push(push_bytes(mm, s, &mut sp)?);
    }
    arg_addrs.reverse();
    let platform_addr = push_bytes(mm, crate::arch::PLATFORM, &mut sp)?;
    let mut random = [0u8; 16];
    super::random::fill(&mut random);
    sp &= !15;
    let random_addr = push_bytes(mm, &random, &mut sp)?;

    let vdso = map_vdso(mm)?;
    let auxv: [(u64, u64); 20] = [
        (AT_PHDR, loaded.phdr),
        (AT_PHENT, loaded.phent),
        (AT_PHNUM, loaded.phnum),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_BASE, loaded.interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, loaded.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_PLATFORM, platform_addr),
        (AT_HWCAP, hwcap),
        (AT_CLKTCK, 100),
        (AT_SECURE, 0),
        (AT_RANDOM, random_addr),
        (AT_HWCAP2, 0),
        (AT_EXECFN, execfn_addr),
        // Without a vDSO the entry repeats AT_NULL's key: the list ends there.
        vdso.map_or((AT_NULL, 0), |base| (AT_SYSINFO_EHDR, base)),
        (AT_NULL, 0),
    ];
    // argc, argv[], NULL, envp[], NULL, auxv pairs: rsp must end 16-aligned.
    let words = 1 + arg_addrs.len() + 1 + env_addrs.len() + 1 + auxv.len() * 2;
    sp = (sp - words as u64 * 8) & !15;
    let mut table: Vec<u64> = Vec::with_capacity(words);
    table.push(arg_addrs.len() as u64);
    table.extend_from_slice(&arg_addrs);
    table.push(0);
    table.extend_from_slice(&env_addrs);
    table.push(0);
    for (key, value) in auxv {
        table.push(key);
        table.push(value);
    }
    let bytes: Vec<u8> = table.iter().flat_map(|w| w.to_le_bytes()).collect();
    mm.copy_to_user(sp, &bytes)?;
    Ok(sp)
}

// --- what to run: "#!" scripts and interpreters ----------------------------------

/// Nested "#!" interpreters allowed (Linux: 4).
const MAX_INTERPRETERS: usize = 4;

/// The file execve runs and the argv it gets.
pub struct Program {
    pub inode: Arc<dyn Inode>,
    /// Its path as resolved (for /proc/<pid>/exe).
    pub shown: Vec<u8>,
    /// The path it was named by (its comm comes from it).
    pub exec_path: Vec<u8>,
    pub args: Vec<Vec<u8>>,
}

/// Scripts: the interpreter of a "#!" line runs, with the script's path as
/// an argument (nested up to [`MAX_INTERPRETERS`] deep, as on Linux).
pub fn follow_scripts(
    namespace: &Namespace,
    root: &PathStack,
    cwd: &PathStack,
    who: &Accessor,
    landlock: Option<&crate::sentry::landlock::Domain>,
    mut program: Program,
) -> Result<Program, Errno> {
    let mut head = read_head(&program.inode)?;
    for depth in 0.. {
        let Some((interpreter, arg)) = shebang(&head) else {
            break;
        };
        if depth == MAX_INTERPRETERS {
            return Err(ELOOP);
        }
        let mut new_args = alloc::vec![interpreter.clone()];
        new_args.extend(arg);
        new_args.push(program.exec_path.clone());
        new_args.extend(program.args.iter().skip(1).cloned());
        program.args = new_args;
        let stack = namespace.resolve_in(root, cwd, &interpreter, true, who)?;
        program.inode = stack.node().clone();
        program.shown = stack.path();
        if program.inode.kind() != FileKind::Regular {
            return Err(EACCES);
        }
        accessor_for(who, &*program.inode).check(vfs_owned(&*program.inode), MAY_EXEC)?;
        landlock_exec(landlock, &stack)?;
        head = read_head(&program.inode)?;
        program.exec_path = interpreter;
    }
    Ok(program)
}

/// The dynamic linker a PT_INTERP names, looked up in the sandbox.
pub fn open_interpreter(
    namespace: &Namespace,
    root: &PathStack,
    cwd: &PathStack,
    who: &Accessor,
    landlock: Option<&crate::sentry::landlock::Domain>,
    path: &[u8],
) -> Result<(Arc<dyn Inode>, Vec<u8>), Errno> {
    let stack = namespace.resolve_in(root, cwd, path, true, who)?;
    let inode = stack.node().clone();
    match inode.kind() {
        FileKind::Regular => {
            accessor_for(who, &*inode).check(vfs_owned(&*inode), MAY_EXEC)?;
            landlock_exec(landlock, &stack)?;
            Ok((inode, stack.path()))
        }
        _ => Err(EACCES),
    }
}

/// Landlock on a file opened for exec (Linux's open_exec): read and
/// execute.
fn landlock_exec(
    landlock: Option<&crate::sentry::landlock::Domain>,
    stack: &PathStack,
) -> Result<(), Errno> {
    use crate::sentry::landlock::{ACCESS_FS_EXECUTE, ACCESS_FS_READ_FILE};
    match landlock {
        Some(domain) => domain.check_path(stack, ACCESS_FS_EXECUTE | ACCESS_FS_READ_FILE),
        None => Ok(()),
    }
}

/// The start of a file, enough for a "#!" line.
pub fn read_head(inode: &Arc<dyn Inode>) -> Result<Vec<u8>, Errno> {
    let mut head = alloc::vec![0u8; 256];
    let mut done = 0;
    while done < head.len() {
        let n = inode.read_at(done as u64, &mut head[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    head.truncate(done);
    Ok(head)
}

/// "#!interpreter [one argument]" on the first line: (interpreter, arg).
pub fn shebang(image: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let rest = image.strip_prefix(b"#!")?;
    let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = &rest[..line_end.min(255)];
    let trimmed: Vec<u8> = line
        .iter()
        .copied()
        .skip_while(|b| *b == b' ' || *b == b'\t')
        .collect();
    let split = trimmed
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(trimmed.len());
    let interpreter = trimmed[..split].to_vec();
    if interpreter.is_empty() {
        return None;
    }
    let arg: Vec<u8> = trimmed[split..]
        .iter()
        .copied()
        .skip_while(|b| *b == b' ' || *b == b'\t')
        .collect();
    let arg = {
        let end = arg
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t' && b != b'\r')
            .map_or(0, |i| i + 1);
        arg[..end].to_vec()
    };
    Some((interpreter, (!arg.is_empty()).then_some(arg)))
}
