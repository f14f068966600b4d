//! Builds the sentry for x86_64 (the same ELF rvisor-vmm embeds, see
//! `boards::build`) and for aarch64, and embeds both: qemu-runner turns them
//! into bootable images.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap();
    let kernel = boards::build::build_sentry(root);
    println!("cargo:rustc-env=RVISOR_SENTRY_ELF={}", kernel.display());
    let kernel = boards::build::build_sentry_for(root, boards::build::GUEST_TARGET_AARCH64);
    println!(
        "cargo:rustc-env=RVISOR_SENTRY_AARCH64_ELF={}",
        kernel.display()
    );
}
