//! The shim binary's actions (`start`, `delete`, and serving) as the
//! `containerd-shim` crate's [`Shim`] trait.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use containerd_shim::asynchronous::{spawn, ExitSignal, Shim};
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Config, DeleteResponse, Error, Flags, StartOpts};
use containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim_protos::protobuf::MessageField;

use crate::config::RunscConfig;
use crate::pod::{bundle_annotations, grouping, KILLED_EXIT_STATUS};
use crate::runtime::RunscRuntime;
use crate::service::{TaskService, CONFIG_FILE};

/// The runtime type containerd knows this shim by.
pub const RUNTIME_TYPE: &str = "io.containerd.runsc.v1";

/// `containerd-shim-runsc-v1`.
pub struct RunscShim {
    id: String,
    namespace: String,
    bundle: PathBuf,
    debug: bool,
    socket: String,
    exit: Arc<ExitSignal>,
}

impl RunscShim {
    fn bundle(&self) -> PathBuf {
        if self.bundle.as_os_str().is_empty() {
            std::env::current_dir().unwrap_or_default()
        } else {
            self.bundle.clone()
        }
    }
}

#[async_trait]
impl Shim for RunscShim {
    type T = TaskService<RunscRuntime>;

    async fn new(_runtime_id: &str, args: &Flags, config: &mut Config) -> Self {
        // The shim sets up its own (tracing) logger when it serves.
        config.no_setup_logger = true;
        // `start` must print nothing but the address: containerd reads its
        // combined output. `delete` may log to stderr, which containerd logs.
        if args.action == "delete" {
            crate::logging::init_stderr(args.debug);
        }
        RunscShim {
            id: args.id.clone(),
            namespace: args.namespace.clone(),
            bundle: PathBuf::from(&args.bundle),
            debug: args.debug,
            socket: args.socket.clone(),
            exit: Arc::new(ExitSignal::default()),
        }
    }

    async fn start_shim(&mut self, opts: StartOpts) -> Result<String, Error> {
        let annotations = bundle_annotations(&self.bundle())
            .map_err(|e| Error::InvalidArgument(format!("container {}: {e:#}", opts.id)))?;
        let group = grouping(&opts.id, &annotations);
        tracing::info!("container {} uses the shim of group {group}", opts.id);
        // An existing shim for the group answers on the same address; the
        // process spawned here then exits at once.
        spawn(opts, &group, Vec::new()).await
    }

    async fn delete_shim(&mut self) -> Result<DeleteResponse, Error> {
        let bundle = self.bundle();
        let config = match std::fs::read(bundle.join(CONFIG_FILE)) {
            Ok(b) => serde_json::from_slice::<RunscConfig>(&b).unwrap_or_else(|e| {
                tracing::warn!("{}: {e}; using default settings", bundle.join(CONFIG_FILE).display());
                RunscConfig::default()
            }),
            Err(_) => RunscConfig::default(),
        };
        let (ns, id) = (self.namespace.clone(), self.id.clone());
        let deleted = tokio::task::spawn_blocking(move || RunscRuntime::force_delete(&ns, &id, &config)).await;
        match deleted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cleaning up container {}: {e}", self.id),
            Err(e) => tracing::warn!("cleaning up container {}: {e}", self.id),
        }
        // The cgroup the serving shim may have made for the sandbox.
        let own = crate::cgroup::Cgroup::own(&self.id);
        if let Err(e) = tokio::task::spawn_blocking(move || own.remove()).await {
            tracing::warn!("removing the cgroup of {}: {e}", self.id);
        }
        let rootfs = bundle.join("rootfs");
        if let Err(e) = containerd_shim::mount::umount_recursive(rootfs.to_str(), libc::MNT_DETACH) {
            tracing::warn!("unmounting {}: {e}", rootfs.display());
        }
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let mut at = Timestamp::new();
        at.seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        at.nanos = now.subsec_nanos() as i32;
        Ok(DeleteResponse { exit_status: KILLED_EXIT_STATUS, exited_at: MessageField::some(at), ..Default::default() })
    }

    async fn wait(&mut self) {
        self.exit.wait().await;
        // The server keeps its listening descriptor; remove the socket file
        // so that no stale address is left under /run/containerd/s.
        let path = self.socket.strip_prefix("unix://").unwrap_or(&self.socket);
        if !path.is_empty() {
            use std::os::unix::fs::FileTypeExt;
            if std::fs::symlink_metadata(path).map(|m| m.file_type().is_socket()).unwrap_or(false) {
                if let Err(e) = std::fs::remove_file(path) {
                    tracing::warn!("removing {path}: {e}");
                }
            }
        }
    }

    async fn create_task_service(&self, publisher: RemotePublisher) -> Self::T {
        crate::logging::init_fifo(self.debug);
        tracing::info!("containerd-shim-runsc-v1 serving namespace {} (first container {})", self.namespace, self.id);
        TaskService::new(RunscRuntime::new(&self.namespace), &self.namespace, publisher, self.exit.clone()).await
    }
}
