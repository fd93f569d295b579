//! Static C programs run in the Sentry on the ptrace platform.

mod common;

use common::{guest, init_logging, run, Build};
use sentry_core::ExitStatus;

#[test]
fn hello_world() {
    init_logging();
    let r = run(&guest("hello", Build::Static), "hello", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "hello, world\n");
}

#[test]
fn hello_world_static_pie() {
    init_logging();
    let r = run(&guest("hello", Build::StaticPie), "hello", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "hello, world\n");
}

#[test]
fn hello_world_musl() {
    init_logging();
    let r = run(&guest("hello", Build::Musl), "hello", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "hello, world\n");
}

#[test]
fn argv_envp_and_auxv() {
    init_logging();
    let k = common::kernel();
    k.root_fs().write_file("/bin/args", &guest("args", Build::Static), 0o755).unwrap();
    let r = common::run_in(&k, &["args", "one", "two words"], &["PATH=/usr/bin:/bin", "GREETING=hi there"]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    let expected = "argc=3\nargv[0]=args\nargv[1]=one\nargv[2]=two words\nGREETING=hi there\npagesz=4096\n\
                    clktck=100\nuid=0 euid=0 gid=0\nsecure=0\nrandom_readable=1\nplatform=x86_64\n\
                    execfn=/bin/args\nphdr_set=1 entry_set=1\npid=1 ppid=0 tid_eq_pid=1\n";
    assert_eq!(r.stdout, expected);
}

#[test]
fn malloc_brk_mmap_mprotect_munmap() {
    init_logging();
    for build in [Build::Static, Build::Musl] {
        let r = run(&guest("memory", build), "memory", &[]);
        assert_eq!(r.status, ExitStatus::Exited(0), "{build:?}: {r:?}");
        let sum: u64 = (0..256u64).sum();
        let expected = format!(
            "big sum={sum}\nsmall ok=1\nrealloc ok=1 last=5a\nbrk ok=1\nfresh zero=1\nafter mprotect: mapped\n\
             munmap hole ok\nshared=1234\nzero-length mmap: EINVAL\nunaligned munmap: EINVAL\n"
        );
        assert_eq!(r.stdout, expected, "{build:?}");
    }
}

#[test]
fn file_io_in_tmpfs() {
    init_logging();
    let r = run(&guest("fileio", Build::Static), "fileio", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    let expected = "read back: file\nsize=11 regular=1 mode=644\npread: HELLO\nafter append size=16\n\
                    readlink: /tmp/data.txt\ncwd=/tmp/sub\nentries=4: link@ sub/ \nall file checks passed\n";
    assert_eq!(r.stdout, expected);
}

#[test]
fn uname_reports_linux_4_4_0() {
    init_logging();
    let r = run(&guest("uname", Build::Static), "uname", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "Linux sandbox 4.4.0 x86_64\n#1 SMP Sun Jan 10 15:06:54 PST 2016\n");
}

#[test]
fn bad_pointers_give_efault_and_the_program_continues() {
    init_logging();
    let r = run(&guest("efault", Build::Static), "efault", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    let expected = "write(garbage) = -1 errno=EFAULT\nwrite(kernel address) = -1 errno=EFAULT\n\
                    read(read-only page) = -1 errno=EFAULT\nopen(bad path) = -1 errno=EFAULT\n\
                    fstat(bad buf) = -1 errno=EFAULT\nuname(-1) = -1 errno=EFAULT\ncontinued\n";
    assert_eq!(r.stdout, expected);
}

#[test]
fn null_dereference_kills_with_sigsegv() {
    init_logging();
    let r = run(&guest("segv", Build::Static), "segv", &[]);
    // No core file is written in the sandbox, so no "core dumped" bit.
    assert_eq!(r.status, ExitStatus::Signaled { signal: libc::SIGSEGV, core_dumped: false }, "{r:?}");
    assert_eq!(r.status.code(), 128 + 11);
    assert_eq!(r.stdout, "before\n");
}

#[test]
fn unimplemented_syscalls_return_enosys() {
    init_logging();
    let r = run(&guest("enosys", Build::Static), "enosys", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "io_setup = -1 errno=ENOSYS\nsyscall(100000) = -1 errno=ENOSYS\n");
}

#[test]
fn exit_status_propagates() {
    init_logging();
    let r = run(&guest("exit42", Build::Static), "exit42", &[]);
    assert_eq!(r.status, ExitStatus::Exited(42), "{r:?}");
    assert_eq!(r.status.code(), 42);
    assert_eq!(r.stdout, "exiting\n");
}

#[test]
fn bad_executables_are_refused() {
    init_logging();
    let k = common::kernel();
    k.root_fs().write_file("/bin/script", b"#!/bin/sh\necho hi\n", 0o755).unwrap();
    let mut trunc = guest("hello", Build::Static);
    trunc.truncate(200);
    k.root_fs().write_file("/bin/trunc", &trunc, 0o755).unwrap();
    // A script whose interpreter is missing fails like Linux: ENOENT.
    for (path, want) in
        [("/bin/script", "ENOENT"), ("/bin/trunc", "ENOEXEC"), ("/bin/missing", "ENOENT"), ("/tmp", "EACCES")]
    {
        let spec = sentry_core::ProcessSpec {
            argv: vec![path.into()],
            envp: vec![],
            cwd: "/".into(),
            stdio: std::array::from_fn(|_| std::fs::File::open("/dev/null").unwrap().into()),
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            rlimits: Vec::new(),
        };
        let err = k.spawn_init(spec).err().unwrap_or_else(|| panic!("{path} started"));
        assert!(err.to_string().contains(want), "{path}: {err}");
    }
}

#[test]
fn file_mappings_prctl_rlimits_and_clocks() {
    init_logging();
    let r = run(&guest("misc", Build::Static), "misc", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    let expected = "file after writes: aS private sees shared: S\nprivate kept: P\n\
                    shared writable map of read-only fd: EACCES\nname=worker\nsetrlimit=0\nnofile soft=64\n\
                    monotonic advanced past the sleep: 1\ncpu clock advanced: 1\numask old=22\ntime sane: 1\n";
    assert_eq!(r.stdout, expected);
}

#[test]
fn the_runtime_reads_back_files_the_application_wrote() {
    init_logging();
    let k = common::kernel();
    k.root_fs().write_file("/bin/misc", &guest("misc", Build::Static), 0o755).unwrap();
    let r = common::run_in(&k, &["/bin/misc"], &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    let data = k.root_fs().read_file("/tmp/m").unwrap();
    assert_eq!(data.len(), 8192);
    assert_eq!((data[0], data[1], data[4096]), (b'a', b'a', b'S'), "shared mapping writes reach the file");
}

/// Starts `spin` with `args`, waits until it printed, kills it.
fn kill_after_start(args: &[&str]) -> common::Run {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    let k = common::kernel();
    k.root_fs().write_file("/bin/spin", &guest("spin", Build::Static), 0o755).unwrap();
    let mut fds = [0i32; 2];
    // SAFETY: room for two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors from pipe2.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let null = || -> OwnedFd { std::fs::File::open("/dev/null").unwrap().into() };
    let mut argv = vec!["/bin/spin".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let h = k
        .spawn_init(sentry_core::ProcessSpec {
            argv,
            envp: vec![],
            cwd: "/".into(),
            stdio: [null(), w, null()],
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            rlimits: Vec::new(),
        })
        .unwrap();
    let mut out = std::fs::File::from(r);
    let mut buf = [0u8; 8];
    out.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"started\n");
    h.kill(libc::SIGKILL);
    let status = h.wait();
    common::Run { status, stdout: String::new(), stderr: String::new() }
}

#[test]
fn kill_stops_a_spinning_process() {
    init_logging();
    let r = kill_after_start(&[]);
    assert_eq!(r.status, ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false });
    assert_eq!(r.status.code(), 137);
}

#[test]
fn kill_interrupts_a_sleeping_process() {
    init_logging();
    let r = kill_after_start(&["sleep"]);
    assert_eq!(r.status, ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false });
}

#[test]
fn abort_ends_with_sigabrt_and_ignored_signals_are_ignored() {
    init_logging();
    let r = run(&guest("abort", Build::Static), "abort", &[]);
    // The guest is PID 1, which (as on Linux in a PID namespace) ignores
    // signals it has no handler for, SIGABRT included: glibc's abort then
    // executes `hlt`, and the forced SIGSEGV ends it.
    assert_eq!(r.status, ExitStatus::Signaled { signal: libc::SIGSEGV, core_dumped: false }, "{r:?}");
    assert_eq!(r.stdout, "SIGUSR1 ignored: 1\nstill alive\n");
}

#[test]
fn terminal_ioctls_reach_a_host_tty() {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    init_logging();
    // SAFETY: plain libc calls on descriptors this test owns; ptsname's
    // static buffer is copied before any other pty call.
    let (master, slave) = unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(m >= 0);
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let name = std::ffi::CStr::from_ptr(libc::ptsname(m)).to_owned();
        let s = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        assert!(s >= 0);
        let ws = libc::winsize { ws_row: 33, ws_col: 101, ws_xpixel: 0, ws_ypixel: 0 };
        assert_eq!(libc::ioctl(m, libc::TIOCSWINSZ, &ws), 0);
        (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s))
    };
    let k = common::kernel();
    k.root_fs().write_file("/bin/tty", &guest("tty", Build::Static), 0o755).unwrap();
    let null = || -> OwnedFd { std::fs::File::open("/dev/null").unwrap().into() };
    let h = k
        .spawn_init(sentry_core::ProcessSpec {
            argv: vec!["/bin/tty".into()],
            envp: vec![],
            cwd: "/".into(),
            stdio: [null(), slave, null()],
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            rlimits: Vec::new(),
        })
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::from(master);
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        // The master reads EIO once the last slave descriptor is closed.
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.ends_with(b"\n") {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    assert_eq!(h.wait(), ExitStatus::Exited(0));
    let out = reader.join().unwrap();
    assert_eq!(out, "isatty0=0 isatty1=1 winsz=0 rows=33 cols=101 tcgetattr=0\r\n");
}

#[test]
fn cpu_time_is_accounted_for_processes_and_children() {
    init_logging();
    let r = run(&guest("usage", Build::Static), "usage", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(
        r.stdout,
        "wait4 reaped the child: 1\nchild user time > 0: 1\nRUSAGE_CHILDREN matches: 1\nown user time > 0: 1\n\
         times: children's ticks > 0: 1, own ticks > 0: 1, clock > 0: 1\ngetrusage(42) fails: 1\n"
    );
}

#[test]
fn credentials_change_like_linux() {
    init_logging();
    let bin = guest("creds", Build::Static);
    let r = run(&bin, "creds", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    // The same program natively (the tests run as root) must agree.
    assert_same_as_native("creds", &r);
    assert!(r.stdout.contains("ids: 1000 1000 1000, CAP_SETUID: 0\n"), "{}", r.stdout);
}

#[test]
fn scheduling_affinity_priorities_and_policies() {
    init_logging();
    let r = run(&guest("sched", Build::Static), "sched", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(
        r.stdout,
        "getaffinity: 0\ncpus match sysconf: 1\nsetaffinity cpu0: 0\nnow: count 1 cpu0 1\n\
         setaffinity to no sandbox cpu: -1 EINVAL 1\ngetcpu: 0 in range 1\ngetpriority: 0\n\
         setpriority 5: 0 -> 5\nscheduler: 0\nSCHED_FIFO without CAP_SYS_NICE: -1 EPERM 1\n\
         priority range FIFO 1..99\npersonality: 0, ADDR_NO_RANDOMIZE kept 1\nsched of pid 9999: -1 ESRCH 1\n"
    );
}

#[test]
fn memfd_close_range_and_xattrs() {
    init_logging();
    let r = run(&guest("anonfiles", Build::Static), "anonfiles", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_same_as_native("anonfiles", &r);
    assert!(r.stdout.contains("pread sees: through the map"), "{}", r.stdout);
}

#[test]
fn prctl_settings_subreapers_and_parent_death_signals() {
    init_logging();
    let r = run(&guest("prctl", Build::Static), "prctl", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_same_as_native("prctl", &r);
    assert!(r.stdout.contains("adopted by the subreaper 1"), "{}", r.stdout);
}

#[test]
fn procfs_describes_processes_like_linux() {
    init_logging();
    let k = common::kernel();
    k.root_fs().mkdir_all("/proc", 0o555).unwrap();
    k.mount("/proc", k.new_procfs()).unwrap();
    k.root_fs().write_file("/bin/procfs", &guest("procfs", Build::Static), 0o755).unwrap();
    let r = common::run_in(&k, &["/bin/procfs"], &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_same_as_native("procfs", &r);
    assert!(!r.stdout.contains(": no"), "{}", r.stdout);
}

#[test]
fn a_task_limit_bounds_a_fork_bomb() {
    init_logging();
    let memory = std::sync::Arc::new(platforms::MemoryFile::new(1 << 30).unwrap());
    let platform = std::sync::Arc::new(platforms::ptrace::Ptrace::new(memory).unwrap());
    let mut cfg = sentry_core::KernelConfig::new(platform);
    cfg.max_tasks = Some(16);
    let k = sentry_core::Kernel::new(cfg).unwrap();
    k.root_fs().mkdir_all("/bin", 0o755).unwrap();
    k.root_fs().write_file("/bin/forkbomb", &guest("forkbomb", Build::Static), 0o755).unwrap();
    let r = common::run_in(&k, &["/bin/forkbomb"], &[]);
    // Init's exit ends the paused children (the PID namespace ends).
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "forked 15 before the limit, EAGAIN 1\n");
}

#[test]
fn pseudo_terminals_discipline_lines_and_signals() {
    init_logging();
    let k = common::kernel();
    k.root_fs().mkdir_all("/proc", 0o555).unwrap();
    k.mount("/proc", k.new_procfs()).unwrap();
    k.root_fs().write_file("/bin/pty", &guest("pty", Build::Static), 0o755).unwrap();
    let r = common::run_in(&k, &["/bin/pty"], &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_same_as_native("pty", &r);
    assert!(r.stdout.contains("child killed by SIGINT: 1"), "{}", r.stdout);
}

#[test]
fn splice_and_vmsplice_move_data_like_linux() {
    init_logging();
    let r = run(&guest("splice", Build::Static), "splice", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_same_as_native("splice", &r);
    assert!(r.stdout.contains("copied: 456789"), "{}", r.stdout);
}

#[test]
fn cpu_time_interval_timers_fire_on_computation() {
    init_logging();
    let r = run(&guest("itimers", Build::Static), "itimers", &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_same_as_native("itimers", &r);
    assert_eq!(
        r.stdout,
        "armed: 1\nnot fired while sleeping: 1\nfired after computing: 1\n\
         interval profiling timer fired repeatedly: 1\ndisarmed: 1\ncpu timer_create: 0\ncpu timer fired: 1\n"
    );
}

/// The same guest run natively (tests run as root) printed the same.
fn assert_same_as_native(name: &str, r: &common::Run) {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("guests/{name}-Static"));
    let native = std::process::Command::new(&path).output().expect("run the guest natively");
    assert_eq!(r.stdout, String::from_utf8_lossy(&native.stdout), "{name}: sandbox vs native");
}
