//! A Kubernetes pod through containerd's CRI plugin, driven by a CRI v1
//! client over containerd's socket: the runtime handler `runsc` comes from
//! the deployed snippet (`deploy/containerd-config.toml`), the pod uses the
//! host network (no CNI configuration), and its sandbox ("pause") image is
//! the test's own busybox image running `sleep`.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tonic::transport::Channel;

mod common;
use common::{Containerd, CRI_NAMESPACE, IMAGE, PAUSE_IMAGE};

/// The RuntimeClass handler of the deployed snippet.
const HANDLER: &str = "runsc";

async fn connect(sock: &Path) -> RuntimeServiceClient<Channel> {
    RuntimeServiceClient::new(common::grpc_channel(sock).await)
}

/// Host network, pod-wide PID and IPC namespaces.
fn namespaces() -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: NamespaceMode::Pod as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

fn pod_config(name: &str, log_dir: &Path) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        log_directory: log_dir.to_string_lossy().into_owned(),
        linux: Some(LinuxPodSandboxConfig {
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_config(name: &str, command: &[&str]) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata { name: name.into(), attempt: 0 }),
        image: Some(ImageSpec { image: IMAGE.into(), ..Default::default() }),
        command: command.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}.log"),
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(namespaces()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Waits (hang protection only) until `log` holds a CRI log line whose
/// message is `want`; returns the log.
fn wait_for_log_line(log: &Path, want: &str) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // CRI log format: "<RFC3339Nano> <stream> <P|F> <message>".
        if text.lines().any(|l| l.splitn(4, ' ').nth(3) == Some(want)) {
            return text;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{} never got {want:?}: {text:?}", log.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The host pid of CRI container `id`'s task (its sandbox process).
fn task_pid(c: &Containerd, id: &str) -> u32 {
    let out = c.ctr_in(CRI_NAMESPACE, &["task", "ls"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.get(1)?.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("task {id} not listed: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The memory limit of the cgroup host process `pid` is in (v1 or v2);
/// `None` for no limit.
fn memory_limit(pid: u32) -> Option<u64> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("reading /proc/PID/cgroup");
    let root = Path::new("/sys/fs/cgroup");
    let (file, path) = if root.join("cgroup.controllers").exists() {
        ("memory.max", cgroups.lines().find_map(|l| l.strip_prefix("0::"))?.to_string())
    } else {
        ("memory.limit_in_bytes", cgroups.lines().find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))?)
    };
    let dir = root.join(if file == "memory.max" { "" } else { "memory" }).join(path.trim_start_matches('/'));
    let v = std::fs::read_to_string(dir.join(file)).ok()?;
    v.trim().parse().ok().filter(|&n: &u64| n < u64::MAX / 4)
}

/// The CRI plugin loads with the runtime entries `deploy/install.sh`
/// added (containerd 1.6 refuses the whole plugin if the config names
/// runtimes but not the default one) and knows the `runsc` handler with
/// its runtime type and runsc.toml.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_serves_the_installed_runsc_handler() {
    let Some(c) = Containerd::start_cri() else { return };
    let mut cri = connect(&c.sock()).await;
    let version = cri
        .version(VersionRequest::default())
        .await
        .unwrap_or_else(|e| panic!("Version (is the CRI plugin loaded?): {e}\n{}", c.log()))
        .into_inner();
    assert_eq!(version.runtime_api_version, "v1");
    let status = cri.status(StatusRequest { verbose: true }).await.expect("Status").into_inner();
    let config = status.info.get("config").expect("no config in the verbose Status");
    let config: serde_json::Value = serde_json::from_str(config).expect("CRI config JSON");
    let runsc = &config["containerd"]["runtimes"]["runsc"];
    assert_eq!(runsc["runtimeType"], "io.containerd.runsc.v1", "{config:#}");
    assert_eq!(runsc["options"]["ConfigPath"], c.path().join("runsc.toml").to_str().unwrap(), "{runsc:#}");
    assert_eq!(config["sandboxImage"], PAUSE_IMAGE);
    // Host-network pods need no CNI: the runtime is ready, the network not.
    let conditions = status.status.expect("runtime status").conditions;
    let ready = |t: &str| conditions.iter().find(|c| c.r#type == t).map(|c| c.status);
    assert_eq!(ready("RuntimeReady"), Some(true), "{conditions:?}");
    assert_eq!(ready("NetworkReady"), Some(false), "{conditions:?}");
}

/// A host-network pod with two containers on runsc: RunPodSandbox,
/// CreateContainer ×2, StartContainer, their logs, ContainerStatus,
/// UpdateContainerResources (the memory limit reaches the sandbox's
/// cgroup), ContainerStats (the shim's metrics decoded by CRI), ExecSync
/// (output, error output and exit status: the shim's Exec), StopPodSandbox,
/// RemovePodSandbox; one shim and one Sentry serve the whole pod (the
/// containers join the pause container's sandbox, each with its own
/// Gofer; CRI's file bind mounts — `/etc/resolv.conf`, `/etc/hosts`,
/// `/etc/hostname`, `/dev/termination-log` — are served too) and nothing is
/// left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_with_two_containers_through_cri() {
    let Some(c) = Containerd::start_cri() else { return };
    c.import_image_in(CRI_NAMESPACE, IMAGE, &["/bin/sh"]);
    c.import_image_in(CRI_NAMESPACE, PAUSE_IMAGE, &["/bin/sleep", "1000000"]);
    let mut cri = connect(&c.sock()).await;

    let version = cri.version(VersionRequest::default()).await.expect("Version").into_inner();
    eprintln!("CRI: {} {} (API {})", version.runtime_name, version.runtime_version, version.runtime_api_version);

    let log_dir = c.path().join("pod-logs");
    std::fs::create_dir_all(&log_dir).unwrap();
    let pod = pod_config("pod1", &log_dir);
    let pod_id = cri
        .run_pod_sandbox(RunPodSandboxRequest { config: Some(pod.clone()), runtime_handler: HANDLER.into() })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", c.log()))
        .into_inner()
        .pod_sandbox_id;
    let status = cri
        .pod_sandbox_status(PodSandboxStatusRequest { pod_sandbox_id: pod_id.clone(), verbose: false })
        .await
        .expect("PodSandboxStatus")
        .into_inner();
    let st = status.status.expect("pod status");
    assert_eq!(st.state, PodSandboxState::SandboxReady as i32, "pod not ready: {st:?}");
    assert_eq!(st.runtime_handler, HANDLER);

    let mut ids = Vec::new();
    for name in ["c1", "c2"] {
        let cmd = format!("echo hello-{name}; exec sleep 1000");
        let id = cri
            .create_container(CreateContainerRequest {
                pod_sandbox_id: pod_id.clone(),
                config: Some(container_config(name, &["sh", "-c", &cmd])),
                sandbox_config: Some(pod.clone()),
            })
            .await
            .unwrap_or_else(|e| panic!("CreateContainer {name}: {e}\n{}", c.log()))
            .into_inner()
            .container_id;
        ids.push(id);
    }
    for id in &ids {
        cri.start_container(StartContainerRequest { container_id: id.clone() })
            .await
            .unwrap_or_else(|e| panic!("StartContainer {id}: {e}\n{}", c.log()));
    }
    for (name, id) in ["c1", "c2"].iter().zip(&ids) {
        let log = wait_for_log_line(&log_dir.join(format!("{name}.log")), &format!("hello-{name}"));
        eprintln!("{name}.log: {log}");
        let status = cri
            .container_status(ContainerStatusRequest { container_id: id.clone(), verbose: false })
            .await
            .expect("ContainerStatus")
            .into_inner()
            .status
            .expect("container status");
        assert_eq!(status.state, ContainerState::ContainerRunning as i32, "{name}: {status:?}");
    }

    // One shim serves the pod: the pause container and both containers.
    let shims = c.shims();
    assert_eq!(shims.len(), 1, "one shim per pod expected: {shims:?}");
    let sandboxes: Vec<_> = c.processes().into_iter().filter(|(_, cmd)| cmd.contains(" boot ")).collect();
    eprintln!(
        "pod {pod_id}: 1 shim (pid {}), {} sandbox (Sentry) process(es): {:?}",
        shims[0].0,
        sandboxes.len(),
        sandboxes.iter().map(|(pid, _)| pid).collect::<Vec<_>>()
    );
    assert_eq!(sandboxes.len(), 1, "the pod's containers run in one Sentry: {sandboxes:?}");

    // UpdateContainerResources reaches the sandbox's cgroup.
    const LIMIT: u64 = 512 << 20;
    cri.update_container_resources(UpdateContainerResourcesRequest {
        container_id: ids[0].clone(),
        linux: Some(LinuxContainerResources { memory_limit_in_bytes: LIMIT as i64, ..Default::default() }),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("UpdateContainerResources: {e}\n{}", c.log()));
    assert_eq!(memory_limit(task_pid(&c, &ids[0])), Some(LIMIT), "the memory limit did not reach the cgroup");

    // The shim's metrics as CRI decodes them.
    let stats = cri
        .container_stats(ContainerStatsRequest { container_id: ids[0].clone() })
        .await
        .unwrap_or_else(|e| panic!("ContainerStats: {e}\n{}", c.log()))
        .into_inner()
        .stats
        .expect("stats");
    let memory = stats.memory.and_then(|m| m.working_set_bytes).map(|v| v.value).unwrap_or(0);
    eprintln!("ContainerStats {}: memory working set {memory} bytes", ids[0]);
    assert!(memory > 0, "no memory usage in {stats:?}");

    // ExecSync: the shim's Exec, Start, Wait and Delete of an exec process.
    let exec = cri
        .exec_sync(ExecSyncRequest {
            container_id: ids[1].clone(),
            cmd: vec!["sh".into(), "-c".into(), "echo exec-ok; echo exec-err >&2; exit 5".into()],
            timeout: 30,
        })
        .await
        .unwrap_or_else(|e| panic!("ExecSync: {e}\n{}", c.log()))
        .into_inner();
    assert_eq!(exec.exit_code, 5, "{exec:?}");
    assert_eq!(String::from_utf8_lossy(&exec.stdout).trim(), "exec-ok", "{exec:?}");
    assert_eq!(String::from_utf8_lossy(&exec.stderr).trim(), "exec-err", "{exec:?}");

    cri.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: pod_id.clone() })
        .await
        .unwrap_or_else(|e| panic!("StopPodSandbox: {e}\n{}", c.log()));
    for id in &ids {
        let status = cri
            .container_status(ContainerStatusRequest { container_id: id.clone(), verbose: false })
            .await
            .expect("ContainerStatus")
            .into_inner()
            .status
            .expect("container status");
        assert_eq!(status.state, ContainerState::ContainerExited as i32, "{id}: {status:?}");
    }
    cri.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: pod_id.clone() })
        .await
        .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}\n{}", c.log()));
    let listed = cri.list_pod_sandbox(ListPodSandboxRequest::default()).await.expect("ListPodSandbox").into_inner();
    assert!(listed.items.is_empty(), "pods left: {:?}", listed.items);
    for id in ids.iter().chain([&pod_id]) {
        c.assert_clean_in(CRI_NAMESPACE, id);
    }
}
