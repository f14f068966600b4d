//! `--stats`: what a run cost, from the VMM's own counters, the sentry's
//! exit report and KVM's binary statistics (KVM_GET_STATS_FD).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::FromRawFd;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use boards::hypercall::ExitStats;
use boards::Platform;
use kvm_ioctls::VcpuFd;

vmm_sys_util::ioctl_io_nr!(KVM_GET_STATS_FD, kvm_bindings::KVMIO, 0xce);

#[derive(Default)]
pub struct RunStats {
    pub platform: Option<Platform>,
    /// From process start to the first KVM_RUN.
    pub setup: Duration,
    /// Of which entering the jail (`crate::jail`).
    pub jail: Duration,
    /// From the first KVM_RUN to the exit request.
    pub run: Duration,
    pub tsc_khz: u64,
    /// KVM_RUN returns (exits that reached the VMM process).
    pub kvm_runs: u64,
    /// VMM exits by reason.
    pub exits: BTreeMap<&'static str, u64>,
    pub guest: ExitStats,
    pub console_bytes: u64,
    /// Requests to shared host directories.
    pub host_file_requests: u64,
    /// Host-file batches served from the ring (`crate::fsring`), and the
    /// exits that woke its sleeping I/O thread.
    pub host_file_ring_batches: u64,
    pub host_file_ring_wakes: u64,
    /// Guest RAM backed ahead of the sentry on its hints (`crate::prefault`).
    pub prefaulted_bytes: u64,
    /// KVM's per-vCPU counters (all exits, including those the host kernel
    /// handles without returning to us).
    pub kvm: BTreeMap<String, u64>,
}

impl RunStats {
    fn tsc_ms(&self, ticks: u64) -> f64 {
        if self.tsc_khz == 0 {
            return 0.0;
        }
        ticks as f64 / self.tsc_khz as f64
    }

    /// One line of key=value pairs.
    pub fn summary(&self) -> String {
        let guest_boot_ms = self.tsc_ms(self.guest.boot_tsc);
        let mut line = format!(
            "rvisor: stats: platform={} boot_ms={:.3} setup_ms={:.3} jail_ms={:.3} guest_boot_ms={:.3} run_ms={:.3} \
             syscalls={} page_faults={} hypercalls={} vmm_exits={} vm_exits={} console_bytes={} \
             host_file_requests={} host_file_wait_ms={:.3} fsring_batches={} fsring_wakes={} blocks_2m={} fork_copied_kb={} prefaulted_kb={}",
            self.platform.map_or("unknown", |p| p.name()),
            self.setup.as_secs_f64() * 1e3 + guest_boot_ms,
            self.setup.as_secs_f64() * 1e3,
            self.jail.as_secs_f64() * 1e3,
            guest_boot_ms,
            self.tsc_ms(self.guest.run_tsc),
            self.guest.syscalls,
            self.guest.page_faults,
            self.guest.hypercalls,
            self.kvm_runs,
            self.kvm.get("exits").copied().unwrap_or(self.kvm_runs),
            self.console_bytes,
            self.host_file_requests,
            self.tsc_ms(self.guest.host_file_wait_tsc),
            self.host_file_ring_batches,
            self.host_file_ring_wakes,
            self.guest.block_mappings,
            self.guest.fork_copied_bytes / 1024,
            self.prefaulted_bytes / 1024,
        );
        for (reason, count) in &self.exits {
            line.push_str(&format!(" exits_{reason}={count}"));
        }
        for key in [
            "io_exits",
            "mmio_exits",
            "halt_exits",
            "irq_exits",
            "pf_taken",
            "insn_emulation",
        ] {
            if let Some(v) = self.kvm.get(key) {
                line.push_str(&format!(" kvm_{key}={v}"));
            }
        }
        line
    }
}

/// Reader of a vCPU's KVM binary stats.
pub struct KvmStats {
    file: File,
}

impl KvmStats {
    pub fn open(vcpu: &VcpuFd) -> Option<KvmStats> {
        // SAFETY: KVM_GET_STATS_FD takes no argument and returns a new fd.
        let fd = unsafe { vmm_sys_util::ioctl::ioctl(vcpu, KVM_GET_STATS_FD()) };
        if fd < 0 {
            return None;
        }
        Some(KvmStats {
            // SAFETY: the fd was just returned to us and is owned by nobody
            // else.
            file: unsafe { File::from_raw_fd(fd) },
        })
    }

    /// Name -> value of every single-value counter.
    pub fn read(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        let mut header = [0u8; 24];
        if self.file.read_exact_at(&mut header, 0).is_err() {
            return out;
        }
        let word = |o: usize| u32::from_le_bytes(header[o..o + 4].try_into().unwrap()) as usize;
        let (name_size, count, desc_offset, data_offset) = (word(4), word(8), word(16), word(20));
        if count > 4096 || name_size > 1024 {
            return out;
        }
        let desc_size = 16 + name_size;
        let mut descs = vec![0u8; desc_size * count];
        if self
            .file
            .read_exact_at(&mut descs, desc_offset as u64)
            .is_err()
        {
            return out;
        }
        for desc in descs.chunks_exact(desc_size) {
            let size = u16::from_le_bytes([desc[6], desc[7]]);
            let offset = u32::from_le_bytes(desc[8..12].try_into().unwrap()) as u64;
            if size != 1 {
                continue;
            }
            let name: String = desc[16..]
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as char)
                .collect();
            let mut value = [0u8; 8];
            if self
                .file
                .read_exact_at(&mut value, data_offset as u64 + offset)
                .is_ok()
            {
                out.insert(name, u64::from_le_bytes(value));
            }
        }
        out
    }
}
