//! Compilation of the C guest programs under `integration/guests/`.
//!
//! Every `guests/*.c` becomes one static executable of the same stem (headers
//! `guests/*.h` are shared). The executables live in a cache directory under
//! the cargo target directory and are rebuilt only when a source, a header or
//! the compiler command line changed. [`compiled`] does this once per test
//! process.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory holding the guest sources (`integration/guests`).
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("guests")
}

/// The compiled guest programs of this test process.
#[derive(Debug)]
pub struct Guests {
    /// Directory holding one executable per guest.
    pub dir: PathBuf,
    /// Guest names (source stems), sorted.
    pub names: Vec<String>,
    /// The compiler that produced them (`gcc` or `musl-gcc`), for reports.
    pub compiler: String,
}

impl Guests {
    /// Host path of the executable for guest `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Compiles the guests (once per process) and returns them, or a readable
/// error naming the failing command line and its output.
pub fn compiled() -> Result<&'static Guests, String> {
    static GUESTS: OnceLock<Result<Guests, String>> = OnceLock::new();
    GUESTS.get_or_init(build_all).as_ref().map_err(Clone::clone)
}

/// The cache directory: `$CARGO_TARGET_DIR/rvisor-guests`, else derived from
/// the test executable (`<target>/<profile>/deps/<test>`), else a temp dir.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        let dir = if dir.is_absolute() { dir } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir) };
        return dir.join("rvisor-guests");
    }
    if let Ok(exe) = std::env::current_exe() {
        let deps = exe.parent();
        if let Some(target) = deps.filter(|d| d.ends_with("deps")).and_then(Path::parent).and_then(Path::parent) {
            return target.join("rvisor-guests");
        }
    }
    std::env::temp_dir().join("rvisor-guests")
}

/// Compiler candidates, in order of preference.
const COMPILERS: &[(&str, &[&str])] = &[
    ("gcc", &["-static", "-O1", "-Wall", "-Werror", "-std=gnu99", "-pthread"]),
    ("musl-gcc", &["-static", "-O1", "-Wall", "-Werror", "-std=gnu99", "-pthread"]),
];

fn build_all() -> Result<Guests, String> {
    let src = source_dir();
    let mut names = Vec::new();
    let mut headers = Vec::new();
    let entries = fs::read_dir(&src).map_err(|e| format!("reading guest sources {}: {e}", src.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("reading {}: {e}", src.display()))?.path();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        match path.extension().and_then(|e| e.to_str()) {
            Some("c") => names.push(stem),
            Some("h") => headers.push(path),
            _ => {}
        }
    }
    names.sort();
    headers.sort();
    if names.is_empty() {
        return Err(format!("no guest programs (*.c) in {}", src.display()));
    }
    let mut header_bytes = Vec::new();
    for h in &headers {
        header_bytes.extend(fs::read(h).map_err(|e| format!("reading {}: {e}", h.display()))?);
    }

    let dir = cache_dir();
    fs::create_dir_all(&dir).map_err(|e| format!("creating guest cache {}: {e}", dir.display()))?;
    let mut compiler_used = None;
    for name in &names {
        let source = src.join(format!("{name}.c"));
        let bytes = fs::read(&source).map_err(|e| format!("reading {}: {e}", source.display()))?;
        compiler_used = Some(build_one(&dir, name, &source, &bytes, &header_bytes, &src)?);
    }
    Ok(Guests { dir, names, compiler: compiler_used.unwrap_or_default() })
}

/// Builds one guest unless the cached stamp matches; returns the compiler.
fn build_one(
    dir: &Path,
    name: &str,
    source: &Path,
    bytes: &[u8],
    headers: &[u8],
    include: &Path,
) -> Result<String, String> {
    let out = dir.join(name);
    let stamp_path = dir.join(format!("{name}.stamp"));
    let mut failures = String::new();
    for (compiler, flags) in COMPILERS {
        let stamp = stamp_for(compiler, flags, bytes, headers);
        if out.exists() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str()) {
            return Ok((*compiler).to_owned());
        }
        // Compile to a process-unique name and rename, so that concurrent test
        // processes never see a half-written executable.
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut cmd = Command::new(compiler);
        cmd.args(*flags).arg("-I").arg(include).arg("-o").arg(&tmp).arg(source);
        let cmdline = format!("{cmd:?}");
        match cmd.output() {
            Ok(o) if o.status.success() => {
                fs::rename(&tmp, &out).map_err(|e| format!("installing {}: {e}", out.display()))?;
                fs::write(&stamp_path, &stamp).map_err(|e| format!("writing {}: {e}", stamp_path.display()))?;
                return Ok((*compiler).to_owned());
            }
            Ok(o) => {
                let _ = fs::remove_file(&tmp);
                let _ = writeln!(
                    failures,
                    "{cmdline} failed ({}):\n{}{}",
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            Err(e) => {
                let _ = writeln!(failures, "{cmdline}: cannot run {compiler}: {e}");
            }
        }
    }
    Err(format!("cannot compile guest {name} (no working static C compiler?):\n{failures}"))
}

/// A content stamp: FNV-1a over the compiler command line, source and headers.
fn stamp_for(compiler: &str, flags: &[&str], source: &[u8], headers: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    feed(compiler.as_bytes());
    for f in flags {
        feed(f.as_bytes());
    }
    feed(source);
    feed(headers);
    format!("{compiler} {h:016x}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_changes_with_source() {
        let a = stamp_for("gcc", &["-O1"], b"int main(){}", b"");
        let b = stamp_for("gcc", &["-O1"], b"int main(){ }", b"");
        let c = stamp_for("gcc", &["-O1"], b"int main(){}", b"#define X");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, stamp_for("gcc", &["-O1"], b"int main(){}", b""));
    }
}
