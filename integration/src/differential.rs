//! Differential testing: the same bundle under runc and under runsc.
//!
//! The runsc binary comes from the environment variable [`RUNSC_ENV`]. When
//! it is unset, [`compare`] runs runc only and returns its output, so tests
//! that assert on that output are meaningful before `runsc run` exists.

use std::fmt;
use std::path::PathBuf;

use crate::bundle::Bundle;
use crate::runtime::{run, RunError, RunOutput, Runtime};

/// Path of the runsc binary to compare against runc.
pub const RUNSC_ENV: &str = "RVISOR_RUNSC";

/// The runsc runtime named by [`RUNSC_ENV`], if set and non-empty.
pub fn runsc_from_env() -> Option<Runtime> {
    std::env::var_os(RUNSC_ENV).filter(|v| !v.is_empty()).map(|v| Runtime::Runsc(PathBuf::from(v)))
}

/// The outputs of a successful comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// What runc produced (the reference).
    pub runc: RunOutput,
    /// What runsc produced, when [`RUNSC_ENV`] is set (equal to `runc` after
    /// normalisation).
    pub runsc: Option<RunOutput>,
}

/// A difference between runc's and runsc's results.
#[derive(Debug, Clone)]
pub struct Diff {
    /// runc's result.
    pub runc: RunOutput,
    /// runsc's result.
    pub runsc: RunOutput,
    /// A readable report: status difference and line diffs of stderr and
    /// stdout (`-` runc, `+` runsc).
    pub report: String,
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "runc and runsc differ (- runc, + runsc)")?;
        writeln!(f, "runc:  {}", self.runc.cmdline)?;
        writeln!(f, "runsc: {}", self.runsc.cmdline)?;
        write!(f, "{}", self.report)
    }
}

/// Why a comparison failed.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A runtime could not run the bundle at all.
    #[error("{runtime}: {source}")]
    Run {
        /// `runc` or `runsc`.
        runtime: &'static str,
        /// The failure.
        source: RunError,
    },
    /// Both ran, with different results.
    #[error("{0}")]
    Mismatch(Box<Diff>),
}

/// Runs the bundle's current settings under runc and, when [`RUNSC_ENV`] is
/// set, under runsc; their stdout, stderr and status must be identical.
pub fn compare(bundle: &Bundle, id: &str) -> Result<Comparison, CompareError> {
    compare_normalized(bundle, id, |s| s.to_owned())
}

/// Like [`compare`], but both outputs (stdout and stderr) pass through
/// `normalize` before the comparison, for differences by design (kernel
/// release, host identity). The returned outputs are the normalised ones.
pub fn compare_normalized(
    bundle: &Bundle,
    id: &str,
    normalize: impl Fn(&str) -> String,
) -> Result<Comparison, CompareError> {
    compare_against(bundle, id, runsc_from_env().as_ref(), normalize)
}

/// The general form: runc against an explicit `runsc` runtime (or runc only
/// when `None`), both outputs passed through `normalize`.
pub fn compare_against(
    bundle: &Bundle,
    id: &str,
    runsc: Option<&Runtime>,
    normalize: impl Fn(&str) -> String,
) -> Result<Comparison, CompareError> {
    let norm = |mut o: RunOutput| {
        o.stdout = normalize(&o.stdout);
        o.stderr = normalize(&o.stderr);
        o
    };
    let runc = run(&Runtime::Runc, bundle, id).map_err(|source| CompareError::Run { runtime: "runc", source })?;
    let runc = norm(runc);
    let Some(runsc_rt) = runsc else {
        return Ok(Comparison { runc, runsc: None });
    };
    let runsc = run(runsc_rt, bundle, id).map_err(|source| CompareError::Run { runtime: "runsc", source })?;
    let runsc = norm(runsc);
    match diff_outputs(&runc, &runsc) {
        None => Ok(Comparison { runc, runsc: Some(runsc) }),
        Some(report) => Err(CompareError::Mismatch(Box::new(Diff { runc, runsc, report }))),
    }
}

/// A readable report of how two outputs differ, or `None` if they agree.
pub fn diff_outputs(a: &RunOutput, b: &RunOutput) -> Option<String> {
    let mut report = String::new();
    if a.status != b.status {
        report.push_str(&format!("status: runc {} != runsc {}\n", a.status, b.status));
    }
    // stderr first: when a runtime fails outright, its message is there.
    if a.stderr != b.stderr {
        report.push_str("--- stderr ---\n");
        report.push_str(&line_diff(&a.stderr, &b.stderr));
    }
    if a.stdout != b.stdout {
        report.push_str("--- stdout ---\n");
        report.push_str(&line_diff(&a.stdout, &b.stdout));
    }
    (!report.is_empty()).then_some(report)
}

/// A line diff of `a` and `b` (`' '` common, `-` only in a, `+` only in b),
/// from a longest-common-subsequence table. Inputs of more than 4000 lines
/// fall back to reporting the first differing line.
pub fn line_diff(a: &str, b: &str) -> String {
    let x: Vec<&str> = a.lines().collect();
    let y: Vec<&str> = b.lines().collect();
    let (n, m) = (x.len(), y.len());
    let mut out = String::new();
    if n.saturating_mul(m) > 16_000_000 {
        let i = x.iter().zip(&y).take_while(|(p, q)| p == q).count();
        out.push_str(&format!("first difference at line {}:\n", i + 1));
        out.push_str(&format!("-{}\n+{}\n", x.get(i).unwrap_or(&"<end>"), y.get(i).unwrap_or(&"<end>")));
        return out;
    }
    // lcs[i][j] = LCS length of x[i..] and y[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if x[i] == y[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && x[i] == y[j] {
            out.push_str(&format!(" {}\n", x[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("-{}\n", x[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{}\n", y[j]));
            j += 1;
        }
    }
    if a.ends_with('\n') != b.ends_with('\n') {
        out.push_str("(trailing newline differs)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(stdout: &str, status: i32) -> RunOutput {
        RunOutput { stdout: stdout.into(), stderr: String::new(), status, cmdline: "x".into() }
    }

    #[test]
    fn equal_outputs_have_no_diff() {
        assert!(diff_outputs(&out("a\nb\n", 0), &out("a\nb\n", 0)).is_none());
    }

    #[test]
    fn diff_pinpoints_lines_and_status() {
        let r = diff_outputs(&out("a\nb\nc\n", 0), &out("a\nB\nc\nd\n", 1)).unwrap();
        assert_eq!(r, "status: runc 0 != runsc 1\n--- stdout ---\n a\n-b\n+B\n c\n+d\n");
    }
}
