//! ioctl: the generic requests (FIOCLEX/FIONCLEX, FIONBIO, FIONREAD), the
//! interface queries on sockets (SIOCGIF*), the nsfs and pidfd requests
//! (`ns`, `pidfd`), and the terminal ones a file answers itself
//! (`File::ioctl`).

use crate::sentry::mm::usermem::UserPtr;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::net::interfaces;
use crate::sentry::vfs::procfs::ProcNode;

/// SIOCATMARK: whether the socket's next byte is urgent data.
const SIOCATMARK: u64 = 0x8905;
/// CAP_NET_ADMIN: changing interfaces.
const CAP_NET_ADMIN: u64 = 1 << 12;

pub fn sys_ioctl(ctx: &mut SyscallContext, fd: i32, request: u64, arg: u64) -> SysResult {
    const FIONCLEX: u64 = 0x5450;
    const FIOCLEX: u64 = 0x5451;
    const FIONREAD: u64 = 0x541b;
    const FIONBIO: u64 = 0x5421;
    let file = ctx.task.fds().get(fd)?.clone();
    // An O_PATH descriptor is no open file to ask.
    if *file.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    // Landlock: a device opened without IOCTL_DEV takes only the
    // commands that do not reach the device.
    if !crate::sentry::landlock::ioctl_needs_no_right(request as u32) {
        file.landlock_allows(crate::sentry::landlock::ACCESS_FS_IOCTL_DEV)?;
    }
    match request & 0xffff_ffff {
        FIOCLEX | FIONCLEX => {
            ctx.task
                .fds()
                .set_cloexec(fd, request as u32 == FIOCLEX as u32)?;
            Ok(0)
        }
        FIONREAD => {
            let available = match file.file.available() {
                Ok(n) => n,
                // Regular files: what is left to read from the offset.
                Err(_) if file.file.seekable() && file.file.inode().is_some() => {
                    (file.file.stat().size as u64).saturating_sub(*file.offset.lock())
                }
                Err(e) => return Err(e),
            };
            let value = available.min(i32::MAX as u64) as i32;
            UserPtr::new(arg).write(&mut ctx.task.mm(), &value)?;
            Ok(0)
        }
        FIONBIO => {
            let on: i32 = UserPtr::<i32>::new(arg).read(&mut ctx.task.mm())?;
            let mut flags = file.flags.lock();
            if on != 0 {
                *flags |= O_NONBLOCK;
            } else {
                *flags &= !O_NONBLOCK;
            }
            Ok(0)
        }
        // No urgent (MSG_OOB) data is ever queued: never at the mark. TCP
        // and unix sockets answer it, as on Linux.
        SIOCATMARK
            if file.file.as_socket().is_some_and(|s| {
                s.socket.domain() == crate::sentry::net::AF_UNIX
                    || s.socket.sock_type() == crate::sentry::net::SOCK_STREAM
                        && s.socket.domain() != crate::sentry::net::netlink::AF_NETLINK
            }) =>
        {
            UserPtr::<i32>::new(arg).write(&mut ctx.task.mm(), &0)?;
            Ok(0)
        }
        interfaces::SIOCSIFFLAGS if file.file.as_socket().is_some() => {
            let mut ifreq = [0u8; interfaces::IFREQ_LEN];
            ctx.task.mm().copy_from_user(arg, &mut ifreq)?;
            interfaces::set_flags(&ifreq, ctx.task.creds.caps().effective & CAP_NET_ADMIN != 0)?;
            Ok(0)
        }
        request if file.file.as_socket().is_some() && interfaces::is_interface_request(request) => {
            let mut ifreq = [0u8; interfaces::IFREQ_LEN];
            ctx.task.mm().copy_from_user(arg, &mut ifreq)?;
            interfaces::query(request, &mut ifreq)?;
            ctx.task.mm().copy_to_user(arg, &ifreq)?;
            Ok(0)
        }
        interfaces::SIOCGIFCONF if file.file.as_socket().is_some() => interface_list(ctx, arg),
        PROCMAP_QUERY
            if file
                .file
                .inode()
                .is_some_and(|i| i.as_any().is::<ProcNode>()) =>
        {
            procmap_query(ctx, &file, arg)
        }
        request if file.file.as_ns().is_some() => {
            let ns = file.file.as_ns().expect("checked").ns.clone();
            super::ns::ns_ioctl(ctx, &ns, request, arg)
        }
        request if file.file.as_userfaultfd().is_some() => {
            let uffd = file.file.as_userfaultfd().expect("checked").clone();
            super::userfaultfd::ioctl(ctx, &uffd, request, arg)
        }
        // /dev/userfaultfd (Linux 6.1): a new userfaultfd, with the flags
        // userfaultfd(2) takes, and without its capability check (the
        // device's mode decides who may).
        request if crate::sentry::vfs::devfs::is_userfaultfd_device(&file.file) => {
            if request != super::userfaultfd::USERFAULTFD_IOC_NEW {
                return Err(EINVAL);
            }
            super::userfaultfd::new_userfaultfd(ctx, arg as u32)
        }
        request if file.file.as_pidfd().is_some() => {
            let pidfd = file.file.as_pidfd().expect("checked");
            super::pidfd::ioctl(ctx, pidfd, request, arg)
        }
        request => match file.file.ioctl(request)? {
            IoctlReply::Bytes(bytes) => {
                ctx.task.mm().copy_to_user(arg, &bytes)?;
                Ok(0)
            }
        },
    }
}

/// _IOWR('f', 17, struct procmap_query): Linux 6.11's query of one
/// mapping through an open /proc/<pid>/maps.
const PROCMAP_QUERY: u64 = 0xc068_6611;
/// sizeof(struct procmap_query).
const PROCMAP_QUERY_SIZE: usize = 104;

/// PROCMAP_QUERY: `struct procmap_query` at `addr` (size, query_flags,
/// query_addr in; the mapping's range, flags, page size, offset, inode,
/// device and, when asked for, its name and the file's build id out).
fn procmap_query(ctx: &mut SyscallContext, file: &OpenFile, addr: u64) -> SysResult {
    use crate::sentry::vfs::procfs::*;
    let inode = file.file.inode().ok_or(ENOTTY)?;
    let node = inode.as_any().downcast_ref::<ProcNode>().ok_or(ENOTTY)?;
    let size: u64 = UserPtr::new(addr).read(&mut ctx.task.mm())?;
    if size > 4096 {
        return Err(E2BIG);
    }
    if size < 24 {
        return Err(EINVAL);
    }
    let size = size as usize;
    let mut q = [0u8; PROCMAP_QUERY_SIZE];
    let known = size.min(PROCMAP_QUERY_SIZE);
    ctx.task.mm().copy_from_user(addr, &mut q[..known])?;
    if size > PROCMAP_QUERY_SIZE {
        // A newer struct: what this kernel does not know must be zero.
        let mut rest = alloc::vec![0u8; size - PROCMAP_QUERY_SIZE];
        ctx.task
            .mm()
            .copy_from_user(addr + PROCMAP_QUERY_SIZE as u64, &mut rest)?;
        if rest.iter().any(|&b| b != 0) {
            return Err(E2BIG);
        }
    }
    let u64_at = |q: &[u8; PROCMAP_QUERY_SIZE], at: usize| {
        u64::from_le_bytes(q[at..at + 8].try_into().expect("8 bytes"))
    };
    let u32_at = |q: &[u8; PROCMAP_QUERY_SIZE], at: usize| {
        u32::from_le_bytes(q[at..at + 4].try_into().expect("4 bytes"))
    };
    let (flags, query_addr) = (u64_at(&q, 8), u64_at(&q, 16));
    let (name_size, build_id_size) = (u32_at(&q, 80), u32_at(&q, 84));
    let (name_addr, build_id_addr) = (u64_at(&q, 88), u64_at(&q, 96));
    if flags & !0x3f != 0
        || (name_size != 0) != (name_addr != 0)
        || (build_id_size != 0) != (build_id_addr != 0)
    {
        return Err(EINVAL);
    }
    let (vma, shown) = node.query_map(query_addr, flags)?;
    let vma_flags = [
        (vma.prot.read, PROCMAP_QUERY_VMA_READABLE),
        (vma.prot.write, PROCMAP_QUERY_VMA_WRITABLE),
        (vma.prot.exec, PROCMAP_QUERY_VMA_EXECUTABLE),
        (vma.shared, PROCMAP_QUERY_VMA_SHARED),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .fold(0, |acc, (_, bit)| acc | bit);
    let mut name_len = 0u32;
    if name_size != 0 && !shown.name.is_empty() {
        let len = shown.name.len() + 1;
        if len > (name_size as usize).min(crate::sentry::vfs::PATH_MAX) {
            return Err(ENAMETOOLONG);
        }
        name_len = len as u32;
    }
    let put64 = |q: &mut [u8; PROCMAP_QUERY_SIZE], at: usize, v: u64| {
        q[at..at + 8].copy_from_slice(&v.to_le_bytes())
    };
    let put32 = |q: &mut [u8; PROCMAP_QUERY_SIZE], at: usize, v: u32| {
        q[at..at + 4].copy_from_slice(&v.to_le_bytes())
    };
    put64(&mut q, 24, vma.start);
    put64(&mut q, 32, vma.end);
    put64(&mut q, 40, vma_flags);
    put64(&mut q, 48, 4096);
    put64(&mut q, 56, shown.offset);
    put64(&mut q, 64, shown.inode);
    put32(&mut q, 72, shown.major);
    put32(&mut q, 76, shown.minor);
    // The build id of a mapped ELF file (none for anonymous memory; the
    // executable loaded at boot has no file node to read).
    let id = if build_id_size != 0 {
        let id = vma
            .file
            .as_ref()
            .and_then(|f| crate::sentry::vfs::procfs::build_id(&*f.inode))
            .unwrap_or_default();
        if (build_id_size as usize) < id.len() {
            return Err(ENAMETOOLONG);
        }
        id
    } else {
        alloc::vec::Vec::new()
    };
    put32(&mut q, 80, if name_size != 0 { name_len } else { 0 });
    put32(&mut q, 84, id.len() as u32);
    if !id.is_empty() {
        ctx.task.mm().copy_to_user(build_id_addr, &id)?;
    }
    if name_len != 0 {
        let mut name = shown.name.clone();
        name.push(0);
        ctx.task.mm().copy_to_user(name_addr, &name)?;
    }
    ctx.task.mm().copy_to_user(addr, &q[..known])?;
    Ok(0)
}

/// SIOCGIFCONF: `struct ifconf { int ifc_len; char *ifc_buf; }` at
/// `addr`. With a null buffer, the length the list needs; else as many
/// whole entries as fit, and the length used.
fn interface_list(ctx: &mut SyscallContext, addr: u64) -> SysResult {
    let mut ifconf = [0u8; 16];
    ctx.task.mm().copy_from_user(addr, &mut ifconf)?;
    let room = i32::from_le_bytes(ifconf[..4].try_into().unwrap());
    let buf = u64::from_le_bytes(ifconf[8..].try_into().unwrap());
    let entries = interfaces::conf_entries();
    let used = if buf == 0 {
        entries.len() * interfaces::IFREQ_LEN
    } else {
        let fit = (room.max(0) as usize / interfaces::IFREQ_LEN).min(entries.len());
        let bytes: alloc::vec::Vec<u8> = entries[..fit].concat();
        ctx.task.mm().copy_to_user(buf, &bytes)?;
        bytes.len()
    };
    ctx.task
        .mm()
        .copy_to_user(addr, &(used as i32).to_le_bytes())?;
    Ok(0)
}
