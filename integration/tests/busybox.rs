//! busybox shell scenarios through `/bin/sh -c`, with expected outputs,
//! differential against runc when `RVISOR_RUNSC` is set.
//!
//! Scenarios share one bundle per test (the config is rewritten before each
//! run and `/tmp` emptied), which keeps the suite cheap.

use integration::support::{assert_status, assert_stdout, run_differential};
use integration::{guests, Bundle};

/// Runs `script` with `/bin/sh -c` and checks stdout and status.
fn check(bundle: &mut Bundle, id: &str, script: &str, stdout: &str, status: i32) -> bool {
    bundle.shell(script);
    let Some(out) = run_differential(bundle, id) else { return false };
    assert_stdout(&out, stdout);
    assert_status(&out, status);
    true
}

#[test]
fn pipelines_and_subshells() {
    let mut b = Bundle::new().expect("building bundle");
    if !check(&mut b, "pipeline", "echo a b c | tr ' ' '\\n' | sort -r", "c\nb\na\n", 0) {
        return;
    }
    check(
        &mut b,
        "subshell",
        "(cd /tmp && pwd); pwd; x=$( (echo inner; echo more) | wc -l ); echo \"lines=$x\"; \
         (exit 3); echo \"sub status $?\"",
        "/tmp\n/\nlines=2\nsub status 3\n",
        0,
    );
    check(&mut b, "seq-sort", "seq 1 1000 | sort -n | tail -1", "1000\n", 0);
    check(&mut b, "wc", "printf 'one two\\nthree\\n' | wc -l -w -c", "        2         3        14\n", 0);
    check(&mut b, "vars", "a=1; b=$((a + 41)); echo $b; for i in x y; do printf '%s-' $i; done; echo", "42\nx-y-\n", 0);
}

#[test]
fn find_lists_guests() {
    let guests = guests::compiled().expect("guests compile");
    let mut expected = String::from("/guests\n");
    for name in &guests.names {
        expected.push_str(&format!("/guests/{name}\n"));
    }
    let mut b = Bundle::new().expect("building bundle");
    check(&mut b, "find", "find /guests -name '*' | sort", &expected, 0);
}

#[test]
fn tar_round_trip() {
    let mut b = Bundle::new().expect("building bundle");
    check(
        &mut b,
        "tar",
        "set -e; mkdir -p /tmp/src/d; echo hello > /tmp/src/d/f; seq 1 500 > /tmp/src/n; \
         cd /tmp; tar cf a.tar src; mkdir x; cd x; tar xf ../a.tar; \
         cat src/d/f; wc -l < src/n; cmp src/n /tmp/src/n && echo same; tar tf ../a.tar | sort",
        "hello\n500\nsame\nsrc/\nsrc/d/\nsrc/d/f\nsrc/n\n",
        0,
    );
}

#[test]
fn exit_statuses() {
    let mut b = Bundle::new().expect("building bundle");
    if !check(&mut b, "exit7", "exit 7", "", 7) {
        return;
    }
    // The container's init is pid 1 of a new pid namespace: a signal it sends
    // itself with the default action is dropped (Linux init protection), so
    // `kill -TERM $$` in the top-level shell does nothing…
    check(&mut b, "kill-init", "kill -TERM $$; echo survived", "survived\n", 0);
    // …while a child shell dies of it and the parent reports 128 + 15.
    check(&mut b, "kill-child", "sh -c 'kill -TERM $$'; echo \"child status $?\"", "child status 143\n", 0);
    check(&mut b, "kill-status", "sh -c 'kill -TERM $$'; exit $?", "", 143);
    check(&mut b, "false", "false", "", 1);
    check(&mut b, "not-found", "/no/such/cmd 2>/dev/null", "", 127);
}

#[test]
fn files_and_proc() {
    let mut b = Bundle::new().expect("building bundle");
    if !check(
        &mut b,
        "etc",
        "cat /etc/hostname; head -1 /etc/passwd; ls -d /tmp; stat -c %a /tmp",
        "rvisor\nroot:x:0:0:root:/root:/bin/sh\n/tmp\n1777\n",
        0,
    ) {
        return;
    }
    check(
        &mut b,
        "ls",
        "cd /tmp && mkdir d && touch d/b d/a && ln -s a d/c && ls d && readlink d/c && ls -l d/c | cut -c1",
        "a\nb\nc\na\nl\n",
        0,
    );
    check(&mut b, "proc", "grep -c '^Name:' /proc/self/status; readlink /proc/self/exe", "1\n/bin/busybox\n", 0);
    check(&mut b, "id", "id -u; id -g; hostname", "0\n0\nrvisor\n", 0);
}

#[test]
fn job_control_basics() {
    let mut b = Bundle::new().expect("building bundle");
    // Background jobs, wait for a specific one, kill of a job, traps, and
    // stopping and continuing a job by signal (no terminal: job control
    // through kill, as scripts do it).
    check(
        &mut b,
        "jobs",
        "sleep 0.2 & a=$!; (exit 5) & b=$!; wait $b; echo \"b exited $?\"; wait $a; echo \"a exited $?\"; \
         sleep 100 & c=$!; kill $c; wait $c; echo \"killed job status $?\"; \
         trap 'echo got USR1' USR1; kill -USR1 $$; \
         sleep 0.3 & d=$!; kill -STOP $d; kill -CONT $d; wait $d; echo \"stopped and continued job status $?\"",
        "b exited 5\na exited 0\nkilled job status 143\ngot USR1\nstopped and continued job status 0\n",
        0,
    );
}
