//! Property tests (proptest; `cargo fuzz` needs a nightly toolchain) for
//! the two decoders of hostile input in the VMM: the host-file request
//! server (what a compromised sentry sends) and the ELF checks (what a
//! hostile file holds). Neither may panic; what they accept must obey the
//! rules they stand for. PROPTEST_CASES raises the case count (see
//! scripts/fuzz.sh).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use boards::hypercall::{Op, MAX_TRANSFER};
use proptest::prelude::*;
use rvisor_vmm::hostfs::{GuestAccess, HostFs, MountSpec};

/// Guest memory: a small buffer at guest-physical address BASE.
struct FakeMem(std::cell::RefCell<Vec<u8>>);

const BASE: u64 = 0x10000;
const MEM_SIZE: usize = 64 << 10;

impl GuestAccess for FakeMem {
    fn read(&self, gpa: u64, len: u64) -> Option<Vec<u8>> {
        if len > MAX_TRANSFER {
            return None;
        }
        let start = gpa.checked_sub(BASE)? as usize;
        let end = start.checked_add(len as usize)?;
        self.0.borrow().get(start..end).map(<[u8]>::to_vec)
    }

    fn write(&self, gpa: u64, bytes: &[u8]) -> Option<()> {
        let start = gpa.checked_sub(BASE)? as usize;
        let end = start.checked_add(bytes.len())?;
        self.0
            .borrow_mut()
            .get_mut(start..end)?
            .copy_from_slice(bytes);
        Some(())
    }
}

fn scratch_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rvisor-props-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("mount/sub")).unwrap();
    std::fs::create_dir_all(dir.join("outside")).unwrap();
    std::fs::write(dir.join("mount/file"), b"inside").unwrap();
    std::fs::write(dir.join("mount/sub/deep"), b"deeper").unwrap();
    std::fs::write(dir.join("outside/sentinel"), b"outside").unwrap();
    std::os::unix::fs::symlink("../outside/sentinel", dir.join("mount/escape")).unwrap();
    dir
}

fn listing(dir: &Path) -> BTreeMap<PathBuf, (u32, u64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            if md.is_dir() {
                stack.push(e.path());
            }
            let data = if md.is_file() {
                std::fs::read(e.path()).unwrap_or_default()
            } else {
                Vec::new()
            };
            out.insert(e.path(), (md.mode(), md.len(), data));
        }
    }
    out
}

/// Host-file ops, and the arguments that make sense for them: handles
/// near the live ones, names and buffers inside or near guest memory.
fn op() -> impl Strategy<Value = u32> {
    prop_oneof![10u32..=24, any::<u32>()]
}

fn arg() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..8,
        BASE..BASE + MEM_SIZE as u64 + 64,
        0u64..300,
        Just(u64::MAX),
        Just(MAX_TRANSFER),
        Just(MAX_TRANSFER + 1),
        prop_oneof![
            Just(0o4755u64),
            Just(0o6777),
            Just(0o2755),
            Just(0o644 | (1 << 8))
        ],
        any::<u64>(),
    ]
}

/// Names the guest might send, written at the start of memory.
fn names() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"file".to_vec()),
        Just(b"sub".to_vec()),
        Just(b"escape".to_vec()),
        Just(b"..".to_vec()),
        Just(b"../outside/sentinel".to_vec()),
        Just(b"new".to_vec()),
        Just(b"/etc/passwd".to_vec()),
        prop::collection::vec(any::<u8>(), 0..300),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64)
    ))]

    /// Any sequence of requests: an answer each (a value or -errno), no
    /// panic, nothing outside the mount changed, no setuid/setgid or
    /// device file, a read-only mount unchanged.
    #[test]
    fn host_file_requests_never_escape(
        name in names(),
        requests in prop::collection::vec((op(), prop::array::uniform6(arg())), 1..40),
        read_only in any::<bool>(),
    ) {
        let dir = scratch_dir();
        let before_outside = listing(&dir.join("outside"));
        let before_mount = listing(&dir.join("mount"));
        let mut hostfs = HostFs::new(vec![MountSpec {
            host: dir.join("mount"),
            guest: "/data".into(),
            read_only,
            cross_mounts: false,
            tmpfs: false,
        }])
        .unwrap();
        let mem = FakeMem(std::cell::RefCell::new(vec![0u8; MEM_SIZE]));
        mem.write(BASE, &name).unwrap();
        for (raw, args) in requests {
            let Some(op) = Op::from_raw(raw) else { continue };
            if matches!(op, Op::ConsoleDrain | Op::ConsoleRead | Op::ConsolePoll | Op::Exit | Op::Panic) {
                continue;
            }
            let r = hostfs.handle_request(op, args, &mem);
            prop_assert!(r >= 0 || r >= -4095, "{op:?} {args:?} -> {r}");
        }
        drop(hostfs);
        prop_assert_eq!(listing(&dir.join("outside")), before_outside);
        if read_only {
            prop_assert_eq!(listing(&dir.join("mount")), before_mount);
        }
        for (path, (mode, _, _)) in listing(&dir.join("mount")) {
            let kind = mode & libc::S_IFMT;
            prop_assert!(mode & (libc::S_ISUID | libc::S_ISGID) == 0, "{} {mode:o}", path.display());
            prop_assert!(kind == libc::S_IFREG || kind == libc::S_IFDIR || kind == libc::S_IFLNK,
                "{} {mode:o}", path.display());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every op number and argument set on a fresh server: no panic.
    #[test]
    fn any_single_request_is_answered(raw in any::<u32>(), args in prop::array::uniform6(any::<u64>())) {
        let dir = scratch_dir();
        let mut hostfs = HostFs::new(vec![MountSpec {
            host: dir.join("mount"),
            guest: "/data".into(),
            read_only: false,
            cross_mounts: false,
            tmpfs: false,
        }])
        .unwrap();
        let mem = FakeMem(std::cell::RefCell::new(vec![0u8; MEM_SIZE]));
        if let Some(op) = Op::from_raw(raw) {
            if !matches!(op, Op::ConsoleDrain | Op::ConsoleRead | Op::ConsolePoll | Op::Exit | Op::Panic) {
                let r = hostfs.handle_request(op, args, &mem);
                prop_assert!(r >= -4095);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------
// ELF checks

/// A minimal static x86_64 executable: header, `phdrs`, then code.
fn elf(e_type: u16, entry: u64, phdrs: &[[u64; 6]], file_size: usize) -> Vec<u8> {
    let mut b = vec![0u8; file_size.max(64 + 56 * phdrs.len())];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2; // 64-bit
    b[5] = 1; // little-endian
    b[6] = 1;
    b[16..18].copy_from_slice(&e_type.to_le_bytes());
    b[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86_64
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[24..32].copy_from_slice(&entry.to_le_bytes());
    b[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    b[52..54].copy_from_slice(&64u16.to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    b[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
    for (i, [offset, vaddr, filesz, memsz, kind, flags]) in phdrs.iter().enumerate() {
        let p = &mut b[64 + 56 * i..64 + 56 * (i + 1)];
        p[0..4].copy_from_slice(&(*kind as u32).to_le_bytes());
        p[4..8].copy_from_slice(&(*flags as u32).to_le_bytes());
        p[8..16].copy_from_slice(&offset.to_le_bytes());
        p[16..24].copy_from_slice(&vaddr.to_le_bytes());
        p[24..32].copy_from_slice(&vaddr.to_le_bytes());
        p[32..40].copy_from_slice(&filesz.to_le_bytes());
        p[40..48].copy_from_slice(&memsz.to_le_bytes());
        p[48..56].copy_from_slice(&4096u64.to_le_bytes());
    }
    b
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..0x20000,
        0x400000u64..0x500000,
        Just(boards::elf::USER_END - 4096),
        Just(boards::elf::USER_END),
        Just(0xffff_8000_0000_0000),
        Just(0x0000_8000_0000_0000),
        Just(u64::MAX),
        Just(u64::MAX - 4095),
        Just(1 << 47),
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
    ))]

    /// Structured ELF files: no panic; an accepted file's every PT_LOAD
    /// passes the shared rule set (boards::elf), which is what the
    /// sentry's loader applies, and its entry is in user space.
    #[test]
    fn elf_check_agrees_with_the_loader_rules(
        e_type in prop_oneof![Just(2u16), Just(3u16), any::<u16>()],
        entry in interesting_u64(),
        phdrs in prop::collection::vec(
            (interesting_u64(), interesting_u64(), 0u64..0x3000, interesting_u64(),
             prop_oneof![Just(1u64), Just(3), Just(6), Just(0x6474e551), any::<u32>().prop_map(u64::from)],
             0u64..8)
                .prop_map(|(o, v, f, m, k, fl)| [o, v, f, m, k, fl]),
            0..6),
        file_size in 64usize..0x4000,
    ) {
        let bytes = elf(e_type, entry, &phdrs, file_size);
        if rvisor_vmm::app::check_elf(&bytes).is_ok() {
            let bias = boards::elf::load_bias(e_type);
            prop_assert!(boards::elf::check_entry(entry, bias));
            prop_assert!(phdrs.iter().any(|p| p[4] == 1), "accepted without PT_LOAD");
            for p in phdrs.iter().filter(|p| p[4] == 1) {
                let r = boards::elf::check_segment(p[0], p[2], p[1], p[3], bias, bytes.len() as u64);
                prop_assert!(r.is_ok(), "accepted a segment the loader refuses: {p:?} {r:?}");
                let (start, end) = r.unwrap();
                prop_assert!(start >= boards::elf::MMAP_MIN_ADDR && end <= boards::elf::USER_END);
            }
        }
    }

    /// Arbitrary mutations of a valid file: no panic.
    #[test]
    fn mutated_elf_never_panics(
        edits in prop::collection::vec((0usize..400, any::<u8>()), 1..20),
        truncate in prop::option::of(0usize..400),
    ) {
        let mut bytes = elf(2, 0x401000, &[[0x1000, 0x401000, 0x100, 0x100, 1, 5]], 0x1100);
        for (at, value) in edits {
            if let Some(b) = bytes.get_mut(at) {
                *b = value;
            }
        }
        if let Some(len) = truncate {
            bytes.truncate(len);
        }
        let _ = rvisor_vmm::app::check_elf(&bytes);
    }

    /// The shared rules themselves: an accepted segment is page-aligned,
    /// non-empty in the right order, and inside user space.
    #[test]
    fn segment_rules_hold(
        offset in interesting_u64(), filesz in interesting_u64(), vaddr in interesting_u64(),
        memsz in interesting_u64(), bias in prop_oneof![Just(0u64), Just(boards::elf::PIE_BASE), any::<u64>()],
        file_size in any::<u64>(),
    ) {
        if let Ok((start, end)) = boards::elf::check_segment(offset, filesz, vaddr, memsz, bias, file_size) {
            prop_assert!(start % 4096 == 0 && end % 4096 == 0);
            prop_assert!(start <= end);
            prop_assert!(start >= boards::elf::MMAP_MIN_ADDR && end <= boards::elf::USER_END);
            prop_assert!(offset.checked_add(filesz).is_some_and(|e| e <= file_size));
            prop_assert!(filesz <= memsz);
        }
    }
}

#[test]
fn the_valid_elf_is_accepted() {
    // The generator's base case is a runnable file: the mutations above
    // start from something the checks accept.
    let bytes = elf(
        2,
        0x401000,
        &[[0x1000, 0x401000, 0x100, 0x100, 1, 5]],
        0x1100,
    );
    assert_eq!(rvisor_vmm::app::check_elf(&bytes), Ok(()));
}
