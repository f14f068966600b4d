//! The VMM side of the hypercall channel (ABI in `boards::hypercall`).
//!
//! The guest is hostile: every count, length and address is checked before
//! use, and a malformed request gets a negative errno back, never a crash.

use std::io::Read;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;

use boards::hypercall::*;
use boards::Wire;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use std::time::{Duration, Instant};

use crate::console::ConsoleRing;
use crate::error::{internal, Failure};
use crate::events::EventRing;
use crate::fsring::FsRing;
use crate::hostfs::GuestAccess;

/// Longest panic message we copy out of the guest.
const MAX_MESSAGE: u64 = 4096;

const EINTR: i64 = 4;
const EFAULT: i64 = 14;
const EINVAL: i64 = 22;
const ENOSYS: i64 = 38;

/// How the application ended, as the sentry reported it.
#[derive(Debug, Clone, Copy)]
pub enum AppExit {
    Exited(u8),
    Signaled(u8),
}

#[derive(Debug)]
pub enum BatchOutcome {
    Continue,
    Exit(AppExit, Option<ExitStats>),
}

pub struct Hypercalls<'a> {
    mem: &'a GuestMemoryMmap,
    page: u64,
    pub console: ConsoleRing,
    pub events: EventRing,
    deadline: Option<Instant>,
    /// The host-file server (shared with the ring's I/O thread).
    pub fsring: std::sync::Arc<FsRing>,
    /// Host-file requests served in exits (for --stats).
    pub host_file_requests: u64,
}

/// Guest memory, bounds-checked, for the host-file server.
pub(crate) struct GuestMem<'a>(pub &'a GuestMemoryMmap);

impl GuestAccess for GuestMem<'_> {
    fn read(&self, gpa: u64, len: u64) -> Option<Vec<u8>> {
        if len > MAX_TRANSFER {
            return None;
        }
        let mut buf = vec![0u8; len as usize];
        self.0.read_slice(&mut buf, GuestAddress(gpa)).ok()?;
        Some(buf)
    }

    fn write(&self, gpa: u64, bytes: &[u8]) -> Option<()> {
        self.0.write_slice(bytes, GuestAddress(gpa)).ok()
    }

    /// Straight into guest RAM: a bounce buffer costs a fresh heap
    /// allocation per request and, past malloc's mmap threshold, a page
    /// fault per 4 KiB (~8 us each on our nested hosts: 2 ms for 1 MiB).
    fn pread_into(&self, fd: i32, offset: u64, gpa: u64, len: u64) -> Result<usize, i64> {
        let slice = self.guest_slice(gpa, len).ok_or(-EFAULT)?;
        let guard = slice.ptr_guard_mut();
        // SAFETY: `slice` is `len` bytes of guest RAM, mapped in this
        // process for the VM's lifetime; pread writes at most that many
        // bytes there. The guest may touch them meanwhile: the kernel's
        // copy does not care, and nothing here reads them.
        transferred(unsafe { libc::pread(fd, guard.as_ptr().cast(), slice.len(), offset as i64) })
    }

    fn pwrite_from(&self, fd: i32, offset: u64, gpa: u64, len: u64) -> Result<usize, i64> {
        let slice = self.guest_slice(gpa, len).ok_or(-EFAULT)?;
        let guard = slice.ptr_guard();
        // SAFETY: as in `pread_into`; pwrite only reads the slice.
        transferred(unsafe { libc::pwrite(fd, guard.as_ptr().cast(), slice.len(), offset as i64) })
    }
}

/// A pread/pwrite result: the bytes moved, or the negated errno.
fn transferred(n: isize) -> Result<usize, i64> {
    if n < 0 {
        return Err(crate::hostfs::errno());
    }
    Ok(n as usize)
}

impl GuestMem<'_> {
    /// `len` bytes of guest RAM at `gpa` (guest RAM is one region, see
    /// `vm::build_guest`); None if any of it lies outside.
    fn guest_slice(
        &self,
        gpa: u64,
        len: u64,
    ) -> Option<vm_memory::VolatileSlice<'_, vm_memory::bitmap::BS<'_, ()>>> {
        if len > MAX_TRANSFER {
            return None;
        }
        self.0.get_slice(GuestAddress(gpa), len as usize).ok()
    }
}

/// A host fd wrapped as a File without taking ownership.
fn host_file(fd: i32) -> ManuallyDrop<std::fs::File> {
    // SAFETY: fds 0-2 are open for the process's lifetime; ManuallyDrop
    // keeps the File from closing them.
    ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// Whether the host's stdin is readable now (or at end of file).
fn stdin_readable_now() -> bool {
    let mut fds = [libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: polls one valid pollfd without waiting.
    unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) > 0 }
}

fn errno_of(e: &std::io::Error) -> i64 {
    -(e.raw_os_error().unwrap_or(EINVAL as i32) as i64)
}

impl<'a> Hypercalls<'a> {
    pub fn new(
        mem: &'a GuestMemoryMmap,
        page: u64,
        console: ConsoleRing,
        events: EventRing,
        deadline: Option<Instant>,
        fsring: std::sync::Arc<FsRing>,
    ) -> Hypercalls<'a> {
        Hypercalls {
            mem,
            page,
            console,
            events,
            deadline,
            fsring,
            host_file_requests: 0,
        }
    }

    /// Drains the console ring (output and buffered host-file writes).
    pub fn drain(&mut self) {
        self.console.drain(&mut self.fsring.lock().hostfs);
    }

    /// The work of a kick (`crate::vcpu`), in the vCPU loop or when one
    /// interrupts a blocking host call: drains the console, reports an
    /// expired deadline, and publishes what the sentry must hear (signals
    /// sent to rvisor-vmm; stdin readiness, when it asked).
    pub fn service(&mut self) -> Result<(), Failure> {
        self.console.drain(&mut self.fsring.lock().hostfs);
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Failure::Timeout("timed out".into()));
        }
        self.events.add_signals(crate::vcpu::take_host_signals());
        if crate::net::take_guest_wake() {
            self.events.add_net();
        }
        if crate::vcpu::take_timer_fired() {
            self.events.add_timer();
        }
        for (kind, slot) in crate::exec::take_events() {
            self.events.add_exec(kind, slot);
        }
        if self.events.stdin_watched() && stdin_readable_now() {
            self.events.add_stdin_ready();
        }
        self.events.flush();
        Ok(())
    }

    /// A blocking host call was interrupted (EINTR): takes the kicks and
    /// does their work. True when events wait for the sentry, which must
    /// then get the vCPU back to read them.
    fn interrupted(&mut self) -> Result<bool, Failure> {
        crate::vcpu::take_kicks();
        self.service()?;
        Ok(self.events.unconsumed())
    }

    /// Copies `len` guest bytes at `gpa`; None if the range is not RAM.
    fn guest_bytes(&self, gpa: u64, len: u64) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        self.mem.read_slice(&mut buf, GuestAddress(gpa)).ok()?;
        Some(buf)
    }

    /// Runs the batch the guest just rang the doorbell for.
    pub fn handle_batch(&mut self) -> Result<BatchOutcome, Failure> {
        // Output written before the requests (a prompt before a read, the
        // last words before an exit) goes out first.
        self.console.drain(&mut self.fsring.lock().hostfs);
        let count = self
            .mem
            .read_obj::<u32>(GuestAddress(self.page + COUNT_OFFSET))
            .map_err(|e| internal(format!("hypercall page unreadable: {e}")))?
            as u64;
        if count > MAX_BATCH as u64 {
            log::warn!("guest sent a hypercall batch of {count} requests; ignored");
            return Ok(BatchOutcome::Continue);
        }
        for i in 0..count {
            let base = self.page + request_offset(i as usize);
            let request = self
                .guest_bytes(base, std::mem::size_of::<Request>() as u64)
                .and_then(|b| Request::read_from(&b))
                .ok_or_else(|| internal("hypercall page unreadable"))?;
            let args = request.args;
            let result = match Op::from_raw(request.op) {
                // Drained above, before the batch.
                Some(Op::ConsoleDrain) => 0,
                Some(Op::ConsoleRead) => self.console_read(args)?,
                Some(Op::ConsolePoll) => self.console_poll(args)?,
                Some(Op::Exit) => return Ok(self.exit(args)),
                Some(Op::Panic) => {
                    let message = self.message(args[0], args[1]);
                    return Err(internal(format!("guest kernel fault: {message}")));
                }
                Some(Op::ExecRequest) => self.exec_request(args),
                Some(Op::ExecInput) => self.exec_input(args),
                Some(Op::ExecExit) => crate::exec::exited(args[0], args[1]),
                Some(Op::SetTimer) => crate::vcpu::set_timer(args[0]),
                Some(Op::RamPrefault) => self.fsring.prefault(args),
                Some(Op::FsRingWake) => {
                    self.fsring.wake();
                    0
                }
                Some(op) => {
                    self.host_file_requests += 1;
                    self.fsring
                        .lock()
                        .hostfs
                        .handle_request(op, args, &GuestMem(self.mem))
                }
                None => -ENOSYS,
            };
            self.mem
                .write_obj(result, GuestAddress(base + RESULT_OFFSET))
                .map_err(|e| internal(format!("hypercall page unwritable: {e}")))?;
        }
        Ok(BatchOutcome::Continue)
    }

    fn exec_request(&self, [slot, gpa, len, ..]: [u64; 6]) -> i64 {
        match crate::exec::request(slot) {
            Ok(bytes) if bytes.len() as u64 > len => -(libc::ERANGE as i64),
            Ok(bytes) => match self.mem.write_slice(&bytes, GuestAddress(gpa)) {
                Ok(()) => bytes.len() as i64,
                Err(_) => -EFAULT,
            },
            Err(e) => e,
        }
    }

    fn exec_input(&self, [slot, gpa, len, ..]: [u64; 6]) -> i64 {
        if len > MAX_TRANSFER || self.guest_bytes(gpa, len).is_none() {
            return -EFAULT;
        }
        let mut buf = vec![0u8; len as usize];
        let n = crate::exec::read_input(slot, &mut buf);
        if n > 0
            && self
                .mem
                .write_slice(&buf[..n as usize], GuestAddress(gpa))
                .is_err()
        {
            return -EFAULT;
        }
        n
    }

    fn console_read(&mut self, [gpa, len, ..]: [u64; 6]) -> Result<i64, Failure> {
        if len > MAX_TRANSFER {
            return Ok(-EINVAL);
        }
        // Check the destination before consuming input.
        if self.guest_bytes(gpa, len).is_none() {
            return Ok(-EFAULT);
        }
        // An event (a signal sent to rvisor-vmm) ends the wait before any
        // input is taken: the sentry delivers it and restarts the read or
        // fails it with EINTR, as the program's handler says.
        if self.events.unconsumed() {
            return Ok(-EINTR);
        }
        let mut buf = vec![0u8; len as usize];
        let n = loop {
            match host_file(0).read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    if self.interrupted()? {
                        return Ok(-EINTR);
                    }
                }
                Err(e) => return Ok(errno_of(&e)),
            }
        };
        Ok(match self.mem.write_slice(&buf[..n], GuestAddress(gpa)) {
            Ok(()) => n as i64,
            Err(_) => -EFAULT,
        })
    }

    /// Waits for stdin to become readable (or only sleeps, without
    /// watch_stdin). Ends early (result 0) when an event waits for the
    /// sentry.
    fn console_poll(&mut self, [timeout_ns, watch_stdin, ..]: [u64; 6]) -> Result<i64, Failure> {
        let started = Instant::now();
        if self.events.unconsumed() {
            return Ok(0);
        }
        let end = (timeout_ns != u64::MAX)
            .then(|| started.checked_add(Duration::from_nanos(timeout_ns)))
            .flatten();
        // The sentry has nothing to preempt while it sleeps here, so the
        // event thread sends no ticks meanwhile (`vcpu::Idle`): --timeout
        // bounds this wait itself.
        let wake = [end, self.deadline].into_iter().flatten().min();
        let _idle = crate::vcpu::Idle::begin();
        let poll_fd = |fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // The sleep is a timerfd, to the ns and without slack (the sentry
        // sleeps until its first deadline). A kick that landed before the
        // wait (while this batch was served) ends it too: its eventfd.
        let mut fds = [
            poll_fd(crate::vcpu::kick_fd()),
            poll_fd(crate::vcpu::arm_sleep(
                wake.map(|w| w.saturating_duration_since(started)),
            )),
            poll_fd(0),
        ];
        let nfds = 2 + u64::from(watch_stdin != 0);
        loop {
            // SAFETY: `fds` is a valid array of at least `nfds` pollfd.
            let r =
                unsafe { libc::ppoll(fds.as_mut_ptr(), nfds, std::ptr::null(), std::ptr::null()) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Ok(errno_of(&e));
                }
            } else if fds[2].revents != 0 {
                return Ok(1);
            } else if fds[1].revents != 0 {
                // The sleep's end, or the run's (service reports it).
                self.service()?;
                if end.is_none_or(|e| Instant::now() < e) {
                    // Not ours (a stale expiry): wait on.
                    crate::vcpu::arm_sleep(
                        wake.map(|w| w.saturating_duration_since(Instant::now())),
                    );
                    continue;
                }
                return Ok(0);
            }
            // A kick (EINTR or its eventfd).
            if self.interrupted()? {
                return Ok(0);
            }
        }
    }

    fn message(&self, gpa: u64, len: u64) -> String {
        self.guest_bytes(gpa, len.min(MAX_MESSAGE))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|| "<message outside guest memory>".into())
    }

    fn exit(&self, [kind, code, stats_gpa, ..]: [u64; 6]) -> BatchOutcome {
        let stats = (stats_gpa != 0)
            .then(|| self.guest_bytes(stats_gpa, std::mem::size_of::<ExitStats>() as u64))
            .flatten()
            .and_then(|b| ExitStats::read_from(&b));
        let exit = match kind {
            EXIT_KIND_SIGNALED => AppExit::Signaled(code as u8),
            _ => AppExit::Exited(code as u8),
        };
        BatchOutcome::Exit(exit, stats)
    }
}
