//! Task methods through `ctr` against a private containerd: detached runs,
//! `task ls`, `kill` (SIGTERM caught by a trap, SIGKILL), `delete`,
//! `metrics`, `pause`/`resume`, `ps`, `exec` (with and without a
//! terminal), `run -t`, terminal resizes, and many containers at once.

use std::time::{Duration, Instant};

mod common;
use common::{text, Containerd, IMAGE, RUNTIME};

/// Guards against hangs only.
const HANG: Duration = Duration::from_secs(120);

/// A containerd with the image imported, or `None` (skipped).
fn containerd() -> Option<Containerd> {
    let c = Containerd::start()?;
    c.import_image();
    Some(c)
}

/// The status column of `ctr task ls` for task `id`.
fn task_status(c: &Containerd, id: &str) -> Option<String> {
    let out = c.ctr(&["task", "ls"]);
    assert!(out.status.success(), "ctr task ls: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&id)).then(|| f.last().map(|s| s.to_string()).unwrap_or_default())
    })
}

/// Waits (hang protection only) until task `id` has status `want`.
fn wait_status(c: &Containerd, id: &str, want: &str) {
    let start = Instant::now();
    loop {
        let st = task_status(c, id);
        if st.as_deref() == Some(want) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "task {id} is {st:?}, never {want}\n{}", c.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGKILL to task `id`, then its deletion: it must end killed (137).
fn kill_and_delete(c: &Containerd, id: &str) {
    let out = c.ctr(&["task", "kill", "-s", "SIGKILL", id]);
    assert!(out.status.success(), "ctr task kill -s SIGKILL: {}", text(&out));
    wait_status(c, id, "STOPPED");
    assert_eq!(delete_task(c, id), 137);
}

/// `ctr task delete` of a stopped task, then of its container; returns
/// the task's exit status (ctr 1.6 only logs a non-zero one as a warning).
fn delete_task(c: &Containerd, id: &str) -> u32 {
    let out = c.ctr(&["task", "delete", id]);
    assert!(out.status.success(), "ctr task delete {id}: {}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let code = stderr
        .split("exit with non-zero exit code ")
        .nth(1)
        .and_then(|rest| rest.split(|ch: char| !ch.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or(0);
    let out = c.ctr(&["containers", "delete", id]);
    assert!(out.status.success(), "ctr containers delete {id}: {}", text(&out));
    code
}

/// Whether the cgroup of task `id`'s sandbox process (the PID column of
/// `ctr task ls`) is frozen; `None` if it cannot be told.
fn frozen(c: &Containerd, id: &str) -> Option<bool> {
    let out = c.ctr(&["task", "ls"]);
    let pid: u32 = String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&id)).then(|| f.get(1)?.parse().ok()).flatten()
    })?;
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let root = std::path::Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
        let v = std::fs::read_to_string(root.join(path.trim_start_matches('/')).join("cgroup.freeze")).ok()?;
        return Some(v.trim() == "1");
    }
    let path = cgroups.lines().find_map(|l| l.split_once(":freezer:").map(|(_, p)| p.to_string()))?;
    let v =
        std::fs::read_to_string(root.join("freezer").join(path.trim_start_matches('/')).join("freezer.state")).ok()?;
    Some(v.trim() != "THAWED")
}

/// The cgroup the shim may have made for sandbox `id` is gone.
fn assert_no_cgroup(id: &str) {
    for ctl in ["unified", "freezer", "memory", "pids", "cpuacct", "cpu", ""] {
        let own = std::path::Path::new("/sys/fs/cgroup").join(ctl).join("rvisor").join(id);
        assert!(!own.exists(), "cgroup left behind: {}", own.display());
    }
}

/// A detached task is RUNNING; SIGTERM reaches the trap of its shell,
/// whose exit status a Wait after the exit (`ctr task attach`) reports;
/// nothing is left behind.
#[test]
fn kill_sigterm_runs_the_trap_and_a_late_wait_reports_its_status() {
    let Some(c) = containerd() else { return };
    let id = "term1";
    c.run_detached(id, &["sh", "-c", "trap 'exit 42' TERM; while true; do sleep 1; done"]);
    wait_status(&c, id, "RUNNING");
    let out = c.ctr(&["task", "kill", id]);
    assert!(out.status.success(), "ctr task kill: {}", text(&out));
    wait_status(&c, id, "STOPPED");
    // A Wait that comes after the exit returns it: ctr task attach waits
    // (and then deletes the task).
    let out = c.ctr(&["task", "attach", id]);
    assert_eq!(out.status.code(), Some(42), "ctr task attach: {}", text(&out));
    let out = c.ctr(&["containers", "delete", id]);
    assert!(out.status.success(), "ctr containers delete {id}: {}", text(&out));
    c.assert_clean(id);
}

/// SIGKILL stops a task that ignores SIGTERM; its status is 128+9.
#[test]
fn kill_sigkill_stops_the_task() {
    let Some(c) = containerd() else { return };
    let id = "kill1";
    c.run_detached(id, &["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]);
    wait_status(&c, id, "RUNNING");
    kill_and_delete(&c, id);
    c.assert_clean(id);
    assert_no_cgroup(id);
}

/// `ctr task metrics` prints memory and pids; `ctr task ps` lists a pid;
/// `pause` makes the task PAUSED with its sandbox's cgroup frozen, `resume`
/// RUNNING and thawed again; `checkpoint` is a clear "not supported" that
/// leaves the task running; SIGKILL ends a paused task; the cgroup the
/// shim made is removed at delete. The shim publishes `/tasks/create`,
/// `start`, `paused`, `resumed`, `exit` and `delete`, in that order.
#[test]
fn metrics_ps_pause_and_resume() {
    let Some(c) = containerd() else { return };
    let id = "mon1";
    let mut events = subscribe_events(&c);
    c.run_detached(id, &["sleep", "1000"]);
    wait_status(&c, id, "RUNNING");

    let out = c.ctr(&["task", "metrics", id]);
    let m = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "ctr task metrics: {}", text(&out));
    assert!(m.contains("memory"), "no memory line: {m}");
    assert!(m.contains("pids"), "no pids line: {m}");
    eprintln!("ctr task metrics {id}:\n{m}");

    let out = c.ctr(&["task", "ps", id]);
    assert!(out.status.success(), "ctr task ps: {}", text(&out));
    let ps = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        ps.lines().skip(1).any(|l| l.split_whitespace().next().is_some_and(|p| p.parse::<u32>().is_ok())),
        "no pid listed: {ps}"
    );

    let out = c.ctr(&["task", "pause", id]);
    assert!(out.status.success(), "ctr task pause: {}\n{}", text(&out), c.log());
    assert_eq!(task_status(&c, id).as_deref(), Some("PAUSED"));
    assert_eq!(frozen(&c, id), Some(true), "the sandbox's cgroup is not frozen");
    let out = c.ctr(&["task", "resume", id]);
    assert!(out.status.success(), "ctr task resume: {}", text(&out));
    assert_eq!(task_status(&c, id).as_deref(), Some("RUNNING"));
    assert_eq!(frozen(&c, id), Some(false), "the sandbox's cgroup is still frozen");

    let out = c.ctr(&["task", "checkpoint", id]);
    assert!(!out.status.success(), "ctr task checkpoint: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not supported"), "ctr task checkpoint: {}", text(&out));
    assert_eq!(task_status(&c, id).as_deref(), Some("RUNNING"));

    // SIGKILL ends a paused task too.
    let out = c.ctr(&["task", "pause", id]);
    assert!(out.status.success(), "ctr task pause: {}", text(&out));
    kill_and_delete(&c, id);

    // SAFETY: ends this test's `ctr events`.
    unsafe { libc::kill(events.id() as i32, libc::SIGTERM) };
    let _ = events.wait();
    let mut log = String::new();
    std::io::Read::read_to_string(events.stdout.as_mut().unwrap(), &mut log).unwrap();
    let topics: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("\"{id}\"")))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("/tasks/")))
        .collect();
    let want = ["/tasks/create", "/tasks/start", "/tasks/paused", "/tasks/resumed", "/tasks/paused", "/tasks/exit"];
    let mut rest = topics.iter();
    for topic in want {
        assert!(rest.any(|t| *t == topic), "no {topic} in order: {topics:?}\n{log}");
    }
    assert!(rest.any(|t| *t == "/tasks/delete"), "no /tasks/delete after the exit: {topics:?}\n{log}");
    c.assert_clean(id);
    assert_no_cgroup(id);
}

/// `ctr events`, once it is known to be subscribed: it subscribes
/// asynchronously, so events right after its start could be missed. It
/// is subscribed once it prints an event of the test's own making (a
/// namespace label change, `/namespaces/update`).
fn subscribe_events(c: &Containerd) -> std::process::Child {
    let mut events = c.ctr_spawn(&["events"]);
    let start = Instant::now();
    loop {
        let out = c.ctr(&["namespaces", "label", c.namespace(), "probe=x"]);
        assert!(out.status.success(), "ctr namespaces label: {}", text(&out));
        std::thread::sleep(Duration::from_millis(200));
        if events_seen(&mut events, "/namespaces/update") {
            return events;
        }
        assert!(start.elapsed() < HANG, "ctr events never printed the probe's event");
    }
}

/// Reads what `ctr events` printed so far (without blocking) and tells
/// whether a line has `topic`.
fn events_seen(events: &mut std::process::Child, topic: &str) -> bool {
    use std::os::fd::AsRawFd;
    let out = events.stdout.as_mut().unwrap();
    // SAFETY: fcntl on the pipe this test owns.
    unsafe {
        let fd = out.as_raw_fd();
        libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK);
    }
    let mut buf = [0u8; 4096];
    let mut seen = false;
    while let Ok(n) = std::io::Read::read(out, &mut buf) {
        if n == 0 {
            break;
        }
        seen |= String::from_utf8_lossy(&buf[..n]).contains(topic);
    }
    // SAFETY: as above; the rest of the test reads it blocking.
    unsafe {
        let fd = out.as_raw_fd();
        libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) & !libc::O_NONBLOCK);
    }
    seen
}

/// Twenty containers started at once each print their own output.
#[test]
fn twenty_concurrent_containers_print_their_output() {
    let Some(c) = containerd() else { return };
    let config = c.path().join("runsc.toml");
    let config = config.to_str().unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let c = &c;
                s.spawn(move || {
                    let id = format!("many{i}");
                    let msg = format!("hello-{i}");
                    let out = c.ctr(&[
                        "run",
                        "--rm",
                        "--runtime",
                        RUNTIME,
                        "--runtime-config-path",
                        config,
                        IMAGE,
                        &id,
                        "echo",
                        &msg,
                    ]);
                    (id, msg, out)
                })
            })
            .collect();
        for h in handles {
            let (id, msg, out) = h.join().unwrap();
            assert!(out.status.success(), "{id}: {}", text(&out));
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), msg, "{id}: {}", text(&out));
        }
    });
    for i in 0..20 {
        c.assert_clean(&format!("many{i}"));
        assert_no_cgroup(&format!("many{i}"));
    }
}

/// Past its memory limit (`ctr run --memory-limit`, applied to the
/// sandbox's cgroup) a container is OOM-killed: the shim publishes
/// `/tasks/oom` before `/tasks/exit`, and the exit status is 137.
#[test]
fn memory_limit_oom_kill_publishes_task_oom() {
    let Some(c) = containerd() else { return };
    let id = "oom1";
    let mut events = subscribe_events(&c);
    let config = c.path().join("runsc.toml");
    // busybox tail buffers a line that never ends.
    let out = c.ctr(&[
        "run",
        "--rm",
        "--memory-limit",
        &(64u64 << 20).to_string(),
        "--runtime",
        RUNTIME,
        "--runtime-config-path",
        config.to_str().unwrap(),
        IMAGE,
        id,
        "busybox",
        "tail",
        "/dev/zero",
    ]);
    eprintln!("ctr run: {}", text(&out));
    // SAFETY: signalling the ctr this test started.
    unsafe { libc::kill(events.id() as i32, libc::SIGTERM) };
    let _ = events.wait();
    let mut log = String::new();
    std::io::Read::read_to_string(events.stdout.as_mut().unwrap(), &mut log).unwrap();
    eprintln!("events:\n{log}");
    assert_eq!(out.status.code(), Some(137), "{}", text(&out));
    let oom = log.lines().position(|l| l.contains("/tasks/oom") && l.contains(id));
    let exit = log.lines().position(|l| l.contains("/tasks/exit") && l.contains(id));
    assert!(oom.is_some(), "no /tasks/oom event for {id}:\n{log}");
    assert!(oom < exit, "/tasks/oom after /tasks/exit:\n{log}");
    c.assert_clean(id);
    assert_no_cgroup(id);
}

/// containerd's `Tasks.Update` (gRPC; `ctr` has no command for it).
mod update {
    /// `containerd.services.tasks.v1.UpdateTaskRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UpdateTaskRequest {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(message, optional, tag = "2")]
        pub resources: Option<Any>,
    }

    /// `google.protobuf.Any`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Any {
        #[prost(string, tag = "1")]
        pub type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    /// `google.protobuf.Empty`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Empty {}

    /// The type URL containerd gives OCI `LinuxResources` (JSON).
    pub const LINUX_RESOURCES: &str = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

    /// Sends `Tasks.Update` for container `id` of namespace `ns`.
    pub async fn update(
        sock: &std::path::Path,
        ns: &str,
        id: &str,
        type_url: &str,
        value: &[u8],
    ) -> Result<(), tonic::Status> {
        let mut grpc = tonic::client::Grpc::new(super::common::grpc_channel(sock).await);
        grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut req = tonic::Request::new(UpdateTaskRequest {
            container_id: id.into(),
            resources: Some(Any { type_url: type_url.into(), value: value.to_vec() }),
        });
        req.metadata_mut().insert("containerd-namespace", ns.parse().expect("namespace header"));
        let path = tonic::codegen::http::uri::PathAndQuery::from_static("/containerd.services.tasks.v1.Tasks/Update");
        grpc.unary::<_, Empty, _>(req, path, tonic_prost::ProstCodec::default()).await.map(|_| ())
    }
}

/// A cgroup file of the sandbox whose host pid is `pid` (v1: in hierarchy
/// `controller`).
fn cgroup_file(pid: u32, controller: &str, file: &str) -> Option<String> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let root = std::path::Path::new("/sys/fs/cgroup");
    let dir = if root.join("cgroup.controllers").exists() {
        root.join(cgroups.lines().find_map(|l| l.strip_prefix("0::"))?.trim_start_matches('/'))
    } else {
        let path = cgroups.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctls, path) = (f.next()?, f.next()?, f.next()?);
            ctls.split(',').any(|c| c == controller).then(|| path.to_string())
        })?;
        root.join(controller).join(path.trim_start_matches('/'))
    };
    std::fs::read_to_string(dir.join(file)).ok().map(|s| s.trim().to_string())
}

/// A task Update (as CRI's UpdateContainerResources sends it) sets the
/// memory and pids limits of the sandbox's cgroup; a resources message of
/// another type is an InvalidArgument error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_sets_the_sandbox_cgroup_limits() {
    let Some(c) = containerd() else { return };
    let id = "upd1";
    c.run_detached(id, &["sleep", "1000"]);
    wait_status(&c, id, "RUNNING");
    let out = c.ctr(&["task", "ls"]);
    let pid: u32 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.get(1)?.parse().ok()).flatten()
        })
        .expect("task pid");
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let (mem_file, pids_file) = if v2 { ("memory.max", "pids.max") } else { ("memory.limit_in_bytes", "pids.max") };

    let json = br#"{"memory":{"limit":268435456},"pids":{"limit":64},"devices":[{"allow":false,"access":"rwm"}]}"#;
    update::update(&c.sock(), c.namespace(), id, update::LINUX_RESOURCES, json)
        .await
        .unwrap_or_else(|e| panic!("Tasks.Update: {e}\n{}", c.log()));
    assert_eq!(cgroup_file(pid, "memory", mem_file).as_deref(), Some("268435456"));
    assert_eq!(cgroup_file(pid, "pids", pids_file).as_deref(), Some("64"));

    let e = update::update(&c.sock(), c.namespace(), id, "example.com/Other", b"{}").await.unwrap_err();
    assert!(e.message().contains("unsupported resources type"), "{e}");

    kill_and_delete(&c, id);
    c.assert_clean(id);
    assert_no_cgroup(id);
}

/// The pids `ctr task ps` lists for task `id`.
fn task_pids(c: &Containerd, id: &str) -> Vec<u32> {
    let out = c.ctr(&["task", "ps", id]);
    assert!(out.status.success(), "ctr task ps {id}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// `ctr task exec` runs commands in the container: their output comes
/// back, their exit status is ctr's (0 and 7), their input goes in; two execs with different
/// ids run at the same time; `ctr task ps` lists the processes inside the
/// sandbox (the init is pid 1, a detached exec has its own pid); a
/// duplicate exec id is refused, an exec can be killed, a missing program
/// fails the exec, an exec still running ends with the init, a stopped
/// container takes no exec; the shim publishes `/tasks/exec-added`,
/// `/tasks/exec-started` and `/tasks/exit` for each exec.
#[test]
fn exec_runs_commands_with_their_output_and_exit_status() {
    let Some(c) = containerd() else { return };
    let id = "exec1";
    c.run_detached(id, &["sleep", "1000"]);
    wait_status(&c, id, "RUNNING");
    let mut events = subscribe_events(&c);

    let out = c.ctr(&["task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo hello-exec; echo to-stderr >&2"]);
    assert!(out.status.success(), "ctr task exec: {}\n{}", text(&out), c.log());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello-exec", "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-stderr"), "{}", text(&out));

    let out = c.ctr(&["task", "exec", "--exec-id", "e2", id, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "ctr task exec of exit 7: {}", text(&out));
    // Its stdin comes through, and its end (CloseIO).
    let out = c.ctr_with_input(&["task", "exec", "--exec-id", "in1", id, "cat"], b"line one\nline two\n");
    assert!(out.status.success(), "ctr task exec cat: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "line one\nline two\n", "{}", text(&out));

    // A missing program is an error of the exec's start.
    let out = c.ctr(&["task", "exec", "--exec-id", "nx", id, "/no/such/program"]);
    assert!(!out.status.success(), "exec of a missing program: {}", text(&out));
    eprintln!("exec of a missing program: {}", text(&out));
    // ctr deleted e1 after it ended: the id is free again.
    let out = c.ctr(&["task", "exec", "--exec-id", "e1", id, "false"]);
    assert_eq!(out.status.code(), Some(1), "ctr task exec of false: {}", text(&out));

    // Two at once: the first is still running when the second prints.
    std::thread::scope(|s| {
        let slow = s.spawn(|| {
            c.ctr(&[
                "task",
                "exec",
                "--exec-id",
                "c1",
                id,
                "sh",
                "-c",
                "while [ ! -e /tmp/go ]; do sleep 0.1; done; echo one",
            ])
        });
        let fast = c.ctr(&["task", "exec", "--exec-id", "c2", id, "sh", "-c", "echo two; : > /tmp/go"]);
        let slow = slow.join().unwrap();
        assert!(fast.status.success(), "exec c2: {}", text(&fast));
        assert_eq!(String::from_utf8_lossy(&fast.stdout).trim(), "two", "{}", text(&fast));
        assert!(slow.status.success(), "exec c1: {}", text(&slow));
        assert_eq!(String::from_utf8_lossy(&slow.stdout).trim(), "one", "{}", text(&slow));
    });

    // A detached exec keeps running; ps shows it next to the init.
    let out = c.ctr(&["task", "exec", "--detach", "--exec-id", "bg", id, "sleep", "1000"]);
    assert!(out.status.success(), "ctr task exec --detach: {}", text(&out));
    let start = Instant::now();
    let pids = loop {
        let pids = task_pids(&c, id);
        if pids.len() >= 2 {
            break pids;
        }
        assert!(start.elapsed() < HANG, "the detached exec never showed in ps: {pids:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(pids.contains(&1), "the init (pid 1) is not listed: {pids:?}");
    assert!(pids.iter().all(|&p| p < 1000), "not sandbox pids: {pids:?}");

    let out = c.ctr(&["task", "exec", "--exec-id", "bg", id, "true"]);
    assert!(!out.status.success(), "a duplicate exec id was accepted: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"), "{}", text(&out));

    let out = c.ctr(&["task", "kill", "--exec-id", "bg", "-s", "SIGKILL", id]);
    assert!(out.status.success(), "ctr task kill --exec-id: {}", text(&out));
    let start = Instant::now();
    loop {
        let pids = task_pids(&c, id);
        if pids == [1] {
            break;
        }
        assert!(start.elapsed() < HANG, "the killed exec is still listed: {pids:?}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // An exec still running when the container's init is killed ends
    // with it.
    let out = c.ctr(&["task", "exec", "--detach", "--exec-id", "bg2", id, "sleep", "1000"]);
    assert!(out.status.success(), "ctr task exec --detach: {}", text(&out));
    let out = c.ctr(&["task", "kill", "-s", "SIGKILL", id]);
    assert!(out.status.success(), "ctr task kill: {}", text(&out));
    wait_status(&c, id, "STOPPED");
    let out = c.ctr(&["task", "exec", "--exec-id", "late", id, "true"]);
    assert!(!out.status.success(), "exec in a stopped container: {}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("not running") || err.contains("precondition"), "{}", text(&out));
    assert_eq!(delete_task(&c, id), 137);

    // The events of the execs, as runc's shim publishes them.
    // SAFETY: signalling the ctr this test started.
    unsafe { libc::kill(events.id() as i32, libc::SIGTERM) };
    let _ = events.wait();
    c.assert_clean(id);
    let mut log = String::new();
    std::io::Read::read_to_string(events.stdout.as_mut().unwrap(), &mut log).unwrap();
    eprintln!("events:\n{log}");
    let event = |topic: &str, exec_id: &str| {
        log.lines().position(|l| l.contains(topic) && l.contains(&format!("\"{exec_id}\"")) && l.contains(id))
    };
    for exec_id in ["e1", "e2", "c1", "c2", "bg"] {
        let added = event("/tasks/exec-added", exec_id);
        let started = event("/tasks/exec-started", exec_id);
        let exited = event("/tasks/exit", exec_id);
        assert!(added.is_some() && added < started && started < exited, "events of exec {exec_id}:\n{log}");
    }
    assert!(
        log.lines().any(|l| l.contains("/tasks/exit") && l.contains("\"e2\"") && l.contains("\"exit_status\":7")),
        "no exit event with status 7 for e2:\n{log}"
    );
}

/// What the terminal tests run: reports that stdin is a terminal, waits
/// for the window size that ctr copies from its own terminal at start,
/// then, after a line of input, for the size after the test resized that
/// terminal; exits 3.
const TTY_SCRIPT: &str = "[ -t 0 ] && echo tty-ok; \
    until [ \"$(busybox stty size)\" = '30 100' ]; do sleep 0.1; done; echo size-30x100; \
    read line; echo got-$line; \
    until [ \"$(busybox stty size)\" = '40 120' ]; do sleep 0.1; done; echo size-40x120; exit 3";

/// Drives [`TTY_SCRIPT`] through `ctr` on a terminal of the test: checks
/// the output, resizes the terminal, types a line, and returns ctr's exit
/// status and output.
fn drive_tty_script(c: &Containerd, args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut p = c.ctr_pty(args, 30, 100);
    p.expect("tty-ok", HANG);
    p.expect("size-30x100", HANG);
    // ctr gets SIGWINCH and sends ResizePty.
    p.resize(40, 120);
    p.write(b"hello\r");
    p.expect("got-hello", HANG);
    p.expect("size-40x120", HANG);
    let (status, out) = p.wait(HANG);
    eprintln!("terminal output: {out:?}\n");
    (status, out)
}

/// `ctr task exec -t`: the process's stdio is a terminal, the window size
/// ctr sets at start and after a resize of its own terminal (ResizePty)
/// reaches it, typed input reaches it, and its exit status is ctr's.
#[test]
fn exec_with_a_terminal_follows_resizes() {
    let Some(c) = containerd() else { return };
    let id = "ttyexec1";
    c.run_detached(id, &["sleep", "1000"]);
    wait_status(&c, id, "RUNNING");
    let (status, out) = drive_tty_script(&c, &["task", "exec", "-t", "--exec-id", "t1", id, "sh", "-c", TTY_SCRIPT]);
    assert_eq!(status.code(), Some(3), "ctr task exec -t: {out:?}\n{}", c.log());
    // The exec is gone: the container still runs and takes another.
    let out = c.ctr(&["task", "exec", "--exec-id", "t1", id, "echo", "again"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "again", "{}", text(&out));
    kill_and_delete(&c, id);
    c.assert_clean(id);
}

/// `^C` typed on the terminal of `ctr task exec -t` interrupts the
/// process (its terminal sends it SIGINT).
#[test]
fn exec_with_a_terminal_takes_ctrl_c() {
    let Some(c) = containerd() else { return };
    let id = "ttyint1";
    c.run_detached(id, &["sleep", "1000"]);
    wait_status(&c, id, "RUNNING");
    let script = "trap 'echo got-int; exit 4' INT; echo ready; while :; do sleep 0.1; done";
    let mut p = c.ctr_pty(&["task", "exec", "-t", "--exec-id", "i1", id, "sh", "-c", script], 24, 80);
    p.expect("ready", HANG);
    p.write(b"\x03");
    p.expect("got-int", HANG);
    let (status, out) = p.wait(HANG);
    assert_eq!(status.code(), Some(4), "ctr task exec -t: {out:?}\n{}", c.log());
    kill_and_delete(&c, id);
    c.assert_clean(id);
}

/// `ctr run -t`: the container's init has a terminal, follows resizes of
/// ctr's terminal, reads typed input, and its exit status is ctr's.
#[test]
fn run_with_a_terminal_follows_resizes() {
    let Some(c) = containerd() else { return };
    let id = "ttyrun1";
    let config = c.path().join("runsc.toml");
    let args = [
        "run",
        "-t",
        "--rm",
        "--runtime",
        RUNTIME,
        "--runtime-config-path",
        config.to_str().unwrap(),
        IMAGE,
        id,
        "sh",
        "-c",
        TTY_SCRIPT,
    ];
    let (status, out) = drive_tty_script(&c, &args);
    assert_eq!(status.code(), Some(3), "ctr run -t: {out:?}\n{}", c.log());
    c.assert_clean(id);
}
