//! `qemu-runner`: builds a bootable image (sentry + application) for a QEMU
//! board and boots it. Not implemented yet: the boards/aarch64 issue brings it.

fn main() {
    eprintln!(
        "qemu-runner: not implemented yet. Bare-metal images for the qemu-x86_64 and \
         qemu-aarch64-virt boards arrive with the boards/aarch64 work; use \
         `rvisor-vmm --elf APP` to run applications under KVM today."
    );
    std::process::exit(2);
}
