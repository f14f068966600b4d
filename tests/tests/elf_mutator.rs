//! The ELF mutator: a valid static program, mutated many ways (header and
//! program-header fields set to edge values, bytes flipped, files cut
//! short, segments duplicated, code overwritten), each run by rvisor-vmm
//! with --elf (the VMM's checks, then the sentry's loader) and some from a
//! --root (the sentry's loader alone). Every run must end as a refusal
//! (126) or as whatever the mutated program does (its exit status, a
//! signal inside the sandbox, a --timeout): never 125 (rvisor failed) and
//! never the VMM itself killed by a signal.
//!
//! RVISOR_ELF_MUTANTS sets the count (CI: 400), RVISOR_FUZZ_SEED the seed.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use rvisor_tests::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const INTERESTING: &[u64] = &[
    0,
    1,
    0xfff,
    0x1000,
    0x10000,
    0x400000,
    0x7fff_ffff_f000,
    0x7fff_ffff_ffff,
    0x8000_0000_0000,
    0xffff_8000_0000_0000,
    u64::MAX,
    u64::MAX - 0xfff,
    1 << 32,
    1 << 47,
    0x5555_5555_4000,
];

fn u16_at(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 2)
        .map_or(0, |s| u16::from_le_bytes(s.try_into().unwrap()) as u64)
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap()))
}

fn put(b: &mut [u8], o: usize, width: usize, value: u64) {
    if let Some(s) = b.get_mut(o..o + width) {
        s.copy_from_slice(&value.to_le_bytes()[..width]);
    }
}

/// One mutation of `elf`; returns what it did.
fn mutate(elf: &mut Vec<u8>, rng: &mut Rng) -> String {
    let phoff = u64_at(elf, 32) as usize;
    let phnum = u16_at(elf, 56) as usize;
    let ph = |i: usize| phoff + 56 * i;
    let value = |rng: &mut Rng| match rng.below(3) {
        0 => INTERESTING[rng.below(INTERESTING.len() as u64) as usize],
        1 => rng.next(),
        _ => INTERESTING[rng.below(INTERESTING.len() as u64) as usize]
            .wrapping_add(rng.below(0x2000))
            .wrapping_sub(0x1000),
    };
    match rng.below(9) {
        0 => {
            // A program-header field: type, flags, offset, vaddr, paddr,
            // filesz, memsz, align.
            let i = rng.below(phnum as u64) as usize;
            let (field, width) = [
                (0, 4),
                (4, 4),
                (8, 8),
                (16, 8),
                (24, 8),
                (32, 8),
                (40, 8),
                (48, 8),
            ][rng.below(8) as usize];
            let v = value(rng);
            put(elf, ph(i) + field, width, v);
            format!("phdr {i} field {field} = {v:#x}")
        }
        1 => {
            let v = value(rng);
            put(elf, 24, 8, v);
            format!("e_entry = {v:#x}")
        }
        2 => {
            let (field, width) =
                [(16, 2), (32, 8), (54, 2), (56, 2), (52, 2), (18, 2)][rng.below(6) as usize];
            let v = value(rng);
            put(elf, field, width, v);
            format!("header field {field} = {v:#x}")
        }
        3 => {
            let len = rng.below(elf.len() as u64) as usize;
            elf.truncate(len);
            format!("cut to {len} bytes")
        }
        4 => {
            let n = 1 + rng.below(8);
            let end = ph(phnum).min(elf.len());
            if end == 0 {
                return "nothing to flip".into();
            }
            for _ in 0..n {
                let at = rng.below(end as u64) as usize;
                elf[at] ^= 1 << rng.below(8);
            }
            format!("{n} bits flipped in the headers")
        }
        5 => {
            // One program header copied over another (overlapping or
            // repeated segments).
            let (a, b) = (
                rng.below(phnum as u64) as usize,
                rng.below(phnum as u64) as usize,
            );
            if ph(a.max(b) + 1) <= elf.len() {
                let copy = elf[ph(a)..ph(a) + 56].to_vec();
                elf[ph(b)..ph(b) + 56].copy_from_slice(&copy);
            }
            format!("phdr {a} copied over {b}")
        }
        6 => {
            // Code overwritten: the program itself then faults, loops or
            // exits at random.
            let n = 1 + rng.below(64);
            let start = rng.below(elf.len() as u64) as usize;
            for i in start..(start + n as usize).min(elf.len()) {
                elf[i] = rng.next() as u8;
            }
            format!("{n} bytes at {start:#x} randomized")
        }
        7 => {
            // PT_LOAD made PT_TLS, PT_GNU_STACK, PT_INTERP, PT_DYNAMIC...
            let i = rng.below(phnum as u64) as usize;
            let kind =
                [1u64, 2, 3, 4, 6, 7, 0x6474e550, 0x6474e551, 0x6474e552][rng.below(9) as usize];
            put(elf, ph(i), 4, kind);
            format!("phdr {i} type = {kind:#x}")
        }
        _ => {
            let v = value(rng) as usize & 0xffffff;
            elf.resize(v.min(8 << 20), 0);
            format!("resized to {} bytes", elf.len())
        }
    }
}

/// A run ended as the rules say: not 125, not the VMM killed by a signal.
fn assert_sane(out: &RunOutput, what: &str) {
    assert!(
        out.status.signal().is_none(),
        "{what}: the VMM was killed by a signal\n{}",
        out.describe()
    );
    assert_ne!(out.code(), 125, "{what}: rvisor failed\n{}", out.describe());
    if out.code() == 126 {
        assert!(
            out.stderr_str().contains("rvisor") || !out.stderr.is_empty(),
            "{what}: 126 without a reason\n{}",
            out.describe()
        );
    }
}

#[test]
fn mutated_elfs_are_refused_or_run_never_125() {
    if !require_kvm() {
        return;
    }
    let count: u64 = std::env::var("RVISOR_ELF_MUTANTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400);
    let seed: u64 = std::env::var("RVISOR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    let bases = [c_program("hello"), glibc_program("hello")];
    let dir = abi::fresh_dir("elf-mutants");
    let mut rng = Rng(seed);
    let mut outcomes = std::collections::BTreeMap::<i32, u64>::new();
    for n in 0..count {
        let base = &bases[(n % 2) as usize];
        let mut elf = std::fs::read(base).unwrap();
        let mutations: Vec<String> = (0..1 + rng.below(3))
            .map(|_| mutate(&mut elf, &mut rng))
            .collect();
        let what = format!(
            "seed {seed} mutant {n} of {}: {}",
            base.file_name().unwrap().to_string_lossy(),
            mutations.join("; ")
        );
        let path = dir.join("m");
        std::fs::write(&path, &elf).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = run_vmm(
            &[
                "--timeout",
                "10",
                "--memory",
                "64M",
                "--elf",
                path.to_str().unwrap(),
            ],
            Some(b""),
        );
        assert_sane(&out, &what);
        *outcomes.entry(out.code()).or_default() += 1;
        // Every third one from a --root: the sentry's loader alone.
        if n % 3 == 0 {
            let out = run_vmm(
                &[
                    "--timeout",
                    "10",
                    "--memory",
                    "64M",
                    "--root",
                    dir.to_str().unwrap(),
                    "--elf",
                    "/m",
                ],
                Some(b""),
            );
            assert_sane(&out, &format!("{what} (--root)"));
        }
        let _ = std::fs::remove_file(Path::new(&path));
    }
    eprintln!("seed {seed}: {count} mutants, exit statuses {outcomes:?}");
    assert!(
        outcomes.contains_key(&126),
        "no mutant was refused: the mutations do not reach the checks"
    );
}
