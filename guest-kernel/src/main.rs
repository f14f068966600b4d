//! The rvisor sentry: a small no_std kernel that runs one static Linux
//! application in user mode and implements the Linux syscall ABI for it.
//!
//! * `arch/`: CPU-specific entry, traps, page tables, platform backends.
//! * `hv/`: the hypercall client (the only way out of the VM).
//! * `mm/`: physical frames and the sentry's heap.
//! * `sentry/`: the arch-neutral Linux ABI.
#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod arch;
mod hv;
mod kstack;
mod mm;
mod percpu;
mod sentry;

use boards::bootinfo::{BootInfo, BOOT_FLAG_PRINT_SYSCALLS, BOOT_FLAG_VERBOSE, BOOT_INFO_MAGIC};
use boards::Platform;

use arch::paging::phys_to_virt;

static LOGGER: hv::console::SentryLogger = hv::console::SentryLogger;

/// Called by `_start` with the guest-physical address of the boot info.
#[no_mangle]
extern "C" fn kernel_entry(boot_info_gpa: u64) -> ! {
    let boot_tsc = arch::cpu::counter();
    // SAFETY: the loader put the boot info at this address inside guest RAM,
    // which its page tables direct-map; it stays untouched for our lifetime.
    let boot_info: &'static BootInfo =
        unsafe { &*(phys_to_virt(boot_info_gpa) as *const BootInfo) };
    let platform = Platform::from_raw(boot_info.platform);
    // Before anything else: on pvm every instruction until registration is
    // emulated by the host.
    arch::early_init(platform == Some(Platform::Pvm));
    if boot_info.magic != BOOT_INFO_MAGIC || platform.is_none() {
        // No trustworthy hypercall page: stop; the VMM reports the halt.
        arch::cpu::halt_forever();
    }
    arch::init_traps();
    hv::init(
        boot_info.hypercall_page,
        boot_info.console_ring,
        boot_info.event_ring,
        boot_info.fs_ring,
    );
    hv::net::init(
        boot_info.net_ring,
        boot_info.flags & boards::bootinfo::BOOT_FLAG_NET != 0,
        boot_info.net_addr,
    );
    sentry::time::init(boot_info.tsc_khz, boot_tsc, boot_info.boot_realtime_ns);
    sentry::time::set_host_clocks(boot_info.boot_monotonic_ns, boot_info.boot_boottime_ns);
    sentry::random::init(boot_info.random_seed);
    mm::init(boot_info);
    kstack::init(boot_info);
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(if boot_info.flags & BOOT_FLAG_VERBOSE != 0 {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Off
    });
    if boot_info.flags & BOOT_FLAG_PRINT_SYSCALLS != 0 {
        sentry::syscalls::print_support_table();
        let stats = boards::hypercall::ExitStats::default();
        hv::console::exit(hv::console::ExitKind::Exited(0), &stats);
    }
    sentry::start(boot_info)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hv::console::fatal(format_args!("sentry panic: {info}"))
}
