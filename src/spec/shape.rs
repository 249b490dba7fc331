//! Finding every shape problem in a spec (unknown keys, wrong types, missing fields), not
//! only the first one serde stops at, each with its position and a "did you mean" for
//! near misses.
//!
//! serde_yaml stops at the first error. When the whole document fails, each section and
//! each step is deserialised on its own from its re-serialised text. The path in each
//! error then leads back, through [`Positions`], to the original line.

use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::load::Problem;
use super::{ClientCredentials, Positions, Seg, Step};

/// The top-level keys of a spec, for unknown-key suggestions.
const TOP_LEVEL: &[&str] = &["name", "include", "vars", "secrets", "oauth2", "steps"];

/// Every shape problem in `root`, a document that serde rejected as a whole.
pub(super) fn problems(root: &Value, positions: &Positions) -> Vec<Problem> {
    let Value::Mapping(map) = root else {
        let message = "a spec is a mapping with `steps` (and optionally name, vars, oauth2, ...)";
        return vec![Problem::new(positions.find(&[]), message)];
    };
    let mut out = Vec::new();
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            out.push(Problem::new(
                positions.find(&[]),
                "top-level keys must be strings",
            ));
            continue;
        };
        let at = vec![Seg::from(key)];
        match key {
            "name" => check::<String>(value, &at, positions, &mut out),
            "include" => check::<Vec<String>>(value, &at, positions, &mut out),
            "vars" | "secrets" => {
                check::<indexmap::IndexMap<String, Value>>(value, &at, positions, &mut out)
            }
            "oauth2" => each_entry::<ClientCredentials>(value, &at, positions, &mut out),
            "steps" => each_item::<Step>(value, &at, positions, &mut out),
            unknown => {
                let message = unknown_key(unknown, TOP_LEVEL);
                out.push(Problem::new(positions.key(&at), message));
            }
        }
    }
    out
}

fn each_entry<T: DeserializeOwned>(
    value: &Value,
    at: &[Seg],
    positions: &Positions,
    out: &mut Vec<Problem>,
) {
    let Value::Mapping(map) = value else {
        return check::<indexmap::IndexMap<String, T>>(value, at, positions, out);
    };
    for (key, item) in map {
        let mut path = at.to_vec();
        path.push(Seg::Key(key.as_str().unwrap_or("?").to_string()));
        check::<T>(item, &path, positions, out);
    }
}

fn each_item<T: DeserializeOwned>(
    value: &Value,
    at: &[Seg],
    positions: &Positions,
    out: &mut Vec<Problem>,
) {
    let Value::Sequence(items) = value else {
        return check::<Vec<T>>(value, at, positions, out);
    };
    for (index, item) in items.iter().enumerate() {
        let mut path = at.to_vec();
        path.push(Seg::Index(index));
        check::<T>(item, &path, positions, out);
    }
}

/// Deserialises `value` as `T` on its own and records every error at its place: serde
/// stops at the first, so the offending key is taken out and the rest tried again.
fn check<T: DeserializeOwned>(
    value: &Value,
    at: &[Seg],
    positions: &Positions,
    out: &mut Vec<Problem>,
) {
    const MOST: usize = 20;
    let mut value = value.clone();
    let mut removed: Vec<Vec<Seg>> = Vec::new();
    let mut misspelt_in: Vec<Vec<Seg>> = Vec::new();
    for _ in 0..MOST {
        // From text, so that serde_yaml's error names the path inside `value`.
        let Ok(text) = serde_yaml::to_string(&value) else {
            return;
        };
        let Err(err) = serde_yaml::from_str::<T>(&text) else {
            return;
        };
        let message = super::load::plain_message(&err.to_string());
        let (inner, rest) = split_path(&message, &value);
        let culprit = match unknown_field(rest) {
            Some((field, _)) => [inner.clone(), vec![Seg::Key(field.to_string())]].concat(),
            None => inner.clone(),
        };
        // A field reported missing because an earlier round took it out, or where an
        // unknown key (most likely its misspelling) was taken out, is no news.
        let missing_removed = missing_field(rest).is_some_and(|field| {
            let key = [inner.clone(), vec![Seg::Key(field.to_string())]].concat();
            removed.contains(&key) || misspelt_in.contains(&inner)
        });
        // An error on a mapping we took something out of is our doing, not the spec's.
        let above_removed = unknown_field(rest).is_none()
            && removed
                .iter()
                .any(|r| r.len() > inner.len() && r.starts_with(&inner));
        if missing_removed || above_removed {
            return;
        }
        if unknown_field(rest).is_some() {
            misspelt_in.push(inner.clone());
        }
        out.push(locate_error(&err, &value, at, positions));
        if culprit.is_empty() || !take_out(&mut value, &culprit) {
            return;
        }
        removed.push(culprit);
    }
}

/// `missing field `name`` → `name`.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Removes the mapping entry at `path`; paths into sequences are left alone, since
/// removing an item would shift the positions of the ones after it.
fn take_out(value: &mut Value, path: &[Seg]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = value;
    for seg in parents {
        node = match (seg, node) {
            (Seg::Key(key), Value::Mapping(map)) => match map.get_mut(key.as_str()) {
                Some(child) => child,
                None => return false,
            },
            (Seg::Index(index), Value::Sequence(items)) => match items.get_mut(*index) {
                Some(child) => child,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, node) {
        (Seg::Key(key), Value::Mapping(map)) => map.remove(key.as_str()).is_some(),
        _ => false,
    }
}

fn locate_error(
    err: &serde_yaml::Error,
    value: &Value,
    at: &[Seg],
    positions: &Positions,
) -> Problem {
    let text = super::load::plain_message(&err.to_string());
    let text = text.as_str();
    let (inner, message) = split_path(text, value);
    let mut path = at.to_vec();
    path.extend(inner);

    if let Some((field, expected)) = unknown_field(message) {
        let mut key_path = path.clone();
        key_path.push(Seg::Key(field.to_string()));
        let message = unknown_key(field, &expected);
        return Problem::new(positions.key(&key_path), message);
    }
    let message = with_suggestion(message);
    // A missing field is missing from the mapping that its key introduces.
    let pos = if message.starts_with("missing field") {
        positions.key(&path)
    } else {
        positions.find(&path)
    };
    Problem::new(pos, format!("{}: {message}", describe(&path)))
}

/// Splits `steps[0].request.url: invalid type` into its path and its message. Keys are
/// matched against `root`, the value the error came from, so that a key holding dots or
/// brackets (a JSONPath such as `$.items[0]`) stays one key.
fn split_path<'t>(text: &'t str, root: &Value) -> (Vec<Seg>, &'t str) {
    let Some((head, rest)) = text.split_once(": ") else {
        return (Vec::new(), text);
    };
    let mut path = Vec::new();
    let mut node = root;
    let mut left = head;
    while !left.is_empty() {
        left = left.strip_prefix('.').unwrap_or(left);
        let step = match node {
            Value::Sequence(items) => index_step(left, items),
            Value::Mapping(map) => key_step(left, map),
            _ => None,
        };
        let Some((seg, child, remaining)) = step else {
            return (Vec::new(), text);
        };
        path.push(seg);
        node = child;
        left = remaining;
    }
    (path, rest)
}

fn index_step<'v, 't>(text: &'t str, items: &'v [Value]) -> Option<(Seg, &'v Value, &'t str)> {
    let inner = text.strip_prefix('[')?;
    let (number, remaining) = inner.split_once(']')?;
    let index: usize = number.parse().ok()?;
    Some((Seg::Index(index), items.get(index)?, remaining))
}

/// The longest key of `map` that `text` starts with, followed by a separator or the end.
fn key_step<'v, 't>(
    text: &'t str,
    map: &'v serde_yaml::Mapping,
) -> Option<(Seg, &'v Value, &'t str)> {
    map.iter()
        .filter_map(|(key, child)| {
            let key = key.as_str()?;
            let remaining = text.strip_prefix(key)?;
            let ends = remaining.is_empty() || remaining.starts_with(['.', '[']);
            ends.then_some((key, child, remaining))
        })
        .max_by_key(|(key, ..)| key.len())
        .map(|(key, child, remaining)| (Seg::Key(key.to_string()), child, remaining))
}

/// `unknown field `ulr`, expected one of `url`, ...` → the field and the expected names.
fn unknown_field(message: &str) -> Option<(&str, Vec<&str>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    Some((field, backticked(rest)))
}

fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// A message for an unknown key, with the closest known one when it is close enough.
pub fn unknown_key(key: &str, known: &[&str]) -> String {
    match closest(key, known) {
        Some(best) => format!("unknown key `{key}`: did you mean `{best}`?"),
        None => format!(
            "unknown key `{key}` (expected one of: {})",
            known.join(", ")
        ),
    }
}

/// For unknown enum variants: `unknown variant `bsic`, expected ...`.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown variant `") else {
        return message.to_string();
    };
    let Some((variant, tail)) = rest.split_once('`') else {
        return message.to_string();
    };
    match closest(variant, &backticked(tail)) {
        Some(best) => format!("{message}: did you mean `{best}`?"),
        None => message.to_string(),
    }
}

pub(super) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(distance, c)| *distance <= 2.max(c.len() / 4) && *distance < c.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// `steps[0].request.url` for a path, as a reader would write it.
fn describe(path: &[Seg]) -> String {
    let mut text = String::new();
    for seg in path {
        match seg {
            Seg::Key(key) if text.is_empty() => text.push_str(key),
            Seg::Key(key) => {
                text.push('.');
                text.push_str(key);
            }
            Seg::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(source: &str) -> Vec<Problem> {
        let root: Value = serde_yaml::from_str(source).unwrap();
        problems(&root, &Positions::index(source))
    }

    #[test]
    fn every_broken_step_is_reported() {
        let source = "steps:\n  - name: a\n    request:\n      ulr: x\n  - name: b\n    request:\n      url: [1]\n";
        let problems = found(source);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].pos.line, 4);
        assert_eq!(
            problems[0].message,
            "unknown key `ulr`: did you mean `url`?"
        );
        assert_eq!(problems[1].pos.line, 7);
        assert!(
            problems[1]
                .message
                .starts_with("steps[1].request.url: invalid type"),
            "{problems:?}"
        );
    }

    #[test]
    fn every_problem_in_one_step_is_reported() {
        let source = "steps:\n  - name: a\n    request:\n      ulr: x\n      methd: GET\n      url: x\n    check:\n      status: 700\n";
        let problems = found(source);
        let lines: Vec<usize> = problems.iter().map(|p| p.pos.line).collect();
        assert_eq!(lines, [4, 5, 8], "{problems:?}");
    }

    #[test]
    fn unknown_top_level_keys_get_suggestions() {
        let problems = found("stpes: []\n");
        assert_eq!(
            problems[0].message,
            "unknown key `stpes`: did you mean `steps`?"
        );
        let problems = found("whatever: 1\nsteps: []\n");
        assert!(
            problems[0].message.contains("expected one of"),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_variants_get_suggestions() {
        let source = "oauth2:\n  a:\n    token_url: x\n    client_id: i\n    client_secret: s\n    send_secret: bsic\n";
        let problems = found(source);
        assert_eq!(problems[0].pos.line, 6, "{problems:?}");
        assert!(
            problems[0].message.ends_with("did you mean `basic`?"),
            "{problems:?}"
        );
    }
}
