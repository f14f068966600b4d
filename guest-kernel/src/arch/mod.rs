//! Architecture layers. Each exposes the same small surface to the rest of
//! the sentry: entry and traps, `UserContext`, page tables, cpu helpers.

#[cfg(target_arch = "x86_64")]
pub mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;
