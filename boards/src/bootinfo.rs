//! The boot-info ABI: one page the loader fills before the first instruction
//! of the sentry runs. Its guest-physical address arrives in `rdi` (x86_64)
//! or in the device tree's `/chosen/rvisor,boot-info` (aarch64, `x0` = the
//! device tree; see `crate::aarch64`).
//!
//! All addresses are guest-physical. Strings are NUL-terminated and live in
//! the `strings` region, packed as: the executable path, then `argc` argument
//! strings, then `envc` environment strings.

use core::ops::Range;

/// "RVISORBI" as a little-endian u64.
pub const BOOT_INFO_MAGIC: u64 = u64::from_le_bytes(*b"RVISORBI");
/// Bumped whenever the layout of [`BootInfo`] changes.
pub const BOOT_INFO_VERSION: u32 = 7;
/// Maximum number of entries in [`BootInfo::memory_map`].
pub const MAX_MEMORY_REGIONS: usize = 16;

/// What a range of guest-physical memory holds.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Free RAM the sentry may allocate.
    Usable = 1,
    /// The boot-info page, the hypercall page, the console and event rings.
    BootData = 2,
    /// Page tables built by the loader (the sentry keeps using them).
    PageTables = 3,
    /// The sentry's own image.
    Kernel = 4,
    /// The application's ELF file and the argv/envp strings.
    Application = 5,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryRegion {
    pub start: u64,
    pub size: u64,
    /// A [`MemoryKind`] as u32; 0 marks an unused slot.
    pub kind: u32,
    pub _reserved: u32,
}

impl MemoryRegion {
    pub fn kind(&self) -> Option<MemoryKind> {
        match self.kind {
            1 => Some(MemoryKind::Usable),
            2 => Some(MemoryKind::BootData),
            3 => Some(MemoryKind::PageTables),
            4 => Some(MemoryKind::Kernel),
            5 => Some(MemoryKind::Application),
            _ => None,
        }
    }

    pub fn end(&self) -> u64 {
        self.start + self.size
    }
}

/// A guest-physical byte range.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysRange {
    pub start: u64,
    pub size: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    pub magic: u64,
    pub version: u32,
    /// A [`crate::Platform`] as u32.
    pub platform: u32,
    /// Total guest RAM in bytes (RAM is one range: from GPA 0 on x86_64,
    /// from `crate::aarch64::RAM_BASE` on aarch64).
    pub memory_size: u64,
    pub memory_map: [MemoryRegion; MAX_MEMORY_REGIONS],
    pub memory_map_len: u32,
    /// Number of vCPUs the loader created.
    pub cpu_count: u32,
    /// Kernel-half PML4 of the boot page tables (x86_64); the user-half PML4
    /// of the pvm pair is the next page. aarch64: the application's level-0
    /// table in the sentry's bss (the sentry fills it in).
    pub page_table_root: u64,
    /// The hypercall page (see [`crate::hypercall`]); zero when there is no
    /// VMM (bare metal).
    pub hypercall_page: u64,
    /// The console ring (see [`crate::console`]): header + data.
    pub console_ring: PhysRange,
    /// The event ring (see [`crate::events`]): one page; size 0 when there
    /// is none (bare metal).
    pub event_ring: PhysRange,
    /// Shared host directories: `mount_count` records of [`MountRecord`]
    /// followed by its guest path; mount i's root is host handle i.
    pub mounts: PhysRange,
    pub mount_count: u32,
    pub _reserved2: u32,
    /// The application's ELF file, byte for byte.
    pub app_image: PhysRange,
    /// Packed NUL-terminated strings: exe path, argv, envp (and the working
    /// directory with [`BOOT_FLAG_CWD`]).
    pub strings: PhysRange,
    pub argc: u32,
    pub envc: u32,
    /// Guest TSC frequency in kHz, 0 if unknown.
    pub tsc_khz: u64,
    /// Host CLOCK_REALTIME in ns taken just before the first vCPU entry.
    pub boot_realtime_ns: u64,
    /// Host CLOCK_MONOTONIC (and CLOCK_BOOTTIME) at the same moment, so the
    /// guest's monotonic clocks continue the host's.
    pub boot_monotonic_ns: u64,
    pub boot_boottime_ns: u64,
    /// Seed for the sentry's CSPRNG (getrandom, AT_RANDOM), from the host's
    /// getrandom.
    pub random_seed: [u8; 32],
    /// Bit 0: write kernel log records to the console (verbose).
    pub flags: u64,
    /// Bit n set: the host's fd n (0, 1, 2) is a terminal.
    pub console_tty_mask: u32,
    pub _reserved: u32,
    /// The host terminal's settings (kernel `struct termios`, as TCGETS
    /// returns it) and window size (`struct winsize`), when one is a tty.
    pub termios: [u8; TERMIOS_SIZE],
    pub winsize: [u16; 4],
    /// (Explicit padding: `rlimits` is 8-byte aligned.)
    pub _pad: [u8; 4],
    /// The VMM's resource limits as it started ([cur, max] per RLIMIT_*
    /// number; RLIM_INFINITY is u64::MAX): the sandboxed program starts
    /// with the limits a native run would have. Valid when
    /// [`BOOT_FLAG_HOST_RLIMITS`] is set.
    pub rlimits: [[u64; 2]; RLIMIT_COUNT],
    /// A second read-only file the program is given (`--wasm`: the module,
    /// or its compiled code), byte for byte; empty when there is none.
    pub data_file: PhysRange,
    /// The absolute guest path where the sentry places [`Self::data_file`]
    /// (bytes, no NUL).
    pub data_file_path: PhysRange,
    /// The network ring (see [`crate::netring`]); size 0 without
    /// `--net` or `--publish`.
    pub net_ring: PhysRange,
    /// With [`BOOT_FLAG_NET`]: the host's source address towards its
    /// default route (where the sandbox's outbound connections come from),
    /// for an interface list; the sentry does not list interfaces yet.
    pub net_addr: [u8; 4],
    pub _net_pad: u32,
    /// With [`BOOT_FLAG_NET`]: the host's name-service files the sandbox
    /// sees (/etc/resolv.conf, /etc/hosts): records of [`MountRecord`]'s
    /// shape (`flags` = data length, `path_len`), the path, the data,
    /// padded to 8 bytes.
    pub net_files: PhysRange,
    /// The host-file request ring (see [`crate::fsring`]): one page; size
    /// 0 when there is none (no shared directories, bare metal).
    pub fs_ring: PhysRange,
    /// The first process's user and group ids (real, effective, saved);
    /// 0 (root) unless an OCI runtime sets `process.user`.
    pub uid: u32,
    pub gid: u32,
    /// The sandbox's host name (uname's nodename; bytes, NUL-padded), when
    /// [`BOOT_FLAG_HOSTNAME`] is set.
    pub hostname: [u8; HOSTNAME_SIZE],
}

/// Room for a host name: Linux's limit (64 bytes) without a NUL.
pub const HOSTNAME_SIZE: usize = 64;

/// Resource limits passed in [`BootInfo::rlimits`] (RLIMIT_CPU..RLIMIT_RTTIME).
pub const RLIMIT_COUNT: usize = 16;

/// Size of the kernel's `struct termios` (x86_64 and aarch64).
pub const TERMIOS_SIZE: usize = 36;

/// One shared directory in [`BootInfo::mounts`]: this header, then
/// `path_len` bytes of absolute guest path, padded to 8 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MountRecord {
    /// MOUNT_READ_ONLY.
    pub flags: u32,
    pub path_len: u32,
}

pub const MOUNT_READ_ONLY: u32 = 1;
/// The record is a fresh tmpfs at its path (no host directory behind it:
/// its index has no host handle).
pub const MOUNT_TMPFS: u32 = 2;

/// [`BootInfo::flags`]: the user asked for verbose logs.
pub const BOOT_FLAG_VERBOSE: u64 = 1 << 0;
/// [`BootInfo::flags`]: print the syscall support table (Markdown) to
/// stdout and exit instead of running the application.
pub const BOOT_FLAG_PRINT_SYSCALLS: u64 = 1 << 1;
/// [`BootInfo::flags`]: [`BootInfo::rlimits`] holds the host's limits.
pub const BOOT_FLAG_HOST_RLIMITS: u64 = 1 << 2;
/// [`BootInfo::flags`]: `--root`: mount 0 (guest path `/`) is the
/// sandbox's root, there is no application image, and the exe path names
/// the program inside the sandbox (without a '/', it is looked up in the
/// PATH of the environment, as execvp does).
pub const BOOT_FLAG_ROOT: u64 = 1 << 3;
/// [`BootInfo::flags`]: `--cwd`: one more string after envp, an absolute
/// path, is the first process's working directory.
pub const BOOT_FLAG_CWD: u64 = 1 << 4;
/// [`BootInfo::flags`]: `--net`: connections and datagrams to addresses
/// outside the sandbox go to host sockets through the network ring.
pub const BOOT_FLAG_NET: u64 = 1 << 5;
/// [`BootInfo::flags`]: the first process is a container's init, with
/// Linux's rule for pid 1: a signal whose default action would stop or end
/// it is dropped unless it is SIGKILL, SIGSTOP or a fault's own signal.
/// (rvisor-vmm without it: the program is pid 1 but dies as a native one.)
pub const BOOT_FLAG_INIT: u64 = 1 << 6;
/// [`BootInfo::flags`]: the first process starts with no_new_privs set
/// (OCI `process.noNewPrivileges`).
pub const BOOT_FLAG_NO_NEW_PRIVS: u64 = 1 << 7;
/// [`BootInfo::flags`]: [`BootInfo::hostname`] holds the host name.
pub const BOOT_FLAG_HOSTNAME: u64 = 1 << 8;

impl BootInfo {
    pub const fn zeroed() -> BootInfo {
        BootInfo {
            magic: 0,
            version: 0,
            platform: 0,
            memory_size: 0,
            memory_map: [MemoryRegion {
                start: 0,
                size: 0,
                kind: 0,
                _reserved: 0,
            }; MAX_MEMORY_REGIONS],
            memory_map_len: 0,
            cpu_count: 0,
            page_table_root: 0,
            hypercall_page: 0,
            console_ring: PhysRange { start: 0, size: 0 },
            event_ring: PhysRange { start: 0, size: 0 },
            mounts: PhysRange { start: 0, size: 0 },
            mount_count: 0,
            _reserved2: 0,
            app_image: PhysRange { start: 0, size: 0 },
            strings: PhysRange { start: 0, size: 0 },
            argc: 0,
            envc: 0,
            tsc_khz: 0,
            boot_realtime_ns: 0,
            boot_monotonic_ns: 0,
            boot_boottime_ns: 0,
            random_seed: [0; 32],
            flags: 0,
            console_tty_mask: 0,
            _reserved: 0,
            termios: [0; TERMIOS_SIZE],
            winsize: [0; 4],
            _pad: [0; 4],
            rlimits: [[0; 2]; RLIMIT_COUNT],
            data_file: PhysRange { start: 0, size: 0 },
            data_file_path: PhysRange { start: 0, size: 0 },
            net_ring: PhysRange { start: 0, size: 0 },
            net_addr: [0; 4],
            _net_pad: 0,
            net_files: PhysRange { start: 0, size: 0 },
            fs_ring: PhysRange { start: 0, size: 0 },
            uid: 0,
            gid: 0,
            hostname: [0; HOSTNAME_SIZE],
        }
    }

    /// Adds a region to the memory map; false when the map is full.
    pub fn push_region(&mut self, start: u64, size: u64, kind: MemoryKind) -> bool {
        let len = self.memory_map_len as usize;
        if len >= MAX_MEMORY_REGIONS {
            return false;
        }
        self.memory_map[len] = MemoryRegion {
            start,
            size,
            kind: kind as u32,
            _reserved: 0,
        };
        self.memory_map_len += 1;
        true
    }

    /// Adds the RAM in [start, end) as usable, minus the `reserved` ranges
    /// (firmware, the image, the payload, the device tree): pages that
    /// overlap a reserved range are never handed out. Boundaries are rounded
    /// inwards to whole 4 KiB pages (both boards use 4 KiB pages).
    pub fn push_usable_except(&mut self, start: u64, end: u64, reserved: &[Range<u64>]) {
        const PAGE: u64 = 4096;
        let mut start = crate::align_up(start, PAGE);
        let end = end & !(PAGE - 1);
        while start < end {
            // The lowest reserved range that overlaps [start, end).
            let hit = reserved
                .iter()
                .filter(|r| r.start < end && r.end > start)
                .min_by_key(|r| r.start);
            let Some(hit) = hit else {
                self.push_region(start, end - start, MemoryKind::Usable);
                return;
            };
            let hit_start = hit.start & !(PAGE - 1);
            if hit_start > start {
                self.push_region(start, hit_start - start, MemoryKind::Usable);
            }
            start = crate::align_up(hit.end, PAGE);
        }
    }

    pub fn regions(&self) -> &[MemoryRegion] {
        let len = (self.memory_map_len as usize).min(MAX_MEMORY_REGIONS);
        &self.memory_map[..len]
    }
}

const _: () = assert!(core::mem::size_of::<BootInfo>() <= 4096);

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::{vec, vec::Vec};

    fn usable(info: &BootInfo) -> Vec<(u64, u64)> {
        info.regions()
            .iter()
            .map(|r| (r.start, r.start + r.size))
            .collect()
    }

    #[test]
    fn usable_ram_skips_reserved_ranges_and_rounds_inwards() {
        let mut info = BootInfo::zeroed();
        // RAM 0..64 KiB; reserved: the low 8 KiB, a range inside a page
        // (0x5100..0x5200 takes the whole page 0x5000), and one past the end.
        let reserved = [0..0x2000, 0x5100..0x5200, 0xf800..0x20000];
        info.push_usable_except(0, 0x10000, &reserved);
        assert_eq!(usable(&info), vec![(0x2000, 0x5000), (0x6000, 0xf000)]);
    }

    #[test]
    fn usable_ram_without_reservations_is_one_region() {
        let mut info = BootInfo::zeroed();
        info.push_usable_except(0x1001, 0x9fff, &[]);
        assert_eq!(usable(&info), vec![(0x2000, 0x9000)]);
        let mut info = BootInfo::zeroed();
        info.push_usable_except(0, 0x4000, &[0..0x2000, 0x2000..0x4000]);
        assert!(usable(&info).is_empty());
    }
}
