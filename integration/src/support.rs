//! Helpers shared by the test files: run a bundle differentially and assert
//! on the reference (runc) output with readable failure messages.

use crate::bundle::Bundle;
use crate::differential::compare;
use crate::runtime::{require_runc, RunOutput};

/// Runs the bundle under runc (and runsc when `RVISOR_RUNSC` is set), panics
/// with a readable report if either fails to run or if they differ, and
/// returns runc's output. Returns `None` (after printing why) when runc
/// cannot work on this machine, so that the caller can skip.
pub fn run_differential(bundle: &Bundle, id: &str) -> Option<RunOutput> {
    if !require_runc(id) {
        return None;
    }
    match compare(bundle, id) {
        Ok(c) => Some(c.runc),
        Err(e) => panic!("{id}: {e}"),
    }
}

/// Asserts the exit status, with the full output in the message.
pub fn assert_status(out: &RunOutput, status: i32) {
    assert_eq!(out.status, status, "unexpected exit status\n{out}");
}

/// Asserts that every line of `expected` appears in stdout as a whole line,
/// listing all missing lines and the full output otherwise.
pub fn assert_lines(out: &RunOutput, expected: &[&str]) {
    let missing: Vec<&str> = expected.iter().copied().filter(|l| !out.has_line(l)).collect();
    assert!(missing.is_empty(), "missing lines:\n  {}\n{out}", missing.join("\n  "));
}

/// Asserts that no stdout line contains `needle` (e.g. a guest's `no`
/// answer to a yes/no check), listing the offending lines.
pub fn assert_no_line_ends_with(out: &RunOutput, suffix: &str) {
    let bad: Vec<&str> = out.stdout.lines().filter(|l| l.ends_with(suffix)).collect();
    assert!(bad.is_empty(), "unexpected lines ending with {suffix:?}:\n  {}\n{out}", bad.join("\n  "));
}

/// Asserts exact stdout.
pub fn assert_stdout(out: &RunOutput, expected: &str) {
    assert_eq!(out.stdout, expected, "unexpected stdout\n{out}");
}
