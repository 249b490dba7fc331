//! Reading a spec file: YAML into [`SpecDoc`], positions indexed, structure validated.
//!
//! Every problem is reported with its position so that it can be shown with the source
//! line and a caret. Template variables are checked later, by `template::lint`, once the
//! command line and environment are known.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::validate;
use super::{Pos, Positions, Source, Spec, SpecDoc, StatusCheck};

/// A spec that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid spec ({} problem{})", path.display(), problems.len(),
        if problems.len() == 1 { "" } else { "s" })]
    Invalid {
        path: PathBuf,
        source_text: String,
        problems: Vec<Problem>,
    },
}

/// One thing wrong in a spec, and where.
#[derive(Debug, Clone)]
pub struct Problem {
    pub pos: Pos,
    pub message: String,
    /// The included file the problem is in; `None` for the spec's own file.
    pub file: Option<Arc<Source>>,
}

impl Problem {
    pub fn new(pos: Pos, message: impl Into<String>) -> Problem {
        Problem {
            pos,
            message: message.into(),
            file: None,
        }
    }

    /// A problem at `path` of a merged spec, in whichever file that part came from.
    pub fn at(spec: &Spec, path: &[super::Seg], message: impl Into<String>) -> Problem {
        Problem {
            pos: spec.pos(path),
            message: message.into(),
            file: spec.source_of(path),
        }
    }
}

pub fn load_file(path: &Path) -> Result<Spec, SpecError> {
    let source = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(path, source)
}

pub fn load_str(path: &Path, source: String) -> Result<Spec, SpecError> {
    // Editors on Windows often start a file with a byte-order mark, which YAML readers
    // take for content.
    let source = match source.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => source,
    };
    let invalid = |source_text: String, problems| SpecError::Invalid {
        path: path.to_path_buf(),
        source_text,
        problems,
    };

    let doc: SpecDoc = match serde_yaml::from_str(&source) {
        Ok(doc) => doc,
        Err(err) => {
            let problems = shape_problems(&source, &err);
            return Err(invalid(source, problems));
        }
    };

    let positions = Positions::index(&source);
    let mut spec = Spec::new(path.to_path_buf(), source, doc, positions);
    spec.problems = validate::structure(&spec);
    Ok(spec)
}

/// Every shape problem when the document did not deserialise, or the syntax error.
fn shape_problems(source: &str, first: &serde_yaml::Error) -> Vec<Problem> {
    let Ok(root) = serde_yaml::from_str::<serde_yaml::Value>(source) else {
        return vec![yaml_problem(source, first)];
    };
    let problems = super::shape::problems(&root, &Positions::index(source));
    if problems.is_empty() {
        vec![yaml_problem(source, first)]
    } else {
        problems
    }
}

/// A serde_yaml error as a positioned problem, without the position repeated in the text.
fn yaml_problem(source: &str, err: &serde_yaml::Error) -> Problem {
    let pos = match err.location() {
        Some(loc) => Pos::from_offset(source, loc.index()),
        None => Pos::from_offset(source, source.len()),
    };
    let mut message = plain_message(&err.to_string());
    let line = source
        .lines()
        .nth(pos.line.saturating_sub(1))
        .unwrap_or_default();
    if message.contains("cannot start any token") && line.contains('\t') {
        message.push_str(" (a tab cannot indent YAML: use spaces)");
    }
    Problem::new(pos, message)
}

/// A serde_yaml message as a reader wants it: without the positions it repeats (the
/// caret shows the place), without Rust type names, with a hint for the usual mistakes.
pub(crate) fn plain_message(text: &str) -> String {
    static POSITION: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let position = POSITION
        .get_or_init(|| regex::Regex::new(r" at line \d+ column \d+").expect("a valid pattern"));
    let mut message = position.replace_all(text, "").into_owned();
    for (rust, plain) in [
        ("struct SpecDoc", "a spec (a mapping with `steps`)"),
        (
            "struct Step",
            "a step (a mapping with `name` and `request`)",
        ),
        ("struct Request", "a request (a mapping with `url`)"),
        ("struct Checks", "a mapping of checks"),
        (
            "struct Capture",
            "a capture (a mapping such as {json: $.id})",
        ),
        (
            "struct ClientCredentials",
            "an oauth2 definition (a mapping with token_url, client_id, client_secret)",
        ),
        (
            "struct BasicAuth",
            "a mapping with `username` and `password`",
        ),
        ("struct Retry", "a retry mapping such as {attempts: 3}"),
        ("struct OperatorMap", "a mapping of checks"),
    ] {
        message = message.replace(rust, plain);
    }
    if message.contains("invalid type: string") && message.contains("expected a") {
        let quoted = message.split('"').nth(1).unwrap_or_default();
        if quoted
            .split_once(':')
            .is_some_and(|(_, after)| !after.starts_with(' '))
        {
            message.push_str(" (a key needs a space after its colon)");
        }
    }
    message
}

/// Parses `500ms`, `2s`, `1m 30s`, or a bare number of milliseconds.
pub(crate) fn duration_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    d.deserialize_any(DurationVisitor).map(Some)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as 500ms or 2s, or a number of milliseconds")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_millis(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_millis)
            .map_err(|_| E::custom("a duration cannot be negative"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        humantime::parse_duration(v).map_err(|_| {
            E::custom(format!(
                "invalid duration `{v}`: use a number with a unit, such as 500ms or 2s"
            ))
        })
    }
}

impl<'de> Deserialize<'de> for StatusCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StatusVisitor)
    }
}

struct StatusVisitor;

fn status_code<E: de::Error>(v: u64) -> Result<u16, E> {
    match u16::try_from(v) {
        Ok(code) if (100..=599).contains(&code) => Ok(code),
        _ => Err(E::custom(format!("{v} is not an HTTP status (100 to 599)"))),
    }
}

impl<'de> Visitor<'de> for StatusVisitor {
    type Value = StatusCheck;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a status such as 200, a list such as [200, 204], or a class such as 2xx")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusCheck, E> {
        status_code(v).map(StatusCheck::Exact)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusCheck, E> {
        status_code(v.max(0) as u64).map(StatusCheck::Exact)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusCheck, E> {
        let class = v.strip_suffix("xx").or_else(|| v.strip_suffix("XX"));
        match class.and_then(|c| c.parse::<u16>().ok()) {
            Some(class) if (1..=5).contains(&class) => Ok(StatusCheck::Class(class)),
            _ => match v.parse::<u64>() {
                Ok(code) => status_code(code).map(StatusCheck::Exact),
                Err(_) => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
            },
        }
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<StatusCheck, A::Error> {
        let mut codes = Vec::new();
        while let Some(code) = seq.next_element::<u64>()? {
            codes.push(status_code(code)?);
        }
        if codes.is_empty() {
            return Err(de::Error::custom("the list of statuses is empty"));
        }
        Ok(StatusCheck::AnyOf(codes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(source: &str) -> Vec<Problem> {
        match load_str(Path::new("t.yaml"), source.to_string()) {
            Err(SpecError::Invalid { problems, .. }) => problems,
            other => panic!("expected invalid spec, got {other:?}"),
        }
    }

    #[test]
    fn a_misspelt_key_is_reported_at_its_line() {
        let found = problems("steps:\n  - name: a\n    request:\n      ulr: http://x\n");
        assert_eq!(found[0].pos.line, 4, "{found:?}");
        assert!(found[0].message.contains("unknown key `ulr`"), "{found:?}");
        assert!(!found[0].message.contains(" at line "), "{found:?}");
    }

    #[test]
    fn status_accepts_code_list_and_class() {
        let parse = |s: &str| serde_yaml::from_str::<StatusCheck>(s).unwrap();
        assert_eq!(parse("200"), StatusCheck::Exact(200));
        assert_eq!(parse("[200, 204]"), StatusCheck::AnyOf(vec![200, 204]));
        assert_eq!(parse("2xx"), StatusCheck::Class(2));
        assert!(serde_yaml::from_str::<StatusCheck>("7xx").is_err());
        assert!(serde_yaml::from_str::<StatusCheck>("99").is_err());
    }
}
