//! The application payload of a bare-metal image: the application's ELF and
//! its argv/envp, in one blob that the sentry finds without a VMM.
//!
//! `qemu-runner` builds an image as one ELF file: the sentry's own PT_LOAD
//! segments, its PVH note, and one more PT_LOAD segment holding this blob at
//! the first 4 KiB-aligned physical address after the sentry's image (bss
//! included), so the sentry finds it at `align_up(__kernel_end, 4096)`. The
//! same blob also works as the first PVH module (`-initrd`), which the
//! sentry looks at when nothing is embedded.
//!
//! Layout: a [`PayloadHeader`], then the application ELF at `app_offset`,
//! then the packed NUL-terminated strings (exe path, argv, envp, as in
//! [`crate::bootinfo::BootInfo::strings`]) at `strings_offset`. Offsets are
//! from the start of the header; everything lies within `total_size`.

/// "RVISORAP" as a little-endian u64.
pub const PAYLOAD_MAGIC: u64 = u64::from_le_bytes(*b"RVISORAP");
pub const PAYLOAD_VERSION: u32 = 1;
/// Alignment of the payload's physical address and of the ELF inside it.
pub const PAYLOAD_ALIGN: u64 = 4096;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PayloadHeader {
    pub magic: u64,
    pub version: u32,
    pub header_size: u32,
    /// Bytes from the start of the header to the end of the strings.
    pub total_size: u64,
    pub app_offset: u64,
    pub app_size: u64,
    pub strings_offset: u64,
    pub strings_size: u64,
    pub argc: u32,
    pub envc: u32,
    /// [`crate::bootinfo::BootInfo::flags`] bits (e.g. verbose logs).
    pub flags: u64,
    /// Host CLOCK_REALTIME (ns) when the image was built: the wall clock the
    /// sentry falls back on when the board has no readable RTC.
    pub build_realtime_ns: u64,
}

pub const PAYLOAD_HEADER_SIZE: u64 = core::mem::size_of::<PayloadHeader>() as u64;

impl PayloadHeader {
    /// Checks the header against the `available` bytes that follow its
    /// start; returns a reason when it cannot be trusted.
    pub fn validate(&self, available: u64) -> Result<(), &'static str> {
        if self.magic != PAYLOAD_MAGIC {
            return Err("no payload magic");
        }
        if self.version != PAYLOAD_VERSION || self.header_size as u64 != PAYLOAD_HEADER_SIZE {
            return Err("unsupported payload version");
        }
        if self.total_size > available {
            return Err("payload larger than its container");
        }
        let inside = |offset: u64, size: u64| {
            offset >= PAYLOAD_HEADER_SIZE
                && offset
                    .checked_add(size)
                    .is_some_and(|end| end <= self.total_size)
        };
        if !inside(self.app_offset, self.app_size)
            || !inside(self.strings_offset, self.strings_size)
        {
            return Err("payload ranges out of bounds");
        }
        Ok(())
    }

    /// The boot info of a bare-metal boot (no VMM: platform native, no
    /// hypercall page) for this payload found at `payload_phys`; the board
    /// code adds the memory map, the counter frequency, the wall clock and
    /// the random seed.
    pub fn bare_metal_boot_info(
        &self,
        payload_phys: u64,
        page_table_root: u64,
        console_ring: crate::bootinfo::PhysRange,
    ) -> crate::bootinfo::BootInfo {
        use crate::bootinfo::{BootInfo, PhysRange, BOOT_INFO_MAGIC, BOOT_INFO_VERSION};
        let mut info = BootInfo::zeroed();
        info.magic = BOOT_INFO_MAGIC;
        info.version = BOOT_INFO_VERSION;
        info.platform = crate::Platform::Native as u32;
        info.cpu_count = 1;
        info.page_table_root = page_table_root;
        info.hypercall_page = 0;
        info.console_ring = console_ring;
        info.app_image = PhysRange {
            start: payload_phys + self.app_offset,
            size: self.app_size,
        };
        info.strings = PhysRange {
            start: payload_phys + self.strings_offset,
            size: self.strings_size,
        };
        info.argc = self.argc;
        info.envc = self.envc;
        info.flags = self.flags;
        info.boot_realtime_ns = self.build_realtime_ns;
        info
    }
}

const _: () = assert!(PAYLOAD_HEADER_SIZE == 80);
