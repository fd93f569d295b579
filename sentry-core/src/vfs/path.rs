//! Path walking: `.`, `..`, symbolic links, trailing slashes.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Dentry, FileType};
use crate::errno::Errno;

/// Longest path accepted (`PATH_MAX`, including the NUL).
pub const PATH_MAX: usize = 4096;
/// Longest file name (`NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Most symbolic links followed in one walk (`MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;

/// A task's view of the file system: root, working directory, umask.
#[derive(Clone)]
pub struct FsContext {
    pub root: Arc<Dentry>,
    pub cwd: Arc<Dentry>,
    pub umask: u32,
}

/// How to treat the last component of a path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupFlags {
    /// Follow a symbolic link in the last component.
    pub follow: bool,
    /// The result must be a directory.
    pub directory: bool,
}

impl LookupFlags {
    pub const FOLLOW: LookupFlags = LookupFlags { follow: true, directory: false };
    pub const NOFOLLOW: LookupFlags = LookupFlags { follow: false, directory: false };
}

fn components(path: &str) -> VecDeque<String> {
    path.split('/').filter(|c| !c.is_empty()).map(str::to_string).collect()
}

/// Absolute path of `name` in directory `dir`.
pub(crate) fn child_path(dir: &Dentry, name: &str) -> String {
    let mut p = dir.path();
    if !p.ends_with('/') {
        p.push('/');
    }
    p.push_str(name);
    p
}

/// Resolves `path` relative to `start` (or `root` if absolute).
pub fn walk(root: &Arc<Dentry>, start: &Arc<Dentry>, path: &str, flags: LookupFlags) -> Result<Arc<Dentry>, Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let trailing_slash = path.ends_with('/');
    let flags = LookupFlags { follow: flags.follow || trailing_slash, directory: flags.directory || trailing_slash };
    let mut cur = if path.starts_with('/') { root.clone() } else { start.clone() };
    let mut rest = components(path);
    let mut links = 0;
    while let Some(name) = rest.pop_front() {
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if cur.inode().file_type() != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        match name.as_str() {
            "." => continue,
            ".." => {
                if !Arc::ptr_eq(&cur, root) {
                    if let Some(p) = cur.parent() {
                        cur = p.clone();
                    }
                }
                continue;
            }
            _ => {}
        }
        let mounted = cur.mounts().get(&child_path(&cur, &name));
        let inode = match mounted {
            Some(root_of_mount) => root_of_mount,
            None => cur.inode().lookup(&name)?,
        };
        let last = rest.is_empty();
        if inode.file_type() == FileType::Symlink && (!last || flags.follow) {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(Errno::ELOOP);
            }
            // A "magic" link (procfs fd, exe, cwd) leads to its target
            // itself, named or not.
            if let Some(target) = inode.follow_link() {
                let target = target?;
                if rest.is_empty() {
                    cur = target;
                    break;
                }
                cur = target;
                continue;
            }
            let target = inode.readlink()?;
            if target.is_empty() {
                return Err(Errno::ENOENT);
            }
            if target.starts_with('/') {
                cur = root.clone();
            }
            let mut new = components(&target);
            new.extend(rest);
            rest = new;
            continue;
        }
        cur = Dentry::child(&cur, &name, inode);
    }
    if flags.directory && cur.inode().file_type() != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    Ok(cur)
}

/// Looks `name` up in directory `dir` as path walking does: a file system
/// mounted there first, else the directory's own entry.
pub fn lookup_child(dir: &Dentry, name: &str) -> Result<Arc<dyn crate::vfs::Inode>, Errno> {
    match dir.mounts().get(&child_path(dir, name)) {
        Some(root_of_mount) => Ok(root_of_mount),
        None => dir.inode().lookup(name),
    }
}

/// Resolves all but the last component of `path`: returns the parent
/// directory and the last name (for create, unlink, rename). A path whose
/// last component is `.` or `..` or empty (`/`) gives `EEXIST`-style
/// callers `None` as the name.
pub fn walk_parent(
    root: &Arc<Dentry>,
    start: &Arc<Dentry>,
    path: &str,
) -> Result<(Arc<Dentry>, Option<String>, bool), Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let trailing_slash = path.ends_with('/');
    let trimmed = path.trim_end_matches('/');
    let (dir, name) = match trimmed.rfind('/') {
        Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    let parent = if dir.is_empty() {
        if path.starts_with('/') {
            root.clone()
        } else {
            start.clone()
        }
    } else {
        walk(root, start, dir, LookupFlags { follow: true, directory: true })?
    };
    if parent.inode().file_type() != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let name = (!name.is_empty() && name != "." && name != "..").then(|| name.to_string());
    Ok((parent, name, trailing_slash))
}
