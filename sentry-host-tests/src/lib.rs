//! The sentry's arch-neutral logic, compiled for the host so that
//! `cargo test` exercises it directly (the sentry itself is a no_std
//! kernel that only runs inside a VM). Each module here is the sentry's own
//! source file, included by path and re-exported under the module path it
//! has in the sentry (`crate::sentry::...`), so the code under test is
//! exactly the code that ships. A module qualifies when it depends on
//! nothing but `alloc`, `spin`, `zerocopy` and other modules included here;
//! the sentry keeps such pure parts in files of their own (the rules) next
//! to the kernel code that uses them (the waiting, the memory access).

extern crate alloc;

#[path = "../../guest-kernel/src/sentry/errno.rs"]
pub mod errno;
#[path = "../../guest-kernel/src/sentry/fd/table.rs"]
pub mod fd_table;
#[path = "../../guest-kernel/src/sentry/futex.rs"]
pub mod futex;
#[path = "../../guest-kernel/src/sentry/keys.rs"]
pub mod keys;
#[path = "../../guest-kernel/src/sentry/vfs/locks.rs"]
pub mod locks;
#[path = "../../guest-kernel/src/sentry/vfs/perm.rs"]
pub mod perm;
#[path = "../../guest-kernel/src/mm/refcount.rs"]
pub mod refcount;
#[path = "../../guest-kernel/src/sentry/signal/state.rs"]
pub mod signal_state;
#[path = "../../guest-kernel/src/sentry/timens.rs"]
pub mod timens;
#[path = "../../guest-kernel/src/sentry/wait.rs"]
pub mod wait;
#[path = "../../guest-kernel/src/sentry/vfs/walk.rs"]
pub mod walk;

/// The kernel's `mm` (its pure part: the frames' reference counts).
pub mod mm {
    pub use super::refcount;
}

pub mod sentry {
    pub use super::{errno, futex, keys, timens, wait};

    pub mod fd {
        pub use crate::fd_table as table;
    }

    pub mod signal {
        pub use crate::signal_state::*;
    }

    pub mod vfs {
        pub use crate::locks;
        pub use crate::perm;
        pub use crate::walk;
    }
}
