//! Building the VM (memory, sentry, boot info, vCPU) and running it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use boards::bootinfo::*;
use boards::{align_up, Platform, Wire};
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

#[cfg(target_arch = "aarch64")]
use crate::aarch64 as arch;
use crate::app::AppImage;
use crate::console::ConsoleRing;
use crate::error::{internal, Failure};
use crate::events::EventRing;
use crate::fsring::FsRing;
use crate::hostfs::{HostFs, MountSpec};
use crate::hypercall::{AppExit, Hypercalls};
use crate::image::{GuestRam, PageAligned};
use crate::prefault::Prefaulter;
use crate::stats::{KvmStats, RunStats};
#[cfg(target_arch = "x86_64")]
use crate::x86_64 as arch;
use std::sync::atomic::Ordering;

pub use arch::APP_ARCH;
use arch::{BOOT_INFO_GPA, HYPERCALL_PAGE_GPA, KERNEL_PHYS};

const PAGE_SIZE: u64 = 4096;

/// The sentry, built for this host's architecture (x86_64-unknown-none or
/// aarch64-unknown-none) by build.rs; page-aligned so that its segments can
/// be mapped from this executable's file (`crate::image`).
static SENTRY_IMAGE: &PageAligned<[u8]> = &PageAligned(*include_bytes!(env!("RVISOR_SENTRY_ELF")));
static SENTRY_ELF: &[u8] = &SENTRY_IMAGE.0;

pub const MIN_MEMORY: u64 = 16 << 20;
/// The most guest RAM (x86_64: 64 GiB; aarch64: what the sentry's direct
/// map reaches, 3 GiB).
pub const MAX_MEMORY: u64 = arch::MAX_MEMORY;

pub struct RunConfig {
    pub app: AppImage,
    /// argv[1..].
    pub args: Vec<OsString>,
    /// KEY=VALUE strings, in order.
    pub env: Vec<OsString>,
    pub memory: u64,
    pub verbose: bool,
    pub print_syscall_table: bool,
    /// Wall-clock limit for the run (exit status 124).
    pub timeout: Option<Duration>,
    /// Shared host directories. Under `--root` the first is the root (guest
    /// path `/`).
    pub mounts: Vec<MountSpec>,
    /// `--root`: the sentry finds the program in the sandbox (`app.bytes`
    /// is empty and `app.canonical_path` is the name to look up).
    pub root: bool,
    /// The limits the program starts with: the VMM's own, read before it
    /// raises any of them (see [`host_rlimits`]).
    pub rlimits: [[u64; 2]; RLIMIT_COUNT],
    /// A second read-only file for the program: (absolute guest path,
    /// bytes). `--wasm` gives the runtime its module this way.
    pub data_file: Option<(Vec<u8>, Vec<u8>)>,
    /// `--cwd`: the first process's working directory (an absolute path in
    /// the sandbox); `/` when None.
    pub cwd: Option<OsString>,
    /// The VMM's own jail (`crate::jail`).
    pub jail: crate::jail::JailOptions,
    /// `--net`, `--net-allow`, `--publish`.
    pub net: crate::net::NetConfig,
    /// What an OCI runtime sets for a container's first process.
    pub container: ContainerInit,
    /// `rvisor-runtime`: where to listen for exec requests (`crate::exec`).
    pub control_socket: Option<std::path::PathBuf>,
}

/// The container side of a run (`rvisor-runtime`); the default is a plain
/// `rvisor-vmm` run (root, no host name, native signal rules).
#[derive(Clone, Debug, Default)]
pub struct ContainerInit {
    /// `process.user`: the first process's user and group ids.
    pub uid: u32,
    pub gid: u32,
    /// `hostname` (at most 64 bytes).
    pub hostname: Option<Vec<u8>>,
    /// `process.noNewPrivileges`.
    pub no_new_privs: bool,
    /// Linux's signal rule for a container's init (pid 1).
    pub init: bool,
}

/// Checks a `--cwd` value: an absolute path without NUL bytes (whether it
/// exists is for the sentry to find out, in the sandbox's namespace).
pub fn check_cwd(cwd: &str) -> Result<(), String> {
    if !cwd.starts_with('/') {
        return Err(format!(
            "the working directory must be absolute, got {cwd:?}"
        ));
    }
    if cwd.contains('\0') || cwd.len() > 4095 {
        return Err(format!("invalid working directory {cwd:?}"));
    }
    Ok(())
}

/// This process's resource limits, [cur, max] per RLIMIT_* number, as a
/// native run of the program started from the same shell would inherit them.
pub fn host_rlimits() -> [[u64; 2]; RLIMIT_COUNT] {
    let mut limits = [[u64::MAX; 2]; RLIMIT_COUNT];
    for (resource, slot) in limits.iter_mut().enumerate() {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one struct rlimit we own.
        if unsafe { libc::getrlimit(resource as _, &mut limit) } == 0 {
            *slot = [limit.rlim_cur, limit.rlim_max];
        }
    }
    limits
}

pub struct RunOutcome {
    pub exit: AppExit,
    pub stats: RunStats,
}

/// Which x86_64 backend the sentry needs on this host.
pub fn detect_platform() -> Platform {
    if std::path::Path::new("/sys/module/kvm_pvm").exists() {
        Platform::Pvm
    } else {
        Platform::Native
    }
}

fn kvm_error(what: &str) -> impl Fn(kvm_ioctls::Error) -> Failure + '_ {
    move |e| internal(format!("{what}: {e}"))
}

/// The host terminal as the guest's console should describe it.
fn host_tty(info: &mut BootInfo) {
    for fd in 0..3 {
        // SAFETY: isatty only inspects the fd.
        if unsafe { libc::isatty(fd) } == 1 {
            info.console_tty_mask |= 1 << fd;
        }
    }
    let Some(fd) = (0..3).find(|fd| info.console_tty_mask & (1 << fd) != 0) else {
        return;
    };
    let mut termios = [0u8; 64];
    // SAFETY: TCGETS writes a kernel struct termios (36 bytes) into the
    // 64-byte buffer; TIOCGWINSZ writes 8 bytes into `winsize`.
    unsafe {
        if libc::ioctl(fd, libc::TCGETS, termios.as_mut_ptr()) == 0 {
            info.termios.copy_from_slice(&termios[..TERMIOS_SIZE]);
        }
        let mut winsize = [0u16; 4];
        if libc::ioctl(fd, libc::TIOCGWINSZ, winsize.as_mut_ptr()) == 0 {
            info.winsize = winsize;
        }
    }
}

fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn write_bytes(mem: &GuestMemoryMmap, gpa: u64, bytes: &[u8], what: &str) -> Result<(), Failure> {
    mem.write_slice(bytes, GuestAddress(gpa))
        .map_err(|e| internal(format!("placing {what} in guest memory: {e}")))
}

/// End (physical) of the sentry image, bss included.
fn sentry_end() -> Result<u64, Failure> {
    Ok(crate::image::sentry_segments(SENTRY_ELF)?
        .iter()
        .map(|p| p.p_paddr + p.p_memsz)
        .max()
        .unwrap_or(KERNEL_PHYS))
}

struct Guest {
    vm: VmFd,
    vcpu: VcpuFd,
    mem: GuestMemoryMmap,
    tsc_khz: u64,
    console_ring: u64,
    event_ring: u64,
    /// The network ring (0: none).
    net_ring: u64,
    /// The host-file ring page (0: none).
    fs_ring: u64,
}

/// Where in guest RAM transparent huge pages start: a quarter of it, at
/// least 64 MiB (the sentry's image and heap, at most 64 MiB, lie below).
fn huge_page_floor(memory: u64) -> u64 {
    (memory / 4).max(64 << 20) & !((2 << 20) - 1)
}

fn build_guest(config: &RunConfig, platform: Platform) -> Result<Guest, Failure> {
    let kvm = Kvm::new().map_err(|e| internal(format!("cannot open /dev/kvm: {e}")))?;
    let vm = kvm.create_vm().map_err(kvm_error("KVM_CREATE_VM"))?;
    let memory_size = config.memory;
    let ram_end = arch::ram_end(memory_size);
    let mem =
        GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(arch::RAM_BASE), memory_size as usize)])
            .map_err(|e| {
                internal(format!(
                    "cannot allocate {memory_size} bytes of guest memory: {e}"
                ))
            })?;
    for (slot, region) in mem.iter().enumerate() {
        let host = region
            .get_host_address(vm_memory::MemoryRegionAddress(0))
            .map_err(|e| internal(format!("guest memory: {e}")))?;
        // Transparent huge pages for the upper part of guest RAM, where the
        // sentry takes its 2 MiB blocks (from the top down): the host's
        // shadow MMU then maps a block with one entry (see
        // docs/PLATFORM-x86-kvm.md). The lower part (the sentry, its heap,
        // page tables, 4 KiB pages) stays in 4 KiB host pages, so a small
        // program's resident memory stays small. Advisory: failure changes
        // only speed.
        let len = region.len() as usize;
        let low = huge_page_floor(len as u64) as usize;
        // SAFETY: madvise on a range inside a mapping owned by `mem`;
        // MADV_HUGEPAGE changes no contents.
        let advised = low < len
            && unsafe { libc::madvise(host.add(low).cast(), len - low, libc::MADV_HUGEPAGE) } == 0;
        log::debug!(
            "guest RAM at host {:p} ({} MiB, aligned: {}), MADV_HUGEPAGE above {} MiB: {}",
            host,
            len >> 20,
            (host as u64).is_multiple_of(2 << 20),
            low >> 20,
            advised
        );
        let region = kvm_userspace_memory_region {
            slot: slot as u32,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: host as u64,
        };
        // SAFETY: the region is a live mmap owned by `mem`, which outlives
        // the VM (both live in `Guest`, and the VM fd is dropped first).
        unsafe { vm.set_user_memory_region(region) }
            .map_err(kvm_error("KVM_SET_USER_MEMORY_REGION"))?;
    }

    // The sentry: mapped from this executable's file, or else copied.
    let ram = GuestRam::of(&mem)?;
    let entry = if crate::image::map_embedded_elf(&ram, SENTRY_ELF)? {
        arch::sentry_entry(SENTRY_ELF)?
    } else {
        arch::load_sentry(&mem, SENTRY_ELF)?
    };
    let kernel_end = sentry_end()?;
    arch::prepare_memory(&mem, memory_size, platform)?;

    // The application image and its strings after the sentry.
    let app_start = align_up(kernel_end, PAGE_SIZE);
    let app_size = config.app.bytes.len() as u64;
    let (data_path, data): (&[u8], &[u8]) = match &config.data_file {
        Some((path, bytes)) => (path, bytes),
        None => (&[], &[]),
    };
    let data_start = align_up(app_start + app_size, PAGE_SIZE);
    let data_path_start = align_up(data_start + data.len() as u64, 8);
    let strings_start = align_up(data_path_start + data_path.len() as u64, PAGE_SIZE);
    let mut strings = Vec::new();
    strings.extend_from_slice(config.app.canonical_path.as_os_str().as_bytes());
    strings.push(0);
    for arg in std::iter::once(&config.app.path_as_given).chain(config.args.iter()) {
        strings.extend_from_slice(arg.as_bytes());
        strings.push(0);
    }
    for var in &config.env {
        strings.extend_from_slice(var.as_bytes());
        strings.push(0);
    }
    if let Some(cwd) = &config.cwd {
        strings.extend_from_slice(cwd.as_bytes());
        strings.push(0);
    }
    let mut mount_records = Vec::new();
    for mount in &config.mounts {
        let record = MountRecord {
            flags: if mount.read_only { MOUNT_READ_ONLY } else { 0 }
                | if mount.tmpfs { MOUNT_TMPFS } else { 0 },
            path_len: mount.guest.len() as u32,
        };
        mount_records.extend_from_slice(record.as_bytes());
        mount_records.extend_from_slice(mount.guest.as_bytes());
        mount_records.resize(align_up(mount_records.len() as u64, 8) as usize, 0);
    }
    let mut net_files = Vec::new();
    if config.net.outbound {
        for path in ["/etc/resolv.conf", "/etc/hosts"] {
            // What the host's resolver reads (following its symlinks);
            // a missing file is left out.
            let Ok(data) = std::fs::read(path) else {
                continue;
            };
            let data = &data[..data.len().min(64 << 10)];
            let record = MountRecord {
                flags: data.len() as u32,
                path_len: path.len() as u32,
            };
            net_files.extend_from_slice(record.as_bytes());
            net_files.extend_from_slice(path.as_bytes());
            net_files.extend_from_slice(data);
            net_files.resize(align_up(net_files.len() as u64, 8) as usize, 0);
        }
    }
    let mounts_start = align_up(strings_start + strings.len() as u64, 8);
    let net_files_start = align_up(mounts_start + mount_records.len() as u64, 8);
    let ring_start = align_up(net_files_start + net_files.len() as u64, PAGE_SIZE);
    let ring_bytes = boards::console::RING_HEADER_SIZE + boards::console::RING_SIZE;
    let event_start = align_up(ring_start + ring_bytes, PAGE_SIZE);
    let fs_ring_start = event_start + boards::events::EVENT_RING_BYTES;
    let after_fs_ring = fs_ring_start + boards::fsring::FS_RING_BYTES;
    let net_start = if config.net.enabled() {
        align_up(after_fs_ring, PAGE_SIZE)
    } else {
        0
    };
    let free_start = if net_start != 0 {
        net_start + boards::netring::NET_RING_BYTES
    } else {
        after_fs_ring
    };
    if free_start + MIN_MEMORY / 2 > ram_end {
        return Err(internal(format!(
            "guest memory ({} MiB) too small for a {} KiB application; raise --memory",
            memory_size >> 20,
            (app_size + data.len() as u64) >> 10
        )));
    }
    write_bytes(&mem, app_start, &config.app.bytes, "the application")?;
    write_bytes(&mem, data_start, data, "the data file")?;
    write_bytes(&mem, data_path_start, data_path, "the data file's path")?;
    write_bytes(&mem, strings_start, &strings, "argv/envp")?;
    write_bytes(&mem, mounts_start, &mount_records, "the mount table")?;
    write_bytes(&mem, net_files_start, &net_files, "the name-service files")?;

    let (vcpu, tsc_khz) = arch::create_vcpu(&kvm, &vm)?;

    let mut info = BootInfo::zeroed();
    info.magic = BOOT_INFO_MAGIC;
    info.version = BOOT_INFO_VERSION;
    info.platform = platform as u32;
    info.memory_size = memory_size;
    arch::push_boot_regions(&mut info);
    info.push_region(KERNEL_PHYS, app_start - KERNEL_PHYS, MemoryKind::Kernel);
    info.push_region(app_start, ring_start - app_start, MemoryKind::Application);
    info.push_region(ring_start, free_start - ring_start, MemoryKind::BootData);
    info.push_region(free_start, ram_end - free_start, MemoryKind::Usable);
    info.cpu_count = 1;
    // x86_64: the boot tables' root; aarch64: the sentry fills it in.
    #[cfg(target_arch = "x86_64")]
    {
        info.page_table_root = boards::x86_64::PAGE_TABLES_GPA;
    }
    info.hypercall_page = HYPERCALL_PAGE_GPA;
    info.mounts = PhysRange {
        start: mounts_start,
        size: mount_records.len() as u64,
    };
    info.mount_count = config.mounts.len() as u32;
    info.console_ring = PhysRange {
        start: ring_start,
        size: ring_bytes,
    };
    info.event_ring = PhysRange {
        start: event_start,
        size: boards::events::EVENT_RING_BYTES,
    };
    if !config.mounts.is_empty() {
        info.fs_ring = PhysRange {
            start: fs_ring_start,
            size: boards::fsring::FS_RING_BYTES,
        };
    }
    if net_start != 0 {
        info.net_ring = PhysRange {
            start: net_start,
            size: boards::netring::NET_RING_BYTES,
        };
    }
    if config.net.outbound {
        info.flags |= BOOT_FLAG_NET;
        info.net_addr = crate::net::host_address().octets();
        info.net_files = PhysRange {
            start: net_files_start,
            size: net_files.len() as u64,
        };
    }
    info.app_image = PhysRange {
        start: app_start,
        size: app_size,
    };
    if config.data_file.is_some() {
        info.data_file = PhysRange {
            start: data_start,
            size: data.len() as u64,
        };
        info.data_file_path = PhysRange {
            start: data_path_start,
            size: data_path.len() as u64,
        };
    }
    info.strings = PhysRange {
        start: strings_start,
        size: strings.len() as u64,
    };
    info.argc = 1 + config.args.len() as u32;
    info.envc = config.env.len() as u32;
    info.tsc_khz = tsc_khz;
    getrandom(&mut info.random_seed)?;
    if config.verbose {
        info.flags |= BOOT_FLAG_VERBOSE;
    }
    if config.print_syscall_table {
        info.flags |= BOOT_FLAG_PRINT_SYSCALLS;
    }
    if config.root {
        info.flags |= BOOT_FLAG_ROOT;
    }
    if config.cwd.is_some() {
        info.flags |= BOOT_FLAG_CWD;
    }
    host_tty(&mut info);
    let container = &config.container;
    info.uid = container.uid;
    info.gid = container.gid;
    if let Some(name) = &container.hostname {
        if name.len() > HOSTNAME_SIZE || name.contains(&0) {
            return Err(internal(format!(
                "invalid host name {:?}",
                String::from_utf8_lossy(name)
            )));
        }
        info.hostname[..name.len()].copy_from_slice(name);
        info.flags |= BOOT_FLAG_HOSTNAME;
    }
    if container.no_new_privs {
        info.flags |= BOOT_FLAG_NO_NEW_PRIVS;
    }
    if container.init {
        info.flags |= BOOT_FLAG_INIT;
    }
    info.rlimits = config.rlimits;
    info.flags |= BOOT_FLAG_HOST_RLIMITS;
    // (The clocks are stamped by `stamp_clocks` right before the first
    // instruction.)
    write_bytes(&mem, BOOT_INFO_GPA, info.as_bytes(), "the boot info")?;

    arch::start_vcpu(&vcpu, &mem, entry, memory_size)?;
    log::debug!(
        "guest: {} MiB, platform {}, sentry {:#x}..{:#x}, app {:#x} ({} bytes), tsc {} kHz",
        memory_size >> 20,
        platform.name(),
        KERNEL_PHYS,
        kernel_end,
        app_start,
        app_size,
        tsc_khz
    );
    Ok(Guest {
        vm,
        vcpu,
        mem,
        tsc_khz,
        console_ring: ring_start,
        event_ring: event_start,
        net_ring: net_start,
        fs_ring: if config.mounts.is_empty() {
            0
        } else {
            fs_ring_start
        },
    })
}

/// Writes the host clocks into the boot info in guest memory: the moment
/// the guest's clocks start from (a created container may wait a long time
/// between building and its first instruction).
fn stamp_clocks(mem: &GuestMemoryMmap) -> Result<(), Failure> {
    let mut bytes = vec![0u8; core::mem::size_of::<BootInfo>()];
    mem.read_slice(&mut bytes, GuestAddress(BOOT_INFO_GPA))
        .map_err(|e| internal(format!("reading the boot info: {e}")))?;
    let mut info = BootInfo::read_from(&bytes).ok_or_else(|| internal("the boot info is short"))?;
    info.boot_monotonic_ns = clock_ns(libc::CLOCK_MONOTONIC);
    info.boot_boottime_ns = clock_ns(libc::CLOCK_BOOTTIME);
    info.boot_realtime_ns = realtime_ns();
    write_bytes(mem, BOOT_INFO_GPA, info.as_bytes(), "the boot info")
}

pub fn getrandom(buf: &mut [u8]) -> Result<(), Failure> {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: writes at most buf.len() - filled bytes into `buf`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(internal(format!("getrandom: {e}")));
        }
        filled += n as usize;
    }
    Ok(())
}

/// Opens the `--publish` listeners, the doorbell (an ioeventfd when KVM
/// takes one: the guest's `out` then wakes the I/O thread without an exit
/// to this process) and starts the network I/O thread.
fn start_network(
    guest: &Guest,
    config: &RunConfig,
    listeners: Vec<(std::os::fd::OwnedFd, u16)>,
    filter: Option<seccompiler::BpfProgram>,
) -> Result<crate::seccomp::ThreadStarting, Failure> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let doorbell = vmm_sys_util::eventfd::EventFd::new(libc::EFD_NONBLOCK | libc::EFD_CLOEXEC)
        .map_err(|e| internal(format!("eventfd: {e}")))?;
    #[cfg(target_arch = "x86_64")]
    let registered = guest
        .vm
        .register_ioevent(
            &doorbell,
            &kvm_ioctls::IoEventAddress::Pio(boards::netring::NET_DOORBELL_PORT as u64),
            kvm_ioctls::NoDatamatch,
        )
        .map_err(|e| log::info!("KVM_IOEVENTFD refused ({e}): the net doorbell exits to the VMM"))
        .is_ok();
    #[cfg(not(target_arch = "x86_64"))]
    let registered = false;
    log::debug!("net doorbell: ioeventfd {registered}");
    // SAFETY: dup of the eventfd we own; the copy is owned by the OwnedFd.
    let own = unsafe { libc::dup(doorbell.as_raw_fd()) };
    if own < 0 {
        return Err(internal("dup of the net doorbell failed"));
    }
    // SAFETY: a fresh descriptor from dup.
    let own = unsafe { OwnedFd::from_raw_fd(own) };
    crate::net::set_doorbell_fd(own.as_raw_fd());
    let io = crate::net::io::Io::new(
        guest.mem.clone(),
        guest.net_ring,
        config.net.clone(),
        own,
        listeners,
    )?;
    // The registration holds the eventfd's file; ours lives as long as
    // the process.
    std::mem::forget(doorbell);
    // The thread's own seccomp filter, before it touches guest data.
    crate::seccomp::spawn_filtered_thread("rvisor-net", "network thread", filter, move || io.run())
}

/// Builds the VM and runs the application to its end.
pub fn run(config: &RunConfig, started: Instant) -> Result<RunOutcome, Failure> {
    run_gated(config, started, &mut || Ok(()))
}

/// As [`run`], with `gate` called once the VM is built (memory, sentry,
/// boot info, vCPU) and before its first instruction runs: an OCI
/// runtime's `create` waits there for `start`.
pub fn run_gated(
    config: &RunConfig,
    started: Instant,
    gate: &mut dyn FnMut() -> Result<(), Failure>,
) -> Result<RunOutcome, Failure> {
    // Before anything else can start a thread: the signals rvisor-vmm
    // forwards stay pending until the event thread takes them.
    crate::vcpu::block_forwarded_signals()?;
    let deadline = config.timeout.map(|t| started + t);
    if let Some(deadline) = deadline {
        crate::console::set_output_deadline(deadline);
    }
    // The shared directories first: a bad --mount is the user's error,
    // reported before anything is built.
    let hostfs = HostFs::new(config.mounts.clone())?;
    let platform = detect_platform();
    let mut guest = build_guest(config, platform)?;
    // The VM is freed after this process exits, in a keeper's exit
    // (`crate::teardown`); spawned before the jail and before the guest
    // runs an instruction.
    {
        use std::os::fd::AsRawFd;
        if let Err(e) = crate::teardown::spawn_keeper(guest.vm.as_raw_fd(), guest.vcpu.as_raw_fd())
        {
            log::info!("{e}: the VM is torn down in rvisor-vmm's exit");
        }
    }
    // Bound before `create` returns, so an exec right after `start` finds it.
    let control = match &config.control_socket {
        Some(path) => Some(
            std::os::unix::net::UnixListener::bind(path)
                .map_err(|e| internal(format!("control socket {}: {e}", path.display())))?,
        ),
        None => None,
    };
    gate()?;
    stamp_clocks(&guest.mem)?;
    let console = ConsoleRing::new(
        guest.mem.clone(),
        guest.console_ring,
        boards::console::RING_SIZE,
    );
    let kvm_stats = KvmStats::open(&guest.vcpu);
    let events = EventRing::new(guest.mem.clone(), guest.event_ring);
    let kick_guard = crate::vcpu::make_kickable(&mut guest.vcpu)?;
    // The --publish listeners are bound before the jail (which allows no
    // bind); everything is open: the jail (one thread yet), then each
    // thread's seccomp filter.
    let listeners = if guest.net_ring != 0 {
        crate::net::io::listen(&config.net)?
    } else {
        Vec::new()
    };
    let mut hostfs = hostfs;
    let jail = crate::jail::enter(&config.jail, &hostfs.mount_fds(), config.net.outbound)?;
    hostfs.refresh_ids();
    let prefault = Prefaulter::new(&GuestRam::of(&guest.mem)?);
    let fsring = FsRing::new(
        guest.mem.clone(),
        guest.fs_ring,
        hostfs,
        Some(prefault.clone()),
    );
    // The helper threads start together; each installs its own filter
    // while this thread installs its own, and all are in place before the
    // guest runs.
    let mut starting = Vec::new();
    if config.jail.disabled {
        starting.push(crate::vcpu::start_helper(None)?);
        starting.extend(fsring.start(None)?);
        if guest.net_ring != 0 {
            starting.push(start_network(&guest, config, listeners, None)?);
        }
        if let Some(control) = control {
            starting.push(crate::exec::start(control, None)?);
        }
    } else {
        use std::os::fd::AsRawFd;
        let kvm = crate::seccomp::KvmFds {
            vm: guest.vm.as_raw_fd(),
            vcpu: guest.vcpu.as_raw_fd(),
        };
        starting.push(crate::vcpu::start_helper(Some(
            crate::seccomp::event_thread().compile()?,
        ))?);
        starting.extend(fsring.start(Some(crate::seccomp::fsring_thread().compile()?))?);
        if guest.net_ring != 0 {
            let net = crate::seccomp::net_thread(&config.net).compile()?;
            starting.push(start_network(&guest, config, listeners, Some(net))?);
        }
        if let Some(control) = control {
            starting.push(crate::exec::start(
                control,
                Some(crate::seccomp::control_thread().compile()?),
            )?);
        }
        let vcpu = crate::seccomp::vcpu_thread(kvm).compile()?;
        crate::seccomp::apply_to_this_thread(&vcpu)?;
    }
    for thread in starting {
        thread.wait()?;
    }
    let mut hypercalls = Hypercalls::new(
        &guest.mem,
        HYPERCALL_PAGE_GPA,
        console,
        events,
        deadline,
        fsring.clone(),
    );
    let mut stats = RunStats {
        platform: Some(platform),
        jail: jail.took,
        setup: started.elapsed(),
        tsc_khz: guest.tsc_khz,
        ..RunStats::default()
    };
    let run_started = Instant::now();
    let result = crate::vcpu::run(&guest.vm, &mut guest.vcpu, &mut hypercalls, &mut stats);
    drop(kick_guard);
    // Whatever happened, the output the guest produced goes out, and so
    // does what it sent on host sockets (within the deadline, at most 10 s).
    hypercalls.drain();
    if guest.net_ring != 0 {
        let limit = deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(10))
            .min(Duration::from_secs(10));
        crate::net::finish(limit);
    }
    stats.console_bytes = hypercalls.console.bytes_out;
    fsring.stop();
    stats.host_file_requests =
        hypercalls.host_file_requests + fsring.requests.load(Ordering::Relaxed);
    stats.host_file_ring_batches = fsring.batches.load(Ordering::Relaxed);
    stats.host_file_ring_wakes = fsring.wakes.load(Ordering::Relaxed);
    stats.prefaulted_bytes = prefault.backed_bytes();
    let exit = result?;
    stats.run = run_started.elapsed();
    stats.kvm = kvm_stats.map(|s| s.read()).unwrap_or_default();
    // The process exits right after this: exit_group tears the VM down in
    // one go, cheaper than unmapping its pieces one by one.
    std::mem::forget(guest);
    Ok(RunOutcome { exit, stats })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sentry mapped from this executable's file reads exactly as the
    /// copied one, bss and the gaps between segments included.
    #[test]
    fn mapped_sentry_image_equals_the_copied_one() {
        let size = 16usize << 20;
        let new_ram =
            || GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(arch::RAM_BASE), size)]).unwrap();
        let (mapped, copied) = (new_ram(), new_ram());
        let ram = GuestRam::of(&mapped).unwrap();
        // The test binary embeds the sentry too, page-aligned the same way.
        assert!(crate::image::map_embedded_elf(&ram, SENTRY_ELF).unwrap());
        let entry = arch::load_sentry(&copied, SENTRY_ELF).unwrap();
        assert_eq!(arch::sentry_entry(SENTRY_ELF).unwrap(), entry);
        let end = sentry_end().unwrap();
        let len = (end - arch::RAM_BASE) as usize;
        let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
        mapped
            .read_slice(&mut a, GuestAddress(arch::RAM_BASE))
            .unwrap();
        copied
            .read_slice(&mut b, GuestAddress(arch::RAM_BASE))
            .unwrap();
        let first_difference = a.iter().zip(&b).position(|(x, y)| x != y);
        assert_eq!(first_difference, None, "images differ");
        assert!(a.iter().any(|&byte| byte != 0), "nothing was mapped");
    }
}
