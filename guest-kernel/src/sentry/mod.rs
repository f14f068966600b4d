//! The arch-neutral Linux ABI: the task, its memory and files, the syscall
//! table and handlers, exec.
//!
//! Safe Rust only: memory is reached through `crate::mm::frame` and the
//! checked user-memory API (`mm::usermem`), stacks are switched by
//! `crate::kstack`, and the CPU by `crate::arch`.
#![deny(unsafe_code)]

pub mod coredump;
pub mod errno;
pub mod exec;
pub mod fd;
pub mod futex;
pub mod host_exec;
pub mod ipc;
pub mod keys;
pub mod landlock;
pub mod mm;
pub mod net;
pub mod ns;
pub mod ptrace;
pub mod random;
pub mod sched;
pub mod seccomp;
pub mod sigio;
pub mod signal;
pub mod stat;
pub mod syscalls;
pub mod task;
pub mod time;
pub mod timens;
pub mod traps;
pub mod vfs;
pub mod wait;

use alloc::sync::Arc;
use alloc::vec::Vec;

use boards::bootinfo::BootInfo;

use crate::arch::{cpu, UserContext};
use fd::{FdTable, OpenFile, O_RDONLY, O_WRONLY};
use spin::Mutex;
use task::Task;
use vfs::console::{Console, TtyInfo};

/// What uname reports as the kernel release.
pub const KERNEL_RELEASE: &str = "6.8.0-rvisor";
/// The application's pid (it is init in its own world).
pub const APP_PID: i32 = 1;

/// The boot strings, split.
struct BootStrings {
    exe: &'static [u8],
    argv: Vec<&'static [u8]>,
    envp: Vec<&'static [u8]>,
    /// The first process's working directory (`--cwd`), if given.
    cwd: Option<&'static [u8]>,
}

/// Splits the boot strings: exe path, argv, envp and the optional cwd.
fn boot_strings(boot_info: &BootInfo) -> BootStrings {
    let region = crate::mm::frame::boot_region(boot_info.strings.start, boot_info.strings.size);
    let mut strings = region.split(|&b| b == 0);
    let exe = strings.next().unwrap_or(b"");
    let argv: Vec<&[u8]> = strings.by_ref().take(boot_info.argc as usize).collect();
    let envp: Vec<&[u8]> = strings.by_ref().take(boot_info.envc as usize).collect();
    let cwd = if boot_info.flags & boards::bootinfo::BOOT_FLAG_CWD != 0 {
        strings.next()
    } else {
        None
    };
    BootStrings {
        exe,
        argv,
        envp,
        cwd,
    }
}

/// The initial filesystem tree: a tmpfs root with /tmp, /dev (devfs) and
/// /proc (mounted once the process exists), and the executable, read-only,
/// at its absolute host path (not under /dev or /proc). Returns the
/// executable's file too.
fn build_namespace(
    exe_path: &[u8],
    image: &'static [u8],
    tty: TtyInfo,
) -> Result<(Arc<vfs::Namespace>, Arc<dyn vfs::Inode>), errno::Errno> {
    let root = vfs::tmpfs::new_root_with_dirs(vfs::DEV_TMPFS, &[b"tmp", b"dev", b"proc"]);
    let namespace = Arc::new(vfs::Namespace::new(root));
    vfs::procfs::record_mount(b"tmpfs", b"/", b"tmpfs", b"rw");
    mount_at(&namespace, b"/dev", vfs::devfs::DevDir::new(tty))?;
    vfs::procfs::record_mount(b"devtmpfs", b"/dev", b"devtmpfs", b"rw");
    let exe = Arc::new(vfs::memfile::MemFile::new(image, 2, 0o555));
    if let Some(slash) = exe_path.iter().rposition(|&b| b == b'/') {
        let (dir, name) = (&exe_path[..slash], &exe_path[slash + 1..]);
        let under_special = dir.starts_with(b"/dev") || dir.starts_with(b"/proc");
        if !name.is_empty() && !under_special {
            let stack = vfs::make_dirs(&namespace, dir)?;
            if let Some(tmpfs_dir) = stack
                .node()
                .as_any()
                .downcast_ref::<vfs::tmpfs::TmpfsNode>()
            {
                tmpfs_dir.insert(name, exe.clone())?;
            }
        }
    }
    write_user_database(&namespace)?;
    write_kernel_config(&namespace)?;
    write_security_names(&namespace)?;
    Ok((namespace, exe))
}

/// The boot info's data file (`--wasm`: the module or its compiled code),
/// read-only at its guest path in the sandbox's tmpfs, as the executable is.
fn place_data_file(namespace: &vfs::Namespace, boot_info: &BootInfo) -> Result<(), errno::Errno> {
    if boot_info.data_file_path.size == 0 {
        return Ok(());
    }
    let path = crate::mm::frame::boot_region(
        boot_info.data_file_path.start,
        boot_info.data_file_path.size,
    );
    let data = crate::mm::frame::boot_region(boot_info.data_file.start, boot_info.data_file.size);
    let slash = path.iter().rposition(|&b| b == b'/').ok_or(errno::EINVAL)?;
    let (dir, name) = (&path[..slash], &path[slash + 1..]);
    if name.is_empty() || !path.starts_with(b"/") {
        return Err(errno::EINVAL);
    }
    let stack = vfs::make_dirs(namespace, dir)?;
    let tmpfs_dir = stack
        .node()
        .as_any()
        .downcast_ref::<vfs::tmpfs::TmpfsNode>()
        .ok_or(errno::EINVAL)?;
    tmpfs_dir.insert(name, Arc::new(vfs::memfile::MemFile::new(data, 3, 0o444)))
}

/// /etc/passwd and /etc/group naming the ids the program runs with (root)
/// and `nobody` (and Debian's `daemon` and `bin`), as in a minimal container image: `ls -l`, `id` and
/// `whoami` print names as they do natively. Ordinary tmpfs files: the
/// program may rewrite them.
fn write_user_database(namespace: &vfs::Namespace) -> Result<(), errno::Errno> {
    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        bin:x:2:2:bin:/bin:/usr/sbin/nologin\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    const GROUP: &[u8] = b"root:x:0:\ndaemon:x:1:\nbin:x:2:\nnogroup:x:65534:\n";
    let etc = vfs::make_dirs(namespace, b"/etc")?.node().clone();
    for (name, contents) in [(&b"passwd"[..], PASSWD), (b"group", GROUP)] {
        let node = etc.create(name, vfs::NewNode::File { mode: 0o644 })?;
        node.open(fd::O_WRONLY)?.write(contents, 0)?;
    }
    Ok(())
}

/// /boot/config-<release>: the kernel configuration the sentry's Linux ABI
/// corresponds to, where programs (LTP) look for it: `y` for what the
/// sentry implements, "is not set" for what it does not.
/// CONFIG_CHECKPOINT_RESTORE=y: of what Linux builds with it the sentry
/// has kcmp, System V IPC's msgrcv MSG_COPY and /proc/sys/kernel/
/// {msg,sem,shm}_next_id and /proc/sys/kernel/ns_last_pid; not prctl
/// PR_SET_MM or /proc/<pid>/map_files (a program that looks for those
/// finds them missing, as it would on an older kernel).
fn write_kernel_config(namespace: &vfs::Namespace) -> Result<(), errno::Errno> {
    #[cfg(target_arch = "x86_64")]
    const ARCH: &[u8] = b"CONFIG_X86_64=y\nCONFIG_X86=y\nCONFIG_HAVE_ARCH_USERFAULTFD_WP=y\n\
        CONFIG_HAVE_ARCH_USERFAULTFD_MINOR=y\n";
    #[cfg(target_arch = "aarch64")]
    const ARCH: &[u8] = b"CONFIG_ARM64=y\nCONFIG_HAVE_ARCH_USERFAULTFD_MINOR=y\n\
        # CONFIG_HAVE_ARCH_USERFAULTFD_WP is not set\n";
    const COMMON: &[u8] = b"CONFIG_64BIT=y\nCONFIG_MMU=y\nCONFIG_MULTIUSER=y\n\
        CONFIG_SYSVIPC=y\nCONFIG_FUTEX=y\nCONFIG_EPOLL=y\nCONFIG_SIGNALFD=y\n\
        CONFIG_TIMERFD=y\nCONFIG_EVENTFD=y\nCONFIG_SHMEM=y\nCONFIG_TMPFS=y\n\
        CONFIG_MEMFD_CREATE=y\nCONFIG_PROC_FS=y\nCONFIG_POSIX_TIMERS=y\n\
        CONFIG_HIGH_RES_TIMERS=y\nCONFIG_FILE_LOCKING=y\nCONFIG_NET=y\nCONFIG_UNIX=y\n\
        CONFIG_INET=y\nCONFIG_IPV6=y\nCONFIG_KEYS=y\nCONFIG_AIO=y\nCONFIG_POSIX_MQUEUE=y\n\
        CONFIG_TMPFS_XATTR=y\n\
        CONFIG_FSNOTIFY=y\nCONFIG_DNOTIFY=y\nCONFIG_INOTIFY_USER=y\nCONFIG_FANOTIFY=y\n\
        CONFIG_FANOTIFY_ACCESS_PERMISSIONS=y\n\
        CONFIG_SECURITY=y\nCONFIG_SECURITYFS=y\nCONFIG_SECURITY_LANDLOCK=y\n\
        CONFIG_LSM=\"landlock\"\n# CONFIG_SECURITY_SELINUX is not set\n\
        # CONFIG_SECURITY_APPARMOR is not set\n# CONFIG_SECURITY_SMACK is not set\n\
        # CONFIG_SWAP is not set\n# CONFIG_IO_URING is not set\n\
        CONFIG_NAMESPACES=y\nCONFIG_UTS_NS=y\nCONFIG_IPC_NS=y\n# CONFIG_USER_NS is not set\n\
        # CONFIG_PID_NS is not set\n# CONFIG_NET_NS is not set\nCONFIG_TIME_NS=y\n\
        # CONFIG_CGROUPS is not set\n\
        CONFIG_CHECKPOINT_RESTORE=y\nCONFIG_USERFAULTFD=y\n\
        # CONFIG_BLK_DEV_LOOP is not set\n# CONFIG_NUMA is not set\n# CONFIG_HUGETLBFS is not set\n\
        CONFIG_SECCOMP=y\nCONFIG_SECCOMP_FILTER=y\n# CONFIG_MODULES is not set\n\
        # CONFIG_PERSISTENT_KEYRINGS is not set\n# CONFIG_BIG_KEYS is not set\n\
        # CONFIG_TRUSTED_KEYS is not set\n# CONFIG_ENCRYPTED_KEYS is not set\n\
        # CONFIG_KEY_DH_OPERATIONS is not set\n# CONFIG_KEY_NOTIFICATIONS is not set\n\
        # CONFIG_ASYMMETRIC_KEY_TYPE is not set\n";
    let boot = vfs::make_dirs(namespace, b"/boot")?.node().clone();
    let mut name = b"config-".to_vec();
    name.extend_from_slice(KERNEL_RELEASE.as_bytes());
    let node = boot.create(&name, vfs::NewNode::File { mode: 0o644 })?;
    let file = node.open(fd::O_WRONLY)?;
    file.write(ARCH, 0)?;
    file.write(COMMON, ARCH.len() as u64)?;
    Ok(())
}

/// /sys/kernel/security/lsm: the security modules the sandbox has, as
/// securityfs lists them.
fn write_security_names(namespace: &vfs::Namespace) -> Result<(), errno::Errno> {
    let dir = vfs::make_dirs(namespace, b"/sys/kernel/security")?
        .node()
        .clone();
    let node = dir.create(b"lsm", vfs::NewNode::File { mode: 0o444 })?;
    node.open(fd::O_WRONLY)?
        .write(syscalls::landlock::LSM_NAMES, 0)?;
    Ok(())
}

/// The mount table of the boot info: (flags, guest path) per record.
fn mount_records(boot_info: &BootInfo) -> Result<Vec<(u32, &'static [u8])>, errno::Errno> {
    use boards::bootinfo::MountRecord;
    let table = crate::mm::frame::boot_region(boot_info.mounts.start, boot_info.mounts.size);
    let header = core::mem::size_of::<MountRecord>();
    let mut offset = 0;
    let mut records = Vec::new();
    for _ in 0..boot_info.mount_count {
        let record = table.get(offset..offset + header).ok_or(errno::EINVAL)?;
        let flags = u32::from_le_bytes(record[..4].try_into().unwrap());
        let len = u32::from_le_bytes(record[4..8].try_into().unwrap()) as usize;
        let path = table
            .get(offset + header..offset + header + len)
            .ok_or(errno::EINVAL)?;
        records.push((flags, path));
        offset += (header + len + 7) & !7;
    }
    Ok(records)
}

/// `--net`: the host's /etc/resolv.conf and /etc/hosts as the sandbox's.
/// Without `--root` they are tmpfs files (the program may rewrite them);
/// under `--root` they lie over the root's own files (where the root has
/// them; a read-only copy, as a container runtime's bind mount does).
fn place_net_files(namespace: &vfs::Namespace, boot_info: &BootInfo) -> Result<(), errno::Errno> {
    let region = boot_info.net_files;
    if region.size == 0 {
        return Ok(());
    }
    let table = crate::mm::frame::boot_region(region.start, region.size);
    let mut offset = 0usize;
    while offset + 8 <= table.len() {
        let data_len = u32::from_le_bytes(table[offset..offset + 4].try_into().unwrap()) as usize;
        let path_len =
            u32::from_le_bytes(table[offset + 4..offset + 8].try_into().unwrap()) as usize;
        let path = table
            .get(offset + 8..offset + 8 + path_len)
            .ok_or(errno::EINVAL)?;
        let data = table
            .get(offset + 8 + path_len..offset + 8 + path_len + data_len)
            .ok_or(errno::EINVAL)?;
        offset += (8 + path_len + data_len + 7) & !7;
        let slash = path.iter().rposition(|&b| b == b'/').ok_or(errno::EINVAL)?;
        let (dir, name) = (&path[..slash], &path[slash + 1..]);
        if has_root(boot_info) {
            let Ok(at) = namespace.resolve(&namespace.root_stack(), path, false) else {
                continue;
            };
            let file = Arc::new(vfs::memfile::MemFile::new(data, 4 + offset as u64, 0o444));
            namespace.mount_file(&at, file)?;
        } else {
            let etc = vfs::make_dirs(namespace, dir)?.node().clone();
            let _ = etc.unlink(name, false);
            let node = etc.create(name, vfs::NewNode::File { mode: 0o644 })?;
            node.open(fd::O_WRONLY)?.write(data, 0)?;
        }
    }
    Ok(())
}

/// `--root`: the sandbox's root.
fn has_root(boot_info: &BootInfo) -> bool {
    boot_info.flags & boards::bootinfo::BOOT_FLAG_ROOT != 0
}

/// The filesystem tree under `--root`: host directory 0 is `/`, with the
/// sandbox's own /dev, /proc (mounted once the process exists) and a
/// private tmpfs /tmp over it.
fn build_root_namespace(
    boot_info: &BootInfo,
    tty: TtyInfo,
) -> Result<Arc<vfs::Namespace>, errno::Errno> {
    let records = mount_records(boot_info)?;
    let Some(&(flags, b"/")) = records.first() else {
        return Err(errno::EINVAL);
    };
    let read_only = flags & boards::bootinfo::MOUNT_READ_ONLY != 0;
    let host = vfs::hostfs::mount_root(0, read_only)?;
    let root = vfs::rootdir::RootDir::new(host);
    for (_, path) in records.iter().skip(1) {
        if let Some(first) = path.split(|&b| b == b'/').find(|c| !c.is_empty()) {
            root.add_mount_point(first)?;
        }
    }
    let namespace = Arc::new(vfs::Namespace::new(root));
    let options: &[u8] = if read_only { b"ro" } else { b"rw" };
    vfs::procfs::record_mount(b"rvisor-host", b"/", b"hostfs", options);
    mount_at(&namespace, b"/dev", vfs::devfs::DevDir::new(tty))?;
    vfs::procfs::record_mount(b"devtmpfs", b"/dev", b"devtmpfs", b"rw");
    vfs::procfs::record_mount(b"tmpfs", b"/tmp", b"tmpfs", b"rw");
    Ok(namespace)
}

/// Mounts the `--mount` directories listed in the boot info (after the
/// root, under `--root`).
fn mount_host_dirs(
    namespace: &vfs::Namespace,
    boot_info: &BootInfo,
) -> Result<(), (&'static [u8], errno::Errno)> {
    let skip = usize::from(has_root(boot_info));
    let records = mount_records(boot_info).map_err(|e| (&b"?"[..], e))?;
    for (index, (flags, path)) in records.into_iter().enumerate().skip(skip) {
        let read_only = flags & boards::bootinfo::MOUNT_READ_ONLY != 0;
        if flags & boards::bootinfo::MOUNT_TMPFS != 0 {
            // A fresh tmpfs (an OCI `tmpfs` mount such as podman's --tmpfs).
            let root = vfs::tmpfs::TmpfsNode::new_root(vfs::DEV_TMPFS);
            let at = if skip == 1 {
                mount_point_in_root(namespace, path, false)
            } else {
                vfs::make_dirs(namespace, path)
            }
            .map_err(|e| (path, e))?;
            namespace.mount(&at, root).map_err(|e| (path, e))?;
            vfs::procfs::record_mount(b"tmpfs", path, b"tmpfs", b"rw");
            continue;
        }
        let root = vfs::hostfs::mount_root(index as u32, read_only).map_err(|e| (path, e))?;
        let file = vfs::Inode::kind(&*root) == vfs::FileKind::Regular;
        if skip == 1 || file {
            // Under --root, nothing is created in the host's tree for a
            // mount point: it must exist there (or be a new top-level
            // directory, which the sandbox's root provides). A file's
            // mount point is a file (made in the sandbox's tmpfs if missing).
            let at = mount_point_in_root(namespace, path, file).map_err(|e| (path, e))?;
            namespace.mount(&at, root).map_err(|e| (path, e))?;
        } else {
            mount_at(namespace, path, root).map_err(|e| (path, e))?;
        }
        let options: &[u8] = if read_only { b"ro" } else { b"rw" };
        vfs::procfs::record_mount(b"rvisor-host", path, b"hostfs", options);
    }
    Ok(())
}

/// Resolves a `--mount` point under `--root`: directories missing in the
/// sandbox's own tmpfs directories are created (and the last component as
/// an empty file for a mounted `file`), none in the host's tree.
fn mount_point_in_root(
    namespace: &vfs::Namespace,
    path: &[u8],
    file: bool,
) -> Result<vfs::PathStack, errno::Errno> {
    let mut stack = namespace.root_stack();
    let components: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    for (i, &component) in components.iter().enumerate() {
        stack = match namespace.resolve(&stack, component, true) {
            Ok(next) => next,
            Err(e) if e == errno::ENOENT && stack.node().as_any().is::<vfs::tmpfs::TmpfsNode>() => {
                let node = if file && i + 1 == components.len() {
                    vfs::NewNode::File { mode: 0o644 }
                } else {
                    vfs::NewNode::Directory { mode: 0o755 }
                };
                stack.node().create(component, node)?;
                namespace.resolve(&stack, component, true)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(stack)
}

/// The first program under `--root`, found as execvp finds it: a name
/// with a '/' is a path; else each directory of PATH is tried in turn.
/// Returns (the path it was found at, the file).
fn find_program(
    namespace: &vfs::Namespace,
    name: &[u8],
    envp: &[&[u8]],
) -> Result<(Vec<u8>, Arc<dyn vfs::Inode>), errno::Errno> {
    let root = namespace.root_stack();
    let check = |path: &[u8]| -> Result<Arc<dyn vfs::Inode>, errno::Errno> {
        let node = namespace.resolve(&root, path, true)?.node().clone();
        if node.kind() != vfs::FileKind::Regular || node.stat().mode & 0o111 == 0 {
            return Err(errno::EACCES);
        }
        Ok(node)
    };
    if name.is_empty() {
        return Err(errno::ENOENT);
    }
    if name.contains(&b'/') {
        return check(name).map(|node| (name.to_vec(), node));
    }
    let path_var = envp
        .iter()
        .find_map(|var| var.strip_prefix(b"PATH="))
        .unwrap_or(&b"/usr/local/bin:/usr/bin:/bin"[..]);
    let mut error = errno::ENOENT;
    for dir in path_var.split(|&b| b == b':') {
        let mut candidate = if dir.is_empty() {
            b".".to_vec()
        } else {
            dir.to_vec()
        };
        candidate.push(b'/');
        candidate.extend_from_slice(name);
        match check(&candidate) {
            Ok(node) => return Ok((candidate, node)),
            Err(e) if e == errno::ENOENT || e == errno::ENOTDIR => {}
            Err(e) => error = e,
        }
    }
    Err(error)
}

/// The first program could not be started: one line on stderr and the
/// shell's status (127: not found, 126: found but not runnable).
fn cannot_run(name: &[u8], error: errno::Errno) -> ! {
    use crate::hv::console::{write, Stream};
    let (why, status): (&[u8], u8) = match error {
        e if e == errno::ENOENT => (b"not found in the sandbox", 127),
        e if e == errno::EACCES => (b"permission denied (not an executable file)", 126),
        e if e == errno::ENOEXEC => (b"not a runnable ELF executable for this machine", 126),
        e if e == errno::ELIBBAD => (
            b"its dynamic linker is not an ELF file for this machine",
            126,
        ),
        e if e == errno::ENOMEM => (b"not enough guest memory (raise --memory)", 126),
        _ => (b"cannot be executed", 126),
    };
    let mut line = b"rvisor-vmm: ".to_vec();
    line.extend_from_slice(name);
    line.extend_from_slice(b": ");
    line.extend_from_slice(why);
    line.extend_from_slice(alloc::format!(" (errno {})\n", error.0).as_bytes());
    write(Stream::Stderr, &line);
    crate::hv::console::exit(
        crate::hv::console::ExitKind::Exited(status),
        &Default::default(),
    )
}

/// Loads the first program through the same path as execve: "#!"
/// scripts, the ELF and the interpreter it names, all from the sandbox's
/// file systems (mounted before). Under `--root` the program is looked up
/// there as execvp does; otherwise it is the executable `build_namespace`
/// placed (taken by its file, which a `--mount` over its directory may
/// hide from lookups).
pub(super) fn load_first(
    mm: &mut mm::AddressSpace,
    namespace: &vfs::Namespace,
    name: &[u8],
    placed: Option<Arc<dyn vfs::Inode>>,
    argv: &[&[u8]],
    envp: &[&[u8]],
) -> Result<(exec::LoadedElf, exec::Program), errno::Errno> {
    let root = namespace.root_stack();
    let (path, inode, shown) = match placed {
        Some(inode) => (name.to_vec(), inode, name.to_vec()),
        None => {
            let (path, inode) = find_program(namespace, name, envp)?;
            let shown = namespace.resolve(&root, &path, true)?.path();
            (path, inode, shown)
        }
    };
    let program = exec::follow_scripts(
        namespace,
        &root,
        &root,
        &vfs::perm::Accessor::KERNEL,
        None,
        exec::Program {
            inode,
            shown,
            exec_path: path,
            args: argv.iter().map(|a| a.to_vec()).collect(),
        },
    )?;
    let loaded = exec::load_elf(mm, &program.inode, &mut |interp| {
        exec::open_interpreter(
            namespace,
            &root,
            &root,
            &vfs::perm::Accessor::KERNEL,
            None,
            interp,
        )
    })?;
    Ok((loaded, program))
}

fn mount_at(
    namespace: &vfs::Namespace,
    path: &[u8],
    root: Arc<dyn vfs::Inode>,
) -> Result<(), errno::Errno> {
    let at = vfs::make_dirs(namespace, path)?;
    namespace.mount(&at, root)
}

fn cannot_chdir(path: &[u8], e: errno::Errno) -> ! {
    crate::hv::console::fatal(format_args!(
        "cannot change to the working directory {}: errno {}",
        core::str::from_utf8(path).unwrap_or("?"),
        e.0
    ))
}

/// Loads the application and enters it. Never returns.
pub fn start(boot_info: &BootInfo) -> ! {
    let BootStrings {
        exe: exe_path,
        argv,
        envp,
        cwd: initial_cwd,
    } = boot_strings(boot_info);
    let image = crate::mm::frame::boot_region(boot_info.app_image.start, boot_info.app_image.size);

    let tty_of = |stream: u8| TtyInfo {
        is_tty: boot_info.console_tty_mask & (1 << stream) != 0,
        termios: boot_info.termios,
        winsize: boot_info.winsize,
    };
    let mut fds = FdTable::default();
    for stream in 0..3u8 {
        let console = Arc::new(Console::new(stream, tty_of(stream)));
        let flags = if stream == 0 { O_RDONLY } else { O_WRONLY };
        fds.install(stream as usize, OpenFile::new(console, flags), false)
            .expect("the first descriptors fit");
    }
    let controlling_tty = TtyInfo {
        is_tty: boot_info.console_tty_mask & 0b11 != 0,
        ..tty_of(0)
    };

    let built = if has_root(boot_info) {
        build_root_namespace(boot_info, controlling_tty).map(|ns| (ns, None))
    } else {
        build_namespace(exe_path, image, controlling_tty).map(|(ns, exe)| (ns, Some(exe)))
    };
    let built = built.and_then(|(namespace, exe)| {
        place_data_file(&namespace, boot_info)?;
        place_net_files(&namespace, boot_info)?;
        Ok((namespace, exe))
    });
    let (namespace, placed_exe) = match built {
        Ok(built) => built,
        Err(e) => crate::hv::console::fatal(format_args!(
            "cannot build the filesystem namespace: errno {}",
            e.0
        )),
    };
    // The file systems first, then the program from them (its interpreter
    // and libraries may live under a --mount).
    if let Err((path, e)) = mount_host_dirs(&namespace, boot_info) {
        let hint = if e == errno::ENOENT {
            " (the mount point does not exist in the root)"
        } else {
            ""
        };
        crate::hv::console::fatal(format_args!(
            "cannot mount a shared directory at {}: errno {}{hint}",
            core::str::from_utf8(path).unwrap_or("?"),
            e.0
        ));
    }

    // The working directory (`--cwd`): like runc, a missing one is fatal.
    let cwd_stack = match initial_cwd {
        None => namespace.root_stack(),
        Some(path) => match namespace.resolve(&namespace.root_stack(), path, true) {
            Ok(stack) if stack.node().kind() == vfs::FileKind::Directory => stack,
            Ok(_) => cannot_chdir(path, errno::ENOTDIR),
            Err(e) => cannot_chdir(path, e),
        },
    };

    let mut mm = mm::AddressSpace::new(boot_info.page_table_root);
    let (loaded, program) =
        match load_first(&mut mm, &namespace, exe_path, placed_exe, &argv, &envp) {
            Ok(loaded) => loaded,
            Err(e) => cannot_run(exe_path, e),
        };
    let execfn = program.exec_path.clone();
    let (argv_owned, exe_shown) = (program.args, program.shown);
    let argv_refs: Vec<&[u8]> = argv_owned.iter().map(|a| a.as_slice()).collect();
    let hwcap = crate::arch::hwcap();
    let sp = match exec::build_stack(&mut mm, &loaded, &argv_refs, &envp, &execfn, hwcap) {
        Ok(sp) => sp,
        Err(e) => crate::hv::console::fatal(format_args!(
            "cannot build the initial stack: errno {}",
            e.0
        )),
    };

    let host_rlimits = (boot_info.flags & boards::bootinfo::BOOT_FLAG_HOST_RLIMITS != 0)
        .then_some(&boot_info.rlimits);
    let rlimits = task::initial_rlimits(host_rlimits);
    fds.limit = rlimits[task::RLIMIT_NOFILE].cur.min(usize::MAX as u64) as usize;
    let memory = Arc::new(Mutex::new(mm));
    let files = Arc::new(Mutex::new(fds));
    let argv_owned: Arc<Vec<Vec<u8>>> = Arc::new(argv_owned);
    let cwd = Arc::new(Mutex::new(cwd_stack));
    let root = Arc::new(Mutex::new(None));
    let comm = Arc::new(Mutex::new(vfs::procfs::comm_of(&execfn)));
    let timer_slack = task::TimerSlack::new(task::TimerSlack::INITIAL_NS);
    let view = Arc::new(vfs::procfs::ProcessView {
        timer_slack: timer_slack.clone(),
        pid: APP_PID,
        serial: vfs::procfs::new_serial(),
        fds: Mutex::new(files.clone()),
        memory: Mutex::new(Some(memory.clone())),
        cwd: Mutex::new(cwd.clone()),
        root: Mutex::new(root.clone()),
        argv: Mutex::new(argv_owned.clone()),
        exe_path: Mutex::new(exe_shown),
        comm: comm.clone(),
        ids: Mutex::new(vfs::procfs::IdView::default()),
        landlock: Mutex::new(None),
    });
    if let Err(e) = mount_at(&namespace, b"/proc", vfs::procfs::new_root(view.clone())) {
        crate::hv::console::fatal(format_args!("cannot mount /proc: errno {}", e.0));
    }
    vfs::procfs::record_mount(b"proc", b"/proc", b"proc", b"rw");
    ns::set_init_mnt(&namespace);

    if boot_info.flags & boards::bootinfo::BOOT_FLAG_HOSTNAME != 0 {
        let name = &boot_info.hostname;
        let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        ns::init_uts().names.lock().hostname = name[..len.min(ns::UTS_NAME_MAX)].to_vec();
    }
    if boot_info.flags & boards::bootinfo::BOOT_FLAG_INIT != 0 {
        signal::set_init_rule();
    }
    let start_tsc = cpu::counter();
    let mut task = Task {
        pid: APP_PID,
        tid: APP_PID,
        process: task::Process::new(APP_PID, 0, APP_PID, APP_PID, view.clone()),
        exit_signal: signal::SIGCHLD,
        vfork_parent: None,
        exiting: None,
        thread_exit: false,
        vfork_child: None,
        switch_request: None,
        memory,
        files,
        cwd,
        root,
        umask: 0o022,
        signals: signal::SignalState::new(),
        keyrings: keys::KeyCred::default(),
        creds: syscalls::system::Credentials::new(boot_info.uid, boot_info.gid),
        personality: 0,
        comm,
        nice: 0,
        sched: Default::default(),
        ioprio: 0,
        dumpable: 1,
        seccomp: Default::default(),
        no_new_privs: boot_info.flags & boards::bootinfo::BOOT_FLAG_NO_NEW_PRIVS != 0,
        parent_death_signal: 0,
        timer_slack: timer_slack.clone(),
        namespace,
        uts_ns: ns::init_uts().clone(),
        ipc_ns: ns::init_ipc().clone(),
        time_ns: ns::init_time().clone(),
        time_ns_for_children: ns::init_time().clone(),
        rlimits,
        clear_child_tid: 0,
        robust_list: 0,
        fs_base: 0,
        gs_base: 0,
        syscalls: 0,
        start_tsc,
        cpu_ticks: 0,
        running_since: start_tsc,
        user_ticks: 0,
        user_since: start_tsc,
    };
    syscalls::system::note_ids(&mut task);
    log::debug!(
        "entering the application at {:#x}, sp {sp:#x}",
        loaded.start
    );
    crate::arch::start_ticks();
    sched::start_first(
        task,
        UserContext::new_user(loaded.start, sp),
        crate::arch::ThreadState::save(),
    )
}
