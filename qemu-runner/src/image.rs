//! Bootable images.
//!
//! `qemu-x86_64`: one ELF file that QEMU boots with `-kernel` through PVH.
//! The image is the sentry's ELF file, byte for byte, plus one PT_LOAD
//! segment appended at its end that holds the payload (the application ELF
//! and its argv/envp, `boards::payload`), loaded at the first 4 KiB-aligned
//! physical address after the sentry's image, where the sentry looks for it.
//! The new program-header table (the sentry's entries, PVH note included,
//! plus the payload's) goes after the payload; the old table stays in place,
//! unused, so no offset inside the sentry's file changes.
//!
//! `qemu-aarch64-virt`: a Linux arm64 Image ([`build_arm64_image`]): the
//! sentry's loadable segments flattened from its load address (the Image
//! header is its first bytes), the bss as zeros, then the payload at the
//! next 4 KiB boundary, which is where the sentry looks for it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use boards::align_up;
use boards::payload::{
    PayloadHeader, PAYLOAD_ALIGN, PAYLOAD_HEADER_SIZE, PAYLOAD_MAGIC, PAYLOAD_VERSION,
};
use boards::x86_64::KERNEL_VBASE;
use goblin::elf::program_header::{PT_LOAD, PT_NOTE};
use goblin::elf::Elf;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const PF_R: u32 = 4;

/// What goes into the payload.
pub struct PayloadSpec<'a> {
    pub app: &'a [u8],
    /// The exe path the program sees (/proc/self/exe).
    pub exe_path: &'a [u8],
    pub argv: &'a [OsString],
    pub envp: &'a [OsString],
    pub flags: u64,
    pub build_realtime_ns: u64,
}

/// Builds the payload blob (header, application ELF, strings).
pub fn build_payload(spec: &PayloadSpec) -> Vec<u8> {
    let mut strings = Vec::new();
    for s in std::iter::once(spec.exe_path)
        .chain(spec.argv.iter().map(|a| a.as_bytes()))
        .chain(spec.envp.iter().map(|e| e.as_bytes()))
    {
        strings.extend_from_slice(s);
        strings.push(0);
    }
    let app_offset = align_up(PAYLOAD_HEADER_SIZE, PAYLOAD_ALIGN);
    let app_size = spec.app.len() as u64;
    let strings_offset = app_offset + app_size;
    let total_size = strings_offset + strings.len() as u64;
    let header = PayloadHeader {
        magic: PAYLOAD_MAGIC,
        version: PAYLOAD_VERSION,
        header_size: PAYLOAD_HEADER_SIZE as u32,
        total_size,
        app_offset,
        app_size,
        strings_offset,
        strings_size: strings.len() as u64,
        argc: spec.argv.len() as u32,
        envc: spec.envp.len() as u32,
        flags: spec.flags,
        build_realtime_ns: spec.build_realtime_ns,
    };
    let mut out = Vec::with_capacity(total_size as usize);
    out.extend_from_slice(&header.magic.to_le_bytes());
    out.extend_from_slice(&header.version.to_le_bytes());
    out.extend_from_slice(&header.header_size.to_le_bytes());
    for field in [
        header.total_size,
        header.app_offset,
        header.app_size,
        header.strings_offset,
        header.strings_size,
    ] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    out.extend_from_slice(&header.argc.to_le_bytes());
    out.extend_from_slice(&header.envc.to_le_bytes());
    out.extend_from_slice(&header.flags.to_le_bytes());
    out.extend_from_slice(&header.build_realtime_ns.to_le_bytes());
    debug_assert_eq!(out.len() as u64, PAYLOAD_HEADER_SIZE);
    out.resize(app_offset as usize, 0);
    out.extend_from_slice(spec.app);
    out.extend_from_slice(&strings);
    out
}

struct Phdr {
    p_type: u32,
    p_flags: u32,
    p_offset: u64,
    p_vaddr: u64,
    p_paddr: u64,
    p_filesz: u64,
    p_memsz: u64,
    p_align: u64,
}

impl Phdr {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.p_type.to_le_bytes());
        out.extend_from_slice(&self.p_flags.to_le_bytes());
        for v in [
            self.p_offset,
            self.p_vaddr,
            self.p_paddr,
            self.p_filesz,
            self.p_memsz,
            self.p_align,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Where the sentry expects an embedded payload: right after its image.
pub fn payload_phys(sentry: &[u8]) -> Result<u64, String> {
    let elf = Elf::parse(sentry).map_err(|e| format!("the embedded sentry ELF: {e}"))?;
    let end = elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .map(|p| p.p_paddr + p.p_memsz)
        .max()
        .ok_or("the embedded sentry ELF has no PT_LOAD segment")?;
    Ok(align_up(end, PAYLOAD_ALIGN))
}

/// The bootable image: the sentry ELF with `payload` as an extra segment.
pub fn build_image(sentry: &[u8], payload: &[u8]) -> Result<Vec<u8>, String> {
    let elf = Elf::parse(sentry).map_err(|e| format!("the embedded sentry ELF: {e}"))?;
    if !elf.is_64 || !elf.little_endian || elf.header.e_phentsize as usize != PHDR_SIZE {
        return Err("the embedded sentry is not a little-endian ELF64".into());
    }
    if !elf.program_headers.iter().any(|p| p.p_type == PT_NOTE) {
        return Err("the embedded sentry has no PVH note".into());
    }
    let phys = payload_phys(sentry)?;

    let mut out = sentry.to_vec();
    out.resize(align_up(out.len() as u64, PAYLOAD_ALIGN) as usize, 0);
    let payload_offset = out.len() as u64;
    out.extend_from_slice(payload);
    out.resize(align_up(out.len() as u64, 8) as usize, 0);
    let phoff = out.len() as u64;

    let mut phdrs: Vec<Phdr> = elf
        .program_headers
        .iter()
        .map(|p| Phdr {
            p_type: p.p_type,
            p_flags: p.p_flags,
            p_offset: p.p_offset,
            p_vaddr: p.p_vaddr,
            p_paddr: p.p_paddr,
            p_filesz: p.p_filesz,
            p_memsz: p.p_memsz,
            p_align: p.p_align,
        })
        .collect();
    phdrs.push(Phdr {
        p_type: PT_LOAD,
        p_flags: PF_R,
        p_offset: payload_offset,
        p_vaddr: KERNEL_VBASE + phys,
        p_paddr: phys,
        p_filesz: payload.len() as u64,
        p_memsz: payload.len() as u64,
        p_align: PAYLOAD_ALIGN,
    });
    for p in &phdrs {
        p.write(&mut out);
    }
    // ELF header: new program-header table and count.
    out[32..40].copy_from_slice(&phoff.to_le_bytes()); // e_phoff
    out[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes()); // e_phnum
    debug_assert!(EHDR_SIZE <= out.len());
    Ok(out)
}

/// The Linux arm64 Image: the sentry's segments flattened by physical
/// address (bss included, as zeros), then `payload` at `payload_phys`.
pub fn build_arm64_image(sentry: &[u8], payload: &[u8]) -> Result<Vec<u8>, String> {
    use boards::qemu_aarch64_virt::{IMAGE_MAGIC, IMAGE_MAGIC_OFFSET};
    let elf = Elf::parse(sentry).map_err(|e| format!("the embedded sentry ELF: {e}"))?;
    let loads: Vec<_> = elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0)
        .collect();
    let base = loads
        .iter()
        .map(|p| p.p_paddr)
        .min()
        .ok_or("the embedded sentry ELF has no PT_LOAD segment")?;
    let phys = payload_phys(sentry)?;
    let mut out = vec![0u8; (phys - base) as usize];
    for p in &loads {
        let src = sentry
            .get(p.p_offset as usize..(p.p_offset + p.p_filesz) as usize)
            .ok_or("the embedded sentry ELF is truncated")?;
        let at = (p.p_paddr - base) as usize;
        out[at..at + src.len()].copy_from_slice(src);
    }
    let magic = out
        .get(IMAGE_MAGIC_OFFSET..IMAGE_MAGIC_OFFSET + 4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    if magic != Some(IMAGE_MAGIC) {
        return Err("the embedded aarch64 sentry does not start with an arm64 Image header".into());
    }
    out.extend_from_slice(payload);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_header_round_trips() {
        let argv = [OsString::from("hello"), OsString::from("a b")];
        let envp = [OsString::from("HOME=/")];
        let blob = build_payload(&PayloadSpec {
            app: b"\x7fELF-not-really",
            exe_path: b"/bin/hello",
            argv: &argv,
            envp: &envp,
            flags: 1,
            build_realtime_ns: 7,
        });
        // SAFETY: PayloadHeader is plain old data and the blob starts with
        // one (read_unaligned: a Vec<u8> has no alignment guarantee).
        let header: PayloadHeader =
            unsafe { std::ptr::read_unaligned(blob.as_ptr() as *const PayloadHeader) };
        header.validate(blob.len() as u64).unwrap();
        assert_eq!(header.argc, 2);
        assert_eq!(header.envc, 1);
        assert_eq!(header.flags, 1);
        let app = &blob[header.app_offset as usize..][..header.app_size as usize];
        assert_eq!(app, b"\x7fELF-not-really");
        let strings = &blob[header.strings_offset as usize..][..header.strings_size as usize];
        assert_eq!(strings, b"/bin/hello\0hello\0a b\0HOME=/\0");
    }

    #[test]
    fn image_adds_one_loadable_payload_segment() {
        let sentry = include_bytes!(env!("RVISOR_SENTRY_ELF"));
        let image = build_image(sentry, b"payload").unwrap();
        let elf = Elf::parse(&image).unwrap();
        let original = Elf::parse(sentry).unwrap();
        assert_eq!(
            elf.program_headers.len(),
            original.program_headers.len() + 1
        );
        let last = elf.program_headers.last().unwrap();
        assert_eq!(last.p_type, PT_LOAD);
        assert_eq!(last.p_paddr, payload_phys(sentry).unwrap());
        let start = last.p_offset as usize;
        assert_eq!(&image[start..start + 7], b"payload");
    }

    #[test]
    fn arm64_image_is_the_flattened_sentry_then_the_payload() {
        let sentry = include_bytes!(env!("RVISOR_SENTRY_AARCH64_ELF"));
        let image = build_arm64_image(sentry, b"payload").unwrap();
        assert_eq!(&image[56..60], b"ARM\x64");
        let base = boards::aarch64::KERNEL_PHYS;
        let at = (payload_phys(sentry).unwrap() - base) as usize;
        assert_eq!(at % 4096, 0);
        assert_eq!(&image[at..], b"payload");
    }
}
