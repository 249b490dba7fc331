//! Predicates a spec applies to a JSONPath result, a header or a body.
//!
//! Written either as a map of operators (`{type: string, matches: '^a'}`) or as a plain
//! value, which means `equals`. Evaluating them is the runner's business, not this file's.

use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;

/// The predicates on one subject, in the order the operators are listed below.
#[derive(Debug, Clone, Default)]
pub struct Predicates(pub Vec<Predicate>);

#[derive(Debug, Clone)]
pub struct Predicate {
    pub op: Op,
    /// The expected value as written; strings in it are templates.
    pub expected: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equals,
    NotEquals,
    Exists,
    Type,
    Matches,
    Contains,
    Lt,
    Le,
    Gt,
    Ge,
    Length,
    OneOf,
}

impl Op {
    /// The operator's name as a spec writes it.
    pub fn name(self) -> &'static str {
        match self {
            Op::Equals => "equals",
            Op::NotEquals => "not_equals",
            Op::Exists => "exists",
            Op::Type => "type",
            Op::Matches => "matches",
            Op::Contains => "contains",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Length => "length",
            Op::OneOf => "one_of",
        }
    }
}

/// The JSON types a `type` predicate can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TypeName {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    Null,
}

impl TypeName {
    pub fn name(self) -> &'static str {
        match self {
            TypeName::String => "string",
            TypeName::Number => "number",
            TypeName::Integer => "integer",
            TypeName::Boolean => "boolean",
            TypeName::Array => "array",
            TypeName::Object => "object",
            TypeName::Null => "null",
        }
    }
}

/// The map form, so that serde reports unknown operators and wrong types itself.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Operators")]
pub(super) struct OperatorMap {
    #[schemars(with = "Option<serde_json::Value>")]
    equals: Option<Value>,
    #[schemars(with = "Option<serde_json::Value>")]
    not_equals: Option<Value>,
    exists: Option<bool>,
    #[serde(rename = "type")]
    type_: Option<TypeName>,
    /// A regex the string must match.
    matches: Option<String>,
    #[schemars(with = "Option<serde_json::Value>")]
    contains: Option<Value>,
    #[schemars(with = "Option<NumberOrTemplate>")]
    lt: Option<Value>,
    #[schemars(with = "Option<NumberOrTemplate>")]
    le: Option<Value>,
    #[schemars(with = "Option<NumberOrTemplate>")]
    gt: Option<Value>,
    #[schemars(with = "Option<NumberOrTemplate>")]
    ge: Option<Value>,
    #[schemars(with = "Option<NumberOrTemplate>")]
    length: Option<Value>,
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    one_of: Option<Vec<Value>>,
}

/// A number, or a template that renders to one.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum NumberOrTemplate {
    Number(f64),
    Template(String),
}

impl OperatorMap {
    fn into_predicates(self) -> Predicates {
        let type_name = self.type_.map(|t| Value::String(t.name().into()));
        let entries = [
            (Op::Equals, self.equals),
            (Op::NotEquals, self.not_equals),
            (Op::Exists, self.exists.map(Value::Bool)),
            (Op::Type, type_name),
            (Op::Matches, self.matches.map(Value::String)),
            (Op::Contains, self.contains),
            (Op::Lt, self.lt),
            (Op::Le, self.le),
            (Op::Gt, self.gt),
            (Op::Ge, self.ge),
            (Op::Length, self.length),
            (Op::OneOf, self.one_of.map(Value::Sequence)),
        ];
        let list = entries
            .into_iter()
            .filter_map(|(op, expected)| expected.map(|expected| Predicate { op, expected }))
            .collect();
        Predicates(list)
    }
}

impl<'de> Deserialize<'de> for Predicates {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PredicatesVisitor)
    }
}

struct PredicatesVisitor;

impl PredicatesVisitor {
    fn equals<E>(value: Value) -> Result<Predicates, E> {
        let predicate = Predicate {
            op: Op::Equals,
            expected: value,
        };
        Ok(Predicates(vec![predicate]))
    }
}

impl<'de> Visitor<'de> for PredicatesVisitor {
    type Value = Predicates;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value to equal, or a map of checks such as {type: string, matches: ...}")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Predicates, A::Error> {
        let operators = OperatorMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let predicates = operators.into_predicates();
        if predicates.0.is_empty() {
            return Err(de::Error::custom(
                "no checks given: add an operator such as equals",
            ));
        }
        Ok(predicates)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Predicates, A::Error> {
        let value = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Self::equals(value)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Predicates, E> {
        Self::equals(Value::String(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Predicates, E> {
        Self::equals(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Predicates, E> {
        Self::equals(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Predicates, E> {
        Self::equals(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Predicates, E> {
        Self::equals(Value::Number(v.into()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Predicates, E> {
        Self::equals(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_value_means_equals() {
        let predicates: Predicates = serde_yaml::from_str("Bearer").unwrap();
        assert_eq!(predicates.0.len(), 1);
        assert_eq!(predicates.0[0].op, Op::Equals);
        assert_eq!(predicates.0[0].expected, Value::String("Bearer".into()));
    }

    #[test]
    fn a_map_lists_its_operators() {
        let predicates: Predicates = serde_yaml::from_str("{type: string, gt: 3}").unwrap();
        let ops: Vec<Op> = predicates.0.iter().map(|p| p.op).collect();
        assert_eq!(ops, vec![Op::Type, Op::Gt]);
    }

    #[test]
    fn an_unknown_operator_is_named() {
        let err = serde_yaml::from_str::<Predicates>("{equal: 3}").unwrap_err();
        assert!(err.to_string().contains("unknown field `equal`"), "{err}");
    }
}
