//! POSIX message queues: mq_open, mq_unlink, mq_timedsend,
//! mq_timedreceive, mq_notify, mq_getsetattr. The queues are in
//! `vfs::mqueue`; a queue descriptor is an fd (poll and epoll work on it,
//! and reading it gives Linux's status line).

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::fd_arg;
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::mm::usermem::UserPtr;
use crate::sentry::vfs::mqueue::{self, How, Notify, OpenRequest, QueueFile, NOTIFY_COOKIE_LEN};

const NAME_MAX: usize = 255;
const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD: i32 = 2;
/// si_code of a message queue notification.
const SI_MESGQ: i32 = -3;
const CAP_SYS_RESOURCE: u32 = 24;

/// The queue's name as the kernel gets it (libc drops the leading '/').
fn read_name(ctx: &mut SyscallContext, addr: u64) -> Result<Vec<u8>, Errno> {
    let name = ctx
        .task
        .mm()
        .read_cstring(addr, NAME_MAX + 1)
        .map_err(|e| if e == ENAMETOOLONG { ENAMETOOLONG } else { e })?;
    if name.len() > NAME_MAX {
        return Err(ENAMETOOLONG);
    }
    if name.is_empty() {
        return Err(ENOENT);
    }
    if name.contains(&b'/') || name == b"." || name == b".." {
        return Err(EACCES);
    }
    Ok(name)
}

fn has_cap(ctx: &SyscallContext, cap: u32) -> bool {
    ctx.task.creds.caps().effective & (1 << cap) != 0
}

/// `struct mq_attr`: flags, maxmsg, msgsize, curmsgs (longs).
fn read_attr(ctx: &mut SyscallContext, addr: u64) -> Result<[i64; 4], Errno> {
    UserPtr::<[i64; 4]>::new(addr).read(&mut ctx.task.mm())
}

/// Whether the caller may open a queue with mode bits `mode` for `access`
/// (its owner's, group's or others' bits, as for a file; root may do
/// anything).
fn permitted(ctx: &SyscallContext, queue: &mqueue::Queue, access: u32) -> bool {
    if has_cap(ctx, 1) {
        // CAP_DAC_OVERRIDE.
        return true;
    }
    let creds = &ctx.task.creds;
    let shift = if creds.user[1] == queue.uid {
        6
    } else if creds.group[1] == queue.gid || creds.groups.contains(&queue.gid) {
        3
    } else {
        0
    };
    let bits = (queue.mode >> shift) & 7;
    bits & access == access
}

pub fn sys_mq_open(
    ctx: &mut SyscallContext,
    name: u64,
    oflag: u32,
    mode: u32,
    attr: u64,
) -> SysResult {
    let name = read_name(ctx, name)?;
    let flags = open_flags_from_user(oflag);
    let accmode = flags & O_ACCMODE;
    if accmode == 3 {
        return Err(EINVAL);
    }
    let create = flags & O_CREAT != 0;
    let attr = if create && attr != 0 {
        let [_, max_msgs, msg_size, _] = read_attr(ctx, attr)?;
        if max_msgs <= 0 || msg_size <= 0 {
            return Err(EINVAL);
        }
        let (max_msgs, msg_size) = (max_msgs as u64, msg_size as u64);
        let privileged = has_cap(ctx, CAP_SYS_RESOURCE);
        let (msg_limit, size_limit) = if privileged {
            (mqueue::HARD_MSG_MAX, mqueue::HARD_MSGSIZE_MAX)
        } else {
            (mqueue::MSG_MAX, mqueue::MSGSIZE_MAX)
        };
        if max_msgs > msg_limit || msg_size > size_limit {
            return Err(EINVAL);
        }
        Some((max_msgs, msg_size))
    } else {
        None
    };
    let request = OpenRequest {
        create,
        exclusive: flags & O_EXCL != 0,
        mode: mode & !ctx.task.umask,
        attr,
        uid: ctx.task.creds.user[1],
        gid: ctx.task.creds.group[1],
    };
    let (queue, created) = mqueue::open(&ctx.task.ipc_ns.mqueues, &name, request)?;
    if !created {
        let want = match accmode {
            O_RDONLY => 4,
            O_WRONLY => 2,
            _ => 6,
        };
        if !permitted(ctx, &queue, want) {
            return Err(EACCES);
        }
    }
    let file = Arc::new(QueueFile {
        queue,
        opener: ctx.task.pid,
    });
    let mut label = b"/".to_vec();
    label.extend_from_slice(&name);
    let open = OpenFile::labeled(file, accmode | (flags & O_NONBLOCK), label);
    let fd = ctx.task.fds().insert(open, flags & O_CLOEXEC != 0, 0)?;
    Ok(fd as u64)
}

pub fn sys_mq_unlink(ctx: &mut SyscallContext, name: u64) -> SysResult {
    let name = read_name(ctx, name)?;
    let queue = mqueue::lookup(&ctx.task.ipc_ns.mqueues, &name).ok_or(ENOENT)?;
    // Removing a name takes write permission on the (virtual) directory,
    // which is 01777 on Linux: the owner or root.
    // (CAP_FOWNER overrides the sticky bit.)
    if queue.uid != ctx.task.creds.user[1] && !has_cap(ctx, 3) {
        return Err(EACCES);
    }
    mqueue::unlink(&ctx.task.ipc_ns.mqueues, &name)?;
    Ok(0)
}

/// The queue behind `fd` and its open file (EBADF: not a queue).
fn queue_of(ctx: &mut SyscallContext, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    let file = ctx.task.fds().get(fd)?.clone();
    if file.file.as_mqueue().is_none() {
        return Err(EBADF);
    }
    Ok(file)
}

/// The absolute CLOCK_REALTIME deadline at `addr` as a monotonic one
/// (None: no timeout). Checked only when the call has to wait.
fn deadline(ctx: &mut SyscallContext, addr: u64) -> Result<u64, Errno> {
    if addr == 0 {
        return Ok(u64::MAX);
    }
    let ts: [i64; 2] = UserPtr::<[i64; 2]>::new(addr).read(&mut ctx.task.mm())?;
    if ts[0] < 0 || !(0..1_000_000_000).contains(&ts[1]) {
        return Err(EINVAL);
    }
    let at = (ts[0] as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts[1] as u64);
    let now_real = crate::sentry::time::realtime_ns();
    let now = crate::sentry::time::monotonic_ns();
    Ok(now.saturating_add(at.saturating_sub(now_real)))
}

/// Waits on the queue until `deadline` (ETIMEDOUT after it); EINTR
/// becomes a restart as Linux's mq calls do (they are not restarted
/// after a handler: EINTR).
fn wait(ctx: &mut SyscallContext, queue: &mqueue::Queue, deadline: u64) -> Result<(), Errno> {
    if crate::sentry::time::monotonic_ns() >= deadline {
        return Err(ETIMEDOUT);
    }
    crate::sentry::signal::wait(&mut ctx.task, &[&queue.changed], deadline, false).map(|_| ())
}

pub fn sys_mq_timedsend(
    ctx: &mut SyscallContext,
    mqdes: i32,
    msg_ptr: u64,
    len: u64,
    priority: u64,
    abs_timeout: u64,
) -> SysResult {
    let open = queue_of(ctx, mqdes)?;
    if !open.writable() {
        return Err(EBADF);
    }
    let file = open.file.as_mqueue().ok_or(EBADF)?;
    let queue = file.queue.clone();
    if len > queue.msg_size {
        return Err(EMSGSIZE);
    }
    if priority >= mqueue::PRIO_MAX {
        return Err(EINVAL);
    }
    let mut message = alloc::vec![0u8; len as usize];
    ctx.task.mm().copy_from_user(msg_ptr, &mut message)?;
    let mut deadline_ns = None;
    let notify = loop {
        match queue.send(&mut message, priority) {
            Ok(notify) => break notify,
            Err(e) if e == EAGAIN => {
                if open.nonblocking() {
                    return Err(EAGAIN);
                }
                let deadline = match deadline_ns {
                    Some(d) => d,
                    None => *deadline_ns.insert(deadline(ctx, abs_timeout)?),
                };
                wait(ctx, &queue, deadline)?;
            }
            Err(e) => return Err(e),
        }
    };
    if let Some(notify) = &notify {
        notify.woken();
    }
    if let Some(Notify {
        pid,
        how: How::Signal(signo, value),
    }) = notify
    {
        let mut info = crate::sentry::signal::SigInfo::from_process(
            signo,
            SI_MESGQ,
            ctx.task.pid,
            ctx.task.creds.user[0],
        );
        info.fields[1] = value;
        if pid == ctx.task.pid {
            ctx.task.signals.send_to_process(info);
            crate::sentry::sched::wake_process(pid);
        } else {
            crate::sentry::sched::signal_process(pid, info);
        }
    }
    Ok(0)
}

pub fn sys_mq_timedreceive(
    ctx: &mut SyscallContext,
    mqdes: i32,
    buf: u64,
    len: u64,
    prio_addr: UserPtr<u32>,
    abs_timeout: u64,
) -> SysResult {
    let open = queue_of(ctx, mqdes)?;
    if !open.readable() {
        return Err(EBADF);
    }
    let file = open.file.as_mqueue().ok_or(EBADF)?;
    let queue = file.queue.clone();
    if len < queue.msg_size {
        return Err(EMSGSIZE);
    }
    let mut deadline_ns = None;
    let (message, priority) = loop {
        match queue.receive() {
            Ok(got) => break got,
            Err(e) if e == EAGAIN && !open.nonblocking() => {
                let deadline = match deadline_ns {
                    Some(d) => d,
                    None => *deadline_ns.insert(deadline(ctx, abs_timeout)?),
                };
                queue.note_receiver(true);
                let waited = wait(ctx, &queue, deadline);
                queue.note_receiver(false);
                waited?;
            }
            Err(e) => return Err(e),
        }
    };
    // A fault here loses the message, as on Linux.
    ctx.task.mm().copy_to_user(buf, &message)?;
    if !prio_addr.is_null() {
        prio_addr.write(&mut ctx.task.mm(), &(priority as u32))?;
    }
    Ok(message.len() as u64)
}

pub fn sys_mq_notify(ctx: &mut SyscallContext, mqdes: i32, sevp: UserPtr<[u64; 2]>) -> SysResult {
    let pid = ctx.task.pid;
    // The sigevent is checked before the descriptor, as on Linux.
    let notify = if sevp.is_null() {
        None
    } else {
        // struct sigevent { sigval value; int signo; int notify; ... }
        let raw: [u64; 2] = sevp.read(&mut ctx.task.mm())?;
        let (value, signo, notify) = (raw[0], raw[1] as u32 as i32, (raw[1] >> 32) as i32);
        let how = match notify {
            SIGEV_NONE => How::Nothing,
            SIGEV_SIGNAL => {
                if !(1..=64).contains(&signo) {
                    return Err(EINVAL);
                }
                How::Signal(signo as u8, value)
            }
            // The kernel's side of SIGEV_THREAD (libc starts the thread):
            // sigev_value points at a cookie, sigev_signo is a netlink
            // socket the cookie will be queued on. The cookie is copied
            // now (EFAULT), then the socket is checked, as on Linux.
            SIGEV_THREAD => {
                let mut cookie = [0u8; NOTIFY_COOKIE_LEN];
                ctx.task.mm().copy_from_user(value, &mut cookie)?;
                let sock = ctx.task.fds().get(fd_arg(signo as u32 as u64))?.clone();
                let socket = sock.file.as_socket().ok_or(ENOTSOCK)?.socket.clone();
                if socket.as_netlink().is_none() {
                    return Err(EINVAL);
                }
                How::Thread { socket, cookie }
            }
            _ => return Err(EINVAL),
        };
        Some(Notify { pid, how })
    };
    let open = queue_of(ctx, mqdes)?;
    let file = open.file.as_mqueue().ok_or(EBADF)?;
    file.queue.set_notify(pid, notify)?;
    Ok(0)
}

pub fn sys_mq_getsetattr(
    ctx: &mut SyscallContext,
    mqdes: i32,
    newattr: u64,
    oldattr: UserPtr<[i64; 4]>,
) -> SysResult {
    let open = queue_of(ctx, mqdes)?;
    let new = if newattr != 0 {
        Some(read_attr(ctx, newattr)?)
    } else {
        None
    };
    let file = open.file.as_mqueue().ok_or(EBADF)?;
    let queue = file.queue.clone();
    let old = [
        if open.nonblocking() {
            O_NONBLOCK as i64
        } else {
            0
        },
        queue.max_msgs as i64,
        queue.msg_size as i64,
        queue.queued() as i64,
    ];
    if let Some([flags, ..]) = new {
        if flags & !(O_NONBLOCK as i64) != 0 {
            return Err(EINVAL);
        }
    }
    if !oldattr.is_null() {
        oldattr.write(&mut ctx.task.mm(), &old)?;
    }
    if let Some([flags, ..]) = new {
        let mut current = open.flags.lock();
        *current = (*current & !O_NONBLOCK) | (flags as u32 & O_NONBLOCK);
    }
    Ok(0)
}
