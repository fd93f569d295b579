//! Loading programs: dynamically linked executables (the host's glibc and
//! musl dynamic linkers and libraries copied into the sandbox), the
//! auxiliary vector, and `#!` scripts with Linux's argv rewriting and
//! errors.

mod common;

use common::{guest, guest_path, init_logging, install_runtime, kernel, run_in, Build};
use sentry_core::{Errno, ExitStatus, Kernel, ProcessSpec, SentryError};

/// A kernel with guest `name` built as `build` at `/bin/<name>`, and what
/// it needs to run.
fn kernel_with(name: &str, build: Build) -> Kernel {
    let k = kernel();
    let path = guest_path(name, build);
    k.root_fs().write_file(&format!("/bin/{name}"), &std::fs::read(&path).unwrap(), 0o755).unwrap();
    install_runtime(&k, &path);
    k
}

/// The errno `spawn_init` fails with for `argv`.
fn spawn_errno(k: &Kernel, argv: &[&str]) -> Errno {
    let spec = ProcessSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        envp: vec!["PATH=/bin".into()],
        cwd: "/".into(),
        stdio: std::array::from_fn(|_| std::fs::File::open("/dev/null").unwrap().into()),
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        rlimits: Vec::new(),
    };
    match k.spawn_init(spec) {
        Err(SentryError::Exec { errno, .. }) => errno,
        Err(e) => panic!("{argv:?}: unexpected error {e}"),
        Ok(h) => panic!("{argv:?} started (exit {:?})", h.wait()),
    }
}

#[test]
fn dynamic_glibc_hello_world() {
    init_logging();
    let k = kernel_with("hello", Build::Dynamic);
    let r = run_in(&k, &["/bin/hello"], &["PATH=/bin"]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "hello, world\n");
}

#[test]
fn dynamic_glibc_args_and_auxv() {
    init_logging();
    let k = kernel_with("args", Build::Dynamic);
    let r = run_in(&k, &["args", "one", "two words"], &["PATH=/usr/bin:/bin", "GREETING=hi there"]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    let expected = "argc=3\nargv[0]=args\nargv[1]=one\nargv[2]=two words\nGREETING=hi there\npagesz=4096\n\
                    clktck=100\nuid=0 euid=0 gid=0\nsecure=0\nrandom_readable=1\nplatform=x86_64\n\
                    execfn=/bin/args\nphdr_set=1 entry_set=1\npid=1 ppid=0 tid_eq_pid=1\n";
    assert_eq!(r.stdout, expected);
}

#[test]
fn dynamic_glibc_memory_and_files() {
    init_logging();
    let k = kernel_with("memory", Build::Dynamic);
    let r = run_in(&k, &["/bin/memory"], &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert!(r.stdout.starts_with("big sum=32640\n") && r.stdout.ends_with("unaligned munmap: EINVAL\n"), "{r:?}");
    let k = kernel_with("fileio", Build::Dynamic);
    let r = run_in(&k, &["/bin/fileio"], &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert!(r.stdout.ends_with("all file checks passed\n"), "{r:?}");
}

#[test]
fn dynamic_musl_hello_world() {
    init_logging();
    let k = kernel_with("hello", Build::MuslDynamic);
    let r = run_in(&k, &["/bin/hello"], &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "hello, world\n");
}

#[test]
fn auxv_describes_the_program_and_its_interpreter() {
    init_logging();
    let common = "phent=56 loads>0=1 ";
    for (build, interp, base) in [
        (Build::Static, 0, "base_set=0"),
        (Build::StaticPie, 0, "base_set=0"),
        (Build::Musl, 0, "base_set=0"),
        (Build::Dynamic, 1, "base_set=1 base_is_elf=1 base_aligned=1"),
        (Build::MuslDynamic, 1, "base_set=1 base_is_elf=1 base_aligned=1"),
    ] {
        let k = kernel_with("auxv", build);
        let r = run_in(&k, &["auxv"], &["PATH=/bin"]);
        assert_eq!(r.status, ExitStatus::Exited(0), "{build:?}: {r:?}");
        let expected = format!(
            "{common}interp={interp}\nentry_is_start=1 entry_matches_ehdr=1\n{base}\n\
             execfn=/bin/auxv argv0=auxv comm=auxv\n"
        );
        assert_eq!(r.stdout, expected, "{build:?}");
    }
}

/// A kernel with `/bin/showargs` (static) and the scripts of the tests.
fn script_kernel() -> Kernel {
    let k = kernel();
    let fs = k.root_fs();
    fs.write_file("/bin/showargs", &guest("showargs", Build::Static), 0o755).unwrap();
    fs.mkdir_all("/scripts", 0o755).unwrap();
    for (name, text) in [
        ("plain", "#!/bin/showargs\nignored\n"),
        ("with-arg", "#!  /bin/showargs \t-x  y\t \nignored\n"),
        ("nested", "#!/scripts/with-arg nested-arg\n"),
        ("missing-interp", "#!/bin/nothing-here\n"),
        ("dir-interp", "#!/scripts\n"),
        ("empty-line", "#!\n"),
        ("self", "#!/scripts/self\n"),
    ] {
        fs.write_file(&format!("/scripts/{name}"), text.as_bytes(), 0o755).unwrap();
    }
    fs.write_file("/scripts/level0", b"#!/bin/showargs\n", 0o755).unwrap();
    for i in 1..=6 {
        fs.write_file(&format!("/scripts/level{i}"), format!("#!/scripts/level{}\n", i - 1).as_bytes(), 0o755).unwrap();
    }
    fs.write_file("/scripts/not-executable", b"#!/bin/showargs\n", 0o644).unwrap();
    fs.write_file("/scripts/garbage", b"\x00\x01garbage, neither ELF nor script\n", 0o755).unwrap();
    fs.symlink("/scripts/with-arg", "/bin/linked-script").unwrap();
    k
}

#[test]
fn scripts_run_their_interpreter_with_linux_argv() {
    init_logging();
    let k = script_kernel();
    for (argv, out) in [
        (
            &["/scripts/plain", "a", "b c"][..],
            "[/bin/showargs][/scripts/plain][a][b c]\nexecfn=/scripts/plain comm=plain\n",
        ),
        // The optional argument is everything after the name, trimmed.
        (
            &["/scripts/with-arg", "a"],
            "[/bin/showargs][-x  y][/scripts/with-arg][a]\nexecfn=/scripts/with-arg comm=with-arg\n",
        ),
        // A script's interpreter may be a script.
        (
            &["/scripts/nested", "a"],
            "[/bin/showargs][-x  y][/scripts/with-arg][nested-arg][/scripts/nested][a]\n\
             execfn=/scripts/nested comm=nested\n",
        ),
        // Found in PATH through a symbolic link: the path as found is
        // what the interpreter gets; argv[0] given is dropped.
        (
            &["linked-script", "z"],
            "[/bin/showargs][-x  y][/bin/linked-script][z]\nexecfn=/bin/linked-script comm=linked-script\n",
        ),
        // Five levels of scripts are fine.
        (
            &["/scripts/level4"],
            "[/bin/showargs][/scripts/level0][/scripts/level1][/scripts/level2][/scripts/level3][/scripts/level4]\n\
             execfn=/scripts/level4 comm=level4\n",
        ),
    ] {
        let r = run_in(&k, argv, &["PATH=/bin"]);
        assert_eq!(r.status, ExitStatus::Exited(0), "{argv:?}: {r:?}");
        assert_eq!(r.stdout, out, "{argv:?}");
    }
}

#[test]
fn scripts_and_files_that_cannot_run_fail_like_linux() {
    init_logging();
    let k = script_kernel();
    for (path, want) in [
        ("/scripts/level5", Errno::ELOOP),
        ("/scripts/level6", Errno::ELOOP),
        ("/scripts/self", Errno::ELOOP),
        ("/scripts/missing-interp", Errno::ENOENT),
        ("/scripts/dir-interp", Errno::EACCES),
        ("/scripts/empty-line", Errno::ENOEXEC),
        ("/scripts/not-executable", Errno::EACCES),
        ("/scripts/garbage", Errno::ENOEXEC),
        ("/scripts", Errno::EACCES),
        ("/scripts/absent", Errno::ENOENT),
    ] {
        assert_eq!(spawn_errno(&k, &[path]), want, "{path}");
    }
}

#[test]
fn a_missing_dynamic_linker_is_enoent() {
    init_logging();
    let k = kernel();
    k.root_fs().write_file("/bin/hello", &guest("hello", Build::Dynamic), 0o755).unwrap();
    assert_eq!(spawn_errno(&k, &["/bin/hello"]), Errno::ENOENT);
    // A dynamic linker that is not one.
    k.root_fs().mkdir_all("/lib64", 0o755).unwrap();
    k.root_fs().write_file("/lib64/ld-linux-x86-64.so.2", b"#!/bin/sh\n", 0o755).unwrap();
    assert_eq!(spawn_errno(&k, &["/bin/hello"]), Errno::ELIBBAD);
}
