//! Unix socket paths longer than `sun_path` (108 bytes): a long `--root`
//! or a 64-character CRI id makes `ROOT/<id>/control.sock` too long to
//! bind or connect to. Such a path is reached through its directory,
//! opened with `O_PATH`, as `/proc/self/fd/<fd>/<name>`, which is short
//! whatever the directory's path (and needs no `chdir`, so threads are
//! not disturbed).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Longest path `sun_path` holds (with its terminating NUL).
pub const SUN_PATH_MAX: usize = 107;

/// A socket path usable with bind/connect: the path itself when it fits,
/// else `/proc/self/fd/<fd>/<name>` with the directory held open.
struct Short {
    path: PathBuf,
    _dir: Option<File>,
}

fn shorten(path: &Path) -> io::Result<Short> {
    if path.as_os_str().len() <= SUN_PATH_MAX {
        return Ok(Short { path: path.to_path_buf(), _dir: None });
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad socket path {}", path.display())));
    };
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })?;
    let short = Path::new("/proc/self/fd").join(dir.as_raw_fd().to_string()).join(name);
    if short.as_os_str().len() > SUN_PATH_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket name {:?} is too long", name.to_string_lossy()),
        ));
    }
    Ok(Short { path: short, _dir: Some(dir) })
}

/// `UnixListener::bind` for a path of any length.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    let short = shorten(path)?;
    UnixListener::bind(&short.path)
}

/// `UnixStream::connect` for a path of any length.
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    let short = shorten(path)?;
    UnixStream::connect(&short.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn long_paths_bind_and_connect() {
        let base = std::env::temp_dir().join(format!("rvisor-sockpath-{}", std::process::id()));
        let dir = base.join("a".repeat(100)).join("b".repeat(64));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("control.sock");
        assert!(path.as_os_str().len() > 200);
        assert!(UnixListener::bind(&path).is_err(), "too long for sun_path directly");
        let listener = bind(&path).unwrap();
        assert!(path.exists(), "the socket is where it was asked for");
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"hi").unwrap();
        });
        let mut c = connect(&path).unwrap();
        let mut buf = String::new();
        c.read_to_string(&mut buf).unwrap();
        assert_eq!(buf, "hi");
        server.join().unwrap();
        // Short paths are used as they are.
        assert_eq!(shorten(Path::new("/run/x.sock")).unwrap().path, Path::new("/run/x.sock"));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
