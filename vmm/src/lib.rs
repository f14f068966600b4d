//! rvisor-vmm: runs a static Linux ELF inside a KVM virtual machine under
//! the rvisor sentry (the guest kernel embedded in this binary).
//!
//! * [`app`]: host-side checks of the application ELF (exit status 126/127).
//! * [`vm`]: builds the VM and runs the vCPU loop.
//! * [`hypercall`]: the VMM side of the batched hypercall channel.
//! * [`console`]: drains the guest's console ring.
//! * [`events`]: publishes events (forwarded signals, stdin readiness) in
//!   the guest's event ring.
//! * [`exec`]: processes started in a running sandbox (`rvisor-runtime
//!   exec`) through its control socket.
//! * [`vcpu`]: the vCPU loop's state machine, the per-thread kick and the
//!   event thread (tick, signals sent to rvisor-vmm).
//! * `x86_64`: boot page tables and vCPU state for the `kvm-x86_64` board;
//!   `aarch64`: the device tree, vCPU init and MMIO doorbell of the
//!   `kvm-aarch64` board (one of them, by the host's architecture).
//! * [`jail`]: the VMM's own confinement (Landlock, no capabilities,
//!   `--uid/--gid`); [`seccomp`]: the per-thread syscall filters.
//! * [`stats`]: `--stats` counters.
//! * [`wasm`]: `--wasm`: the bundled WebAssembly runtime and its module.

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
pub mod app;
pub mod cli;
pub mod console;
pub mod error;
pub mod events;
pub mod exec;
pub mod fsring;
pub mod hostfs;
pub mod hypercall;
pub mod image;
pub mod jail;
pub mod net;
pub mod prefault;
pub mod seccomp;
pub mod stats;
pub mod teardown;
pub mod vcpu;
pub mod vm;
pub mod wasm;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;
