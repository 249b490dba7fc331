//! The malformed-spec corpus: every `tests/malformed/NAME.yaml` is a broken spec, and
//! `runner validate NAME.yaml`, run in that folder, must exit 2, print nothing on stdout
//! and print exactly `NAME.expected` on stderr.
//!
//! After a deliberate change to the messages, re-bless the expected files with
//! `BLESS=1 cargo test --test malformed`, then read the diff before committing it.
//! Absolute paths to the corpus folder are written as `$CORPUS` so the files hold on any
//! machine.

mod common;

use std::path::{Path, PathBuf};

use common::runner;

#[test]
fn every_malformed_spec_is_refused_with_its_expected_diagnostics() {
    let dir = corpus_dir();
    let bless = std::env::var_os("BLESS").is_some_and(|v| v == "1");
    let specs = spec_files(&dir);
    assert!(
        specs.len() >= 60,
        "the corpus shrank to {} files",
        specs.len()
    );

    let failures: Vec<String> = specs
        .iter()
        .filter_map(|spec| check(&dir, spec, bless).err())
        .collect();

    assert!(
        failures.is_empty(),
        "{} of {} malformed specs did not match (BLESS=1 rewrites the .expected files):\n\n{}",
        failures.len(),
        specs.len(),
        failures.join("\n")
    );
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed")
}

/// The `.yaml` files of the corpus, by name, so failures come out in a stable order.
fn spec_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read the corpus folder")
        .map(|entry| entry.expect("corpus entry").file_name())
        .filter_map(|name| name.into_string().ok())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

/// Runs one spec; `Err` describes every way it differs from what is expected.
fn check(dir: &Path, spec: &str, bless: bool) -> Result<(), String> {
    let run = runner().arg("validate").arg(spec).current_dir(dir).run();
    let stderr = stable_paths(dir, &run.stderr);
    let expected_path = dir.join(spec.replace(".yaml", ".expected"));
    if bless {
        std::fs::write(&expected_path, &stderr).expect("write .expected");
    }

    let mut wrong = Vec::new();
    if run.code != 2 {
        wrong.push(format!("exit code {} instead of 2", run.code));
    }
    if !run.stdout.is_empty() {
        wrong.push(format!("stdout is not empty:\n{}", indent(&run.stdout)));
    }
    match std::fs::read_to_string(&expected_path) {
        Ok(expected) if expected == stderr => {}
        Ok(expected) => wrong.push(format!(
            "stderr differs (- expected, + actual):\n{}",
            line_diff(&expected, &stderr)
        )),
        Err(_) => wrong.push(format!(
            "{} is missing; stderr was:\n{}",
            expected_path.display(),
            indent(&stderr)
        )),
    }

    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("--- {spec}\n{}\n", wrong.join("\n")))
    }
}

/// Absolute paths into the corpus depend on where the repository is checked out.
fn stable_paths(dir: &Path, text: &str) -> String {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    text.replace(&canonical.display().to_string(), "$CORPUS")
        .replace(&dir.display().to_string(), "$CORPUS")
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}\n")).collect()
}

/// A line diff from the longest common subsequence; the texts are a few dozen lines.
fn line_diff(expected: &str, actual: &str) -> String {
    let old: Vec<&str> = expected.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    let mut common = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }

    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            out.push_str(&format!("    {}\n", old[i]));
            (i, j) = (i + 1, j + 1);
        } else if j < new.len() && (i == old.len() || common[i][j + 1] >= common[i + 1][j]) {
            out.push_str(&format!("  + {}\n", new[j]));
            j += 1;
        } else {
            out.push_str(&format!("  - {}\n", old[i]));
            i += 1;
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("  (the texts differ in their final newline)\n");
    }
    out
}
