//! ioctl: the generic requests (FIOCLEX/FIONCLEX, FIONBIO, FIONREAD) and
//! the terminal ones a file answers itself (`File::ioctl`).

use crate::sentry::mm::usermem::UserPtr;

use super::fd_arg;
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;

pub fn sys_ioctl(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const FIONCLEX: u64 = 0x5450;
    const FIOCLEX: u64 = 0x5451;
    const FIONREAD: u64 = 0x541b;
    const FIONBIO: u64 = 0x5421;
    let fd = fd_arg(args[0]);
    let file = ctx.task.fds().get(fd)?.clone();
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
        request => match file.file.ioctl(request)? {
            IoctlReply::Bytes(bytes) => {
                ctx.task.mm().copy_to_user(args[2], &bytes)?;
                Ok(0)
            }
        },
    }
}
