//! The sentry's side of the event ring (`boards::events`): what the VMM
//! tells us without being asked (stdin readiness, signals sent to
//! rvisor-vmm, completions of asynchronous requests).
//!
//! The VMM publishes records and advances `tail`; we consume them and
//! advance `head`. [`pending`] is one load, so the sentry looks on every
//! return to user mode and before every wait (`drain`); the VMM's interrupt
//! (x86_64: `boards::x86_64::EVENT_VECTOR`) only makes a program that never
//! enters the sentry enter it, and an idle sentry's `ConsolePoll` ends early
//! when an event is published. No event needs an exit to be read.

use core::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};

use boards::events::*;

use crate::arch::paging::phys_to_virt;
use crate::sentry::signal::{SigInfo, SI_USER};
use crate::sentry::task::Task;

/// The ring's header (0: no ring, bare metal).
static HEADER: AtomicUsize = AtomicUsize::new(0);
/// Events consumed (our copy of the published `head`).
static HEAD: AtomicU64 = AtomicU64::new(0);
/// Completions received (no request is asynchronous yet: counted, logged).
static COMPLETIONS: AtomicU64 = AtomicU64::new(0);

pub fn init(ring: boards::bootinfo::PhysRange) {
    if ring.start == 0 || ring.size < EVENT_RING_BYTES {
        return;
    }
    let header = phys_to_virt(ring.start) as usize;
    // SAFETY: the loader reserved this page of guest RAM for the ring.
    let head = unsafe {
        core::ptr::read_volatile(core::ptr::addr_of!(
            (*(header as *const EventRingHeader)).head
        ))
    };
    HEAD.store(head, Ordering::Relaxed);
    HEADER.store(header, Ordering::Release);
}

/// True under a VMM that publishes events.
pub fn active() -> bool {
    HEADER.load(Ordering::Relaxed) != 0
}

fn header() -> Option<*mut EventRingHeader> {
    let header = HEADER.load(Ordering::Acquire);
    (header != 0).then_some(header as *mut EventRingHeader)
}

fn tail(header: *mut EventRingHeader) -> u64 {
    // SAFETY: the header lies in the ring's page; the VMM writes `tail`
    // after the records it covers.
    let tail = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*header).tail)) };
    fence(Ordering::Acquire);
    tail
}

/// Whether the VMM published events we have not consumed (one load).
pub fn pending() -> bool {
    header().is_some_and(|h| tail(h) != HEAD.load(Ordering::Relaxed)) || crate::hv::net::changed()
}

/// Takes the next published event.
fn next() -> Option<Event> {
    let header = header()?;
    let head = HEAD.load(Ordering::Relaxed);
    let tail = tail(header);
    if tail == head {
        return None;
    }
    if tail.wrapping_sub(head) > EVENT_SLOTS {
        // The VMM overran its own ring: a VMM bug, not a guest one.
        crate::hv::console::fatal(format_args!(
            "event ring overrun (head {head}, tail {tail})"
        ));
    }
    // SAFETY: slot `head % EVENT_SLOTS` lies inside the ring's page (the
    // offset is below EVENT_RING_BYTES); the VMM wrote it before `tail`.
    let event = unsafe {
        core::ptr::read_volatile(
            (header as *const u8).add(event_offset(head) as usize) as *const Event
        )
    };
    fence(Ordering::Release);
    HEAD.store(head + 1, Ordering::Relaxed);
    // SAFETY: as above; the sentry is the only writer of `head`.
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*header).head), head + 1) };
    Some(event)
}

/// Asks the VMM to watch the host's stdin for us (a task now waits for it
/// and nothing of it is buffered): it publishes [`EVENT_STDIN_READY`] when
/// stdin is readable, and clears the request.
pub fn watch_stdin() {
    if let Some(header) = header() {
        // SAFETY: the header lies in the ring's page; the VMM only clears
        // this word when it publishes the event.
        unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*header).stdin_watch), 1) };
    }
}

/// Acts on every published event. `task` is the running task, locked by
/// the caller (the return to user mode, an interrupted syscall), or None
/// when no task lock is held (the scheduler's idle loop). A signal for the
/// sandbox's first process goes to `task` when it is that process (its
/// lock is held here), to the first process's main thread otherwise.
pub fn drain(mut task: Option<&mut Task>) {
    while let Some(event) = next() {
        match event.kind {
            EVENT_STDIN_READY => crate::sentry::sched::stdin_ready(),
            EVENT_SIGNAL => signal_first_process(task.as_deref_mut(), event.args[0]),
            EVENT_COMPLETION => {
                COMPLETIONS.fetch_add(1, Ordering::Relaxed);
                log::debug!(
                    "completion of request {:#x}: {} (nothing waits for it)",
                    event.args[0],
                    event.args[1] as i64
                );
            }
            EVENT_TIMER => crate::sentry::sched::on_timer(task.is_some()),
            // The network ring changed while we slept: read below.
            EVENT_NET => {}
            EVENT_EXEC => crate::sentry::host_exec::on_request(task.as_deref_mut(), event.args[0]),
            EVENT_EXEC_INPUT => crate::sentry::host_exec::on_input(event.args[0]),
            other => log::warn!("unknown event {other} from the VMM ignored"),
        }
    }
    if crate::hv::net::changed() {
        crate::sentry::net::host::on_changes();
    }
}

/// A signal sent to rvisor-vmm reaches the sandbox's first process as one
/// sent from outside the sandbox (SI_USER, sender pid and uid 0), as a
/// native program's shell or `kill` would deliver it.
fn signal_first_process(task: Option<&mut Task>, signo: u64) {
    let Some(signal) = u8::try_from(signo)
        .ok()
        .filter(|s| FORWARDED_SIGNALS.contains(s))
    else {
        log::warn!("the VMM forwarded signal {signo}, which it never forwards; ignored");
        return;
    };
    log::info!("signal {signal} sent to rvisor-vmm: forwarded to process 1");
    let info = SigInfo::from_process(signal, SI_USER, 0, 0);
    let app = crate::sentry::APP_PID;
    match task {
        Some(task) if task.pid == app => {
            task.signals.send_to_process(info);
            crate::sentry::sched::wake_process(app);
        }
        Some(_) => {
            crate::sentry::sched::signal_process(app, info);
        }
        None => {
            crate::sentry::sched::with_thread_of_idle(app, |first| {
                first.signals.send_to_process(info);
            });
            crate::sentry::sched::wake_process(app);
        }
    }
}
