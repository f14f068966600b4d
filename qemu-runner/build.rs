//! Builds the sentry (the same ELF rvisor-vmm embeds, see `boards::build`)
//! and embeds it: qemu-runner turns it into bootable images.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap();
    let kernel = boards::build::build_sentry(root);
    println!("cargo:rustc-env=RVISOR_SENTRY_ELF={}", kernel.display());
}
