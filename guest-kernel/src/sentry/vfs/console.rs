//! The console: the application's fds 0, 1 and 2, backed by the host's
//! stdin, stdout and stderr through the hypercall channel.

use alloc::vec::Vec;

use spin::Mutex;

use boards::bootinfo::TERMIOS_SIZE;
use boards::hypercall::Op;

use crate::hv::console::{self as hvconsole, Stream};
use crate::sentry::errno::*;
use crate::sentry::fd::{File, IoctlReply, POLLERR, POLLHUP, POLLIN, POLLOUT};
use crate::sentry::stat::{makedev, Stat, S_IFCHR, S_IFIFO};

const TCGETS: u64 = 0x5401;
const TIOCGWINSZ: u64 = 0x5413;

/// What the host told us about its terminal.
#[derive(Clone, Copy)]
pub struct TtyInfo {
    pub is_tty: bool,
    pub termios: [u8; TERMIOS_SIZE],
    pub winsize: [u16; 4],
}

/// Fetched input: `data[pos..]` is still unread.
struct ReadAhead {
    data: Vec<u8>,
    pos: usize,
}

/// How much of the host's stdin one exit may fetch.
const READ_AHEAD_SIZE: usize = 64 * 1024;

/// Input fetched from the host's stdin but not yet read by the application
/// (shared by fd 0 and /dev/tty).
static READ_AHEAD: Mutex<ReadAhead> = Mutex::new(ReadAhead {
    data: Vec::new(),
    pos: 0,
});

/// `Console::stream` of /dev/tty and /dev/console: reads stdin, writes stdout.
pub const STREAM_TTY: u8 = 3;

pub struct Console {
    /// Which host stream: 0 stdin, 1 stdout, 2 stderr, or STREAM_TTY.
    stream: u8,
    tty: TtyInfo,
}

impl Console {
    pub fn new(stream: u8, tty: TtyInfo) -> Console {
        Console { stream, tty }
    }

    fn reads(&self) -> bool {
        self.stream == 0 || self.stream == STREAM_TTY
    }
}

impl File for Console {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        if !self.reads() {
            return Err(EBADF);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let mut pending = READ_AHEAD.lock();
        if pending.pos == pending.data.len() {
            // One exit fetches up to READ_AHEAD bytes (what a pipe or file
            // holds; a terminal still answers line by line). The VMM drains
            // the output first, so a prompt shows before we wait.
            pending.data.resize(READ_AHEAD_SIZE, 0);
            pending.pos = 0;
            let gpa = crate::hv::kernel_virt_to_phys(pending.data.as_mut_ptr() as u64);
            let result = hvconsole::flush_and_call(Op::ConsoleRead, &[gpa, READ_AHEAD_SIZE as u64]);
            let got = if result < 0 {
                0
            } else {
                (result as usize).min(READ_AHEAD_SIZE)
            };
            pending.data.truncate(got);
            if result == -(EINTR.0 as i64) {
                // A signal sent to rvisor-vmm ended the host's wait before
                // any input: it is delivered, then the read restarts or
                // fails with EINTR as the handler says.
                return Err(ERESTARTSYS);
            }
            if result < 0 {
                return Err(Errno(-result as i32));
            }
            if got == 0 {
                return Ok(0); // end of input
            }
        }
        let start = pending.pos;
        let n = buf.len().min(pending.data.len() - start);
        buf[..n].copy_from_slice(&pending.data[start..start + n]);
        pending.pos += n;
        Ok(n)
    }

    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        let stream = match self.stream {
            1 | STREAM_TTY => Stream::Stdout,
            2 => Stream::Stderr,
            _ => return Err(EBADF),
        };
        hvconsole::write(stream, buf);
        Ok(buf.len())
    }

    fn stat(&self) -> Stat {
        self.tty.stat(100 + self.stream as u64, 0)
    }

    fn splices(&self) -> bool {
        true
    }

    fn poll(&self, events: i16) -> i16 {
        let mut ready = 0;
        if self.reads() {
            // Buffered input is ready; otherwise the poll syscall asks the
            // host about its stdin.
            let pending = READ_AHEAD.lock();
            if pending.pos < pending.data.len() {
                ready |= events & POLLIN;
            }
        }
        if self.stream != 0 {
            ready |= events & POLLOUT;
        }
        ready
    }

    fn waits_on_console_input(&self) -> bool {
        self.reads()
    }

    fn available(&self) -> Result<u64, Errno> {
        if !self.reads() {
            return Err(ENOTTY);
        }
        let pending = READ_AHEAD.lock();
        Ok((pending.data.len() - pending.pos) as u64)
    }

    fn ioctl(&self, request: u64) -> Result<IoctlReply, Errno> {
        self.tty.ioctl(request)
    }
}

impl TtyInfo {
    /// The terminal ioctls a console answers (ENOTTY when it is none).
    fn ioctl(&self, request: u64) -> Result<IoctlReply, Errno> {
        if !self.is_tty {
            return Err(ENOTTY);
        }
        match request {
            TCGETS => Ok(IoctlReply::Bytes(self.termios.to_vec())),
            TIOCGWINSZ => {
                let mut bytes = Vec::with_capacity(8);
                for v in self.winsize {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                Ok(IoctlReply::Bytes(bytes))
            }
            _ => Err(ENOTTY),
        }
    }
}

/// Asks the host whether stdin is readable, waiting up to `timeout_ns`
/// (u64::MAX: forever). Without `watch_stdin` it only waits.
pub fn wait_for_input(timeout_ns: u64, watch_stdin: bool) -> bool {
    hvconsole::flush_and_call(Op::ConsolePoll, &[timeout_ns, watch_stdin as u64]) > 0
}

/// POLLIN readiness of stdin for poll().
pub const STDIN_READY: i16 = POLLIN;

impl TtyInfo {
    /// A console's stat: the pty `pts` when it is a terminal, else a pipe.
    fn stat(&self, ino: u64, pts: u64) -> Stat {
        let (mode, rdev) = if self.is_tty {
            (S_IFCHR | 0o620, makedev(136, pts))
        } else {
            (S_IFIFO | 0o600, 0)
        };
        Stat {
            ino,
            dev: super::DEV_CONSOLE,
            nlink: 1,
            mode,
            rdev,
            blksize: 4096,
            ..Stat::default()
        }
    }
}

/// fd 0, 1 or 2 of a process started from the host (`rvisor-runtime
/// exec`, see `crate::sentry::host_exec`): output goes to the client's
/// descriptors as console records of its slot; input is fetched from the
/// client's stdin without blocking the vCPU (a reader that finds none
/// waits for `EVENT_EXEC_INPUT`).
pub struct ExecStream {
    slot: u64,
    /// 0 stdin, 1 stdout, 2 stderr.
    stream: u8,
    /// `exec -t`: the client's terminal (the streams are one pty).
    tty: TtyInfo,
    input: Mutex<ExecInput>,
}

#[derive(Default)]
struct ExecInput {
    data: Vec<u8>,
    pos: usize,
    at_end: bool,
}

impl ExecStream {
    pub fn new(slot: u64, stream: u8, tty: TtyInfo) -> ExecStream {
        ExecStream {
            slot,
            stream,
            tty,
            input: Mutex::new(ExecInput::default()),
        }
    }

    /// Fetches input when none is buffered: Ok(true) when some is (or
    /// the end), Ok(false) when the client has sent nothing yet.
    fn fill(&self, input: &mut ExecInput) -> Result<bool, Errno> {
        if input.pos < input.data.len() || input.at_end {
            return Ok(true);
        }
        input.data.resize(READ_AHEAD_SIZE, 0);
        input.pos = 0;
        match crate::sentry::host_exec::read_input(self.slot, &mut input.data) {
            Ok(n) => {
                input.data.truncate(n);
                input.at_end = n == 0;
                Ok(true)
            }
            Err(e) => {
                input.data.clear();
                if e == EAGAIN {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }
}

impl File for ExecStream {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        if self.stream != 0 {
            return Err(EBADF);
        }
        let mut input = self.input.lock();
        if !self.fill(&mut input)? {
            return Err(EAGAIN);
        }
        let start = input.pos;
        let n = buf.len().min(input.data.len() - start);
        buf[..n].copy_from_slice(&input.data[start..start + n]);
        input.pos += n;
        Ok(n)
    }

    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        if self.stream == 0 {
            return Err(EBADF);
        }
        let stream = Stream::Exec {
            slot: self.slot,
            stderr: self.stream == 2,
        };
        hvconsole::write(stream, buf);
        Ok(buf.len())
    }

    fn stat(&self) -> Stat {
        // (pts 0 is the first process's terminal.)
        self.tty
            .stat(200 + self.slot * 3 + self.stream as u64, 1 + self.slot)
    }

    fn ioctl(&self, request: u64) -> Result<IoctlReply, Errno> {
        self.tty.ioctl(request)
    }

    fn splices(&self) -> bool {
        true
    }

    fn poll(&self, events: i16) -> i16 {
        if self.stream != 0 {
            return events & POLLOUT;
        }
        let mut input = self.input.lock();
        match self.fill(&mut input) {
            Ok(true) if input.at_end => (events & POLLIN) | POLLHUP,
            Ok(true) => events & POLLIN,
            Ok(false) => 0,
            Err(_) => POLLERR,
        }
    }

    fn wait_queues(&self, out: &mut Vec<alloc::sync::Arc<crate::sentry::wait::WaitQueue>>) {
        if self.stream == 0 {
            out.push(crate::sentry::host_exec::input_queue().clone());
        }
    }

    fn available(&self) -> Result<u64, Errno> {
        if self.stream != 0 {
            return Err(ENOTTY);
        }
        let input = self.input.lock();
        Ok((input.data.len() - input.pos) as u64)
    }
}
