//! `include`: a spec pulls vars, secrets, oauth2 definitions and steps from other files,
//! resolved relative to the including file. The main case is one shared token definition
//! used by many specs.
//!
//! Included parts come first and the including file wins on a name defined in both.
//! Included files may include others; a cycle is an error that shows the chain.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::load::{Problem, SpecError, load_file};
use super::{Seg, Source, Spec, validate};

/// Loads `path` with everything it includes, merged, and checks the merged spec.
/// Problems that leave the spec readable are in [`Spec::problems`], not in the error.
pub fn load_spec(path: &Path) -> Result<Spec, SpecError> {
    let mut spec = load_tree(path, &mut Vec::new())?;
    let merged = validate::merged(&spec);
    spec.problems.extend(merged);
    Ok(spec)
}

/// Loads `path` and its includes; `chain` holds the files that include it, outermost first.
fn load_tree(path: &Path, chain: &mut Vec<PathBuf>) -> Result<Spec, SpecError> {
    let mut spec = load_file(path)?;
    if spec.doc.include.is_empty() {
        return Ok(spec);
    }
    chain.push(canonical(path));
    let mut parts = Vec::new();
    let mut problems = Vec::new();
    for (index, name) in spec.doc.include.clone().iter().enumerate() {
        let at = [Seg::from("include"), Seg::Index(index)];
        match include_one(path, name, chain) {
            Ok(part) => parts.push(part),
            Err(Included::Problem(message)) => problems.push(Problem::new(spec.pos(&at), message)),
            Err(Included::Invalid(err)) => return Err(err),
        }
    }
    chain.pop();
    if !problems.is_empty() {
        return Err(SpecError::Invalid {
            path: spec.path,
            source_text: spec.source,
            problems,
        });
    }
    for part in parts.into_iter().rev() {
        merge_before(&mut spec, part);
    }
    Ok(spec)
}

enum Included {
    /// Wrong in the including file: a missing file or a cycle.
    Problem(String),
    /// Wrong inside the included file, reported there.
    Invalid(SpecError),
}

fn include_one(from: &Path, name: &str, chain: &mut Vec<PathBuf>) -> Result<Spec, Included> {
    let target = tidy(&from.parent().unwrap_or(Path::new(".")).join(name));
    if !target.is_file() {
        return Err(Included::Problem(format!(
            "cannot include `{name}`: no such file ({})",
            target.display()
        )));
    }
    let key = canonical(&target);
    if let Some(start) = chain.iter().position(|p| *p == key) {
        let mut cycle: Vec<String> = chain[start..].iter().map(|p| shown(p)).collect();
        cycle.push(shown(&key));
        return Err(Included::Problem(format!(
            "include cycle: {}",
            cycle.join(" → ")
        )));
    }
    load_tree(&target, chain).map_err(Included::Invalid)
}

/// Removes `.` and `a/..` from a path without touching the file system, so that messages
/// show `shared/auth.yaml` rather than `specs/../shared/auth.yaml`.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A canonical path as a reader knows it: relative to the working folder when inside it.
fn shown(path: &Path) -> String {
    let here = std::env::current_dir()
        .ok()
        .and_then(|d| d.canonicalize().ok());
    match here
        .as_deref()
        .and_then(|here| path.strip_prefix(here).ok())
    {
        Some(relative) => relative.display().to_string(),
        None => path.display().to_string(),
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Puts `part` (already merged with its own includes) before what `spec` defines.
fn merge_before(spec: &mut Spec, part: Spec) {
    // Part numbers of `spec` after the new ones: 0 stays, the rest shift.
    let own_included = std::mem::take(&mut spec.included);
    let base = 1;
    let shift = 1 + part.included.len();
    let part_number = |p: usize| base + p; // part's 0 becomes `base`, its k becomes base + k
    let spec_number = |p: usize| if p == 0 { 0 } else { p + shift };

    let source = Arc::new(Source {
        path: part.path.clone(),
        text: part.source.clone(),
        positions: part.positions,
    });
    spec.included.push(source.clone());
    // The part's own problems are in the part's file from now on.
    let mut problems: Vec<Problem> = part.problems;
    for problem in &mut problems {
        problem.file.get_or_insert_with(|| source.clone());
    }
    problems.append(&mut spec.problems);
    spec.problems = problems;
    spec.included.extend(part.included.iter().cloned());
    spec.included.extend(own_included);

    let mut steps: Vec<(usize, usize)> = part
        .origins
        .steps
        .iter()
        .map(|&(p, i)| (part_number(p), i))
        .collect();
    steps.extend(spec.origins.steps.iter().map(|&(p, i)| (spec_number(p), i)));
    spec.origins.steps = steps;

    let mut entries: std::collections::HashMap<(String, String), usize> = spec
        .origins
        .entries
        .drain()
        .map(|(k, p)| (k, spec_number(p)))
        .collect();
    let doc = &mut spec.doc;
    let sections = [
        ("vars", merge_map(&mut doc.vars, part.doc.vars)),
        ("secrets", merge_map(&mut doc.secrets, part.doc.secrets)),
        ("oauth2", merge_map(&mut doc.oauth2, part.doc.oauth2)),
    ];
    for (section, taken) in sections {
        for name in taken {
            let origin = part
                .origins
                .entries
                .get(&(section.to_string(), name.clone()))
                .copied()
                .unwrap_or(0);
            entries.insert((section.to_string(), name), part_number(origin));
        }
    }
    spec.origins.entries = entries;

    let mut steps = part.doc.steps;
    steps.append(&mut spec.doc.steps);
    spec.doc.steps = steps;
}

/// Puts `part`'s entries first; returns the names taken from `part` (not overridden).
fn merge_map<V>(
    own: &mut indexmap::IndexMap<String, V>,
    part: indexmap::IndexMap<String, V>,
) -> Vec<String> {
    let mut merged = indexmap::IndexMap::new();
    let mut taken = Vec::new();
    for (name, value) in part {
        if !own.contains_key(&name) {
            taken.push(name.clone());
            merged.insert(name, value);
        }
    }
    merged.extend(own.drain(..));
    *own = merged;
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    const AUTH: &str = "vars:\n  host: http://a\noauth2:\n  site:\n    token_url: http://a/t\n    client_id: i\n    client_secret: s\n";

    #[test]
    fn an_included_token_definition_is_used_and_located_in_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let shared = write(dir.path(), "shared/auth.yaml", AUTH);
        let main = write(
            dir.path(),
            "specs/a.yaml",
            "include: [../shared/auth.yaml]\nsteps:\n  - name: s\n    request:\n      url: http://a\n      oauth2: site\n",
        );
        let spec = load_spec(&main).unwrap();
        assert!(spec.doc.oauth2.contains_key("site"));
        let at = [Seg::from("oauth2"), "site".into(), "token_url".into()];
        assert_eq!(spec.file_of(&at), shared.as_path());
        assert_eq!(spec.pos(&at).line, 5);
        let step = [
            Seg::from("steps"),
            Seg::Index(0),
            "request".into(),
            "url".into(),
        ];
        assert_eq!(spec.file_of(&step), main.as_path());
        assert_eq!(spec.pos(&step).line, 5);
    }

    #[test]
    fn included_steps_come_first_and_keep_their_positions() {
        let dir = tempfile::tempdir().unwrap();
        let login = write(
            dir.path(),
            "login.yaml",
            "steps:\n  - name: login\n    request:\n      url: http://a/login\n",
        );
        let main = write(
            dir.path(),
            "main.yaml",
            "include: [login.yaml]\nsteps:\n  - name: after\n    request:\n      url: http://a/x\n",
        );
        let spec = load_spec(&main).unwrap();
        let names: Vec<&str> = spec.doc.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["login", "after"]);
        assert_eq!(
            spec.file_of(&[Seg::from("steps"), Seg::Index(0)]),
            login.as_path()
        );
        let url = [
            Seg::from("steps"),
            Seg::Index(1),
            "request".into(),
            "url".into(),
        ];
        assert_eq!(
            (spec.file_of(&url), spec.pos(&url).line),
            (main.as_path(), 5)
        );
    }

    #[test]
    fn a_cycle_is_reported_with_its_chain() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.yaml", "include: [b.yaml]\nsteps: []\n");
        write(dir.path(), "b.yaml", "include: [a.yaml]\n");
        let err = load_spec(&dir.path().join("a.yaml")).unwrap_err();
        let SpecError::Invalid { problems, .. } = err else {
            panic!("{err:?}")
        };
        let message = &problems[0].message;
        assert!(message.starts_with("include cycle: "), "{message}");
        assert!(
            message.contains("a.yaml → ") && message.contains("b.yaml → "),
            "{message}"
        );
    }

    #[test]
    fn the_including_file_wins_on_a_shared_name() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "auth.yaml", AUTH);
        let main = write(
            dir.path(),
            "main.yaml",
            "include: [auth.yaml]\nvars:\n  host: http://mine\nsteps:\n  - name: s\n    request:\n      url: x\n",
        );
        let spec = load_spec(&main).unwrap();
        assert_eq!(
            spec.doc.vars["host"],
            serde_yaml::Value::String("http://mine".into())
        );
        assert_eq!(
            spec.file_of(&[Seg::from("vars"), "host".into()]),
            main.as_path()
        );
    }
}
