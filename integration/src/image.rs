//! OCI image archives made by the tests: an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/...`) in a tar file, with one gzip layer
//! holding busybox-static and links to some of its applets — what `podman
//! load` and `ctr images import` read.

use std::io::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Applets linked to `/bin/busybox` in the image.
pub const APPLETS: &[&str] = &["sh", "echo", "cat", "sleep", "true", "false", "ls", "stty", "hostname", "id"];

fn sha256_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

/// Writes to `out` an OCI image archive named `name` (e.g.
/// `localhost/rvisor-busybox:latest`) whose default command is `cmd`,
/// with `PATH=/bin`: busybox from the host file `busybox`.
pub fn build_busybox_archive(busybox: &Path, out: &Path, name: &str, cmd: &[&str]) -> std::io::Result<()> {
    let mut layer = tar::Builder::new(Vec::new());
    for d in ["bin", "dev", "etc", "proc", "sys", "tmp"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(if d == "tmp" { 0o1777 } else { 0o755 });
        h.set_size(0);
        h.set_cksum();
        layer.append_data(&mut h, d, std::io::empty())?;
    }
    let bb = std::fs::read(busybox)?;
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(bb.len() as u64);
    h.set_cksum();
    layer.append_data(&mut h, "bin/busybox", &bb[..])?;
    for applet in APPLETS {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        layer.append_link(&mut h, format!("bin/{applet}"), "busybox")?;
    }
    let layer_tar = layer.into_inner()?;
    let diff_id = sha256_hex(&layer_tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer_tar)?;
    let layer_gz = gz.finish()?;

    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Env": ["PATH=/bin"], "Cmd": cmd },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff_id}")] }
    })
    .to_string()
    .into_bytes();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", sha256_hex(&config)),
            "size": config.len()
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{}", sha256_hex(&layer_gz)),
            "size": layer_gz.len()
        }]
    })
    .to_string()
    .into_bytes();
    // The reference name: containerd reads the first annotation, podman the
    // second (the tag alone would be "latest").
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", sha256_hex(&manifest)),
            "size": manifest.len(),
            "platform": { "architecture": "amd64", "os": "linux" },
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": name
            }
        }]
    })
    .to_string()
    .into_bytes();

    let mut archive = tar::Builder::new(std::fs::File::create(out)?);
    let mut file = |name: String, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        archive.append_data(&mut h, name, data)
    };
    file("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    file("index.json".into(), &index)?;
    for blob in [&config, &manifest, &layer_gz] {
        file(format!("blobs/sha256/{}", sha256_hex(blob)), blob)?;
    }
    archive.into_inner()?.sync_all()
}
