//! File handles: name_to_handle_at and open_by_handle_at (Linux's
//! fs/fhandle.c). Handles of the sentry's tmpfs open again while the file
//! lives (vfs/fhandle.rs); with AT_HANDLE_FID any file gets an identifier
//! that is only compared, never opened.

use alloc::vec::Vec;

use super::open::open_node;
use super::path::{lookup_at, read_path_or_empty, AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_FOLLOW};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::{open_flags_from_user, O_ACCMODE};
use crate::sentry::vfs::mount_ids::MountId;
use crate::sentry::vfs::{fhandle, perm, FileKind, PathStack};

const MAX_HANDLE_SZ: u32 = 128;
const AT_HANDLE_MNT_ID_UNIQUE: u64 = 0x001;
const AT_HANDLE_CONNECTABLE: u64 = 0x002;
const AT_HANDLE_FID: u64 = 0x200;
/// The type shmem gives its handles (generation, inode number).
const FILEID_INO32_GEN: u32 = 1;
const FILEID_INVALID: u32 = 255;
const FILEID_IS_CONNECTABLE: u32 = 0x10000;
const FILEID_IS_DIR: u32 = 0x20000;
const FILEID_USER_FLAGS_MASK: u32 = 0xffff_0000;

/// struct file_handle's header: handle_bytes, handle_type.
fn read_header(ctx: &mut SyscallContext, addr: u64) -> Result<(u32, u32), Errno> {
    let mut header = [0u8; 8];
    ctx.task.mm().copy_from_user(addr, &mut header)?;
    let bytes = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    let kind = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    Ok((bytes, kind))
}

pub fn sys_name_to_handle_at(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path_addr: u64,
    handle_addr: u64,
    mnt_addr: u64,
    flags: u32,
) -> SysResult {
    let flags = flags as u64;
    let known = AT_SYMLINK_FOLLOW
        | AT_EMPTY_PATH
        | AT_HANDLE_FID
        | AT_HANDLE_MNT_ID_UNIQUE
        | AT_HANDLE_CONNECTABLE;
    if flags & !known != 0 {
        return Err(EINVAL);
    }
    // An identifier is never opened, a connectable handle is: both at once
    // make no sense.
    if flags & AT_HANDLE_FID != 0 && flags & AT_HANDLE_CONNECTABLE != 0 {
        return Err(EINVAL);
    }
    let path = read_path_or_empty(ctx, path_addr)?;
    // The node and where it was found (None: an open file without a path).
    let (node, stack): (_, Option<PathStack>) = if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(ENOENT);
        }
        if dirfd == AT_FDCWD {
            let cwd = ctx.task.cwd();
            (cwd.node().clone(), Some(cwd))
        } else {
            let file = ctx.task.fds().get(dirfd)?.clone();
            match (&file.location, file.file.inode()) {
                (Some(stack), _) => (stack.node().clone(), Some(stack.clone())),
                (None, Some(inode)) => (inode, None),
                // A pipe or socket: no filesystem that could make a handle.
                (None, None) if flags & AT_HANDLE_FID == 0 => return Err(EOPNOTSUPP),
                (None, None) => {
                    let stat = file.file.stat();
                    return encode(
                        ctx,
                        handle_addr,
                        mnt_addr,
                        flags,
                        &fid_words(stat.ino),
                        pathless_mount(stat.dev),
                    );
                }
            }
        }
    } else {
        let stack = lookup_at(ctx, dirfd, &path, flags & AT_SYMLINK_FOLLOW != 0)?;
        (stack.node().clone(), Some(stack))
    };
    // The mount it was reached through (statx's and fdinfo's mnt_id).
    let mount = match &stack {
        Some(stack) => ctx.task.namespace.mount_of(stack).0.id,
        None => pathless_mount(node.id().0),
    };
    match stack {
        Some(stack) if fhandle::exportable(&node) => {
            let generation = fhandle::register(&stack);
            let ino = node.id().1;
            let words = [generation, ino as u32, (ino >> 32) as u32];
            let mut kind = FILEID_INO32_GEN;
            if flags & AT_HANDLE_CONNECTABLE != 0 {
                kind |= FILEID_IS_CONNECTABLE;
                if node.kind() == FileKind::Directory {
                    kind |= FILEID_IS_DIR;
                }
            }
            encode_typed(ctx, handle_addr, mnt_addr, flags, &words, kind, mount)
        }
        // No export operations here (procfs, host directories): only an
        // identifier, Linux's default encoding of the inode number.
        _ if flags & AT_HANDLE_FID != 0 => encode(
            ctx,
            handle_addr,
            mnt_addr,
            flags,
            &fid_words(node.id().1),
            mount,
        ),
        _ => Err(EOPNOTSUPP),
    }
}

/// The mount id of a file without a path: a number from its device, as
/// /proc/<pid>/fdinfo shows.
fn pathless_mount(dev: u64) -> MountId {
    MountId {
        old: (dev & 0xffff) as u32,
        unique: dev,
    }
}

fn fid_words(ino: u64) -> [u32; 2] {
    [ino as u32, 0]
}

fn encode(
    ctx: &mut SyscallContext,
    handle_addr: u64,
    mnt_addr: u64,
    flags: u64,
    words: &[u32],
    mount: MountId,
) -> SysResult {
    encode_typed(
        ctx,
        handle_addr,
        mnt_addr,
        flags,
        words,
        FILEID_INO32_GEN,
        mount,
    )
}

/// Writes the handle (or, when it does not fit, the size it needs:
/// EOVERFLOW) and the mount id, as do_sys_name_to_handle.
fn encode_typed(
    ctx: &mut SyscallContext,
    handle_addr: u64,
    mnt_addr: u64,
    flags: u64,
    words: &[u32],
    kind: u32,
    mount: MountId,
) -> SysResult {
    let (room, _) = read_header(ctx, handle_addr)?;
    if room > MAX_HANDLE_SZ {
        return Err(EINVAL);
    }
    let needed = (words.len() * 4) as u32;
    let mut out: Vec<u8> = Vec::new();
    out.extend_from_slice(&needed.to_le_bytes());
    let fits = needed <= room;
    if fits {
        out.extend_from_slice(&kind.to_le_bytes());
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
    } else {
        out.extend_from_slice(&FILEID_INVALID.to_le_bytes());
    }
    // The mount id as /proc/PID/fdinfo shows it (or the unique one: 64
    // bits).
    let mut mm = ctx.task.mm();
    if flags & AT_HANDLE_MNT_ID_UNIQUE != 0 {
        mm.copy_to_user(mnt_addr, &mount.unique.to_le_bytes())?;
    } else {
        mm.copy_to_user(mnt_addr, &mount.old.to_le_bytes())?;
    }
    mm.copy_to_user(handle_addr, &out)?;
    if fits {
        Ok(0)
    } else {
        Err(EOVERFLOW)
    }
}

pub fn sys_open_by_handle_at(
    ctx: &mut SyscallContext,
    mount_fd: i32,
    handle_addr: u64,
    flags: u32,
) -> SysResult {
    let flags = open_flags_from_user(flags);
    // The filesystem the handle belongs to: that of mount_fd.
    let dev = if mount_fd == AT_FDCWD {
        ctx.task.cwd().node().id().0
    } else {
        ctx.task.fds().get(mount_fd)?.file.stat().dev
    };
    // A handle bypasses every directory's permissions on the way.
    if !ctx.task.creds.accessor().has(perm::CAP_DAC_READ_SEARCH) {
        return Err(EPERM);
    }
    let (bytes, kind) = read_header(ctx, handle_addr)?;
    if bytes > MAX_HANDLE_SZ || bytes == 0 {
        return Err(EINVAL);
    }
    if (kind as i32) < 0
        || kind & FILEID_USER_FLAGS_MASK & !(FILEID_IS_CONNECTABLE | FILEID_IS_DIR) != 0
    {
        return Err(EINVAL);
    }
    let mut body = alloc::vec![0u8; bytes as usize];
    ctx.task.mm().copy_from_user(handle_addr + 8, &mut body)?;
    if kind & !FILEID_USER_FLAGS_MASK != FILEID_INO32_GEN || body.len() < 12 {
        return Err(ESTALE);
    }
    let word = |i: usize| u32::from_le_bytes(body[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let ino = word(1) as u64 | (word(2) as u64) << 32;
    let stack = fhandle::lookup(dev, ino, word(0))?;
    if flags & O_ACCMODE == O_ACCMODE {
        return Err(EINVAL);
    }
    open_node(ctx, stack, flags, false)
}
