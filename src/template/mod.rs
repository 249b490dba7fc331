//! Rendering spec strings with minijinja against a scope of variables.
//!
//! Undefined variables are errors that name the variable, never empty strings. A string
//! that is one `{{ expression }}` and nothing else keeps the JSON type of its value, so a
//! captured number stays a number in a JSON body or a check.

pub mod lint;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value as JinjaValue};
use serde_json::{Map, Value};

/// A template that could not be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("undefined variable `{0}`")]
    Undefined(String),
    #[error("invalid template: {0}")]
    Syntax(String),
    #[error("cannot render template: {0}")]
    Render(String),
}

/// The variables a template can see: vars, secrets, captures, and `env`.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    values: Map<String, Value>,
    /// The values converted for minijinja once, not on every render: the environment
    /// alone can hold hundreds of variables.
    converted: std::sync::OnceLock<JinjaValue>,
}

impl Scope {
    pub fn with_env(env: Map<String, Value>) -> Scope {
        let mut values = Map::new();
        values.insert("env".to_string(), Value::Object(env));
        Scope {
            values,
            converted: std::sync::OnceLock::new(),
        }
    }

    pub fn set(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_string(), value);
        self.converted = std::sync::OnceLock::new();
    }

    fn context(&self) -> &JinjaValue {
        self.converted
            .get_or_init(|| JinjaValue::from_serialize(&self.values))
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// Whether a dotted name such as `env.HOST` or `user.id` resolves.
    pub fn resolves(&self, dotted: &str) -> bool {
        let mut parts = dotted.split('.');
        let Some(first) = parts.next().and_then(|name| self.values.get(name)) else {
            return false;
        };
        parts
            .try_fold(first, |value, part| match value {
                Value::Object(map) => map.get(part),
                Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            })
            .is_some()
    }
}

/// Instructions one render may run: plenty for any real spec, and a stop for a loop
/// that would otherwise never end.
const RENDER_FUEL: u64 = 5_000_000;
const PROBE_FUEL: u64 = 100_000;

/// The largest text a template may produce.
const MAX_RENDERED: usize = 16 * 1024 * 1024;

/// A var that could not be rendered: its section, its name and why.
#[derive(Debug)]
pub struct VarError {
    pub section: &'static str,
    pub name: String,
    pub error: TemplateError,
}

/// Renders a spec's `vars`, then its `secrets`, in order, over `env` and the overrides
/// (which win and are not rendered). `on_secret` sees each secret value, overrides of
/// secrets included.
pub fn spec_scope(
    templates: &Templates,
    spec: &crate::spec::SpecDoc,
    env: &Map<String, Value>,
    overrides: &[(String, String)],
    mut on_secret: impl FnMut(&Value),
) -> Result<Scope, VarError> {
    let mut scope = Scope::with_env(env.clone());
    for (name, value) in overrides {
        scope.set(name, Value::String(value.clone()));
    }
    let sections = [
        ("vars", &spec.vars, false),
        ("secrets", &spec.secrets, true),
    ];
    for (section, vars, secret) in sections {
        for (name, raw) in vars {
            if let Some((_, value)) = overrides.iter().find(|(n, _)| n == name) {
                if secret {
                    on_secret(&Value::String(value.clone()));
                }
                continue;
            }
            let value = templates
                .render_yaml(raw, &scope)
                .map_err(|error| VarError {
                    section,
                    name: name.clone(),
                    error,
                })?;
            if secret {
                on_secret(&value);
            }
            scope.set(name, value);
        }
    }
    Ok(scope)
}

/// The template engine, configured once per run.
pub struct Templates {
    env: Environment<'static>,
    /// Renders with every variable undefined, to find unknown filters, tests and functions
    /// before anything is sent.
    probe: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_fuel(Some(RENDER_FUEL));
        let mut probe = Environment::new();
        probe.set_undefined_behavior(UndefinedBehavior::Chainable);
        probe.set_fuel(Some(PROBE_FUEL));
        Templates { env, probe }
    }

    /// An unknown filter, test or function that rendering `text` would run into. Only the
    /// paths taken with every variable undefined are explored.
    pub fn unknown_callable(&self, text: &str) -> Option<TemplateError> {
        if !has_syntax(text) {
            return None;
        }
        let template = self.probe.template_from_str(text).ok()?;
        let err = template.render(()).err()?;
        match err.kind() {
            ErrorKind::UnknownFilter
            | ErrorKind::UnknownTest
            | ErrorKind::UnknownFunction
            | ErrorKind::UnknownMethod => Some(TemplateError::Render(describe(&err))),
            _ => None,
        }
    }

    /// Renders `text` to a string.
    pub fn render_str(&self, text: &str, scope: &Scope) -> Result<String, TemplateError> {
        if !has_syntax(text) {
            return Ok(text.to_string());
        }
        let template = self
            .env
            .template_from_str(text)
            .map_err(|err| TemplateError::Syntax(describe(&err)))?;
        // Into a writer that refuses to grow past the limit, so that a loop cannot fill
        // memory before the size is checked.
        let mut out = Bounded::default();
        let rendered = template.render_captured_to(scope.context(), &mut out);
        if out.over {
            return within_limit(MAX_RENDERED + 1).map(|_| String::new());
        }
        rendered.map_err(|err| self.render_error(&err, text, scope))?;
        String::from_utf8(out.bytes).map_err(|e| TemplateError::Render(e.to_string()))
    }

    /// Renders `text`, keeping the JSON type when it is a single expression.
    pub fn render_value(&self, text: &str, scope: &Scope) -> Result<Value, TemplateError> {
        let Some(expr) = single_expression(text) else {
            return self.render_str(text, scope).map(Value::String);
        };
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|err| TemplateError::Syntax(describe(&err)))?;
        let value = compiled
            .eval(scope.context())
            .map_err(|err| self.render_error(&err, text, scope))?;
        if value.is_undefined() {
            return Err(self.undefined(text, scope));
        }
        if let Some(text) = value.as_str() {
            within_limit(text.len())?;
        }
        to_json(&value)
    }

    /// Renders every string inside a YAML value, keeping the shape.
    pub fn render_yaml(
        &self,
        value: &serde_yaml::Value,
        scope: &Scope,
    ) -> Result<Value, TemplateError> {
        use serde_yaml::Value as Y;
        Ok(match value {
            Y::String(text) => self.render_value(text, scope)?,
            Y::Sequence(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.render_yaml(item, scope))
                    .collect::<Result<_, _>>()?,
            ),
            Y::Mapping(map) => {
                let mut out = Map::new();
                for (key, item) in map {
                    let key = match key {
                        Y::String(k) => self.render_str(k, scope)?,
                        other => yaml_scalar_text(other),
                    };
                    out.insert(key, self.render_yaml(item, scope)?);
                }
                Value::Object(out)
            }
            Y::Tagged(tagged) => self.render_yaml(&tagged.value, scope)?,
            other => {
                serde_json::to_value(other).map_err(|e| TemplateError::Render(e.to_string()))?
            }
        })
    }

    /// The variables a template reads, dotted (`env.HOST`), or its syntax error.
    pub fn names(&self, text: &str) -> Result<Vec<String>, TemplateError> {
        if !has_syntax(text) {
            return Ok(Vec::new());
        }
        let template = self
            .env
            .template_from_str(text)
            .map_err(|err| TemplateError::Syntax(describe(&err)))?;
        let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
        names.sort();
        Ok(names)
    }

    fn render_error(&self, err: &minijinja::Error, text: &str, scope: &Scope) -> TemplateError {
        match err.kind() {
            ErrorKind::OutOfFuel => TemplateError::Render(
                "the template runs too long (a loop over a huge range?)".into(),
            ),
            ErrorKind::UndefinedError => self.undefined(text, scope),
            ErrorKind::SyntaxError => TemplateError::Syntax(describe(err)),
            _ => TemplateError::Render(describe(err)),
        }
    }

    /// Names the first variable the template reads that the scope does not have.
    fn undefined(&self, text: &str, scope: &Scope) -> TemplateError {
        let names = self.names(text).unwrap_or_default();
        let missing = names.into_iter().find(|name| !scope.resolves(name));
        TemplateError::Undefined(missing.unwrap_or_else(|| "(in an expression)".to_string()))
    }
}

/// A buffer that fails writes past [`MAX_RENDERED`].
#[derive(Default)]
struct Bounded {
    bytes: Vec<u8>,
    over: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_RENDERED {
            self.over = true;
            return Err(std::io::Error::other("the rendered text is too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn within_limit(len: usize) -> Result<(), TemplateError> {
    if len > MAX_RENDERED {
        return Err(TemplateError::Render(format!(
            "the template produces more than the limit of {MAX_RENDERED} bytes"
        )));
    }
    Ok(())
}

fn has_syntax(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The inner expression when `text` is exactly one `{{ ... }}`.
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let single = !inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%");
    single.then_some(inner.trim())
}

fn to_json(value: &JinjaValue) -> Result<Value, TemplateError> {
    serde_json::to_value(value).map_err(|err| TemplateError::Render(err.to_string()))
}

fn yaml_scalar_text(value: &serde_yaml::Value) -> String {
    serde_yaml::to_string(value)
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// minijinja's message without the template name it adds for string templates.
fn describe(err: &minijinja::Error) -> String {
    let detail = err.detail().map(|d| format!(": {d}")).unwrap_or_default();
    format!("{}{detail}", err.kind())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        let mut env = Map::new();
        env.insert("HOST".into(), json!("https://site"));
        let mut scope = Scope::with_env(env);
        scope.set("id", json!(42));
        scope.set("user", json!({"name": "Ann"}));
        scope
    }

    #[test]
    fn a_single_expression_keeps_its_type() {
        let t = Templates::new();
        assert_eq!(t.render_value("{{ id }}", &scope()).unwrap(), json!(42));
        assert_eq!(t.render_value("n{{ id }}", &scope()).unwrap(), json!("n42"));
        assert_eq!(
            t.render_value("{{ user }}", &scope()).unwrap(),
            json!({"name": "Ann"})
        );
    }

    #[test]
    fn an_undefined_variable_is_named() {
        let t = Templates::new();
        let err = t.render_str("{{ host }}/x", &scope()).unwrap_err();
        assert_eq!(err, TemplateError::Undefined("host".into()));
        let err = t.render_value("{{ env.NOPE }}", &scope()).unwrap_err();
        assert_eq!(err, TemplateError::Undefined("env.NOPE".into()));
    }

    #[test]
    fn default_covers_a_missing_environment_variable() {
        let t = Templates::new();
        let text = "{{ env.NOPE | default('https://localhost:44391') }}";
        assert_eq!(
            t.render_str(text, &scope()).unwrap(),
            "https://localhost:44391"
        );
        assert_eq!(
            t.render_str("{{ env.HOST }}/a", &scope()).unwrap(),
            "https://site/a"
        );
    }

    #[test]
    fn yaml_values_render_deeply() {
        let t = Templates::new();
        let yaml: serde_yaml::Value = serde_yaml::from_str("{a: ['{{ id }}', x], b: 1}").unwrap();
        assert_eq!(
            t.render_yaml(&yaml, &scope()).unwrap(),
            json!({"a": [42, "x"], "b": 1})
        );
    }

    #[test]
    fn unknown_filters_are_found_without_values() {
        let t = Templates::new();
        assert!(
            t.unknown_callable("{{ base | no_such_filter }}/x")
                .is_some()
        );
        assert!(t.unknown_callable("{{ base | upper }}/x").is_none());
        assert!(
            t.unknown_callable("{{ env.X | default('a') | urlencode }}")
                .is_none()
        );
    }

    #[test]
    fn runaway_templates_stop() {
        let t = Templates::new();
        let looping =
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
        assert!(t.unknown_callable(looping).is_none());
        assert!(matches!(
            t.render_str(looping, &scope()),
            Err(TemplateError::Render(_))
        ));
        let growing = "{% for i in range(100) %}{{ 'x' * 1000000 }}{% endfor %}";
        let started = std::time::Instant::now();
        assert!(matches!(
            t.render_str(growing, &scope()),
            Err(TemplateError::Render(_))
        ));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let huge = "{{ 'x' * 20000000 }}";
        assert!(matches!(
            t.render_str(huge, &scope()),
            Err(TemplateError::Render(_))
        ));
    }

    #[test]
    fn syntax_errors_are_reported() {
        let t = Templates::new();
        assert!(matches!(t.names("{{ a"), Err(TemplateError::Syntax(_))));
    }
}
