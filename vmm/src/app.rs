//! The application ELF, checked on the host before anything boots, so that
//! bad input gets one clear line and the right exit status (126/127).

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use goblin::elf::header::{self, Header};
use goblin::elf::program_header::{ProgramHeader, PT_INTERP, PT_LOAD};

use crate::error::Failure;

/// Largest application image we accept (it is copied into guest RAM).
pub const MAX_APP_SIZE: u64 = 1 << 30;

pub struct AppImage {
    /// The path as the user gave it (becomes argv[0]).
    pub path_as_given: OsString,
    /// Absolute, symlink-free host path: where the program sees itself.
    pub canonical_path: PathBuf,
    /// The ELF file (borrowed when it is built into rvisor-vmm, as the
    /// WebAssembly runtime is).
    pub bytes: Cow<'static, [u8]>,
}

/// Reads and checks the application for this host's architecture.
pub fn load(path_os: &OsStr) -> Result<AppImage, Failure> {
    load_for(path_os, &crate::vm::APP_ARCH)
}

/// The architecture an application must be built for.
pub struct TargetArch {
    pub e_machine: u16,
    /// Ends "wrong architecture" messages, e.g. "this host runs x86_64 programs".
    pub runs: &'static str,
}

/// What rvisor-vmm runs (and the qemu-x86_64 board).
pub const X86_64: TargetArch = TargetArch {
    e_machine: header::EM_X86_64,
    runs: "this host runs x86_64 programs",
};

/// What the aarch64 boards run.
pub const AARCH64: TargetArch = TargetArch {
    e_machine: header::EM_AARCH64,
    runs: "this board runs aarch64 programs",
};

/// Reads and checks the application for `arch` (exit statuses 126/127).
pub fn load_for(path_os: &OsStr, arch: &TargetArch) -> Result<AppImage, Failure> {
    let path = path_os.to_string_lossy();
    let not_runnable = |why: String| Failure::NotRunnable(format!("{path}: {why}"));
    let metadata = match std::fs::metadata(path_os) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::NotFound(format!("{path}: no such file")));
        }
        Err(e) => return Err(not_runnable(format!("cannot access: {e}"))),
    };
    if metadata.is_dir() {
        return Err(not_runnable("is a directory".into()));
    }
    if !metadata.is_file() {
        return Err(not_runnable("not a regular file".into()));
    }
    if metadata.len() > MAX_APP_SIZE {
        return Err(not_runnable(format!(
            "too large ({} bytes; the limit is {MAX_APP_SIZE})",
            metadata.len()
        )));
    }
    let bytes = std::fs::read(path_os).map_err(|e| not_runnable(format!("cannot read: {e}")))?;
    check_elf_for(&bytes, arch).map_err(not_runnable)?;
    if metadata.permissions().mode() & 0o111 == 0 {
        return Err(not_runnable(
            "permission denied (the file is not executable)".into(),
        ));
    }
    let canonical_path = std::fs::canonicalize(path_os)
        .map_err(|e| not_runnable(format!("cannot resolve path: {e}")))?;
    Ok(AppImage {
        path_as_given: path_os.to_owned(),
        canonical_path,
        bytes: Cow::Owned(bytes),
    })
}

/// Checks that `bytes` is a complete static x86_64 Linux executable.
pub fn check_elf(bytes: &[u8]) -> Result<(), String> {
    check_elf_for(bytes, &X86_64)
}

/// Checks that `bytes` is a complete static Linux executable for `arch`.
pub fn check_elf_for(bytes: &[u8], arch: &TargetArch) -> Result<(), String> {
    let runs = arch.runs;
    if bytes.starts_with(crate::wasm::WASM_MAGIC) {
        return Err("a WebAssembly module, not an ELF executable: run it with --wasm".into());
    }
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err("not an ELF file (no ELF magic number)".into());
    }
    if bytes.len() < goblin::elf64::header::SIZEOF_EHDR {
        return Err(format!(
            "truncated ELF file ({} bytes, shorter than its header)",
            bytes.len()
        ));
    }
    let hdr: Header =
        goblin::elf::Elf::parse_header(bytes).map_err(|e| format!("malformed ELF header: {e}"))?;
    if hdr.e_ident[header::EI_CLASS] != header::ELFCLASS64 {
        let arch = header::machine_to_str(hdr.e_machine);
        return Err(format!("wrong architecture: 32-bit ELF ({arch}); {runs}"));
    }
    if hdr.e_ident[header::EI_DATA] != header::ELFDATA2LSB {
        return Err(format!("wrong architecture: big-endian ELF; {runs}"));
    }
    if hdr.e_machine != arch.e_machine {
        return Err(format!(
            "wrong architecture: {} ELF; {runs}",
            header::machine_to_str(hdr.e_machine)
        ));
    }
    if hdr.e_type != header::ET_EXEC && hdr.e_type != header::ET_DYN {
        return Err(format!(
            "not an executable (ELF type {})",
            header::et_to_str(hdr.e_type)
        ));
    }
    if hdr.e_phentsize as usize
        != std::mem::size_of::<goblin::elf64::program_header::ProgramHeader>()
        || hdr.e_phnum == 0
    {
        return Err("malformed ELF file (no usable program headers)".into());
    }
    if hdr.e_phnum as u64 * hdr.e_phentsize as u64 > boards::elf::MAX_PHDRS_BYTES {
        return Err(format!(
            "malformed ELF file ({} program headers, more than the loader takes)",
            hdr.e_phnum
        ));
    }
    let ph_end = hdr.e_phoff as u128 + hdr.e_phnum as u128 * hdr.e_phentsize as u128;
    if ph_end > bytes.len() as u128 {
        return Err(format!(
            "truncated ELF file ({} bytes; its program headers end at {ph_end})",
            bytes.len()
        ));
    }
    let ctx = goblin::container::Ctx::new(
        goblin::container::Container::Big,
        goblin::container::Endian::Little,
    );
    let phdrs = ProgramHeader::parse(bytes, hdr.e_phoff as usize, hdr.e_phnum as usize, ctx)
        .map_err(|e| format!("malformed program headers: {e}"))?;
    if let Some(interp) = phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        let start = interp.p_offset as usize;
        let end = start
            .saturating_add(interp.p_filesz as usize)
            .min(bytes.len());
        let name = bytes
            .get(start..end)
            .map(|b| {
                String::from_utf8_lossy(b)
                    .trim_end_matches('\0')
                    .to_string()
            })
            .unwrap_or_default();
        return Err(format!(
            "dynamically linked (interpreter {name}); dynamically linked programs run with --root (e.g. --root /)"
        ));
    }
    if hdr.e_type == header::ET_DYN && hdr.e_entry == 0 {
        return Err("not an executable (a shared library without an entry point)".into());
    }
    // The sentry's loader applies the same rules (boards::elf).
    let bias = boards::elf::load_bias(hdr.e_type);
    if !boards::elf::check_entry(hdr.e_entry, bias) {
        return Err(format!(
            "malformed ELF file (entry point {:#x} outside the user address space)",
            hdr.e_entry
        ));
    }
    let mut loads = 0;
    for (i, p) in phdrs
        .iter()
        .enumerate()
        .filter(|(_, p)| p.p_type == PT_LOAD)
    {
        loads += 1;
        let end = p.p_offset as u128 + p.p_filesz as u128;
        if end > bytes.len() as u128 {
            return Err(format!(
                "truncated ELF file ({} bytes; program header {i} needs {end})",
                bytes.len()
            ));
        }
        if p.p_filesz > p.p_memsz {
            return Err(format!(
                "malformed ELF file (segment {i} file size exceeds memory size)"
            ));
        }
        if let Err(e) = boards::elf::check_segment(
            p.p_offset,
            p.p_filesz,
            p.p_vaddr,
            p.p_memsz,
            bias,
            bytes.len() as u64,
        ) {
            return Err(format!(
                "malformed ELF file (segment {i} at {:#x}, {:#x} bytes: {})",
                p.p_vaddr,
                p.p_memsz,
                e.reason()
            ));
        }
    }
    if loads == 0 {
        return Err("malformed ELF file (nothing to load)".into());
    }
    Ok(())
}
