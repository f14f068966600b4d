//! A request for a new process inside a running sandbox (`rvisor-runtime
//! exec`, OCI's exec). `rvisor-runtime` encodes it, the VMM passes it on
//! unchanged (after a size check) when the sentry asks with
//! [`crate::hypercall::Op::ExecRequest`], and the sentry decodes it,
//! trusting none of it to be well formed.
//!
//! Layout (little endian): the magic, uid, gid, flags, argc, envc (u32
//! each); with [`EXEC_FLAG_TERMINAL`] the terminal's kernel `struct
//! termios` and `struct winsize`; then NUL-terminated strings: the working
//! directory, argc arguments, envc `NAME=value` entries.

use crate::bootinfo::TERMIOS_SIZE;

pub const EXEC_MAGIC: [u8; 4] = *b"RVX1";
/// Largest encoded request (Linux's ARG_MAX order of magnitude).
pub const MAX_EXEC_REQUEST: usize = 256 * 1024;
/// Its stdin, stdout and stderr are one terminal (`exec -t`).
pub const EXEC_FLAG_TERMINAL: u32 = 1;
/// `no_new_privs` is set for the process.
pub const EXEC_FLAG_NO_NEW_PRIVS: u32 = 2;

const HEADER: usize = 24;
/// The terminal's settings after the header ([`EXEC_FLAG_TERMINAL`]).
const TTY_SIZE: usize = TERMIOS_SIZE + 8;

/// A terminal's settings: kernel `struct termios` and `struct winsize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TtySettings {
    pub termios: [u8; TERMIOS_SIZE],
    pub winsize: [u16; 4],
}

/// A decoded request; the strings borrow from the encoded bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct ExecRequest<'a> {
    pub uid: u32,
    pub gid: u32,
    pub flags: u32,
    /// With [`EXEC_FLAG_TERMINAL`].
    pub tty: Option<TtySettings>,
    pub cwd: &'a [u8],
    pub args: StringList<'a>,
    pub env: StringList<'a>,
}

/// `count` NUL-terminated strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StringList<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> StringList<'a> {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.bytes.split(|&b| b == 0).take(self.count)
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Splits `count` NUL-terminated strings off the front of `bytes`.
fn take_strings(bytes: &[u8], count: usize) -> Option<(StringList<'_>, &[u8])> {
    let mut end = 0;
    for _ in 0..count {
        end += bytes[end..].iter().position(|&b| b == 0)? + 1;
    }
    Some((
        StringList {
            bytes: &bytes[..end],
            count,
        },
        &bytes[end..],
    ))
}

/// Decodes a request (None: malformed, too large or trailing bytes).
pub fn decode(bytes: &[u8]) -> Option<ExecRequest<'_>> {
    if bytes.len() > MAX_EXEC_REQUEST || bytes.get(..4)? != EXEC_MAGIC {
        return None;
    }
    let field = |i: usize| u32_at(bytes, 4 + 4 * i);
    let (uid, gid, flags) = (field(0)?, field(1)?, field(2)?);
    let (argc, envc) = (field(3)? as usize, field(4)? as usize);
    let mut rest = bytes.get(HEADER..)?;
    let mut tty = None;
    if flags & EXEC_FLAG_TERMINAL != 0 {
        let settings = rest.get(..TTY_SIZE)?;
        let mut winsize = [0u16; 4];
        for (i, v) in winsize.iter_mut().enumerate() {
            let at = TERMIOS_SIZE + 2 * i;
            *v = u16::from_le_bytes([settings[at], settings[at + 1]]);
        }
        tty = Some(TtySettings {
            termios: settings[..TERMIOS_SIZE].try_into().ok()?,
            winsize,
        });
        rest = &rest[TTY_SIZE..];
    }
    let (cwd, rest) = take_strings(rest, 1)?;
    let cwd = cwd.iter().next()?;
    let (args, rest) = take_strings(rest, argc)?;
    let (env, rest) = take_strings(rest, envc)?;
    if argc == 0 || !rest.is_empty() {
        return None;
    }
    Some(ExecRequest {
        uid,
        gid,
        flags,
        tty,
        cwd,
        args,
        env,
    })
}

/// The encoded size of a request with these strings (and terminal
/// settings with `terminal`).
pub fn encoded_len<'s>(
    terminal: bool,
    cwd: &[u8],
    strings: impl Iterator<Item = &'s [u8]>,
) -> usize {
    let tty = if terminal { TTY_SIZE } else { 0 };
    HEADER + tty + cwd.len() + 1 + strings.map(|s| s.len() + 1).sum::<usize>()
}

/// Encodes a request into `out` (exactly [`encoded_len`] bytes); `tty`
/// sets [`EXEC_FLAG_TERMINAL`]. None if a string holds a NUL or `out` has
/// the wrong size.
pub fn encode(
    out: &mut [u8],
    (uid, gid, flags): (u32, u32, u32),
    tty: Option<&TtySettings>,
    cwd: &[u8],
    args: &[&[u8]],
    env: &[&[u8]],
) -> Option<()> {
    let all = || {
        core::iter::once(cwd)
            .chain(args.iter().copied())
            .chain(env.iter().copied())
    };
    if out.len() != encoded_len(tty.is_some(), cwd, args.iter().chain(env).copied())
        || all().any(|s| s.contains(&0))
    {
        return None;
    }
    let flags = match tty {
        Some(_) => flags | EXEC_FLAG_TERMINAL,
        None => flags & !EXEC_FLAG_TERMINAL,
    };
    out[..4].copy_from_slice(&EXEC_MAGIC);
    let header = [uid, gid, flags, args.len() as u32, env.len() as u32];
    for (i, value) in header.iter().enumerate() {
        out[4 + 4 * i..8 + 4 * i].copy_from_slice(&value.to_le_bytes());
    }
    let mut at = HEADER;
    if let Some(tty) = tty {
        out[at..at + TERMIOS_SIZE].copy_from_slice(&tty.termios);
        at += TERMIOS_SIZE;
        for v in tty.winsize {
            out[at..at + 2].copy_from_slice(&v.to_le_bytes());
            at += 2;
        }
    }
    for s in all() {
        out[at..at + s.len()].copy_from_slice(s);
        out[at + s.len()] = 0;
        at += s.len() + 1;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let args: [&[u8]; 2] = [b"sh", b"-c"];
        let env: [&[u8]; 1] = [b"A=1"];
        let mut buf = [0u8; 128];
        let len = encoded_len(false, b"/w", args.iter().chain(&env).copied());
        encode(&mut buf[..len], (1, 2, 3), None, b"/w", &args, &env).unwrap();
        let req = decode(&buf[..len]).unwrap();
        // (The terminal flag follows the settings given.)
        assert_eq!((req.uid, req.gid, req.flags), (1, 2, 2));
        assert_eq!((req.cwd, req.tty), (&b"/w"[..], None));
        assert!(req.args.iter().eq(args.iter().copied()));
        assert!(req.env.iter().eq(env.iter().copied()));
        // Truncated, trailing bytes, a NUL inside a string, no argv.
        assert!(decode(&buf[..len - 1]).is_none());
        assert!(decode(&buf[..len + 1]).is_none());
        assert!(encode(&mut buf[..len], (0, 0, 0), None, b"/\0", &args, &env).is_none());
        let none = encoded_len(false, b"/", core::iter::empty());
        encode(&mut buf[..none], (0, 0, 0), None, b"/", &[], &[]).unwrap();
        assert!(decode(&buf[..none]).is_none());
        // With a terminal's settings.
        let tty = TtySettings {
            termios: [7; TERMIOS_SIZE],
            winsize: [24, 80, 0, 0],
        };
        let len = encoded_len(true, b"/", args.iter().copied());
        encode(&mut buf[..len], (0, 0, 0), Some(&tty), b"/", &args, &[]).unwrap();
        let req = decode(&buf[..len]).unwrap();
        assert_eq!((req.tty, req.flags), (Some(tty), EXEC_FLAG_TERMINAL));
        assert!(req.args.iter().eq(args.iter().copied()));
        assert!(decode(&buf[..HEADER + 10]).is_none());
    }
}
