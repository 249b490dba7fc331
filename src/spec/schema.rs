//! JSON Schema for the spec format, generated from the spec types by schemars. The types
//! that have hand-written deserialisers get hand-written schemas here, so that editors
//! accept exactly what the loader accepts.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::predicate::OperatorMap;
use super::{Predicates, SpecDoc, StatusCheck};

/// The schema document `runner schema` prints and the repository keeps.
pub fn spec_schema() -> String {
    let mut schema = schemars::schema_for!(SpecDoc);
    schema.insert("title".into(), "runner spec".into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// A duration as specs write it: `500ms`, `2s`, `1m 30s`, or milliseconds.
pub struct DurationText;

impl JsonSchema for DurationText {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration such as 500ms, 2s or 1m 30s, or a number of milliseconds",
            "anyOf": [
                { "type": "string", "pattern": "^\\s*\\d" },
                { "type": "integer", "minimum": 0 }
            ]
        })
    }
}

impl JsonSchema for StatusCheck {
    fn schema_name() -> Cow<'static, str> {
        "StatusCheck".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let code = json_schema!({ "type": "integer", "minimum": 100, "maximum": 599 });
        json_schema!({
            "description": "A status (200), a list of statuses ([200, 204]) or a class (2xx)",
            "anyOf": [
                code,
                { "type": "array", "items": code, "minItems": 1 },
                { "type": "string", "pattern": "^[1-5][xX][xX]$" }
            ]
        })
    }
}

impl JsonSchema for Predicates {
    fn schema_name() -> Cow<'static, str> {
        "Predicates".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let operators = generator.subschema_for::<OperatorMap>();
        json_schema!({
            "description": "A value to equal, or a map of checks such as {type: string, matches: ...}",
            "anyOf": [
                { "type": ["string", "number", "integer", "boolean", "array", "null"] },
                operators
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository's copy is what editors load; it must not drift from the types.
    #[test]
    fn the_kept_schema_matches_the_types() {
        let kept = include_str!("../../schema/runner-spec.schema.json");
        assert_eq!(
            kept,
            spec_schema(),
            "run `runner schema > schema/runner-spec.schema.json`"
        );
    }

    #[test]
    fn the_schema_describes_steps_and_checks() {
        let schema: serde_json::Value = serde_json::from_str(&spec_schema()).unwrap();
        let defs = &schema["$defs"];
        assert!(defs["Step"]["properties"]["request"].is_object());
        assert!(defs["Checks"]["properties"]["json"].is_object());
        assert_eq!(schema["additionalProperties"], false);
    }
}
