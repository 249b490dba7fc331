//! The spec format: the types a YAML spec file deserialises into.
//!
//! This layer knows nothing about HTTP or output. Loading and validation live in
//! [`load`]; the positions of values in the source live in [`locate`].

pub mod include;
pub mod load;
pub mod locate;
pub mod predicate;
mod schema;
mod shape;
mod validate;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

pub use include::load_spec;
pub use load::{SpecError, load_file, load_str};
pub use locate::{Pos, Positions};
pub use predicate::{Predicates, TypeName};
pub use schema::{DurationText, spec_schema};

/// A loaded spec: the parsed document plus where it came from. With `include`, the
/// document is merged from several files and [`Origins`] says which part came from where.
#[derive(Debug)]
pub struct Spec {
    pub path: PathBuf,
    pub source: String,
    pub doc: SpecDoc,
    pub positions: Positions,
    /// The files pulled in by `include`, directly or not.
    pub included: Vec<Arc<Source>>,
    pub origins: Origins,
    /// Rules broken in an otherwise readable spec, found while loading; reported together
    /// with template problems, so that one run shows them all.
    pub problems: Vec<load::Problem>,
}

/// One included file's text and positions.
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    pub positions: Positions,
}

/// Where merged parts of a spec were written. Part 0 is the spec's own file; part `k` is
/// `included[k - 1]`. Parts not listed come from the spec's own file.
#[derive(Debug, Default, Clone)]
pub struct Origins {
    /// For each merged step: its part and its index in that file's `steps`.
    pub steps: Vec<(usize, usize)>,
    /// For `oauth2`, `vars` and `secrets` entries: section and name to part.
    pub entries: HashMap<(String, String), usize>,
}

impl Spec {
    pub fn new(path: PathBuf, source: String, doc: SpecDoc, positions: Positions) -> Spec {
        let steps = (0..doc.steps.len()).map(|i| (0, i)).collect();
        Spec {
            path,
            source,
            doc,
            positions,
            included: Vec::new(),
            origins: Origins {
                steps,
                entries: HashMap::new(),
            },
            problems: Vec::new(),
        }
    }

    /// The position of a value, by its path from the merged document's root.
    pub fn pos(&self, path: &[Seg]) -> Pos {
        let (part, local) = self.locate(path);
        self.positions_of(part).find(&local)
    }

    /// The position of the key that introduces the value at `path`.
    pub fn key_pos(&self, path: &[Seg]) -> Pos {
        let (part, local) = self.locate(path);
        self.positions_of(part).key(&local)
    }

    /// The file in which the value at `path` is written.
    pub fn file_of(&self, path: &[Seg]) -> &Path {
        match self.locate(path).0 {
            0 => &self.path,
            part => &self.included[part - 1].path,
        }
    }

    /// The included file holding `path`, or `None` for the spec's own file.
    pub fn source_of(&self, path: &[Seg]) -> Option<Arc<Source>> {
        match self.locate(path).0 {
            0 => None,
            part => Some(self.included[part - 1].clone()),
        }
    }

    fn positions_of(&self, part: usize) -> &Positions {
        match part {
            0 => &self.positions,
            part => &self.included[part - 1].positions,
        }
    }

    /// The part that holds `path`, and the path within that part's file.
    fn locate(&self, path: &[Seg]) -> (usize, Vec<Seg>) {
        match path {
            [Seg::Key(section), Seg::Index(index), rest @ ..] if section == "steps" => {
                match self.origins.steps.get(*index) {
                    Some(&(part, local)) => {
                        let mut local_path = vec![Seg::from("steps"), Seg::Index(local)];
                        local_path.extend_from_slice(rest);
                        (part, local_path)
                    }
                    None => (0, path.to_vec()),
                }
            }
            [Seg::Key(section), Seg::Key(name), ..] => {
                let key = (section.clone(), name.clone());
                (
                    self.origins.entries.get(&key).copied().unwrap_or(0),
                    path.to_vec(),
                )
            }
            _ => (0, path.to_vec()),
        }
    }
}

/// One segment of a path into the YAML document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Self {
        Seg::Key(key.to_string())
    }
}

impl From<usize> for Seg {
    fn from(index: usize) -> Self {
        Seg::Index(index)
    }
}

/// The top level of a spec file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecDoc {
    pub name: Option<String>,
    /// Files whose vars, secrets, oauth2 definitions and steps come before this file's own,
    /// relative to this file.
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub vars: IndexMap<String, serde_yaml::Value>,
    /// Variables whose values are masked wherever they would be shown.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub secrets: IndexMap<String, serde_yaml::Value>,
    /// Named OAuth2 client-credentials definitions that steps refer to.
    #[serde(default)]
    pub oauth2: IndexMap<String, ClientCredentials>,
    /// Required in a spec that is run; a file that is only included may leave it out.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// How a client obtains a token with the client credentials grant (RFC 6749 4.4).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scope: Option<String>,
    /// Extra form parameters such as `audience` or `resource`.
    #[serde(default)]
    pub params: IndexMap<String, String>,
    #[serde(default)]
    pub send_secret: SecretStyle,
}

/// Where the client secret travels in a token request.
#[derive(Debug, Deserialize, JsonSchema, Default, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SecretStyle {
    /// HTTP Basic with id and secret form-urlencoded first (RFC 6749 2.3.1).
    #[default]
    Basic,
    /// `client_id` and `client_secret` as form fields.
    Form,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    /// Wait this long before sending, e.g. `500ms` or `2s`.
    #[serde(default, deserialize_with = "load::duration_opt")]
    #[schemars(with = "Option<DurationText>")]
    pub delay: Option<Duration>,
    pub request: Request,
    #[serde(default)]
    pub capture: IndexMap<String, Capture>,
    #[serde(default)]
    pub check: Checks,
    /// Send again on transient failures, or poll until a condition holds.
    pub retry: Option<Retry>,
}

/// When and how often a step is sent again. Each attempt after the first waits `delay`,
/// multiplied by `backoff` each time, at most `max_delay`; a `Retry-After` from the
/// server is honoured up to `max_delay` too.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Attempts in all, the first included.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    #[serde(default, deserialize_with = "load::duration_opt")]
    #[schemars(with = "Option<DurationText>")]
    pub delay: Option<Duration>,
    #[serde(default = "default_backoff")]
    pub backoff: f64,
    #[serde(default, deserialize_with = "load::duration_opt")]
    #[schemars(with = "Option<DurationText>")]
    pub max_delay: Option<Duration>,
    /// Statuses that are retried.
    #[serde(default = "default_retry_statuses")]
    pub statuses: Vec<u16>,
    /// Whether a request that got no whole response is retried.
    #[serde(default = "default_true")]
    pub transport: bool,
    /// Poll: send again until these checks pass.
    pub until: Option<Checks>,
}

impl Retry {
    pub const DEFAULT_DELAY: Duration = Duration::from_secs(1);
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);

    /// The wait before attempt `attempt` (2 for the first retry).
    pub fn delay_before(&self, attempt: u32) -> Duration {
        let first = self.delay.unwrap_or(Self::DEFAULT_DELAY).as_secs_f64();
        let factor = self.backoff.max(1.0).powi(attempt.saturating_sub(2) as i32);
        // `min` keeps an overflowing product finite before it becomes a Duration.
        Duration::from_secs_f64((first * factor).min(self.max_delay().as_secs_f64()))
    }

    pub fn max_delay(&self) -> Duration {
        self.max_delay.unwrap_or(Self::DEFAULT_MAX_DELAY)
    }
}

fn default_attempts() -> u32 {
    3
}

fn default_backoff() -> f64 {
    1.0
}

fn default_retry_statuses() -> Vec<u16> {
    vec![429, 502, 503, 504]
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub query: IndexMap<String, String>,
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// A JSON body; strings inside are templated.
    #[schemars(with = "Option<serde_json::Value>")]
    pub json: Option<serde_yaml::Value>,
    /// A form-urlencoded body.
    pub form: Option<IndexMap<String, String>>,
    /// A raw text body, sent as is after templating.
    pub text: Option<String>,
    /// `Authorization: Bearer <value>`.
    pub bearer: Option<String>,
    pub basic: Option<BasicAuth>,
    /// Use the token of the named `oauth2` definition.
    pub oauth2: Option<String>,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    #[serde(default, deserialize_with = "load::duration_opt")]
    #[schemars(with = "Option<DurationText>")]
    pub timeout: Option<Duration>,
}

fn default_method() -> String {
    "GET".to_string()
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

/// Where a captured value comes from. Exactly one source is set.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    pub json: Option<String>,
    pub header: Option<String>,
    #[serde(default)]
    pub status: bool,
    /// A regex over the body; the first group if there is one, else the whole match.
    pub regex: Option<String>,
    #[serde(default)]
    pub secret: bool,
}

/// What a response must satisfy.
#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    pub status: Option<StatusCheck>,
    #[serde(default)]
    pub headers: IndexMap<String, Predicates>,
    #[serde(default)]
    pub json: IndexMap<String, Predicates>,
    pub body: Option<Predicates>,
}

/// The status a response must have: `200`, `[200, 204]` or a class such as `2xx`.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusCheck {
    Exact(u16),
    AnyOf(Vec<u16>),
    Class(u16),
}

impl StatusCheck {
    pub fn accepts(&self, status: u16) -> bool {
        match self {
            StatusCheck::Exact(code) => *code == status,
            StatusCheck::AnyOf(codes) => codes.contains(&status),
            StatusCheck::Class(class) => status / 100 == *class,
        }
    }
}

impl fmt::Display for StatusCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusCheck::Exact(code) => write!(f, "{code}"),
            StatusCheck::AnyOf(codes) => {
                let list: Vec<String> = codes.iter().map(u16::to_string).collect();
                write!(f, "one of [{}]", list.join(", "))
            }
            StatusCheck::Class(class) => write!(f, "{class}xx"),
        }
    }
}
