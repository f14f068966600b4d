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
