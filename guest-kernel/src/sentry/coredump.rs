//! Core dumps: what a signal whose default action is "core" (SIGQUIT,
//! SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGXCPU, SIGXFSZ,
//! SIGSYS) leaves behind, as Linux's fs/coredump.c and binfmt_elf's
//! elf_core_dump write it: an ELF core file (ET_CORE) with a PT_NOTE
//! segment (NT_PRSTATUS with the dying thread's registers, NT_PRPSINFO,
//! NT_SIGINFO, NT_FPREGSET) and one PT_LOAD per memory area, holding the
//! areas /proc/<pid>/coredump_filter selects (MADV_DONTDUMP areas never).
//!
//! The file is named by /proc/sys/kernel/core_pattern (default "core",
//! its %-specifiers expanded as Linux does, relative to the process's
//! working directory). A pattern starting with '|' pipes the core to a
//! user-mode helper: the sandbox starts no helpers, so such a dump fails
//! as Linux's does when its helper cannot run (no core, no WCOREDUMP).
//! Nothing is dumped when the process is not dumpable (PR_SET_DUMPABLE
//! 0) or its RLIMIT_CORE is below one page; a dump that reaches
//! RLIMIT_CORE stops there, truncated, and still counts as dumped (as in
//! Linux, where the dump is marked before it is written).

use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;

use super::errno::*;
use super::mm::{VmFlags, Vma, VmaKind};
use super::sched::TaskRef;
use super::signal::SigInfo;
use super::task::Task;
use super::vfs::{FileKind, Inode, NewNode};
use crate::arch::ptrace as archp;
use crate::arch::{UserContext, PAGE_SIZE};

/// Linux's CORENAME_MAX_SIZE: the longest core_pattern kept.
pub const CORENAME_MAX_SIZE: usize = 128;

/// /proc/sys/kernel/core_pattern (None: Linux's default, "core").
static CORE_PATTERN: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// /proc/sys/kernel/core_uses_pid: ".<pid>" is added to a file name
/// whose pattern has no %p.
static CORE_USES_PID: AtomicBool = AtomicBool::new(false);

pub fn core_pattern() -> Vec<u8> {
    CORE_PATTERN
        .lock()
        .clone()
        .unwrap_or_else(|| b"core".to_vec())
}

/// Sets core_pattern from what was written: up to the first newline or
/// NUL, at most CORENAME_MAX_SIZE - 1 bytes (Linux's proc_dostring).
pub fn set_core_pattern(text: &[u8]) {
    let end = text
        .iter()
        .position(|&b| b == b'\n' || b == 0)
        .unwrap_or(text.len())
        .min(CORENAME_MAX_SIZE - 1);
    *CORE_PATTERN.lock() = Some(text[..end].to_vec());
}

pub fn core_uses_pid() -> bool {
    CORE_USES_PID.load(Ordering::Relaxed)
}

pub fn set_core_uses_pid(on: bool) {
    CORE_USES_PID.store(on, Ordering::Relaxed);
}

/// The coredump_filter bits (Linux's MMF_DUMP_*).
const DUMP_ANON_PRIVATE: u32 = 1 << 0;
const DUMP_ANON_SHARED: u32 = 1 << 1;
const DUMP_MAPPED_PRIVATE: u32 = 1 << 2;
const DUMP_MAPPED_SHARED: u32 = 1 << 3;
const DUMP_ELF_HEADERS: u32 = 1 << 4;
/// The bits /proc/<pid>/coredump_filter keeps (MMF_DUMP_FILTER_MASK:
/// the seven above and the huge-page and DAX ones).
pub const FILTER_MASK: u32 = 0x1ff;

const RLIMIT_CORE: usize = 4;
const PAGE: usize = PAGE_SIZE as usize;

/// Dumps the core of the running task's process, dying of the signal in
/// `info` with registers `regs`. Returns whether a core was dumped (the
/// wait status's WCOREDUMP).
pub fn dump(task: &mut TaskRef, regs: &UserContext, info: &SigInfo) -> bool {
    // Linux's __get_dumpable: a process made non-dumpable (PR_SET_DUMPABLE
    // 0, a set-id exec) dumps nothing.
    if task.dumpable == 0 {
        return false;
    }
    let pattern = core_pattern();
    if pattern.first() == Some(&b'|') {
        log::info!(
            "core of process {}: core_pattern pipes to a helper, which the sandbox cannot start",
            task.pid
        );
        return false;
    }
    let limit = task.rlimits[RLIMIT_CORE].cur;
    // binfmt_elf's min_coredump: one page.
    if limit < PAGE_SIZE {
        return false;
    }
    let name = core_name(task, &pattern, info.signo as u8);
    let nr = task
        .cell()
        .syscall
        .load(core::sync::atomic::Ordering::Relaxed);
    match write_core(task, regs, info, &name, limit, nr) {
        Ok(()) => {
            log::info!(
                "core of process {} dumped to {}",
                task.pid,
                alloc::string::String::from_utf8_lossy(&name)
            );
            true
        }
        Err(e) => {
            log::info!(
                "core of process {} not dumped to {} (errno {})",
                task.pid,
                alloc::string::String::from_utf8_lossy(&name),
                e.0
            );
            false
        }
    }
}

/// Linux's format_corename: the pattern with its specifiers expanded.
fn core_name(task: &Task, pattern: &[u8], signal: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut has_pid = false;
    // Appends `text`; an expanded name has no '/' ('!' instead) and is
    // never "." or ".." (Linux's cn_esc_printf).
    let escaped = |out: &mut Vec<u8>, text: &[u8]| {
        let start = out.len();
        out.extend(text.iter().map(|&b| if b == b'/' { b'!' } else { b }));
        let part = &out[start..];
        if part == b"." || part == b".." {
            out[start] = b'!';
        }
    };
    let mut bytes = pattern.iter().copied();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let Some(spec) = bytes.next() else {
            break;
        };
        match spec {
            b'%' => out.push(b'%'),
            b'p' | b'P' => {
                has_pid = true;
                out.extend_from_slice(format!("{}", task.pid).as_bytes());
            }
            b'i' | b'I' => out.extend_from_slice(format!("{}", task.tid).as_bytes()),
            b'u' => out.extend_from_slice(format!("{}", task.creds.user[0]).as_bytes()),
            b'g' => out.extend_from_slice(format!("{}", task.creds.group[0]).as_bytes()),
            b'd' => out.extend_from_slice(format!("{}", task.dumpable).as_bytes()),
            b's' => out.extend_from_slice(format!("{signal}").as_bytes()),
            b't' => out.extend_from_slice(
                format!("{}", super::time::realtime_ns() / 1_000_000_000).as_bytes(),
            ),
            b'h' => {
                let host = task.uts_ns.names.lock().hostname.clone();
                escaped(&mut out, &host);
            }
            b'e' => {
                let comm = task.comm.lock().clone();
                escaped(&mut out, &comm);
            }
            b'f' => {
                let exe = task.process.view.exe_path.lock().clone();
                let base = exe.rsplit(|&b| b == b'/').next().unwrap_or(&exe).to_vec();
                escaped(&mut out, &base);
            }
            b'E' => {
                let exe = task.process.view.exe_path.lock().clone();
                escaped(&mut out, &exe);
            }
            b'c' => out.extend_from_slice(format!("{}", task.rlimits[RLIMIT_CORE].cur).as_bytes()),
            b'C' => out.push(b'0'),
            // Unknown specifiers expand to nothing, as on Linux.
            _ => {}
        }
    }
    if !has_pid && core_uses_pid() {
        out.extend_from_slice(format!(".{}", task.pid).as_bytes());
    }
    out
}

/// The bytes of the core file as it is written: what RLIMIT_CORE counts
/// (the holes of unpopulated memory are skipped, not written, and do not
/// count, as Linux's dump_skip).
struct CoreWriter {
    file: Arc<dyn Inode>,
    offset: u64,
    written: u64,
    limit: u64,
}

impl CoreWriter {
    fn emit(&mut self, bytes: &[u8]) -> Result<(), Errno> {
        if self.written.saturating_add(bytes.len() as u64) > self.limit {
            return Err(EFBIG);
        }
        let mut done = 0;
        while done < bytes.len() {
            let n = self
                .file
                .write_at(self.offset + done as u64, &bytes[done..])?;
            if n == 0 {
                return Err(EIO);
            }
            done += n;
        }
        self.offset += bytes.len() as u64;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn skip(&mut self, len: u64) {
        self.offset += len;
    }
}

/// Creates the core file `name` as Linux's do_coredump does: an old file
/// of that name is unlinked first, the new one is made with O_EXCL, mode
/// 0600 (less the umask), and must come out a regular file with that mode
/// and a single link.
fn create_core_file(task: &Task, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
    use super::syscalls::path::{may_as, may_delete_as, own_new_node_as};
    use super::vfs::perm::{MAY_EXEC, MAY_WRITE};
    if name.is_empty() {
        return Err(ENOENT);
    }
    let root = task.root_dir();
    let start = if name[0] == b'/' {
        root.clone()
    } else {
        task.cwd()
    };
    let who = task.creds.accessor();
    let pn = task
        .namespace
        .clone()
        .resolve_parent_in(&root, &start, name, &who)?;
    if pn.name == b"." || pn.name == b".." || pn.trailing_slash {
        return Err(EISDIR);
    }
    let dir = pn.parent.node().clone();
    if let Ok(old) = dir.lookup(&pn.name) {
        if old.kind() != FileKind::Directory && may_delete_as(task, &*dir, &*old).is_ok() {
            let _ = dir.unlink(&pn.name, false);
        }
    }
    if dir.lookup(&pn.name).is_ok() {
        return Err(EEXIST);
    }
    if dir.read_only() {
        return Err(EROFS);
    }
    if let Some(domain) = task.creds.landlock.as_deref() {
        domain.check_path(&pn.parent, super::landlock::ACCESS_FS_MAKE_REG)?;
    }
    may_as(task, &*dir, MAY_WRITE | MAY_EXEC)?;
    let node = dir.create(
        &pn.name,
        NewNode::File {
            mode: 0o600 & !task.umask,
        },
    )?;
    own_new_node_as(task, &*dir, &*node);
    super::vfs::inotify::on_child(&*dir, &pn.name, &*node, super::vfs::inotify::IN_CREATE, 0);
    let stat = node.stat();
    if node.kind() != FileKind::Regular || stat.nlink > 1 || stat.mode & 0o677 != 0o600 {
        return Err(EPERM);
    }
    node.truncate(0)?;
    Ok(node)
}

/// How much of `vma` the dump holds (Linux's vma_dump_size): all of it,
/// its first page (an executable's ELF header), or nothing.
fn dump_size(vma: &Vma, filter: u32, mm: &mut super::mm::AddressSpace) -> u64 {
    let whole = vma.end - vma.start;
    if vma.kind == VmaKind::Vdso {
        return whole;
    }
    // The vvar page is Linux's VM_IO|VM_DONTDUMP special mapping.
    if vma.flags.contains(VmFlags::DONTDUMP) || vma.kind == VmaKind::Vvar {
        return 0;
    }
    if vma.shared {
        // Shared memory of an unlinked file (MAP_SHARED|MAP_ANONYMOUS,
        // SysV segments) is anonymous shared memory.
        let anonymous = vma.file.as_ref().is_none_or(|f| f.inode.stat().nlink == 0);
        let bit = if anonymous {
            DUMP_ANON_SHARED
        } else {
            DUMP_MAPPED_SHARED
        };
        return if filter & bit != 0 { whole } else { 0 };
    }
    // Private memory that has been written to (Linux: has an anon_vma):
    // anonymous memory with pages, the executable's writable segments,
    // file mappings with pages of their own.
    let written = match vma.kind {
        VmaKind::Anonymous | VmaKind::Heap | VmaKind::Stack if vma.file.is_none() => {
            mm.resident_bytes(vma.start, vma.end) > 0
        }
        VmaKind::Image => vma.prot.write,
        _ => vma.prot.write && mm.resident_bytes(vma.start, vma.end) > 0,
    };
    if written && filter & DUMP_ANON_PRIVATE != 0 {
        return whole;
    }
    let file_backed = vma.file.is_some() || vma.kind == VmaKind::Image;
    if !file_backed {
        return 0;
    }
    if filter & DUMP_MAPPED_PRIVATE != 0 {
        return whole;
    }
    // The start of an ELF file mapping: its first page, to tell what was
    // mapped there.
    let at_start = vma.file.as_ref().is_none_or(|f| f.offset == 0);
    if filter & DUMP_ELF_HEADERS != 0 && at_start && vma.prot.read {
        let mut page = alloc::vec![0u8; PAGE];
        if mm.read_resident_page(vma.start, &mut page) && page.starts_with(b"\x7fELF") {
            return PAGE_SIZE;
        }
        if let Some(f) = &vma.file {
            let mut magic = [0u8; 4];
            if f.inode.read_at(0, &mut magic) == Ok(4) && magic == *b"\x7fELF" {
                return PAGE_SIZE;
            }
        }
    }
    0
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// An ELF note named "CORE", as the pieces Linux's writenote emits one
/// by one (the header, the name, the description; each 4-aligned).
fn note(out: &mut Vec<Vec<u8>>, kind: u32, desc: &[u8]) {
    let mut header = Vec::new();
    put_u32(&mut header, 5);
    put_u32(&mut header, desc.len() as u32);
    put_u32(&mut header, kind);
    out.push(header);
    out.push(b"CORE\0\0\0\0".to_vec());
    let mut desc = desc.to_vec();
    while !desc.len().is_multiple_of(4) {
        desc.push(0);
    }
    out.push(desc);
}

const NT_PRSTATUS: u32 = 1;
const NT_FPREGSET: u32 = 2;
const NT_PRPSINFO: u32 = 3;
const NT_SIGINFO: u32 = 0x5349_4749;

/// A struct timeval of TSC ticks.
fn timeval(out: &mut Vec<u8>, ticks: u64) {
    let ns = super::time::tsc_to_ns(ticks);
    put_u64(out, ns / 1_000_000_000);
    put_u64(out, (ns % 1_000_000_000) / 1000);
}

/// The notes: NT_PRSTATUS, NT_PRPSINFO, NT_SIGINFO, NT_FPREGSET (Linux's
/// order for the dumping thread).
fn notes(task: &Task, regs: &UserContext, info: &SigInfo, nr: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // struct elf_prstatus.
    let mut st = Vec::new();
    put_u32(&mut st, info.signo as u32); // pr_info.si_signo
    put_u32(&mut st, 0); // si_code
    put_u32(&mut st, 0); // si_errno
    put_u16(&mut st, info.signo as u16); // pr_cursig
    put_u16(&mut st, 0);
    put_u64(&mut st, task.signals.pending()); // pr_sigpend
    put_u64(&mut st, task.signals.mask); // pr_sighold
    put_u32(&mut st, task.tid as u32);
    put_u32(&mut st, task.ppid() as u32);
    put_u32(&mut st, task.pgid() as u32);
    put_u32(&mut st, task.sid() as u32);
    let own = task.thread_cpu_times();
    let children = task.process.children_cpu_times();
    timeval(&mut st, own.user);
    timeval(&mut st, own.system);
    timeval(&mut st, children.user);
    timeval(&mut st, children.system);
    #[cfg(target_arch = "x86_64")]
    let mut extra = archp::extra_regs(task.fs_base, task.gs_base);
    #[cfg(not(target_arch = "x86_64"))]
    let mut extra = archp::extra_regs(0, 0);
    extra.orig = if info.code > 0 {
        u64::MAX // a fault: not in a syscall
    } else {
        archp::orig_syscall(regs, nr)
    };
    for word in archp::user_regs(regs, &extra) {
        put_u64(&mut st, word);
    }
    put_u32(&mut st, 1); // pr_fpvalid
    while !st.len().is_multiple_of(8) {
        st.push(0);
    }
    note(&mut out, NT_PRSTATUS, &st);

    // struct elf_prpsinfo.
    // pr_state (running), pr_sname, pr_zomb, pr_nice.
    let mut ps = alloc::vec![0, b'R', 0, task.nice as i8 as u8];
    put_u32(&mut ps, 0);
    put_u64(&mut ps, 0); // pr_flag
    put_u32(&mut ps, task.creds.user[0]);
    put_u32(&mut ps, task.creds.group[0]);
    put_u32(&mut ps, task.pid as u32);
    put_u32(&mut ps, task.ppid() as u32);
    put_u32(&mut ps, task.pgid() as u32);
    put_u32(&mut ps, task.sid() as u32);
    let mut fname = [0u8; 16];
    let comm = task.comm.lock().clone();
    let n = comm.len().min(15);
    fname[..n].copy_from_slice(&comm[..n]);
    ps.extend_from_slice(&fname);
    // pr_psargs: the command line, arguments separated by spaces.
    let mut args = [0u8; 80];
    let argv = task.process.view.argv.lock().clone();
    let joined: Vec<u8> = argv.join(&b' ');
    let n = joined.len().min(79);
    args[..n].copy_from_slice(&joined[..n]);
    ps.extend_from_slice(&args);
    note(&mut out, NT_PRPSINFO, &ps);

    note(&mut out, NT_SIGINFO, zerocopy::IntoBytes::as_bytes(info));
    note(&mut out, NT_FPREGSET, &archp::save_fpregs(regs));
    out
}

fn write_core(
    task: &mut TaskRef,
    regs: &UserContext,
    info: &SigInfo,
    name: &[u8],
    limit: u64,
    nr: u64,
) -> Result<(), Errno> {
    let file = create_core_file(task, name)?;
    let filter = task.process.coredump_filter.load(Ordering::Relaxed);
    let notes = notes(task, regs, info, nr);
    let notes_len: u64 = notes.iter().map(|n| n.len() as u64).sum();
    let memory = task.memory.clone();
    let mut mm = memory.try_lock().ok_or(EAGAIN)?;
    let vmas = mm.vma_list();
    let sizes: Vec<u64> = vmas
        .iter()
        .map(|vma| dump_size(vma, filter, &mut mm))
        .collect();

    // The ELF header, the program headers (the notes, then one PT_LOAD
    // per area), the notes, then the memory from the next page on. Each
    // piece is written on its own, as Linux's dump_emit calls are: one
    // that would pass RLIMIT_CORE ends the dump there.
    const EHDR: u64 = 64;
    const PHDR: u64 = 56;
    let phnum = 1 + vmas.len() as u64;
    let notes_at = EHDR + PHDR * phnum;
    let data_at = (notes_at + notes_len).next_multiple_of(PAGE_SIZE);
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut ehdr = Vec::new();
    ehdr.extend_from_slice(b"\x7fELF\x02\x01\x01");
    ehdr.resize(16, 0);
    put_u16(&mut ehdr, 4); // ET_CORE
    put_u16(&mut ehdr, archp::ELF_MACHINE);
    put_u32(&mut ehdr, 1); // EV_CURRENT
    put_u64(&mut ehdr, 0); // e_entry
    put_u64(&mut ehdr, EHDR); // e_phoff
    put_u64(&mut ehdr, 0); // e_shoff
    put_u32(&mut ehdr, 0); // e_flags
    put_u16(&mut ehdr, EHDR as u16);
    put_u16(&mut ehdr, PHDR as u16);
    put_u16(&mut ehdr, phnum.min(0xffff) as u16);
    put_u16(&mut ehdr, 0); // e_shentsize
    put_u16(&mut ehdr, 0); // e_shnum
    put_u16(&mut ehdr, 0); // e_shstrndx
    pieces.push(ehdr);
    let phdr = |kind: u32, flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64| {
        let mut ph = Vec::new();
        put_u32(&mut ph, kind);
        put_u32(&mut ph, flags);
        put_u64(&mut ph, offset);
        put_u64(&mut ph, vaddr);
        put_u64(&mut ph, 0); // p_paddr
        put_u64(&mut ph, filesz);
        put_u64(&mut ph, memsz);
        put_u64(&mut ph, if kind == 1 { PAGE_SIZE } else { 0 });
        ph
    };
    const PT_LOAD: u32 = 1;
    const PT_NOTE: u32 = 4;
    pieces.push(phdr(PT_NOTE, 0, notes_at, 0, notes_len, 0));
    let mut offset = data_at;
    for (vma, &size) in vmas.iter().zip(&sizes) {
        let flags = u32::from(vma.prot.read) << 2
            | u32::from(vma.prot.write) << 1
            | u32::from(vma.prot.exec);
        let memsz = vma.end - vma.start;
        pieces.push(phdr(PT_LOAD, flags, offset, vma.start, size, memsz));
        offset += size;
    }
    pieces.extend(notes);

    let mut out = CoreWriter {
        file,
        offset: 0,
        written: 0,
        limit,
    };
    // A write past RLIMIT_CORE ends the dump where it is: the file is
    // truncated there and the core still counts as dumped.
    let mut write_all = || -> Result<(), Errno> {
        for piece in &pieces {
            out.emit(piece)?;
        }
        out.skip(data_at - out.offset);
        let mut page = alloc::vec![0u8; PAGE];
        for (vma, &size) in vmas.iter().zip(&sizes) {
            let mut at = vma.start;
            while at < vma.start + size {
                let present = mm.read_resident_page(at, &mut page) || file_page(vma, at, &mut page);
                if present {
                    out.emit(&page)?;
                } else {
                    out.skip(PAGE_SIZE);
                }
                at += PAGE_SIZE;
            }
        }
        // A hole at the end still makes the file that long (Linux writes
        // its last byte).
        if out.offset > out.file.stat().size as u64 {
            out.offset -= 1;
            out.emit(&[0])?;
        }
        Ok(())
    };
    match write_all() {
        Err(e) if e != EFBIG => Err(e),
        _ => Ok(()),
    }
}

/// A page of a file mapping not mapped yet: the file's contents there
/// (false past its end).
fn file_page(vma: &Vma, at: u64, page: &mut [u8]) -> bool {
    let Some(f) = &vma.file else {
        return false;
    };
    page.fill(0);
    matches!(f.inode.read_at(f.offset + (at - vma.start), page), Ok(n) if n > 0)
}
