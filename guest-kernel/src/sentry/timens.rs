//! Time namespaces: the rules (Linux's kernel/time/namespace.c and the
//! /proc/<pid>/timens_offsets file of fs/proc/base.c). A time namespace
//! shifts CLOCK_MONOTONIC (and its _RAW and _COARSE forms) and
//! CLOCK_BOOTTIME (and _ALARM) by an offset of its own; the other clocks
//! are the host's. unshare(CLONE_NEWTIME) gives the caller's *children* a
//! new namespace (time_for_children), whose offsets may be written until
//! a process enters it (fork, exec or setns), and are frozen from then on
//! (EACCES). The namespace objects live in `ns` (`TimeNs`), the syscalls
//! in `syscalls/ns.rs`; this module depends on nothing but `alloc`, `spin`
//! and `errno`, so that `sentry-host-tests` runs its tests on the host.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use spin::Mutex;

use super::errno::*;

const CLOCK_MONOTONIC: u64 = 1;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
const CLOCK_BOOTTIME: u64 = 7;
const CLOCK_BOOTTIME_ALARM: u64 = 9;

const NSEC_PER_SEC: i64 = 1_000_000_000;
/// Linux's KTIME_SEC_MAX (KTIME_MAX / NSEC_PER_SEC).
const KTIME_SEC_MAX: i64 = i64::MAX / NSEC_PER_SEC;

/// The two clocks a time namespace offsets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Clock {
    Monotonic,
    Boottime,
}

/// One offset, as /proc/<pid>/timens_offsets shows it: seconds (of
/// either sign) and nanoseconds (0..1e9, added to the seconds).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Offset {
    pub sec: i64,
    pub nsec: i64,
}

impl Offset {
    pub fn ns(self) -> i128 {
        self.sec as i128 * NSEC_PER_SEC as i128 + self.nsec as i128
    }
}

/// A namespace's offsets.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Offsets {
    pub monotonic: Offset,
    pub boottime: Offset,
}

impl Offsets {
    pub fn is_zero(&self) -> bool {
        *self == Offsets::default()
    }

    /// The offset `clock` reads with in the namespace (0 for the clocks
    /// no namespace changes).
    pub fn of_clock(&self, clock: u64) -> i128 {
        match clock {
            CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE => self.monotonic.ns(),
            CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => self.boottime.ns(),
            _ => 0,
        }
    }

    /// `clock`, whose host value is `host_ns`, as the namespace sees it.
    /// The offsets were checked when written to keep the shifted clocks
    /// positive (`check_range`); the clamp only guards the arithmetic.
    pub fn view(&self, clock: u64, host_ns: u64) -> u64 {
        (host_ns as i128 + self.of_clock(clock)).clamp(0, i64::MAX as i128) as u64
    }

    /// What /proc/<pid>/timens_offsets shows (Linux's "%-10s %10lld
    /// %9ld" lines, monotonic first).
    pub fn show(&self) -> String {
        let mut out = String::new();
        for (name, offset) in [("monotonic", self.monotonic), ("boottime", self.boottime)] {
            let _ = writeln!(out, "{name:<10} {:>10} {:>9}", offset.sec, offset.nsec);
        }
        out
    }
}

/// A namespace's offsets and whether a process has entered it yet.
pub struct TimeOffsets {
    state: Mutex<(Offsets, bool)>,
}

impl TimeOffsets {
    pub const fn new(offsets: Offsets) -> TimeOffsets {
        TimeOffsets {
            state: Mutex::new((offsets, false)),
        }
    }

    pub fn get(&self) -> Offsets {
        self.state.lock().0
    }

    /// A process entered the namespace: its offsets can no longer change
    /// (its clocks must not jump under the processes that use them).
    pub fn freeze(&self) {
        self.state.lock().1 = true;
    }

    /// Sets the offsets of `requests` (Linux's proc_timens_set_offset):
    /// each must leave its clock, now `now_monotonic` or `now_boottime`
    /// on the host, within [0, KTIME_SEC_MAX / 2] seconds (ERANGE); EACCES
    /// once a process has entered the namespace. All or none are set.
    pub fn set(
        &self,
        requests: &[(Clock, Offset)],
        now_monotonic: u64,
        now_boottime: u64,
    ) -> Result<(), Errno> {
        for &(clock, offset) in requests {
            let now = match clock {
                Clock::Monotonic => now_monotonic,
                Clock::Boottime => now_boottime,
            };
            check_range(offset, now)?;
        }
        let mut state = self.state.lock();
        if state.1 {
            return Err(EACCES);
        }
        for &(clock, offset) in requests {
            match clock {
                Clock::Monotonic => state.0.monotonic = offset,
                Clock::Boottime => state.0.boottime = offset,
            }
        }
        Ok(())
    }
}

/// ERANGE unless `offset` keeps a clock now at `now_ns` within [0,
/// KTIME_SEC_MAX / 2] seconds (half, so that KTIME_MAX stays out of
/// reach).
pub fn check_range(offset: Offset, now_ns: u64) -> Result<(), Errno> {
    if !(-KTIME_SEC_MAX..=KTIME_SEC_MAX).contains(&offset.sec) {
        return Err(ERANGE);
    }
    let shifted = now_ns as i128 + offset.ns();
    let sec = shifted.div_euclid(NSEC_PER_SEC as i128);
    if sec < 0 || sec > (KTIME_SEC_MAX / 2) as i128 {
        return Err(ERANGE);
    }
    Ok(())
}

/// The longest write /proc/<pid>/timens_offsets takes (less than a page).
const MAX_WRITE: usize = 4096;

/// Parses a write to /proc/<pid>/timens_offsets as Linux's
/// timens_offsets_write does: at offset 0 only and shorter than a page,
/// one or two lines of "<clock> <seconds> <nanoseconds>", the clock
/// named "monotonic" or "boottime" or by its number (1 or 7). Returns the
/// offsets and how many bytes the write takes (a write stops after the
/// second line). EINVAL for anything else.
pub fn parse_write(buf: &[u8], pos: u64) -> Result<(Vec<(Clock, Offset)>, usize), Errno> {
    if pos != 0 || buf.len() >= MAX_WRITE {
        return Err(EINVAL);
    }
    let mut count = buf.len();
    // Linux copies the write into a NUL-terminated string: a NUL in it
    // ends the text.
    let text = &buf[..buf.iter().position(|&b| b == 0).unwrap_or(buf.len())];
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &text[pos..];
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            // A newline ends the line; nothing after it ends the text.
            Some(i) => (
                &rest[..i],
                (pos + i + 1 < text.len()).then_some(pos + i + 1),
            ),
            None => (rest, None),
        };
        out.push(parse_line(line)?);
        if out.len() == 2 {
            if let Some(next) = next {
                count = next;
            }
            break;
        }
        match next {
            Some(next) => pos = next,
            None => break,
        }
    }
    Ok((out, count))
}

/// One line: sscanf(line, "%9s %lld %lu") must find all three, the
/// nanoseconds below a second, and the clock must be one a namespace
/// offsets.
fn parse_line(line: &[u8]) -> Result<(Clock, Offset), Errno> {
    let mut scan = Scanner { text: line, pos: 0 };
    let name = scan.word(9).ok_or(EINVAL)?;
    let sec = scan.integer(true).ok_or(EINVAL)?;
    let nsec = scan.integer(false).ok_or(EINVAL)?;
    if !(0..NSEC_PER_SEC as i128).contains(&nsec) {
        return Err(EINVAL);
    }
    let clock = match name {
        b"monotonic" | b"1" => Clock::Monotonic,
        b"boottime" | b"7" => Clock::Boottime,
        _ => return Err(EINVAL),
    };
    // A number past 64 bits cannot be a time64_t: clamped, it fails the
    // range check (ERANGE) as any other offset too far out.
    let sec = sec.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    Ok((
        clock,
        Offset {
            sec,
            nsec: nsec as i64,
        },
    ))
}

/// The little of the kernel's vsscanf the offsets need.
struct Scanner<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn skip_spaces(&mut self) {
        while self
            .text
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    /// %Ns: up to `max` non-space bytes (at least one).
    fn word(&mut self, max: usize) -> Option<&'a [u8]> {
        self.skip_spaces();
        let start = self.pos;
        while self.pos - start < max
            && self
                .text
                .get(self.pos)
                .is_some_and(|b| !b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.text[start..self.pos])
    }

    /// %lld (`signed`) or %lu: decimal digits, a '-' first only when
    /// signed. Saturates far past 64 bits (the caller's range checks
    /// refuse such values).
    fn integer(&mut self, signed: bool) -> Option<i128> {
        self.skip_spaces();
        let negative = signed && self.text.get(self.pos) == Some(&b'-');
        let start = self.pos + negative as usize;
        if !self.text.get(start).is_some_and(|b| b.is_ascii_digit()) {
            return None;
        }
        self.pos = start;
        let mut value: i128 = 0;
        while let Some(digit) = self.text.get(self.pos).filter(|b| b.is_ascii_digit()) {
            value = value
                .saturating_mul(10)
                .saturating_add((digit - b'0') as i128)
                .min(u64::MAX as i128 + 1);
            self.pos += 1;
        }
        Some(if negative { -value } else { value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off(sec: i64, nsec: i64) -> Offset {
        Offset { sec, nsec }
    }

    #[test]
    fn parses_names_and_numbers() {
        let (got, n) = parse_write(b"1 10 0", 0).unwrap();
        assert_eq!(got, alloc::vec![(Clock::Monotonic, off(10, 0))]);
        assert_eq!(n, 6);
        let (got, n) = parse_write(b"boottime -10 5\nmonotonic 3 0\n", 0).unwrap();
        assert_eq!(
            got,
            alloc::vec![
                (Clock::Boottime, off(-10, 5)),
                (Clock::Monotonic, off(3, 0))
            ]
        );
        assert_eq!(n, 29);
    }

    #[test]
    fn a_write_takes_two_lines_at_most() {
        let text = b"1 1 0\n7 2 0\ngarbage\n";
        let (got, n) = parse_write(text, 0).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(n, 12);
    }

    #[test]
    fn refuses_what_linux_refuses() {
        for bad in [
            &b""[..],
            b"\n",
            b"2 10 0",
            b"realtime 1 0",
            b"1 10",
            b"1 10 -1",
            b"1 10 1000000000",
            b"1 x 0",
            b"1 1 0\n\n1 2 0",
        ] {
            assert_eq!(parse_write(bad, 0), Err(EINVAL), "{bad:?}");
        }
        assert_eq!(parse_write(b"1 1 0", 1), Err(EINVAL));
        assert_eq!(parse_write(&[b' '; 4096], 0), Err(EINVAL));
    }

    #[test]
    fn a_nul_ends_the_text() {
        let (got, n) = parse_write(b"1 4 0\0junk", 0).unwrap();
        assert_eq!(got, alloc::vec![(Clock::Monotonic, off(4, 0))]);
        assert_eq!(n, 10);
    }

    #[test]
    fn offsets_apply_to_their_clocks() {
        let o = Offsets {
            monotonic: off(10, 0),
            boottime: off(-1, 500_000_000),
        };
        assert_eq!(o.view(CLOCK_MONOTONIC, 5), 10_000_000_005);
        assert_eq!(o.view(CLOCK_MONOTONIC_COARSE, 5), 10_000_000_005);
        assert_eq!(o.view(CLOCK_BOOTTIME, 2_000_000_000), 1_500_000_000);
        assert_eq!(o.view(0, 5), 5);
        assert_eq!(
            o.show(),
            "monotonic          10         0\nboottime           -1 500000000\n"
        );
    }

    #[test]
    fn offsets_stay_in_range_and_freeze() {
        let t = TimeOffsets::new(Offsets::default());
        let second = 1_000_000_000;
        assert_eq!(
            t.set(&[(Clock::Monotonic, off(-11, 0))], 10 * second, 0),
            Err(ERANGE)
        );
        assert_eq!(
            t.set(&[(Clock::Boottime, off(KTIME_SEC_MAX + 1, 0))], 0, 0),
            Err(ERANGE)
        );
        assert_eq!(
            t.set(&[(Clock::Boottime, off(KTIME_SEC_MAX / 2 + 1, 0))], 0, 0),
            Err(ERANGE)
        );
        t.set(&[(Clock::Monotonic, off(-10, 0))], 10 * second, 0)
            .unwrap();
        assert_eq!(t.get().monotonic, off(-10, 0));
        t.freeze();
        assert_eq!(
            t.set(&[(Clock::Monotonic, off(1, 0))], 10 * second, 0),
            Err(EACCES)
        );
        assert_eq!(t.get().monotonic, off(-10, 0));
    }
}
