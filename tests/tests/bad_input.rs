//! Files that rvisor-vmm must refuse: the exit status tells why (126: not a
//! runnable static x86_64 Linux ELF, 127: no such file) and stderr holds a
//! single `rvisor-vmm: ...` line, never a panic or a backtrace.

use std::path::Path;

use rvisor_tests::*;

/// Runs the sandbox on `path` and checks the error shape; returns the
/// lower-cased error line.
fn refuse(path: &Path, code: i32) -> String {
    let out = run_sandbox(path, &["arg"], &[], None);
    assert_vmm_error(&out, code).to_lowercase()
}

#[test]
fn text_file_is_not_an_elf() {
    let p = bad::text_file();
    if !require_kvm() {
        return;
    }
    let line = refuse(&p, 126);
    assert!(
        line.contains("not an elf"),
        "the error should say `not an ELF`: {line}"
    );
}

#[test]
fn empty_file() {
    let p = bad::empty_file();
    if !require_kvm() {
        return;
    }
    refuse(&p, 126);
}

#[test]
fn truncated_elf_header() {
    let p = bad::truncated_header();
    if !require_kvm() {
        return;
    }
    refuse(&p, 126);
}

#[test]
fn truncated_elf_segments() {
    let p = bad::truncated_segments();
    if !require_kvm() {
        return;
    }
    refuse(&p, 126);
}

#[test]
fn wrong_architecture() {
    let p = bad::wrong_arch();
    if !require_kvm() {
        return;
    }
    let line = refuse(&p, 126);
    assert!(
        line.contains("arch") || line.contains("machine"),
        "the error should mention the architecture: {line}"
    );
}

#[test]
fn dynamically_linked() {
    let p = bad::dynamic();
    if !require_kvm() {
        return;
    }
    let line = refuse(&p, 126);
    assert!(
        line.contains("dynamic"),
        "the error should mention `dynamic`: {line}"
    );
}

#[test]
fn relocatable_object() {
    let p = bad::object_file();
    if !require_kvm() {
        return;
    }
    refuse(&p, 126);
}

#[test]
fn missing_file() {
    let p = bad::missing();
    if !require_kvm() {
        return;
    }
    refuse(&p, 127);
}

#[test]
fn directory() {
    let p = bad::directory();
    if !require_kvm() {
        return;
    }
    refuse(&p, 126);
}

/// Sanity check of the test inputs themselves: natively, the kernel refuses
/// (or cannot find) the same files.
#[test]
fn inputs_are_really_bad() {
    use std::process::Command;
    for p in [
        bad::text_file(),
        bad::empty_file(),
        bad::truncated_header(),
        bad::truncated_segments(),
        bad::wrong_arch(),
        bad::object_file(),
        bad::missing(),
        bad::directory(),
    ] {
        let r = Command::new(&p).output();
        // text_file has a shebang but no execute bit; everything else is
        // unexecutable, unloadable or crashes at once.
        match r {
            Err(_) => {}
            Ok(o) => assert!(
                !o.status.success(),
                "{} ran successfully natively",
                p.display()
            ),
        }
    }
    // The dynamic hello is fine natively (so the sandbox's refusal is about
    // dynamic linking, not about a broken file) ...
    let dynamic = bad::dynamic();
    let o = run_native(&dynamic, NO_ARGS, None);
    assert_eq!(o.code(), 0, "{o:?}");
    let elf = std::fs::read(&dynamic).unwrap();
    assert!(
        elf_program_headers(&elf).iter().any(|&(t, _, _)| t == 3),
        "hello-dynamic has no PT_INTERP"
    );
    // ... and the wrong-arch file really is an aarch64 ELF.
    let elf = std::fs::read(bad::wrong_arch()).unwrap();
    assert_eq!(
        u16::from_le_bytes([elf[18], elf[19]]),
        183,
        "e_machine is not EM_AARCH64"
    );
}

/// The C hello with its first PT_LOAD program header changed by `patch`
/// (given the header's bytes: p_type at 0, p_offset 8, p_vaddr 16,
/// p_filesz 32, p_memsz 40), written to `<test-programs>/bad/<name>`.
fn hello_with_segment(name: &str, patch: impl Fn(&mut [u8])) -> std::path::PathBuf {
    let mut elf = std::fs::read(c_program("hello")).unwrap();
    let phoff = u64::from_le_bytes(elf[32..40].try_into().unwrap()) as usize;
    let phentsize = u16::from_le_bytes([elf[54], elf[55]]) as usize;
    let phnum = u16::from_le_bytes([elf[56], elf[57]]) as usize;
    let first_load = (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&o| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) == 1)
        .expect("hello has a PT_LOAD segment");
    patch(&mut elf[first_load..first_load + phentsize]);
    let dir = programs_dir().join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    write_atomic(&path, &elf);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn set_u64(ph: &mut [u8], at: usize, value: u64) {
    ph[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn get_u64(ph: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(ph[at..at + 8].try_into().unwrap())
}

/// Segments the sentry's loader cannot load (the VMM let them through and
/// the sentry's refusal was exit 125): the VMM applies the loader's rules
/// (boards::elf) and refuses them with 126 and the reason.
#[test]
fn segments_the_loader_refuses() {
    if !require_kvm() {
        return;
    }
    let page_offset = |ph: &[u8]| get_u64(ph, 8) % 4096;
    let cases: Vec<(&str, std::path::PathBuf, &str)> = vec![
        (
            "kernel-half address",
            hello_with_segment("segment-kernel-half", |ph| {
                let v = 0xffff_8000_0040_0000 + page_offset(ph);
                set_u64(ph, 16, v);
            }),
            "outside the user address space",
        ),
        (
            "non-canonical address",
            hello_with_segment("segment-non-canonical", |ph| {
                let v = 0x0000_9000_0040_0000 + page_offset(ph);
                set_u64(ph, 16, v);
            }),
            "outside the user address space",
        ),
        (
            "128 TiB p_memsz",
            hello_with_segment("segment-128tib", |ph| set_u64(ph, 40, 1 << 47)),
            "outside the user address space",
        ),
        (
            "p_memsz wrapping around",
            hello_with_segment("segment-wraps", |ph| set_u64(ph, 40, u64::MAX - 0x1000)),
            "outside the user address space",
        ),
        (
            "below mmap_min_addr",
            hello_with_segment("segment-page-zero", |ph| {
                let v = 0x1000 + page_offset(ph);
                set_u64(ph, 16, v);
            }),
            "outside the user address space",
        ),
        (
            "misaligned p_offset",
            hello_with_segment("segment-misaligned", |ph| {
                let o = get_u64(ph, 8);
                set_u64(ph, 8, o + 8);
            }),
            "congruent",
        ),
    ];
    for (what, path, reason) in cases {
        let out = run_sandbox(&path, &["arg"], &[], None);
        let line = assert_vmm_error(&out, 126);
        assert!(
            line.contains("malformed") && line.contains(reason),
            "{what}: the error should give the reason ({reason}): {line}"
        );
    }
}
