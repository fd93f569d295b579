//! Confinement of the sandbox's host processes (Gofer, and later the
//! Sentry): private namespaces, `pivot_root`, capabilities, seccomp.
//! Every raw call of this crate lives here.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{bail, Context as _};
use caps::{CapSet, Capability, CapsHashSet};
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

fn cstr(p: &Path) -> anyhow::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).with_context(|| format!("path {p:?} contains NUL"))
}

fn check(what: &str, r: libc::c_int) -> anyhow::Result<()> {
    if r < 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| what.to_string());
    }
    Ok(())
}

/// Enters new mount, network, IPC and UTS namespaces (no network at all in
/// the new network namespace), with mount events no longer propagating to
/// the host.
pub fn unshare_namespaces() -> anyhow::Result<()> {
    // SAFETY: unshare only changes this process's namespaces.
    check("unshare", unsafe {
        libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS)
    })?;
    // SAFETY: remount of "/" with propagation flags only; the strings are
    // static C strings.
    check("making mounts private", unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    })
}

/// Makes `new_root` this process's root directory and detaches the old root
/// entirely, so no host path is reachable any more.
///
/// When `new_root` is the host's `/` already (`runsc do`), there is nothing
/// to pivot into and this does nothing.
pub fn pivot_into(new_root: &Path) -> anyhow::Result<()> {
    if new_root.canonicalize().map(|p| p == Path::new("/")).unwrap_or(false) {
        return Ok(());
    }
    let root = cstr(new_root)?;
    // SAFETY: a bind mount of a directory onto itself (pivot_root needs a
    // mount point); `root` is a valid C string.
    check("bind-mounting the new root", unsafe {
        libc::mount(root.as_ptr(), root.as_ptr(), std::ptr::null(), libc::MS_BIND | libc::MS_REC, std::ptr::null())
    })?;
    // SAFETY: path arguments are valid C strings.
    unsafe {
        check("chdir(new root)", libc::chdir(root.as_ptr()))?;
        // pivot_root(".", "."): the old root ends up stacked on "/" ...
        check("pivot_root", libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int)?;
        // ... and is detached from the tree.
        check("detaching the old root", libc::umount2(c".".as_ptr(), libc::MNT_DETACH))?;
        check("chdir(/)", libc::chdir(c"/".as_ptr()))?;
    }
    Ok(())
}

/// Makes an empty, read-only tmpfs this process's root: nothing of the host
/// file system stays reachable.
pub fn pivot_into_empty_root() -> anyhow::Result<()> {
    let dir = c"/tmp";
    // SAFETY: mounts a fresh tmpfs on /tmp of our private mount namespace
    // (callers unshared it first); all strings are static C strings.
    check("mounting an empty tmpfs", unsafe {
        libc::mount(
            c"none".as_ptr(),
            dir.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            c"size=0,mode=0555".as_ptr().cast(),
        )
    })?;
    pivot_into(Path::new("/tmp"))?;
    // SAFETY: remounts our new root read-only; static C strings.
    check("remounting the root read-only", unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
            std::ptr::null(),
        )
    })
}

/// Opens a directory as an `O_PATH` descriptor.
pub fn open_dir(path: &Path) -> anyhow::Result<OwnedFd> {
    let p = cstr(path)?;
    // SAFETY: valid C string; the returned descriptor is owned below.
    let fd = unsafe { libc::open(p.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("opening directory {path:?}"));
    }
    // SAFETY: fresh descriptor, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Takes ownership of a descriptor inherited from the parent process.
pub fn inherited_fd(fd: RawFd) -> anyhow::Result<OwnedFd> {
    // SAFETY: F_GETFD only queries the descriptor.
    if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        bail!("descriptor {fd} was not passed to this process");
    }
    // SAFETY: the descriptor is open (checked) and was handed to us alone.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sets close-on-exec on a descriptor we own.
    check("fcntl(FD_CLOEXEC)", unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
    Ok(owned)
}

/// Clears close-on-exec so that a child started with `exec` inherits `fd`.
/// For use between fork and exec (async-signal-safe).
pub fn keep_across_exec(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor number; no memory is passed.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Reduces every capability set of this process (and the bounding set) to
/// `keep`, and forbids gaining privileges again (`no_new_privs`).
pub fn restrict_capabilities(keep: &[Capability]) -> anyhow::Result<()> {
    let keep_set: CapsHashSet = keep.iter().copied().collect();
    for cap in caps::all() {
        if !keep_set.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).with_context(|| format!("dropping {cap} from the bounding set"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).context("clearing ambient capabilities")?;
    caps::clear(None, CapSet::Inheritable).context("clearing inheritable capabilities")?;
    caps::set(None, CapSet::Effective, &keep_set).context("setting effective capabilities")?;
    caps::set(None, CapSet::Permitted, &keep_set).context("setting permitted capabilities")?;
    // SAFETY: prctl with integer arguments only.
    check("PR_SET_NO_NEW_PRIVS", unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
}

/// What any confined runsc process needs to keep running Rust code: memory,
/// threads, locks, signal masks, time and randomness, exit.
pub const RUNTIME_SYSCALLS: &[i64] = &[
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_brk,
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_prctl,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_getrandom,
    libc::SYS_clock_gettime,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
];

/// Installs a seccomp filter on every thread of this process that allows
/// [`RUNTIME_SYSCALLS`] and `syscalls` and fails anything else with
/// `ENOSYS`: the call is never executed, and a library that probes the
/// host behind our back (glibc counting CPUs by opening `/sys` when a
/// thread's malloc arena is set up or torn down) falls back instead of
/// taking the whole sandbox down.
pub fn install_seccomp(syscalls: &[i64]) -> anyhow::Result<()> {
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> =
        RUNTIME_SYSCALLS.iter().chain(syscalls).map(|&nr| (nr, Vec::new())).collect();
    let filter =
        SeccompFilter::new(rules, SeccompAction::Errno(libc::ENOSYS as u32), SeccompAction::Allow, TargetArch::x86_64)
            .context("building the seccomp filter")?;
    let program: BpfProgram = filter.try_into().context("compiling the seccomp filter")?;
    seccompiler::apply_filter_all_threads(&program).context("installing the seccomp filter")
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> anyhow::Result<(std::fs::File, std::fs::File)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    check("pipe2", unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors are fresh and owned only here.
    Ok(unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) })
}
