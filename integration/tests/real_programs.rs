//! Real, dynamically linked programs from the host's Debian installation:
//! bash, coreutils and python3, with the host's `/usr` bind-mounted
//! read-only into the container (`/bin`, `/lib`, `/lib64` are symlinks into
//! it on Debian 12). Under runc always; differential against runsc when
//! `RVISOR_RUNSC` is set.

use integration::support::{assert_status, assert_stdout, run_differential};
use integration::Bundle;

/// A bundle whose `/usr`, `/bin`, `/lib` and `/lib64` are the host's.
fn host_userland() -> Option<Bundle> {
    if !std::path::Path::new("/usr/bin/bash").exists() || !std::path::Path::new("/usr/bin/python3").exists() {
        eprintln!("skipped: /usr/bin/bash or /usr/bin/python3 missing (scripts/setup.sh installs them)");
        return None;
    }
    let mut b = Bundle::new().expect("building bundle");
    for (src, dst) in [("/usr", "/usr"), ("/usr/bin", "/bin"), ("/usr/lib", "/lib"), ("/usr/lib64", "/lib64")] {
        b.bind_mount(src, dst, true);
    }
    b.env("PATH", "/usr/local/bin:/usr/bin:/bin");
    Some(b)
}

fn check(b: &mut Bundle, id: &str, args: &[&str], stdout: &str, status: i32) -> bool {
    b.args(args.iter().copied());
    let Some(out) = run_differential(b, id) else { return false };
    assert_stdout(&out, stdout);
    assert_status(&out, status);
    true
}

#[test]
fn bash_scripts() {
    let Some(mut b) = host_userland() else { return };
    let script = r#"
        set -u
        declare -a xs=(3 1 2)
        printf '%s\n' "${xs[@]}" | sort -n | tr '\n' ' '; echo
        n=0; while read -r line; do n=$((n + ${#line})); done < <(printf 'ab\ncde\n'); echo "chars $n"
        f() { local v="$1"; echo "f:${v^^}"; }; f hello
        (sleep 0.1; echo background) & wait $!; echo "waited $?"
        cat <<< "here string" | wc -w
        echo "$(basename /a/b/c.txt .txt) $(dirname /a/b/c.txt)"
        case "x$BASH_VERSION" in x5*) echo bash5;; *) echo other;; esac
        trap 'echo trapped' USR1; kill -USR1 $$
        false || echo "or works"; exit 4
    "#;
    check(
        &mut b,
        "bash",
        &["/usr/bin/bash", "-c", script],
        "1 2 3 \nchars 5\nf:HELLO\nbackground\nwaited 0\n2\nc /a/b\nbash5\ntrapped\nor works\n",
        4,
    );
}

#[test]
fn coreutils() {
    let Some(mut b) = host_userland() else { return };
    check(
        &mut b,
        "coreutils",
        &[
            "/usr/bin/bash",
            "-c",
            "cd /tmp && seq 1 2000 > n && sort -rn n | head -3 && md5sum n | cut -c1-8 && \
             cp n m && cmp n m && echo same && ls -1 /tmp | sort && stat -c '%s %F' n && \
             uname -s && id -u && date -d @0 -u +%Y",
        ],
        "2000\n1999\n1998\nea4d0a24\nsame\nm\nn\n8893 regular file\nLinux\n0\n1970\n",
        0,
    );
}

#[test]
fn python3() {
    let Some(mut b) = host_userland() else { return };
    let program = r#"
import json, os, subprocess, sys, threading, hashlib, tempfile
print(json.dumps({"a": [1, 2, 3]}, sort_keys=True))
results = []
def work(i):
    results.append(sum(range(i * 1000)))
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
print(sorted(results))
print(subprocess.run(["/usr/bin/echo", "from a child"], capture_output=True, text=True).stdout.strip())
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(w, b"forked")
    os._exit(3)
_, status = os.waitpid(pid, 0)
print(os.read(r, 100).decode(), os.WEXITSTATUS(status))
with tempfile.TemporaryDirectory() as d:
    p = os.path.join(d, "f")
    open(p, "w").write("x" * 1000)
    print(os.path.getsize(p), hashlib.sha256(open(p, "rb").read()).hexdigest()[:12])
print(sys.version_info.major)
"#;
    check(
        &mut b,
        "python3",
        &["/usr/bin/python3", "-c", program],
        "{\"a\": [1, 2, 3]}\n[0, 499500, 1999000, 4498500]\nfrom a child\nforked 3\n1000 44f8354494a5\n3\n",
        0,
    );
}
