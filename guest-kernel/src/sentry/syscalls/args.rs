//! Typed handler arguments, converted once, at the table. A handler names
//! its arguments with the types the kernel gives them
//! (`fn sys_read(ctx, fd: i32, buf: u64, count: u64)`, `UserPtr<T>` for a
//! pointer to one struct the handler reads or writes); the dispatch
//! tables store one signature, `fn(&mut SyscallContext, [u64; 6])`, and
//! [`adapt!`] wraps each handler in a generated adapter that
//! converts the raw registers ([`SyscallHandler::call`], monomorphized and
//! inlined: the dispatch cost is unchanged).
//!
//! The conversions are the kernel's: an `int` or `unsigned int` argument
//! is the low 32 bits of the register (so a descriptor, an `int`, is
//! `i32`: `fd_arg`), a `long`, `size_t` or pointer the whole register.
//! Every handler takes typed arguments; one that wanted the registers as
//! they are would take six `u64`s (`u64` is the identity conversion).

use super::SyscallContext;
use crate::sentry::errno::SysResult;
use crate::sentry::mm::usermem::{Pod, UserPtr};

/// A syscall argument type: how the kernel reads it from a raw register.
pub trait SyscallArg {
    fn from_raw(raw: u64) -> Self;
}

impl SyscallArg for u64 {
    #[inline(always)]
    fn from_raw(raw: u64) -> Self {
        raw
    }
}

impl SyscallArg for i64 {
    #[inline(always)]
    fn from_raw(raw: u64) -> Self {
        raw as i64
    }
}

impl SyscallArg for usize {
    #[inline(always)]
    fn from_raw(raw: u64) -> Self {
        raw as usize
    }
}

impl SyscallArg for isize {
    #[inline(always)]
    fn from_raw(raw: u64) -> Self {
        raw as isize
    }
}

/// C `unsigned int`: the low 32 bits.
impl SyscallArg for u32 {
    #[inline(always)]
    fn from_raw(raw: u64) -> Self {
        raw as u32
    }
}

/// C `int` (and file descriptors): the low 32 bits, as `fd_arg`.
impl SyscallArg for i32 {
    #[inline(always)]
    fn from_raw(raw: u64) -> Self {
        super::fd_arg(raw)
    }
}

/// A pointer to one `T` in user memory.
impl<T: Pod> SyscallArg for UserPtr<T> {
    #[inline(always)]
    fn from_raw(raw: u64) -> Self {
        UserPtr::new(raw)
    }
}

/// A syscall handler of any arity (0 to 6) whose arguments are
/// [`SyscallArg`]s; the marker `M` is the tuple of argument types, which
/// keeps the impls for different arities apart.
pub trait SyscallHandler<M> {
    fn call(self, ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult;
}

macro_rules! typed_handler {
    ($($arg:ident: $index:tt),*) => {
        impl<F, $($arg: SyscallArg),*> SyscallHandler<($($arg,)*)> for F
        where
            F: Fn(&mut SyscallContext, $($arg),*) -> SysResult,
        {
            #[inline(always)]
            #[allow(unused_variables)]
            fn call(self, ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
                self(ctx, $($arg::from_raw(args[$index])),*)
            }
        }
    };
}

typed_handler!();
typed_handler!(A0: 0);
typed_handler!(A0: 0, A1: 1);
typed_handler!(A0: 0, A1: 1, A2: 2);
typed_handler!(A0: 0, A1: 1, A2: 2, A3: 3);
typed_handler!(A0: 0, A1: 1, A2: 2, A3: 3, A4: 4);
typed_handler!(A0: 0, A1: 1, A2: 2, A3: 3, A4: 4, A5: 5);

/// The table entry of a handler: a plain
/// `fn(&mut SyscallContext, [u64; 6]) -> SysResult` that converts the
/// registers to the handler's argument types and calls it.
macro_rules! adapt {
    ($handler:path) => {{
        fn adapter(
            ctx: &mut $crate::sentry::syscalls::SyscallContext,
            args: [u64; 6],
        ) -> $crate::sentry::errno::SysResult {
            $crate::sentry::syscalls::args::SyscallHandler::call($handler, ctx, args)
        }
        adapter as $crate::sentry::syscalls::Handler
    }};
}

pub(crate) use adapt;
