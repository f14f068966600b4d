//! The lexical side of path resolution (path_resolution(7)): the limits
//! on a path and its names, splitting into components, `.` and `..`,
//! trailing slashes, and splicing in symlink targets with Linux's limit of
//! 40 links per resolution. Pure: the walk over inodes and mounts that
//! drives it is `Namespace::resolve` (vfs/mod.rs); `sentry-host-tests`
//! runs this part on the host.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::sentry::errno::*;

/// Longest path the sentry accepts (PATH_MAX, with the NUL).
pub const PATH_MAX: usize = 4096;
/// Longest file name.
pub const NAME_MAX: usize = 255;
/// Symlinks followed in one resolution before ELOOP (Linux's MAXSYMLINKS).
pub const MAX_SYMLINKS: usize = 40;

/// What the next component asks of the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `..`: up to the parent (the root is its own parent).
    Parent,
    /// A name to look up in the current directory.
    Name(Vec<u8>),
}

/// A path being walked: the components still to go (symlink targets are
/// spliced in front) and the links followed so far.
pub struct Walk {
    pending: VecDeque<Vec<u8>>,
    absolute: bool,
    trailing_slash: bool,
    links: usize,
}

/// Checks the path's length: ENOENT for an empty path, ENAMETOOLONG for
/// one of PATH_MAX bytes or more.
fn check_path(path: &[u8]) -> Result<(), Errno> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(ENAMETOOLONG);
    }
    Ok(())
}

impl Walk {
    pub fn new(path: &[u8]) -> Result<Walk, Errno> {
        check_path(path)?;
        Ok(Walk {
            pending: split(path),
            absolute: path[0] == b'/',
            trailing_slash: path.ends_with(b"/"),
            links: 0,
        })
    }

    /// The path starts at the root (else at the start directory).
    pub fn absolute(&self) -> bool {
        self.absolute
    }

    /// The path ends in a slash: what it names must be a directory, and a
    /// final symlink is followed.
    pub fn trailing_slash(&self) -> bool {
        self.trailing_slash
    }

    /// The next step (`.` is skipped); ENAMETOOLONG for a name longer than
    /// NAME_MAX.
    pub fn next_step(&mut self) -> Option<Result<Step, Errno>> {
        loop {
            let component = self.pending.pop_front()?;
            return Some(match component.as_slice() {
                b"." => continue,
                b".." => Ok(Step::Parent),
                name if name.len() > NAME_MAX => Err(ENAMETOOLONG),
                _ => Ok(Step::Name(component)),
            });
        }
    }

    /// Whether the step just taken was the last one.
    pub fn at_end(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether a symlink met at the current step is followed: always on the
    /// way, and at the end when asked to (`follow_last`) or when a
    /// trailing slash requires a directory.
    pub fn follows(&self, follow_last: bool) -> bool {
        !self.at_end() || follow_last || self.trailing_slash
    }

    /// Counts one more link followed: ELOOP past MAX_SYMLINKS.
    pub fn count_link(&mut self) -> Result<(), Errno> {
        self.links += 1;
        if self.links > MAX_SYMLINKS {
            return Err(ELOOP);
        }
        Ok(())
    }

    /// Splices the (counted) symlink's `target` in front of what is left.
    /// Returns true when the target is absolute: the walk goes on from the
    /// root. An empty target is ENOENT.
    pub fn splice(&mut self, target: &[u8]) -> Result<bool, Errno> {
        if target.is_empty() {
            return Err(ENOENT);
        }
        for (i, part) in split(target).into_iter().enumerate() {
            self.pending.insert(i, part);
        }
        Ok(target[0] == b'/')
    }
}

/// A path cut before its last component (for the calls that create,
/// remove or rename it).
#[derive(Debug, PartialEq, Eq)]
pub struct LastComponent<'a> {
    /// Everything before the last name, with its trailing slash; empty
    /// when the name is all there is (it is then in the start directory).
    pub dir: &'a [u8],
    /// The last name (empty for "/").
    pub name: &'a [u8],
    /// The path ended in a slash.
    pub trailing_slash: bool,
}

/// Cuts `path` before its last component: ENOENT when empty, ENAMETOOLONG
/// when too long or the name is.
pub fn last_component(path: &[u8]) -> Result<LastComponent<'_>, Errno> {
    check_path(path)?;
    let trimmed = trim_trailing_slashes(path);
    let (dir, name) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => (&trimmed[..i + 1], &trimmed[i + 1..]),
        None => (&b""[..], trimmed),
    };
    if name.len() > NAME_MAX {
        return Err(ENAMETOOLONG);
    }
    Ok(LastComponent {
        dir,
        name,
        trailing_slash: path.ends_with(b"/"),
    })
}

fn trim_trailing_slashes(path: &[u8]) -> &[u8] {
    let mut end = path.len();
    while end > 1 && path[end - 1] == b'/' {
        end -= 1;
    }
    &path[..end]
}

/// The non-empty components of `path` (repeated slashes count as one).
pub fn split(path: &[u8]) -> VecDeque<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(|c| c.to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> Step {
        Step::Name(n.as_bytes().to_vec())
    }

    /// Every step of a walk with no symlinks.
    fn steps(path: &str) -> Result<Vec<Step>, Errno> {
        let mut walk = Walk::new(path.as_bytes())?;
        core::iter::from_fn(|| walk.next_step()).collect()
    }

    #[test]
    fn empty_and_overlong_paths() {
        // path_resolution(7): "an empty pathname ... ENOENT"; ENAMETOOLONG
        // for a path of PATH_MAX bytes or more (PATH_MAX counts the NUL).
        assert_eq!(Walk::new(b"").err(), Some(ENOENT));
        assert_eq!(last_component(b"").err(), Some(ENOENT));
        let longest = [b'a'; PATH_MAX - 1];
        assert!(Walk::new(&longest).is_ok());
        assert_eq!(Walk::new(&[b'/'; PATH_MAX]).err(), Some(ENAMETOOLONG));
        assert_eq!(last_component(&[b'/'; PATH_MAX]).err(), Some(ENAMETOOLONG));
    }

    #[test]
    fn names_longer_than_name_max() {
        // A component of NAME_MAX bytes is fine; one more is ENAMETOOLONG,
        // found when the walk gets there.
        let ok = "n".repeat(NAME_MAX);
        assert_eq!(steps(&format!("/a/{ok}")), Ok(vec![name("a"), name(&ok)]));
        let long = "n".repeat(NAME_MAX + 1);
        let mut walk = Walk::new(format!("a/{long}/b").as_bytes()).unwrap();
        assert_eq!(walk.next_step(), Some(Ok(name("a"))));
        assert_eq!(walk.next_step(), Some(Err(ENAMETOOLONG)));
        assert_eq!(
            last_component(format!("a/{long}").as_bytes()).err(),
            Some(ENAMETOOLONG)
        );
        assert!(last_component(format!("{long}/a").as_bytes()).is_ok());
    }

    #[test]
    fn components_dots_and_slashes() {
        // Repeated slashes count as one; "." is the directory itself; ".."
        // is left to the walker (the root's ".." is the root).
        assert_eq!(
            steps("//a/./b//../c/."),
            Ok(vec![name("a"), name("b"), Step::Parent, name("c")])
        );
        assert_eq!(steps("/"), Ok(vec![]));
        assert_eq!(steps("."), Ok(vec![]));
        assert_eq!(steps("../.."), Ok(vec![Step::Parent, Step::Parent]));
        // "..." and ".x" are names.
        assert_eq!(steps("..././.x"), Ok(vec![name("..."), name(".x")]));
        let walk = Walk::new(b"/a").unwrap();
        assert!(walk.absolute() && !walk.trailing_slash());
        let walk = Walk::new(b"a/b/").unwrap();
        assert!(!walk.absolute() && walk.trailing_slash());
    }

    #[test]
    fn when_a_symlink_is_followed() {
        // Symlinks on the way are always followed; the last one only when
        // asked (stat, not lstat) or when a trailing slash makes the path
        // name a directory (path_resolution(7)).
        let mut walk = Walk::new(b"a/b").unwrap();
        walk.next_step();
        assert!(walk.follows(false));
        walk.next_step();
        assert!(walk.at_end());
        assert!(!walk.follows(false));
        assert!(walk.follows(true));
        let mut walk = Walk::new(b"a/b/").unwrap();
        walk.next_step();
        walk.next_step();
        assert!(walk.follows(false));
    }

    #[test]
    fn symlink_targets_are_spliced_in_front() {
        // Walking a/l/c with l -> x/../y: the target's components come
        // before what is left of the path.
        let mut walk = Walk::new(b"a/l/c").unwrap();
        assert_eq!(walk.next_step(), Some(Ok(name("a"))));
        assert_eq!(walk.next_step(), Some(Ok(name("l"))));
        walk.count_link().unwrap();
        assert_eq!(walk.splice(b"x/../y"), Ok(false));
        let rest: Result<Vec<Step>, Errno> = core::iter::from_fn(|| walk.next_step()).collect();
        assert_eq!(
            rest,
            Ok(vec![name("x"), Step::Parent, name("y"), name("c")])
        );
        // An absolute target restarts at the root.
        let mut walk = Walk::new(b"l/c").unwrap();
        walk.next_step();
        walk.count_link().unwrap();
        assert_eq!(walk.splice(b"/etc/"), Ok(true));
        assert_eq!(walk.next_step(), Some(Ok(name("etc"))));
        // symlink(7): an empty target resolves to nothing: ENOENT.
        let mut walk = Walk::new(b"l").unwrap();
        walk.next_step();
        walk.count_link().unwrap();
        assert_eq!(walk.splice(b""), Err(ENOENT));
    }

    #[test]
    fn forty_symlinks_at_most() {
        // path_resolution(7) / Linux's MAXSYMLINKS: 40 links are followed in
        // one resolution, the 41st is ELOOP (a loop ends the same way).
        let mut walk = Walk::new(b"loop").unwrap();
        for n in 1..=MAX_SYMLINKS {
            assert_eq!(walk.next_step(), Some(Ok(name("loop"))), "link {n}");
            assert_eq!(walk.count_link(), Ok(()), "link {n}");
            assert_eq!(walk.splice(b"loop"), Ok(false));
        }
        assert_eq!(walk.next_step(), Some(Ok(name("loop"))));
        assert_eq!(walk.count_link(), Err(ELOOP));
        assert_eq!(MAX_SYMLINKS, 40);
    }

    #[test]
    fn the_last_component() {
        let cut = |p: &'static str| last_component(p.as_bytes()).unwrap();
        assert_eq!(
            cut("a/b/c"),
            LastComponent {
                dir: b"a/b/",
                name: b"c",
                trailing_slash: false
            }
        );
        assert_eq!(
            cut("a/b//"),
            LastComponent {
                dir: b"a/",
                name: b"b",
                trailing_slash: true
            }
        );
        assert_eq!(
            cut("name"),
            LastComponent {
                dir: b"",
                name: b"name",
                trailing_slash: false
            }
        );
        assert_eq!(
            cut("/x"),
            LastComponent {
                dir: b"/",
                name: b"x",
                trailing_slash: false
            }
        );
        // "/" (however many slashes) has an empty last name in the root.
        assert_eq!(
            cut("///"),
            LastComponent {
                dir: b"/",
                name: b"",
                trailing_slash: true
            }
        );
        // ".." and "." are last names like any other: each call decides
        // what they mean to it.
        assert_eq!(cut("a/..").name, b"..");
    }
}
