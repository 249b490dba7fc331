//! Evaluating a step's checks against its response.
//!
//! A check failure is a result, never an error: it records what was expected, what came
//! back (with JSON types) and where in the spec the check is written.

use jsonpath_rust::JsonPath;
use serde_json::Value;

use super::result::CheckResult;
use crate::http::Response;
use crate::spec::predicate::{Op, Predicate};
use crate::spec::{Pos, StatusCheck};

/// The response's body as JSON, parsed at most once per step.
pub enum Body {
    Json(Value),
    NotJson(String),
}

impl Body {
    /// Parses the body; `redactor` masks what an error shows of it.
    pub fn parse(response: &Response, redactor: &crate::secret::Redactor) -> Body {
        if response.body.is_empty() {
            return Body::NotJson(format!("the body is empty ({})", content_type(response)));
        }
        match serde_json::from_slice(&response.body) {
            Ok(value) => Body::Json(value),
            Err(err) => Body::NotJson(format!(
                "the body is not JSON ({}; {err}; starts {})",
                content_type(response),
                crate::http::body_start(&response.body, redactor)
            )),
        }
    }
}

fn content_type(response: &Response) -> String {
    match response.header("content-type") {
        Some(value) => format!("content type {value}"),
        None => "no content type".into(),
    }
}

/// The nodes a JSONPath selects: none, one value, or several as an array.
pub fn select(body: &Body, path: &str) -> Result<Option<Value>, String> {
    let json = match body {
        Body::Json(json) => json,
        Body::NotJson(why) => return Err(why.clone()),
    };
    let found = json
        .query(path)
        .map_err(|err| format!("`{path}` is not a valid JSONPath: {err}"))?;
    Ok(match found.as_slice() {
        [] => None,
        [one] => Some((*one).clone()),
        many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect())),
    })
}

pub fn status(check: &StatusCheck, response: &Response, pos: Pos) -> CheckResult {
    let actual = response.status.as_u16();
    let passed = check.accepts(actual);
    let mut result = CheckResult::new("status", pos, passed, check.to_string(), actual.to_string());
    if !passed {
        result.message = auth_challenge(response).or_else(|| retry_hint(response));
    }
    result
}

/// Without a `status` check, an error status (400 and above) fails the step: a smoke
/// check that passed on a 500 would hide exactly what it is there to find.
pub fn default_status(response: &Response, pos: Pos) -> CheckResult {
    let actual = response.status.as_u16();
    let passed = actual < 400;
    let expected = "below 400 (the default without a `status` check)".to_string();
    let mut result = CheckResult::new("status", pos, passed, expected, actual.to_string());
    if !passed {
        result.message = auth_challenge(response).or_else(|| retry_hint(response));
    }
    result
}

/// A 429 or 503 that says when to come back.
fn retry_hint(response: &Response) -> Option<String> {
    if !matches!(response.status.as_u16(), 429 | 503) {
        return None;
    }
    let after = response.header("retry-after")?;
    let after = match after.trim().parse::<u64>() {
        Ok(seconds) => format!("{seconds} s"),
        Err(_) => after.to_string(),
    };
    Some(format!(
        "the server asks to retry after {after} (Retry-After); a `retry:` block on the step waits and tries again"
    ))
}

/// Umbraco explains a 401 or 403 only in `WWW-Authenticate`, with an empty body.
fn auth_challenge(response: &Response) -> Option<String> {
    if !matches!(response.status.as_u16(), 401 | 403) {
        return None;
    }
    let header = response.header("www-authenticate")?;
    let challenge = crate::auth::parse_challenge(header);
    let error = challenge.param("error");
    let description = challenge.param("error_description");
    Some(match (error, description) {
        (Some(e), Some(d)) => format!("the server says {e}: {d}"),
        (Some(e), None) => format!("the server says {e}"),
        _ => format!("the server asks for {} authentication", challenge.scheme),
    })
}

/// Applies one predicate to `subject` (`None`: nothing there), expecting `expected`.
pub fn predicate(
    what: &str,
    predicate: &Predicate,
    subject: Option<&Value>,
    expected: &Value,
    pos: Pos,
    redactor: &crate::secret::Redactor,
) -> CheckResult {
    let label = format!("{what} {}", predicate.op.name());
    // Masked before they are written as JSON: quoting a secret that holds `"` or `\`
    // would escape it into a form the redactor does not know.
    let shown = |value: &Value| describe(&masked(value, redactor));
    let actual = subject.map_or_else(|| "nothing".to_string(), shown);
    let expected_text = shown(expected);
    let outcome = evaluate(predicate.op, subject, expected);
    let mut result = CheckResult::new(&label, pos, outcome.is_ok(), expected_text, actual);
    result.message = outcome.err().flatten();
    result
}

/// `Ok` when the predicate holds; `Err(Some(why))` when a reason helps more than values.
fn evaluate(op: Op, subject: Option<&Value>, expected: &Value) -> Result<(), Option<String>> {
    if op == Op::Exists {
        let want = expected.as_bool().unwrap_or(true);
        return if subject.is_some() == want {
            Ok(())
        } else {
            Err(None)
        };
    }
    let Some(subject) = subject else {
        return Err(Some("nothing matched".into()));
    };
    let holds = match op {
        Op::Equals => same(subject, expected),
        Op::NotEquals => !same(subject, expected),
        Op::Type => has_type(subject, expected.as_str().unwrap_or_default()),
        Op::Matches => return matches(subject, expected),
        Op::Contains => contains(subject, expected),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => return compare(op, subject, expected),
        Op::Length => return length(subject, expected),
        Op::OneOf => expected
            .as_array()
            .is_some_and(|items| items.iter().any(|item| same(subject, item))),
        Op::Exists => unreachable!("handled above"),
    };
    if holds { Ok(()) } else { Err(None) }
}

/// JSON equality where 1 and 1.0 are the same number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn matches(subject: &Value, expected: &Value) -> Result<(), Option<String>> {
    let Some(text) = subject.as_str() else {
        return Err(Some(format!(
            "`matches` needs a string, got {}",
            type_name(subject)
        )));
    };
    let pattern = expected.as_str().unwrap_or_default();
    let regex = regex::Regex::new(pattern).map_err(|err| Some(format!("invalid regex: {err}")))?;
    if regex.is_match(text) {
        Ok(())
    } else {
        Err(None)
    }
}

fn contains(subject: &Value, expected: &Value) -> bool {
    match (subject, expected) {
        (Value::String(text), Value::String(part)) => text.contains(part.as_str()),
        (Value::Array(items), _) => items.iter().any(|item| same(item, expected)),
        (Value::Object(map), Value::String(key)) => map.contains_key(key),
        _ => false,
    }
}

fn compare(op: Op, subject: &Value, expected: &Value) -> Result<(), Option<String>> {
    let (Some(a), Some(b)) = (subject.as_f64(), expected.as_f64()) else {
        let why = format!(
            "`{}` compares numbers, got {} and {}",
            op.name(),
            type_name(subject),
            type_name(expected)
        );
        return Err(Some(why));
    };
    let holds = match op {
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        _ => a >= b,
    };
    if holds { Ok(()) } else { Err(None) }
}

fn length(subject: &Value, expected: &Value) -> Result<(), Option<String>> {
    let actual = match subject {
        Value::String(text) => text.chars().count(),
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        other => {
            return Err(Some(format!(
                "`length` needs a string, array or object, got {}",
                type_name(other)
            )));
        }
    };
    if expected.as_u64() == Some(actual as u64) {
        Ok(())
    } else {
        Err(Some(format!("length is {actual}")))
    }
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as a user reads it in a failure: compact JSON and its type.
/// `value` with secrets masked in every string inside it.
fn masked(value: &Value, redactor: &crate::secret::Redactor) -> Value {
    match value {
        Value::String(text) => Value::String(redactor.redact(text).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(|v| masked(v, redactor)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (redactor.redact(k).into_owned(), masked(v, redactor)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whole: the step masks secrets in it before cutting it short, see [`mask_and_cut`].
pub fn describe(value: &Value) -> String {
    format!("{value} ({})", type_name(value))
}

/// Masks secrets in a check's texts, then cuts long ones, in that order so that a cut
/// never leaves part of a secret behind. Masking here, before any report escapes the
/// texts again, also covers secrets with quotes or backslashes in them.
pub fn mask_and_cut(check: &mut CheckResult, redactor: &crate::secret::Redactor) {
    const SHOWN: usize = 200;
    let cut = |text: &str| {
        let masked = redactor.redact(text);
        if masked.chars().count() <= SHOWN {
            return masked.into_owned();
        }
        masked.chars().take(SHOWN).collect::<String>() + "…"
    };
    check.expected = cut(&check.expected);
    check.actual = cut(&check.actual);
    check.message = check
        .message
        .as_deref()
        .map(|m| redactor.redact(m).into_owned());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(op: Op, subject: Value, expected: Value) -> bool {
        evaluate(op, Some(&subject), &expected).is_ok()
    }

    #[test]
    fn each_operator_holds_and_fails() {
        assert!(holds(Op::Equals, json!(1), json!(1.0)));
        assert!(!holds(Op::Equals, json!("1"), json!(1)));
        assert!(holds(Op::NotEquals, json!(""), json!("x")));
        assert!(holds(Op::Type, json!(3), json!("integer")));
        assert!(!holds(Op::Type, json!(3.5), json!("integer")));
        assert!(holds(Op::Matches, json!("a@b.c"), json!("^[^@]+@[^@]+$")));
        assert!(!holds(Op::Matches, json!(5), json!(".")));
        assert!(holds(Op::Contains, json!(["a", "b"]), json!("b")));
        assert!(holds(Op::Contains, json!({"k": 1}), json!("k")));
        assert!(holds(Op::Lt, json!(1), json!(2)) && !holds(Op::Lt, json!(2), json!(2)));
        assert!(holds(Op::Le, json!(2), json!(2)));
        assert!(holds(Op::Gt, json!(3), json!(2)) && holds(Op::Ge, json!(2), json!(2)));
        assert!(!holds(Op::Gt, json!("3"), json!(2)));
        assert!(holds(Op::Length, json!("héllo"), json!(5)));
        assert!(holds(Op::OneOf, json!("b"), json!(["a", "b"])));
    }

    #[test]
    fn exists_looks_only_at_presence() {
        assert!(evaluate(Op::Exists, None, &json!(false)).is_ok());
        assert!(evaluate(Op::Exists, None, &json!(true)).is_err());
        assert!(evaluate(Op::Equals, None, &json!(1)).is_err());
    }

    #[test]
    fn values_are_described_with_their_type() {
        assert_eq!(describe(&json!("x")), "\"x\" (string)");
        assert_eq!(describe(&json!(2)), "2 (integer)");
    }
}
