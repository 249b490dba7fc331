//! Property tests for the spec loader: random text, random spec-like YAML and mutations of
//! the seed spec must come back as a spec or as positioned problems, never as a panic.
//!
//! Each property runs 64 cases from a fixed seed by default, so that `cargo test` stays
//! quick and repeatable; set `PROPTEST_CASES` and `PROPTEST_RNG_SEED` for a longer or
//! different search.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use runner::report::diag::render_spec_error;
use runner::spec::{Spec, SpecError, load_spec, load_str};
use runner::template::Templates;
use runner::template::lint::{Known, lint};

const SEED: &str = include_str!("../specs/current-user.yaml");

fn config() -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(64),
        rng_seed: std::env::var("PROPTEST_RNG_SEED")
            .ok()
            .and_then(|n| n.parse().ok())
            .map_or(RngSeed::Fixed(0x5eed), RngSeed::Fixed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Loads `source` and checks the outcome: a spec is linted, an error has sane positions
/// and renders.
fn load_and_check(source: &str) -> Result<(), TestCaseError> {
    match load_str(Path::new("prop.yaml"), source.to_string()) {
        Ok(spec) => lint_spec(&spec),
        Err(err) => check_error(&err),
    }
}

fn lint_spec(spec: &Spec) -> Result<(), TestCaseError> {
    let problems = lint(spec, &Templates::new(), &Known::default());
    for problem in &problems {
        prop_assert!(problem.pos.line >= 1, "line 0 in {problem:?}");
    }
    Ok(())
}

fn check_error(err: &SpecError) -> Result<(), TestCaseError> {
    if let SpecError::Invalid {
        source_text,
        problems,
        ..
    } = err
    {
        prop_assert!(!problems.is_empty(), "an invalid spec without problems");
        for problem in problems {
            let text = problem.file.as_ref().map_or(source_text, |f| &f.text);
            prop_assert!(problem.pos.line >= 1, "line 0 in {problem:?}");
            prop_assert!(problem.pos.column >= 1, "column 0 in {problem:?}");
            prop_assert!(
                problem.pos.offset <= text.len(),
                "offset past the end: {problem:?}"
            );
        }
    }
    render_spec_error(err, false);
    Ok(())
}

/// Scalars a spec might hold, including broken templates, paths and regexes.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_string()),
        Just("http://x/{{ id }}".to_string()),
        Just("\"{{ env.HOME | default('a') }}\"".to_string()),
        Just("'{{ a'".to_string()),
        Just("$.a[0]".to_string()),
        Just("$.a[".to_string()),
        Just("'(['".to_string()),
        Just("200".to_string()),
        Just("2xx".to_string()),
        Just("[200, 7]".to_string()),
        Just("-1".to_string()),
        Just("500ms".to_string()),
        Just("true".to_string()),
        Just("~".to_string()),
        Just("{}".to_string()),
        Just("[]".to_string()),
        "[a-z{}$.:\\[\\] ]{0,12}",
    ]
}

/// Keys from every level of a spec, plus near misses.
fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "name",
        "vars",
        "secrets",
        "oauth2",
        "steps",
        "include",
        "request",
        "url",
        "method",
        "headers",
        "query",
        "json",
        "form",
        "text",
        "bearer",
        "basic",
        "capture",
        "check",
        "status",
        "body",
        "delay",
        "timeout",
        "token_url",
        "client_id",
        "client_secret",
        "equals",
        "exists",
        "type",
        "matches",
        "length",
        "one_of",
        "regex",
        "header",
        "$.id",
        "ulr",
        "stpes",
        "- name",
    ])
    .prop_map(str::to_string)
}

/// A YAML document from a small grammar of nested mappings and sequences of spec keys.
fn spec_like() -> impl Strategy<Value = String> {
    let leaf = scalar().prop_map(|s| format!(" {s}\n"));
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec((key(), inner.clone()), 1..6).prop_map(|entries| {
                let body: String = entries.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("\n{}", indent(&body))
            }),
            prop::collection::vec(inner, 1..4).prop_map(|items| {
                let body: String = items.iter().map(|v| format!("-{v}")).collect();
                format!("\n{}", indent(&body))
            }),
        ]
    })
    .prop_map(|doc| dedent_root(&doc))
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}

/// The grammar nests every value under its key; the root is the first nesting undone.
fn dedent_root(doc: &str) -> String {
    doc.lines()
        .map(|line| line.strip_prefix("  ").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .map(|line| format!("{line}\n"))
        .collect()
}

/// A change to one line of the seed: delete, duplicate, swap with the next, or insert
/// something YAML cares about.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize),
    Insert(usize, usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let inserts = prop::sample::select(vec!["\t", ":", ": ", "[", "]", "{", "}", "'", "\"", "-"]);
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        any::<usize>().prop_map(Mutation::Swap),
        (any::<usize>(), any::<usize>(), inserts).prop_map(|(l, c, s)| Mutation::Insert(l, c, s)),
    ]
}

fn mutate(source: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = source.lines().map(str::to_string).collect();
    for mutation in mutations {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match *mutation {
            Mutation::Delete(i) => {
                lines.remove(i % n);
            }
            Mutation::Duplicate(i) => lines.insert(i % n, lines[i % n].clone()),
            Mutation::Swap(i) => lines.swap(i % n, (i + 1) % n),
            Mutation::Insert(i, col, text) => {
                let line = &mut lines[i % n];
                let at = line
                    .char_indices()
                    .map(|(at, _)| at)
                    .nth(col % (line.chars().count() + 1))
                    .unwrap_or(line.len());
                line.insert_str(at, text);
            }
        }
    }
    lines.join("\n") + "\n"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_text_never_panics(source in "\\PC{0,200}") {
        load_and_check(&source)?;
    }

    #[test]
    fn random_yaml_like_text_never_panics(source in "[a-z_$.:{}\\[\\]'\"\\-\t\n |#]{0,200}") {
        load_and_check(&source)?;
    }

    #[test]
    fn spec_like_yaml_never_panics(source in spec_like()) {
        load_and_check(&source)?;
    }

    #[test]
    fn mutated_seed_never_panics(mutations in prop::collection::vec(mutation(), 1..5)) {
        load_and_check(&mutate(SEED, &mutations))?;
    }

    #[test]
    fn loading_from_disk_with_includes_never_panics(
        main in spec_like(),
        shared in spec_like(),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("shared.yaml"), shared).expect("write");
        let main = format!("include: [shared.yaml, main.yaml]\n{main}");
        std::fs::write(dir.path().join("main.yaml"), &main).expect("write");
        match load_spec(&dir.path().join("main.yaml")) {
            Ok(spec) => lint_spec(&spec)?,
            Err(err) => check_error(&err)?,
        }
    }
}

#[test]
fn the_seed_itself_loads() {
    let spec = load_str(Path::new("current-user.yaml"), SEED.to_string()).expect("seed loads");
    assert_eq!(spec.doc.steps.len(), 1);
}

/// Found by `random_yaml_like_text_never_panics`: a tab after a colon is YAML that
/// serde_yaml accepts but the position index does not, and the problem lost its line.
#[test]
fn a_tab_after_a_colon_keeps_the_problem_at_its_line() {
    let source = "name: a\nvars: {}\nflavour:\tvanilla\n".to_string();
    let Err(SpecError::Invalid { problems, .. }) = load_str(Path::new("t.yaml"), source) else {
        panic!("an unknown key must be refused");
    };
    assert_eq!(problems[0].pos.line, 3, "{problems:?}");
}
