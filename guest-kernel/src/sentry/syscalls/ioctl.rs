//! ioctl: the generic requests (FIOCLEX/FIONCLEX, FIONBIO, FIONREAD), the
//! interface queries on sockets (SIOCGIF*), the nsfs and pidfd requests
//! (`ns`, `pidfd`), and the terminal ones a file answers itself
//! (`File::ioctl`).

use crate::sentry::mm::usermem::UserPtr;

use super::fd_arg;
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::net::interfaces;

pub fn sys_ioctl(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const FIONCLEX: u64 = 0x5450;
    const FIOCLEX: u64 = 0x5451;
    const FIONREAD: u64 = 0x541b;
    const FIONBIO: u64 = 0x5421;
    let fd = fd_arg(args[0]);
    let file = ctx.task.fds().get(fd)?.clone();
    // An O_PATH descriptor is no open file to ask.
    if *file.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    match args[1] & 0xffff_ffff {
        FIOCLEX | FIONCLEX => {
            ctx.task
                .fds()
                .set_cloexec(fd, args[1] as u32 == FIOCLEX as u32)?;
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
            UserPtr::new(args[2]).write(&mut ctx.task.mm(), &value)?;
            Ok(0)
        }
        FIONBIO => {
            let on: i32 = UserPtr::<i32>::new(args[2]).read(&mut ctx.task.mm())?;
            let mut flags = file.flags.lock();
            if on != 0 {
                *flags |= O_NONBLOCK;
            } else {
                *flags &= !O_NONBLOCK;
            }
            Ok(0)
        }
        request if file.file.as_socket().is_some() && interfaces::is_interface_request(request) => {
            let mut ifreq = [0u8; interfaces::IFREQ_LEN];
            ctx.task.mm().copy_from_user(args[2], &mut ifreq)?;
            interfaces::query(request, &mut ifreq)?;
            ctx.task.mm().copy_to_user(args[2], &ifreq)?;
            Ok(0)
        }
        interfaces::SIOCGIFCONF if file.file.as_socket().is_some() => interface_list(ctx, args[2]),
        request if file.file.as_ns().is_some() => {
            let ns = file.file.as_ns().expect("checked").ns.clone();
            super::ns::ns_ioctl(ctx, &ns, request, args[2])
        }
        request if file.file.as_pidfd().is_some() => {
            let pidfd = file.file.as_pidfd().expect("checked");
            super::pidfd::ioctl(ctx, pidfd, request, args[2])
        }
        request => match file.file.ioctl(request)? {
            IoctlReply::Bytes(bytes) => {
                ctx.task.mm().copy_to_user(args[2], &bytes)?;
                Ok(0)
            }
        },
    }
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
