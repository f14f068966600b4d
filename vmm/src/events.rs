//! The VMM side of the event ring (`boards::events`): the VMM publishes
//! what the sentry must hear about without asking (signals sent to
//! rvisor-vmm, stdin readiness).
//!
//! The ring is guest memory and the sentry writes `head`: a value that
//! makes no sense stops publishing (with one warning), it never makes the
//! VMM misbehave. Nothing is lost to a full ring: signals wait here as a
//! set (standard signals coalesce, as Linux's do) and stdin readiness as
//! one flag, until the sentry has made room.

use std::sync::atomic::Ordering;

use boards::events::*;
use boards::Wire;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

pub struct EventRing {
    mem: GuestMemoryMmap,
    base: u64,
    /// Events published.
    tail: u64,
    /// Signals received and not published yet (bit n: signal n).
    signals: u64,
    /// Stdin became readable while the sentry watched it; not published yet.
    stdin_ready: bool,
    /// The network ring changed while the sentry slept; not published yet.
    net_ready: bool,
    /// The sentry's one-shot timer expired; not published yet.
    timer_ready: bool,
    /// Exec events not published yet (kind, slot), in order.
    execs: std::collections::VecDeque<(u32, u64)>,
    broken: bool,
    /// Events published so far (for --stats).
    pub published: u64,
}

impl EventRing {
    pub fn new(mem: GuestMemoryMmap, base: u64) -> EventRing {
        EventRing {
            mem,
            base,
            tail: 0,
            signals: 0,
            stdin_ready: false,
            net_ready: false,
            timer_ready: false,
            execs: Default::default(),
            broken: false,
            published: 0,
        }
    }

    fn give_up(&mut self, why: &str) {
        if !self.broken {
            log::warn!("event ring from the guest is corrupt ({why}); no more events");
        }
        self.broken = true;
    }

    /// Events the sentry has not consumed yet (None: the ring is unusable).
    fn unread(&mut self) -> Option<u64> {
        if self.broken {
            return None;
        }
        let head = self
            .mem
            .load::<u64>(
                GuestAddress(self.base + EVENT_HEAD_OFFSET),
                Ordering::Acquire,
            )
            .ok();
        match head.map(|h| self.tail.wrapping_sub(h)) {
            Some(unread) if unread <= EVENT_SLOTS => Some(unread),
            _ => {
                self.give_up("head out of range");
                None
            }
        }
    }

    /// Whether published events wait for the sentry.
    pub fn unconsumed(&mut self) -> bool {
        self.unread().is_some_and(|n| n > 0)
    }

    /// Whether the sentry asked to hear when stdin becomes readable.
    pub fn stdin_watched(&self) -> bool {
        !self.broken
            && !self.stdin_ready
            && self
                .mem
                .load::<u32>(
                    GuestAddress(self.base + EVENT_STDIN_WATCH_OFFSET),
                    Ordering::Acquire,
                )
                .is_ok_and(|w| w != 0)
    }

    /// Signals rvisor-vmm received (bit n: signal n).
    pub fn add_signals(&mut self, set: u64) {
        self.signals |= set;
    }

    /// Stdin is readable: the watch request is answered (and cleared).
    pub fn add_stdin_ready(&mut self) {
        let _ = self.mem.store(
            0u32,
            GuestAddress(self.base + EVENT_STDIN_WATCH_OFFSET),
            Ordering::Release,
        );
        self.stdin_ready = true;
    }

    /// The network ring changed while the sentry slept (one event until
    /// it is consumed; the ring itself says what changed).
    pub fn add_net(&mut self) {
        self.net_ready = true;
    }

    /// The sentry's one-shot timer expired (one event until consumed).
    pub fn add_timer(&mut self) {
        self.timer_ready = true;
    }

    /// A process to start for `rvisor-runtime exec` (`EVENT_EXEC`), or
    /// the readiness of one's stdin (`EVENT_EXEC_INPUT`).
    pub fn add_exec(&mut self, kind: u32, slot: u64) {
        self.execs.push_back((kind, slot));
    }

    fn push(&mut self, event: Event) -> bool {
        let Some(unread) = self.unread() else {
            return false;
        };
        if unread >= EVENT_SLOTS {
            return false;
        }
        let slot = GuestAddress(self.base + event_offset(self.tail));
        if self.mem.write_slice(event.as_bytes(), slot).is_err() {
            self.give_up("slot not in guest memory");
            return false;
        }
        self.tail += 1;
        self.published += 1;
        let _ = self.mem.store(
            self.tail,
            GuestAddress(self.base + EVENT_TAIL_OFFSET),
            Ordering::Release,
        );
        true
    }

    /// Publishes what waits and fits; returns how many events went out.
    pub fn flush(&mut self) -> u64 {
        let before = self.published;
        if self.stdin_ready {
            let event = Event {
                kind: EVENT_STDIN_READY,
                ..Event::default()
            };
            if self.push(event) {
                self.stdin_ready = false;
            }
        }
        if self.net_ready {
            let event = Event {
                kind: EVENT_NET,
                ..Event::default()
            };
            if self.push(event) {
                self.net_ready = false;
            }
        }
        if self.timer_ready {
            let event = Event {
                kind: EVENT_TIMER,
                ..Event::default()
            };
            if self.push(event) {
                self.timer_ready = false;
            }
        }
        while let Some(&(kind, slot)) = self.execs.front() {
            let event = Event {
                kind,
                args: [slot, 0, 0],
                ..Event::default()
            };
            if !self.push(event) {
                break;
            }
            self.execs.pop_front();
        }
        while self.signals != 0 {
            let signal = self.signals.trailing_zeros() as u64;
            let event = Event {
                kind: EVENT_SIGNAL,
                args: [signal, 0, 0],
                ..Event::default()
            };
            if !self.push(event) {
                break;
            }
            self.signals &= !(1 << signal);
        }
        self.published - before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x1000;

    fn ring() -> (GuestMemoryMmap, EventRing) {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x4000)]).unwrap();
        let ring = EventRing::new(mem.clone(), BASE);
        (mem, ring)
    }

    /// What the sentry does: reads the events up to `tail`, then moves `head`.
    fn consume(mem: &GuestMemoryMmap, head: &mut u64) -> Vec<Event> {
        let tail: u64 = mem
            .read_obj(GuestAddress(BASE + EVENT_TAIL_OFFSET))
            .unwrap();
        let mut events = Vec::new();
        while *head < tail {
            let mut bytes = [0u8; EVENT_SIZE];
            mem.read_slice(&mut bytes, GuestAddress(BASE + event_offset(*head)))
                .unwrap();
            events.push(Event::read_from(&bytes).unwrap());
            *head += 1;
        }
        mem.write_obj(*head, GuestAddress(BASE + EVENT_HEAD_OFFSET))
            .unwrap();
        events
    }

    fn signal(n: u64) -> Event {
        Event {
            kind: EVENT_SIGNAL,
            args: [n, 0, 0],
            ..Event::default()
        }
    }

    #[test]
    fn signals_are_published_in_order_and_coalesce() {
        let (mem, mut ring) = ring();
        ring.add_signals(1 << 15 | 1 << 2);
        ring.add_signals(1 << 2);
        assert_eq!(ring.flush(), 2);
        assert!(ring.unconsumed());
        let mut head = 0;
        assert_eq!(consume(&mem, &mut head), vec![signal(2), signal(15)]);
        assert!(!ring.unconsumed());
        assert_eq!(ring.flush(), 0);
    }

    #[test]
    fn a_full_ring_keeps_what_does_not_fit() {
        let (mem, mut ring) = ring();
        for _ in 0..EVENT_SLOTS {
            ring.add_signals(1 << 10);
            assert_eq!(ring.flush(), 1);
        }
        // Full: the next ones wait in the VMM (a signal set, the stdin flag).
        mem.write_obj(1u32, GuestAddress(BASE + EVENT_STDIN_WATCH_OFFSET))
            .unwrap();
        assert!(ring.stdin_watched());
        ring.add_stdin_ready();
        assert!(!ring.stdin_watched(), "the watch request is answered");
        ring.add_signals(1 << 1 | 1 << 12);
        assert_eq!(ring.flush(), 0);
        let mut head = 0;
        assert_eq!(consume(&mem, &mut head).len(), EVENT_SLOTS as usize);
        assert_eq!(ring.flush(), 3);
        let rest = consume(&mem, &mut head);
        assert_eq!(rest[0].kind, EVENT_STDIN_READY);
        assert_eq!(&rest[1..], &[signal(1), signal(12)]);
    }

    #[test]
    fn timer_expiries_coalesce_into_one_event() {
        let (mem, mut ring) = ring();
        ring.add_timer();
        ring.add_timer();
        assert_eq!(ring.flush(), 1);
        assert_eq!(ring.flush(), 0, "published once");
        let mut head = 0;
        let events = consume(&mem, &mut head);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EVENT_TIMER);
    }

    #[test]
    fn a_hostile_head_stops_publishing_without_harm() {
        let (mem, mut ring) = ring();
        // A head past the tail (or too far behind it) makes no sense.
        mem.write_obj(5u64, GuestAddress(BASE + EVENT_HEAD_OFFSET))
            .unwrap();
        ring.add_signals(1 << 2);
        assert_eq!(ring.flush(), 0);
        assert!(!ring.unconsumed());
        assert!(!ring.stdin_watched());
    }
}
