//! rvisor-vmm for aarch64 hosts on a real (nested) KVM.
//! `scripts/nested-kvm-aarch64.sh` cross-builds rvisor-vmm for
//! aarch64-unknown-linux-musl (static), boots Debian's stock arm64 kernel
//! under QEMU TCG with EL2 (`-M virt,virtualization=on,gic-version=3`),
//! where KVM is built in, and runs rvisor-vmm there (hello, exit status 42,
//! a fault, busybox `cat` from a `--mount` directory) from an initramfs.
//! Takes ~5-10 s (plus, once, the cross build and an `apt-get download` of
//! the kernel and busybox-static:arm64, cached under target/).
//!
//! Needs qemu-system-aarch64 and the cross gcc; without them the test is
//! skipped loudly, unless CI=true. `RVISOR_NESTED_KVM=0` skips it on
//! purpose (loudly).

use std::process::Command;

use rvisor_tests::*;

#[test]
fn rvisor_vmm_for_aarch64_hosts_under_nested_kvm() {
    if std::env::var("RVISOR_NESTED_KVM").is_ok_and(|v| v == "0") {
        loud("\n*** SKIPPED: RVISOR_NESTED_KVM=0; the aarch64 nested-KVM test did not run ***\n");
        return;
    }
    let ci = std::env::var("CI")
        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
        .unwrap_or(false);
    for tool in ["qemu-system-aarch64", "aarch64-linux-gnu-gcc"] {
        if !have_tool(tool) {
            if ci {
                panic!("{tool} is not installed and CI=true (scripts/setup.sh installs it)");
            }
            loud(&format!(
                "\n*** SKIPPED: {tool} not installed; the aarch64 nested-KVM test did not run ***\n"
            ));
            return;
        }
    }
    let out = Command::new("bash")
        .arg(root().join("scripts").join("nested-kvm-aarch64.sh"))
        .output()
        .expect("running scripts/nested-kvm-aarch64.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "aarch64 nested-KVM run failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("Hello from rvisor test program!"),
        "{stdout}"
    );
    assert!(
        stdout.contains("rvisor: stats: platform=native"),
        "{stdout}"
    );
    assert!(stdout.contains("| hello from the host dir"), "{stdout}");
    for check in [
        "hello",
        "exit_code",
        "fault",
        "mount_cat",
        "sigusr1_handler_spin",
        "sigusr1_handler_pause",
        "sigterm_default_spin",
    ] {
        assert!(
            stdout.contains(&format!("NESTED PASS {check} ")),
            "{check} did not pass:\n{stdout}"
        );
    }
}
