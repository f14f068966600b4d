//! The VMM side of the host-file request ring (`boards::fsring`): an I/O
//! thread serves host-file requests while the vCPU keeps running.
//!
//! The I/O thread spins for [`SPIN`] after its last batch (a burst of
//! lookups, stats and reads then costs a few microseconds per request, no
//! exit), then sleeps on a condition variable. A sentry that finds it
//! asleep rings the doorbell with `Op::FsRingWake`: the vCPU thread serves
//! the pending batch itself in that exit and wakes the I/O thread.
//!
//! Between batches the I/O thread also backs guest RAM the sentry hinted
//! at (`crate::prefault`), in pieces small enough that a batch arriving
//! meanwhile is still served within the sentry's patience. Without
//! shared directories there is no ring and the thread only does that.
//!
//! Both threads serve through [`FsRing::serve_pending`], under one lock
//! that also guards [`HostFs`] (the exit path and the console ring's
//! buffered writes use it too), so each batch is served exactly once and in
//! order. The guest is hostile: `count` is bounded, only host-file
//! operations are run (anything else gets `-ENOSYS`), every request is
//! checked by `HostFs` as on the exit path, and nothing here waits for the
//! guest.

use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use boards::fsring::*;
use boards::hypercall::{Op, Request, RESULT_OFFSET};
use boards::Wire;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::error::Failure;
use crate::hostfs::HostFs;
use crate::hypercall::GuestMem;
use crate::prefault::Prefaulter;

/// How long the I/O thread polls the ring after its last batch before it
/// sleeps (see docs/PLATFORM-x86-kvm.md for the measurement).
pub const SPIN: Duration = Duration::from_micros(1000);

const ENOSYS: i64 = 38;

/// What the lock guards: the host-file server and the last batch served.
pub struct Served {
    pub hostfs: HostFs,
    served: u64,
}

pub struct FsRing {
    mem: GuestMemoryMmap,
    /// Guest-physical address of the ring page; 0: no ring.
    base: u64,
    state: Mutex<Served>,
    /// Copy of `Served::served`, read without the lock while spinning.
    served_hint: AtomicU64,
    wake: Mutex<bool>,
    wake_cond: Condvar,
    stop: AtomicBool,
    /// Host-file requests served through the ring, batches, wake-up exits.
    pub requests: AtomicU64,
    pub batches: AtomicU64,
    pub wakes: AtomicU64,
    /// Where `Op::RamPrefault` hints go (None: refused with ENOSYS).
    prefault: Option<Prefaulter>,
}

impl FsRing {
    /// The server for `hostfs`, with the ring at `base` (0: none; the
    /// exit path still works).
    pub fn new(
        mem: GuestMemoryMmap,
        base: u64,
        hostfs: HostFs,
        prefault: Option<Prefaulter>,
    ) -> Arc<FsRing> {
        Arc::new(FsRing {
            mem,
            base,
            state: Mutex::new(Served { hostfs, served: 0 }),
            served_hint: AtomicU64::new(0),
            wake: Mutex::new(false),
            wake_cond: Condvar::new(),
            stop: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            wakes: AtomicU64::new(0),
            prefault,
        })
    }

    /// `Op::RamPrefault`, from the ring or from an exit: queued for the
    /// I/O thread, woken if it sleeps.
    pub fn prefault(&self, [gpa, len, ..]: [u64; 6]) -> i64 {
        let Some(prefault) = &self.prefault else {
            return -ENOSYS;
        };
        let result = prefault.hint(gpa, len);
        if result == 0 {
            self.wake_thread();
        }
        result
    }

    fn wake_thread(&self) {
        *self.wake.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake_cond.notify_one();
    }

    /// The host-file server, for the exit path and the console ring.
    pub fn lock(&self) -> MutexGuard<'_, Served> {
        // A panic on the other thread is reported by that thread; the
        // server's state is still consistent between requests.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn submitted(&self) -> Option<u64> {
        self.mem
            .load::<u64>(
                GuestAddress(self.base + SUBMITTED_OFFSET),
                Ordering::Acquire,
            )
            .ok()
    }

    /// Serves the batch the guest submitted, if there is a new one. True if
    /// one was served.
    pub fn serve_pending(&self) -> bool {
        if self.base == 0 {
            return false;
        }
        let mut state = self.lock();
        let Some(submitted) = self.submitted() else {
            return false;
        };
        if submitted == state.served {
            return false;
        }
        let count = self
            .mem
            .load::<u32>(GuestAddress(self.base + COUNT_OFFSET), Ordering::Relaxed)
            .unwrap_or(0) as usize;
        if count > FS_RING_BATCH {
            log::warn!("guest put {count} requests in the host-file ring; ignored");
        } else {
            for i in 0..count {
                let at = self.base + request_offset(i);
                let mut bytes = [0u8; std::mem::size_of::<Request>()];
                if self.mem.read_slice(&mut bytes, GuestAddress(at)).is_err() {
                    break;
                }
                let Some(request) = Request::read_from(&bytes) else {
                    break;
                };
                let result = match Op::from_raw(request.op) {
                    Some(Op::RamPrefault) => self.prefault(request.args),
                    Some(op) if op.is_host_file() => {
                        state
                            .hostfs
                            .handle_request(op, request.args, &GuestMem(&self.mem))
                    }
                    _ => -ENOSYS,
                };
                let _ = self.mem.write_obj(result, GuestAddress(at + RESULT_OFFSET));
            }
            self.requests.fetch_add(count as u64, Ordering::Relaxed);
        }
        state.served = submitted;
        self.served_hint.store(submitted, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        let _ = self.mem.store(
            submitted,
            GuestAddress(self.base + COMPLETED_OFFSET),
            Ordering::Release,
        );
        true
    }

    /// `Op::FsRingWake`: serves the pending batch now (this exit) and wakes
    /// the I/O thread for the next ones.
    pub fn wake(&self) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.serve_pending();
        // Cleared here, not when the thread runs: the next batch then
        // waits for the thread instead of costing another exit.
        self.set_sleeping(false);
        self.wake_thread();
    }

    fn set_sleeping(&self, sleeping: bool) {
        if self.base == 0 {
            return;
        }
        let _ = self.mem.store(
            sleeping as u32,
            GuestAddress(self.base + IO_SLEEPING_OFFSET),
            Ordering::SeqCst,
        );
    }

    /// A new batch may be waiting (one load, no lock).
    fn maybe_pending(&self) -> bool {
        self.base != 0
            && self
                .submitted()
                .is_some_and(|s| s != self.served_hint.load(Ordering::Relaxed))
    }

    /// Starts the I/O thread (before the vCPU thread's seccomp filter:
    /// starting a thread needs syscalls it refuses), which installs its own
    /// `filter` (`seccomp::fsring_thread`) first. It stops when `stop` is
    /// called. Neither a ring nor prefault: no thread.
    pub fn start(
        self: &Arc<FsRing>,
        filter: Option<seccompiler::BpfProgram>,
    ) -> Result<Option<crate::seccomp::ThreadStarting>, Failure> {
        if self.base == 0 && self.prefault.is_none() {
            return Ok(None);
        }
        let ring = self.clone();
        crate::seccomp::spawn_filtered_thread(
            "rvisor-fsring",
            "host-file I/O thread",
            filter,
            move || ring.io_thread(),
        )
        .map(Some)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake_thread();
    }

    fn io_thread(&self) {
        use crate::prefault::{PIECE_BUSY, PIECE_IDLE};
        // Asleep until the first batch.
        let mut last = Instant::now()
            .checked_sub(SPIN)
            .unwrap_or_else(Instant::now);
        while !self.stop.load(Ordering::Relaxed) {
            if self.maybe_pending() && self.serve_pending() {
                last = Instant::now();
                continue;
            }
            // Batches are coming (no spinning without a ring).
            let busy = self.base != 0 && last.elapsed() < SPIN;
            if let Some(prefault) = &self.prefault {
                if prefault.back_some(if busy { PIECE_BUSY } else { PIECE_IDLE }) {
                    continue;
                }
            }
            if busy {
                // Polling, but giving way: on a busy host the vCPU thread
                // (or anyone) gets the CPU; on an idle one sched_yield
                // returns at once (~1 us).
                std::thread::yield_now();
                continue;
            }
            // Sleep: announce it, then look once more (the sentry stores
            // `submitted`, fences, then reads `io_sleeping`).
            self.set_sleeping(true);
            fence(Ordering::SeqCst);
            if self.serve_pending() {
                self.set_sleeping(false);
                last = Instant::now();
                continue;
            }
            let mut woken = self.wake.lock().unwrap_or_else(|e| e.into_inner());
            while !*woken {
                woken = self
                    .wake_cond
                    .wait(woken)
                    .unwrap_or_else(|e| e.into_inner());
            }
            *woken = false;
            drop(woken);
            // Woken by a doorbell (which cleared the flag) or a prefault
            // hint (which did not): either way the guest is busy.
            self.set_sleeping(false);
            last = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The ring as a hostile sentry would use it: the VMM answers every
    //! malformed batch with errors and carries on.
    use super::*;
    use crate::hostfs::MountSpec;
    use boards::hypercall::{HostStat, Request};

    const RING: u64 = 0x1000;
    const DATA: u64 = 0x2000;
    const RAM: u64 = 0x8000;

    fn setup(name: &str) -> (GuestMemoryMmap, Arc<FsRing>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("rvisor-fsring-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("file"), b"contents").unwrap();
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM as usize)]).unwrap();
        let hostfs = HostFs::new(vec![
            MountSpec::parse(&format!("{}:/m", dir.display())).unwrap()
        ])
        .unwrap();
        let ring = FsRing::new(mem.clone(), RING, hostfs, None);
        (mem, ring, dir)
    }

    /// What the sentry does: requests, count, then `submitted`.
    fn submit(mem: &GuestMemoryMmap, seq: u64, count: u32, requests: &[Request]) {
        for (i, r) in requests.iter().enumerate() {
            mem.write_slice(r.as_bytes(), GuestAddress(RING + request_offset(i)))
                .unwrap();
        }
        mem.write_obj(count, GuestAddress(RING + COUNT_OFFSET))
            .unwrap();
        mem.write_obj(seq, GuestAddress(RING + SUBMITTED_OFFSET))
            .unwrap();
    }

    fn result(mem: &GuestMemoryMmap, i: usize) -> i64 {
        mem.read_obj(GuestAddress(RING + request_offset(i) + RESULT_OFFSET))
            .unwrap()
    }

    fn completed(mem: &GuestMemoryMmap) -> u64 {
        mem.read_obj(GuestAddress(RING + COMPLETED_OFFSET)).unwrap()
    }

    fn request(op: u32, args: &[u64]) -> Request {
        let mut r = Request {
            op,
            result: 12345,
            ..Request::default()
        };
        r.args[..args.len()].copy_from_slice(args);
        r
    }

    #[test]
    fn serves_a_batch_once_and_in_order() {
        let (mem, ring, dir) = setup("order");
        mem.write_slice(b"file", GuestAddress(DATA)).unwrap();
        // Lookup of "file" beneath mount 0, then a stat of the root.
        let batch = [
            request(Op::HostLookup as u32, &[0, DATA, 4, DATA + 0x100]),
            request(Op::HostStat as u32, &[0, DATA + 0x200]),
        ];
        assert!(!ring.serve_pending(), "nothing submitted yet");
        submit(&mem, 1, 2, &batch);
        assert!(ring.serve_pending());
        assert!(result(&mem, 0) >= 1, "a new handle: {}", result(&mem, 0));
        assert_eq!(result(&mem, 1), 0);
        let mut bytes = [0u8; std::mem::size_of::<HostStat>()];
        mem.read_slice(&mut bytes, GuestAddress(DATA + 0x100))
            .unwrap();
        let stat = HostStat::read_from(&bytes).unwrap();
        assert_eq!(stat.size, 8);
        assert_eq!(completed(&mem), 1);
        // The same sequence number again: not served twice.
        assert!(!ring.serve_pending());
        assert_eq!(ring.requests.load(Ordering::Relaxed), 2);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// HostStatfs answers with the host filesystem's statfs, its fsid
    /// withheld; a bad handle or address is an error.
    #[test]
    fn statfs_reports_the_host_filesystem() {
        use boards::hypercall::HostStatfs;
        let (mem, ring, dir) = setup("statfs");
        let batch = [
            request(Op::HostStatfs as u32, &[0, DATA]),
            request(Op::HostStatfs as u32, &[u64::MAX, DATA]),
            request(Op::HostStatfs as u32, &[0, RAM - 8]),
        ];
        submit(&mem, 1, batch.len() as u32, &batch);
        assert!(ring.serve_pending());
        assert_eq!(result(&mem, 0), 0);
        assert_eq!(result(&mem, 1), -(libc::EBADF as i64));
        assert_eq!(result(&mem, 2), -(libc::EFAULT as i64));
        let mut bytes = [0u8; std::mem::size_of::<HostStatfs>()];
        mem.read_slice(&mut bytes, GuestAddress(DATA)).unwrap();
        let got = HostStatfs::read_from(&bytes).unwrap();
        // SAFETY: statfs of a NUL-terminated path into a zeroed struct.
        let mut want: libc::statfs = unsafe { std::mem::zeroed() };
        let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::statfs(path.as_ptr(), &mut want) }, 0);
        assert_eq!(got.fields[0], want.f_type as u64);
        assert_eq!(got.fields[1], want.f_bsize as u64);
        assert_eq!(got.fields[7], 0, "the host's fsid stays on the host");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Reads land in guest RAM and writes come from it with no copy in
    /// between; a transfer that runs past guest RAM is refused whole.
    #[test]
    fn reads_and_writes_move_guest_memory() {
        let dir = std::env::temp_dir().join(format!("rvisor-fsring-rw-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("file"), b"contents").unwrap();
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM as usize)]).unwrap();
        let spec = MountSpec::parse(&format!("{}:/m:rw", dir.display())).unwrap();
        let ring = FsRing::new(mem.clone(), RING, HostFs::new(vec![spec]).unwrap(), None);
        mem.write_slice(b"file", GuestAddress(DATA)).unwrap();
        submit(
            &mem,
            1,
            1,
            &[request(Op::HostLookup as u32, &[0, DATA, 4, DATA + 0x100])],
        );
        assert!(ring.serve_pending());
        let path = result(&mem, 0) as u64;
        submit(
            &mem,
            2,
            1,
            &[request(Op::HostReopen as u32, &[path, libc::O_RDWR as u64])],
        );
        assert!(ring.serve_pending());
        let io = result(&mem, 0) as u64;
        assert!(result(&mem, 0) > 0, "reopen: {}", result(&mem, 0));
        mem.write_slice(b"MORE", GuestAddress(DATA + 0x300))
            .unwrap();
        let batch = [
            request(Op::HostRead as u32, &[io, 0, DATA + 0x200, 64]),
            request(Op::HostWrite as u32, &[io, 8, DATA + 0x300, 4]),
            // 16 bytes from 8 before the end of RAM: refused, nothing read.
            request(Op::HostRead as u32, &[io, 0, RAM - 8, 16]),
            request(Op::HostWrite as u32, &[io, 0, RAM - 8, 16]),
        ];
        submit(&mem, 3, batch.len() as u32, &batch);
        assert!(ring.serve_pending());
        assert_eq!(result(&mem, 0), 8);
        let mut got = [0u8; 8];
        mem.read_slice(&mut got, GuestAddress(DATA + 0x200))
            .unwrap();
        assert_eq!(&got, b"contents");
        assert_eq!(result(&mem, 1), 4);
        assert_eq!(result(&mem, 2), -(libc::EFAULT as i64));
        assert_eq!(result(&mem, 3), -(libc::EFAULT as i64));
        assert_eq!(std::fs::read(dir.join("file")).unwrap(), b"contentsMORE");
        let mut tail = [1u8; 8];
        mem.read_slice(&mut tail, GuestAddress(RAM - 8)).unwrap();
        assert_eq!(tail, [0u8; 8], "a refused read leaves guest memory alone");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// With shared directories the descriptor table is grown up front
    /// (growing it later, with threads, waits for an RCU grace period).
    #[test]
    fn the_descriptor_table_is_grown_up_front() {
        let (_mem, _ring, dir) = setup("fdsize");
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let size: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("FDSize:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("FDSize in /proc/self/status");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        if limit.rlim_cur as usize > crate::hostfs::MAX_HANDLES + 256 {
            assert!(size > crate::hostfs::MAX_HANDLES, "FDSize {size}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn hostile_batches_get_errors() {
        let (mem, ring, dir) = setup("hostile");
        // Too many requests: none is run, the batch still completes.
        submit(
            &mem,
            1,
            FS_RING_BATCH as u32 + 1,
            &[request(Op::HostStat as u32, &[0, DATA])],
        );
        assert!(ring.serve_pending());
        assert_eq!(result(&mem, 0), 12345, "not run");
        assert_eq!(completed(&mem), 1);
        // Not host-file requests: the ring runs none of them.
        let batch = [
            request(Op::Exit as u32, &[0, 0, 0]),
            request(Op::ConsoleRead as u32, &[DATA, 16]),
            request(Op::FsRingWake as u32, &[]),
            request(9999, &[]),
        ];
        submit(&mem, 2, 4, &batch);
        assert!(ring.serve_pending());
        for i in 0..4 {
            assert_eq!(result(&mem, i), -ENOSYS, "request {i}");
        }
        // Addresses outside guest RAM, bad handles, names that would leave
        // the mount.
        mem.write_slice(b"..", GuestAddress(DATA)).unwrap();
        mem.write_slice(b"a/b", GuestAddress(DATA + 16)).unwrap();
        let batch = [
            request(Op::HostStat as u32, &[0, RAM + 0x1000]),
            request(Op::HostStat as u32, &[u64::MAX, DATA]),
            request(Op::HostLookup as u32, &[0, DATA, 2, DATA + 0x100]),
            request(Op::HostLookup as u32, &[0, DATA + 16, 3, DATA + 0x100]),
            request(Op::HostLookup as u32, &[0, u64::MAX - 1, 2, DATA + 0x100]),
            request(Op::HostRead as u32, &[0, 0, DATA, u64::MAX]),
        ];
        submit(&mem, 3, batch.len() as u32, &batch);
        assert!(ring.serve_pending());
        for i in 0..batch.len() {
            assert!(result(&mem, i) < 0, "request {i}: {}", result(&mem, i));
        }
        // A ring outside guest RAM is never served (and nothing panics).
        let hostfs = HostFs::new(Vec::new()).unwrap();
        let outside = FsRing::new(mem.clone(), RAM + 0x1000, hostfs, None);
        assert!(!outside.serve_pending());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_io_thread_serves_without_an_exit_and_sleeps() {
        let (mem, ring, dir) = setup("thread");
        ring.start(None).unwrap().unwrap().wait().unwrap();
        let batch = [request(Op::HostStat as u32, &[0, DATA])];
        // Asleep at first: the sentry would ring; `wake` serves and wakes.
        submit(&mem, 1, 1, &batch);
        ring.wake();
        assert_eq!(completed(&mem), 1);
        // Now awake (spinning): a batch completes with no help.
        submit(&mem, 2, 1, &batch);
        let started = Instant::now();
        while completed(&mem) != 2 {
            assert!(started.elapsed() < Duration::from_secs(30), "not served");
            std::thread::yield_now();
        }
        assert_eq!(result(&mem, 0), 0);
        // After a quiet spell it says it sleeps.
        let started = Instant::now();
        while mem
            .read_obj::<u32>(GuestAddress(RING + IO_SLEEPING_OFFSET))
            .unwrap()
            == 0
        {
            assert!(started.elapsed() < Duration::from_secs(30), "never sleeps");
            std::thread::sleep(Duration::from_millis(1));
        }
        ring.stop();
        let _ = std::fs::remove_dir_all(dir);
    }
}
