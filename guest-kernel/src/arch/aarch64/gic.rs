//! GICv3 and the generic timer interrupt (board `qemu-aarch64-virt`).
//!
//! Not used yet: the sentry polls the counter, as on x86_64.

/// Handles an interrupt taken from user mode.
pub fn handle_irq() {}
