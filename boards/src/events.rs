//! The event ring: how the VMM tells the sentry about things that happen on
//! the host side without the sentry asking (the other direction of the
//! hypercall channel, `crate::hypercall`).
//!
//! One page of guest RAM (named by [`crate::bootinfo::BootInfo::event_ring`]):
//! an [`EventRingHeader`] and then [`EVENT_SLOTS`] [`Event`] records. The VMM
//! is the only producer (it writes a record, then advances `tail`); the
//! sentry the only consumer (it reads records up to `tail`, then advances
//! `head`). `head` and `tail` count events since boot and never wrap; slot
//! `n % EVENT_SLOTS` holds event `n`.
//!
//! The ring is the truth; an interrupt is only a nudge. The VMM publishes an
//! event and then, if the vCPU runs the program (user mode) on x86_64,
//! injects [`crate::x86_64::EVENT_VECTOR`] (on aarch64: raises the vCPU's
//! IRQ line until the sentry acknowledges with an empty batch) so that a
//! program that never enters the sentry still gets it; otherwise the sentry
//! finds the event at its next entry (syscall, trap, tick) or when it idles
//! (the VMM ends a `ConsolePoll` early when it publishes an event). Reading
//! the ring costs the sentry one memory load (`tail` against its `head`), so
//! it looks on every return to user mode; no exit is ever needed to drain
//! it.
//!
//! The VMM never loses an event to a full ring: what does not fit waits on
//! its side (standard signals coalesce there as Linux coalesces them; stdin
//! readiness is one flag) and is published once the sentry has made room.

/// `tail` (VMM) and `head` (sentry) live in separate cache lines, as in the
/// console ring.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EventRingHeader {
    /// Events published (written by the VMM).
    pub tail: u64,
    pub _pad0: [u64; 7],
    /// Events consumed (written by the sentry).
    pub head: u64,
    /// Written by the sentry: nonzero while a task waits for the host's
    /// stdin to become readable and nothing of it is buffered. While it is
    /// set, the VMM looks at stdin on each of its ticks and publishes
    /// [`EVENT_STDIN_READY`] (clearing the flag) when it is readable, so a
    /// waiting reader is woken while other tasks compute without the
    /// sentry polling the host (an exit) on every tick.
    pub stdin_watch: u32,
    pub _pad1: [u32; 13],
}

/// One event: `kind` (EVENT_*) and its arguments.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub kind: u32,
    pub _reserved: u32,
    pub args: [u64; 3],
}

/// The host's stdin is readable (or at end of file / hang-up). No args.
pub const EVENT_STDIN_READY: u32 = 1;
/// rvisor-vmm received signal `args[0]` (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
/// SIGUSR1, SIGUSR2): the sentry sends it to the sandbox's first process as
/// a signal from outside the sandbox (`SI_USER`, sender pid 0).
pub const EVENT_SIGNAL: u32 = 2;
/// An asynchronous request finished: `args` = [tag, result (i64), 0]. The
/// tag is what the sentry put in the request. (No request is asynchronous
/// yet; the record is here so that the first one needs no new layout.)
pub const EVENT_COMPLETION: u32 = 3;

/// The network ring (`crate::netring`) changed while the sentry slept
/// (`guest_idle`). No args; published once until consumed.
pub const EVENT_NET: u32 = 4;

/// `rvisor-runtime exec` asked for a new process in the sandbox:
/// `args[0]` is its slot (fetch the request with
/// [`crate::hypercall::Op::ExecRequest`]).
pub const EVENT_EXEC: u32 = 5;
/// The stdin of exec slot `args[0]` became readable (after
/// [`crate::hypercall::Op::ExecInput`] said EAGAIN).
pub const EVENT_EXEC_INPUT: u32 = 6;

/// The timer of [`crate::hypercall::Op::SetTimer`] expired. No args;
/// published once until consumed.
pub const EVENT_TIMER: u32 = 7;

/// Bytes the ring takes: the header and the slots, one page.
pub const EVENT_RING_BYTES: u64 = 4096;
pub const EVENT_HEADER_SIZE: usize = core::mem::size_of::<EventRingHeader>();
pub const EVENT_SIZE: usize = core::mem::size_of::<Event>();
/// Records in the ring.
pub const EVENT_SLOTS: u64 = ((EVENT_RING_BYTES as usize - EVENT_HEADER_SIZE) / EVENT_SIZE) as u64;
/// Offsets of the shared words inside the ring's page.
pub const EVENT_TAIL_OFFSET: u64 = core::mem::offset_of!(EventRingHeader, tail) as u64;
pub const EVENT_HEAD_OFFSET: u64 = core::mem::offset_of!(EventRingHeader, head) as u64;
pub const EVENT_STDIN_WATCH_OFFSET: u64 =
    core::mem::offset_of!(EventRingHeader, stdin_watch) as u64;

/// Offset of event `n`'s slot inside the ring's page.
pub const fn event_offset(n: u64) -> u64 {
    EVENT_HEADER_SIZE as u64 + (n % EVENT_SLOTS) * EVENT_SIZE as u64
}

/// The signals rvisor-vmm forwards to the sandbox (Linux numbers, the same
/// on x86_64 and aarch64): SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM.
pub const FORWARDED_SIGNALS: [u8; 6] = [1, 2, 3, 10, 12, 15];

const _: () = assert!(EVENT_HEADER_SIZE == 128);
const _: () = assert!(EVENT_SIZE == 32);
const _: () = assert!(EVENT_SLOTS == 124);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Wire;

    #[test]
    fn slots_stay_inside_the_page() {
        for n in [0, 1, EVENT_SLOTS - 1, EVENT_SLOTS, 10 * EVENT_SLOTS + 3] {
            let offset = event_offset(n);
            assert!(offset >= EVENT_HEADER_SIZE as u64);
            assert!(offset + EVENT_SIZE as u64 <= EVENT_RING_BYTES);
        }
        assert_eq!(event_offset(EVENT_SLOTS + 2), event_offset(2));
    }

    #[test]
    fn events_round_trip_as_bytes() {
        let event = Event {
            kind: EVENT_COMPLETION,
            _reserved: 0,
            args: [7, (-5i64) as u64, 0],
        };
        let bytes = event.as_bytes();
        assert_eq!(bytes.len(), EVENT_SIZE);
        assert_eq!(&bytes[..4], &EVENT_COMPLETION.to_le_bytes());
        assert_eq!(Event::read_from(bytes), Some(event));
        assert_eq!(Event::read_from(&bytes[..EVENT_SIZE - 1]), None);
    }
}
