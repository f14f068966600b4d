//! Processes started from the host in a running sandbox (`rvisor-runtime
//! exec`, the OCI exec that `podman exec` and `ctr task exec` use).
//!
//! The sandbox process listens on a control socket in the container's
//! state directory (made by `rvisor-runtime`; the directory is 0700 and
//! the guest has no way to reach it). A client sends one request: a u32
//! length, the encoded [`boards::exec`] request, and its stdin, stdout and
//! stderr as SCM_RIGHTS descriptors with the first bytes. The control
//! thread keeps it in a slot, answers [`ACCEPTED`], and has the vCPU thread
//! publish `EVENT_EXEC`; the sentry fetches the request
//! (`Op::ExecRequest`), starts the process, writes its output as console
//! records of the slot's streams and reads its stdin with `Op::ExecInput`
//! (the control thread watches a stdin the sentry found empty). When the
//! process ends (`Op::ExecExit`) its stdio is closed and the status goes
//! back as an i32 (the exit code, or 128 + the signal), which
//! `rvisor-runtime exec` exits with. A client that goes away changes
//! nothing in the sandbox.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boards::console::MAX_EXEC_SLOTS;
use boards::events::{EVENT_EXEC, EVENT_EXEC_INPUT};
use boards::exec::MAX_EXEC_REQUEST;
use vmm_sys_util::sock_ctrl_msg::ScmSocket;

use crate::error::{internal, Failure};

/// The control thread's answer once a request is queued.
pub const ACCEPTED: &[u8; 1] = b"A";
/// Largest number of exec'd processes alive at once.
const MAX_EXECS: usize = 256;
const _: () = assert!(MAX_EXECS <= MAX_EXEC_SLOTS as usize);
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

struct Slot {
    request: Vec<u8>,
    /// stdin, stdout, stderr (shared with a write in progress).
    stdio: [Arc<OwnedFd>; 3],
    client: UnixStream,
    /// The sentry found stdin empty: the control thread watches it.
    input_watched: bool,
}

#[derive(Default)]
struct Table {
    slots: BTreeMap<u64, Slot>,
    next: u64,
    /// Events for the vCPU thread to publish (kind, slot), in order.
    events: Vec<(u32, u64)>,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    slots: BTreeMap::new(),
    next: 0,
    events: Vec::new(),
});
/// The control thread's wake-up eventfd (-1: no control thread).
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

fn table() -> std::sync::MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the control thread on `listener`; it installs `filter` (its
/// seccomp role) first.
pub fn start(
    listener: UnixListener,
    filter: Option<seccompiler::BpfProgram>,
) -> Result<crate::seccomp::ThreadStarting, Failure> {
    // SAFETY: eventfd creates a new descriptor we own.
    let wake = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if wake < 0 {
        return Err(internal(format!(
            "eventfd: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: a fresh descriptor from eventfd.
    let wake = unsafe { OwnedFd::from_raw_fd(wake) };
    WAKE_FD.store(wake.as_raw_fd(), Ordering::Release);
    crate::seccomp::spawn_filtered_thread("rvisor-control", "control thread", filter, move || {
        serve(listener, wake)
    })
}

fn wake_control_thread() {
    let fd = WAKE_FD.load(Ordering::Acquire);
    if fd >= 0 {
        let one = 1u64;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }
}

fn serve(listener: UnixListener, wake: OwnedFd) {
    loop {
        // The listener, the wake-up eventfd, and every stdin watched.
        let watched: Vec<(u64, Arc<OwnedFd>)> = table()
            .slots
            .iter()
            .filter(|(_, s)| s.input_watched)
            .map(|(&id, s)| (id, s.stdio[0].clone()))
            .collect();
        let mut fds = vec![
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        fds.extend(watched.iter().map(|(_, fd)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        // SAFETY: polls `fds.len()` valid pollfd entries we own.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            continue; // EINTR
        }
        if fds[1].revents != 0 {
            let mut count = 0u64;
            // SAFETY: reads 8 bytes into a live u64 from our eventfd.
            unsafe { libc::read(wake.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
        }
        let mut ready = Vec::new();
        for ((id, _), pfd) in watched.iter().zip(&fds[2..]) {
            if pfd.revents != 0 {
                ready.push(*id);
            }
        }
        if !ready.is_empty() {
            let mut table = table();
            for id in ready {
                if let Some(slot) = table.slots.get_mut(&id) {
                    slot.input_watched = false;
                    table.events.push((EVENT_EXEC_INPUT, id));
                }
            }
            drop(table);
            crate::vcpu::kick(crate::vcpu::KICK_EXEC);
        }
        if fds[0].revents != 0 {
            if let Ok((client, _)) = listener.accept() {
                if let Err(why) = take_request(client) {
                    log::warn!("exec request refused: {why}");
                }
            }
        }
    }
}

/// Reads one request from a new client and queues it.
fn take_request(mut client: UnixStream) -> Result<(), String> {
    client
        .set_read_timeout(Some(REQUEST_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut len = [0u8; 4];
    let mut raw_fds = [-1 as RawFd; 3];
    let mut iov = [libc::iovec {
        iov_base: len.as_mut_ptr().cast(),
        iov_len: len.len(),
    }];
    // SAFETY: the iovec points at `len`, which lives across the call.
    let (got, nfds) = unsafe { client.recv_with_fds(&mut iov, &mut raw_fds) }
        .map_err(|e| format!("receiving: {e}"))?;
    // SAFETY: the kernel put `nfds` new descriptors here; we own them.
    let owned: Vec<OwnedFd> = raw_fds[..nfds]
        .iter()
        .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    if got != 4 {
        return Err("short header".into());
    }
    let stdio: [OwnedFd; 3] = owned
        .try_into()
        .map_err(|_| "a request carries exactly three descriptors".to_string())?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_EXEC_REQUEST {
        return Err(format!("request of {len} bytes"));
    }
    let mut request = vec![0u8; len];
    client
        .read_exact(&mut request)
        .map_err(|e| format!("reading the request: {e}"))?;
    if boards::exec::decode(&request).is_none() {
        let _ = client.write_all(b"Emalformed request");
        return Err("malformed".into());
    }
    let mut table = table();
    if table.slots.len() >= MAX_EXECS {
        drop(table);
        let _ = client.write_all(b"Etoo many processes started with exec");
        return Err("too many".into());
    }
    // Slot numbers are reused only once free; the search ends because
    // fewer than MAX_EXEC_SLOTS are taken.
    let mut id = table.next;
    while table.slots.contains_key(&id) {
        id = (id + 1) % u64::from(MAX_EXEC_SLOTS);
    }
    table.next = (id + 1) % u64::from(MAX_EXEC_SLOTS);
    client.write_all(ACCEPTED).map_err(|e| e.to_string())?;
    table.slots.insert(
        id,
        Slot {
            request,
            stdio: stdio.map(Arc::new),
            client,
            input_watched: false,
        },
    );
    table.events.push((EVENT_EXEC, id));
    drop(table);
    crate::vcpu::kick(crate::vcpu::KICK_EXEC);
    Ok(())
}

/// The events the vCPU thread publishes on its next kick.
pub fn take_events() -> Vec<(u32, u64)> {
    std::mem::take(&mut table().events)
}

/// `Op::ExecRequest`: the encoded request of `slot`.
pub fn request(slot: u64) -> Result<Vec<u8>, i64> {
    table()
        .slots
        .get(&slot)
        .map(|s| s.request.clone())
        .ok_or(-(libc::ENOENT as i64))
}

/// `Op::ExecInput`: reads the slot's stdin without waiting; EAGAIN arms
/// the watch.
pub fn read_input(slot: u64, buf: &mut [u8]) -> i64 {
    let Some(fd) = table().slots.get(&slot).map(|s| s.stdio[0].clone()) else {
        return -(libc::EBADF as i64);
    };
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: polls one valid pollfd without waiting.
    if unsafe { libc::poll(&mut pfd, 1, 0) } == 0 {
        if let Some(slot) = table().slots.get_mut(&slot) {
            slot.input_watched = true;
        }
        wake_control_thread();
        return -(libc::EAGAIN as i64);
    }
    // SAFETY: reads at most buf.len() bytes into buf from a descriptor
    // we hold open.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        -(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO) as i64)
    } else {
        n as i64
    }
}

/// Console records of an exec stream: `index` 0 is stdout, 1 stderr.
/// Output for a slot that is gone is dropped.
pub fn write_output(slot: u64, index: usize, bytes: &[u8]) {
    let fd = table().slots.get(&slot).map(|s| s.stdio[1 + index].clone());
    if let Some(fd) = fd {
        crate::console::host_write(fd.as_raw_fd(), bytes);
    }
}

/// `Op::ExecExit`: the slot's process ended with the wait `status`.
pub fn exited(slot: u64, status: u64) -> i64 {
    let Some(Slot { stdio, client, .. }) = table().slots.remove(&slot) else {
        return -(libc::ENOENT as i64);
    };
    let status = status as i32;
    let code = if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    };
    // Its stdio closes first, so the reader has all output before the
    // status.
    drop(stdio);
    // write(2), not std's send: the vCPU thread's filter has no sendto. (A
    // client gone away is EPIPE: Rust ignores SIGPIPE.)
    let bytes = code.to_le_bytes();
    // SAFETY: writes 4 bytes from a live array to the client's socket.
    unsafe { libc::write(client.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two new descriptors we then own.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fresh descriptors from pipe2.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    /// A client sends `request` with `fds`; the answer it reads back.
    fn submit(request: &[u8], fds: &[RawFd]) -> (Result<(), String>, Vec<u8>, UnixStream) {
        let (mut client, server) = UnixStream::pair().unwrap();
        let len = (request.len() as u32).to_le_bytes();
        client.send_with_fds(&[&len[..]], fds).unwrap();
        client.write_all(request).unwrap();
        let taken = take_request(server);
        client
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut answer = vec![0u8; 64];
        let n = client.read(&mut answer).unwrap_or(0);
        answer.truncate(n);
        (taken, answer, client)
    }

    #[test]
    fn a_request_is_checked_served_and_answered() {
        let args: [&[u8]; 2] = [b"/bin/echo", b"hi"];
        let len = boards::exec::encoded_len(false, b"/", args.iter().copied());
        let mut request = vec![0u8; len];
        boards::exec::encode(&mut request, (0, 0, 0), None, b"/", &args, &[]).unwrap();
        let (stdin_r, stdin_w) = pipe();
        let (out_r, out_w) = pipe();
        let stdio = [stdin_r.as_raw_fd(), out_w.as_raw_fd(), out_w.as_raw_fd()];

        // Malformed bytes and a wrong descriptor count are refused.
        let (taken, answer, _) = submit(b"RVX1 not a request", &stdio);
        assert!(taken.is_err() && answer.starts_with(b"E"), "{answer:?}");
        let (taken, _, _) = submit(&request, &stdio[..1]);
        assert!(taken.is_err());

        let (taken, answer, mut client) = submit(&request, &stdio);
        assert_eq!((taken, answer), (Ok(()), ACCEPTED.to_vec()));
        drop((stdin_r, out_w));
        let events = take_events();
        let [(EVENT_EXEC, slot)] = events[..] else {
            panic!("{events:?}");
        };
        assert_eq!(request, super::request(slot).unwrap());
        // Output of the slot reaches its stdout; stdin reads without
        // waiting (EAGAIN, then the data).
        write_output(slot, 0, b"out");
        let mut buf = [0u8; 8];
        assert_eq!(read_input(slot, &mut buf), -(libc::EAGAIN as i64));
        let stdin_w = std::fs::File::from(stdin_w);
        (&stdin_w).write_all(b"in").unwrap();
        assert_eq!(read_input(slot, &mut buf), 2);
        // The end: its stdio closes, the client gets the status (exit 3).
        assert_eq!(exited(slot, 3 << 8), 0);
        assert_eq!(exited(slot, 0), -(libc::ENOENT as i64));
        let mut out = String::new();
        std::fs::File::from(out_r).read_to_string(&mut out).unwrap();
        assert_eq!(out, "out");
        let mut status = [0u8; 4];
        client.read_exact(&mut status).unwrap();
        assert_eq!(i32::from_le_bytes(status), 3);
    }
}
