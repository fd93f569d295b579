//! One shim per pod: which shim a container belongs to, and how exit
//! statuses are reported to containerd.

use std::collections::HashMap;

/// The CRI annotation naming a container's pod sandbox.
pub const SANDBOX_ID_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";

/// The grouping key of the shim that serves container `id`: its pod's
/// sandbox id, or its own id when it is not part of a CRI pod (or the
/// annotation is empty).
pub fn grouping(id: &str, annotations: &HashMap<String, String>) -> String {
    match annotations.get(SANDBOX_ID_ANNOTATION) {
        Some(sandbox) if !sandbox.is_empty() => sandbox.clone(),
        _ => id.to_string(),
    }
}

/// Reads the annotations of the bundle's `config.json` (the `start`
/// action runs in the bundle directory); no file or no annotations: empty.
pub fn bundle_annotations(bundle: &std::path::Path) -> anyhow::Result<HashMap<String, String>> {
    use anyhow::Context as _;
    #[derive(serde::Deserialize)]
    struct Spec {
        #[serde(default)]
        annotations: Option<HashMap<String, String>>,
    }
    let path = bundle.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let spec: Spec = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(spec.annotations.unwrap_or_default())
}

/// The exit status containerd expects from a wait(2) status: the exit
/// code, or 128 + the signal for a process killed by a signal (as the
/// runc shim reports it).
pub fn exit_status(wait_status: i32) -> u32 {
    sandbox::container::exit_code(wait_status).clamp(0, 255) as u32
}

/// Exit status reported for a container whose sandbox had to be killed
/// (delete of a dead shim's container): 128 + SIGKILL.
pub const KILLED_EXIT_STATUS: u32 = 128 + libc::SIGKILL as u32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_of_a_pod_share_a_shim() {
        let pod: HashMap<String, String> =
            [(SANDBOX_ID_ANNOTATION.to_string(), "pod1".to_string())].into_iter().collect();
        assert_eq!(grouping("c1", &pod), "pod1");
        assert_eq!(grouping("c2", &pod), "pod1");
        // The pod sandbox container itself carries its own id.
        let own: HashMap<String, String> =
            [(SANDBOX_ID_ANNOTATION.to_string(), "pod1".to_string())].into_iter().collect();
        assert_eq!(grouping("pod1", &own), "pod1");
        assert_eq!(grouping("solo", &HashMap::new()), "solo");
        let empty: HashMap<String, String> = [(SANDBOX_ID_ANNOTATION.to_string(), String::new())].into_iter().collect();
        assert_eq!(grouping("solo", &empty), "solo");
    }

    #[test]
    fn annotations_come_from_the_bundle() {
        let dir = std::env::temp_dir().join(format!("shim-pod-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(bundle_annotations(&dir).unwrap().is_empty());
        std::fs::write(
            dir.join("config.json"),
            r#"{"ociVersion":"1.0.2","annotations":{"io.kubernetes.cri.sandbox-id":"p"}}"#,
        )
        .unwrap();
        assert_eq!(grouping("c", &bundle_annotations(&dir).unwrap()), "p");
        std::fs::write(dir.join("config.json"), r#"{"ociVersion":"1.0.2"}"#).unwrap();
        assert!(bundle_annotations(&dir).unwrap().is_empty());
        std::fs::write(dir.join("config.json"), "{not json").unwrap();
        assert!(bundle_annotations(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn exit_statuses_follow_containerd() {
        assert_eq!(exit_status(0), 0);
        assert_eq!(exit_status(3 << 8), 3);
        assert_eq!(exit_status(255 << 8), 255);
        assert_eq!(exit_status(libc::SIGKILL), 137);
        assert_eq!(exit_status(libc::SIGTERM), 143);
        assert_eq!(KILLED_EXIT_STATUS, 137);
    }
}
