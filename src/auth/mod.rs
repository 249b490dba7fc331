//! OAuth2 client credentials (RFC 6749 section 4.4): one token per set of credentials per
//! run, shared by every step and spec, renewed before it expires, refetched once when the
//! server says it is no longer valid.
//!
//! The store does not print; it hands back what happened so that the runner can report it.

pub mod cache_file;
mod token_request;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Url;
use sha2::{Digest, Sha256};

use crate::http::{Http, TransportError};
use crate::secret::{Redactor, Secret};
use crate::spec::SecretStyle;
use cache_file::CacheFile;
pub use token_request::TokenError;

/// Everything that identifies a token, rendered from a spec's `oauth2` definition.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
    pub scope: Option<String>,
    pub params: Vec<(String, String)>,
    pub style: SecretStyle,
}

impl Credentials {
    /// The cache key. The secret enters only as a hash, so a key can be written to disk.
    pub fn key(&self) -> String {
        let secret_print = Sha256::digest(self.client_secret.expose().as_bytes());
        let mut hash = Sha256::new();
        for part in [
            self.token_url.as_str(),
            &self.client_id,
            self.scope.as_deref().unwrap_or(""),
        ] {
            hash.update(part.len().to_le_bytes());
            hash.update(part.as_bytes());
        }
        // Every part is length-prefixed, so that no two sets of params hash alike.
        for (name, value) in &self.params {
            for part in [name, value] {
                hash.update(part.len().to_le_bytes());
                hash.update(part.as_bytes());
            }
        }
        hash.update(secret_print);
        format!("{:x}", hash.finalize())
    }
}

/// A token in hand.
#[derive(Debug, Clone)]
struct Cached {
    value: Secret,
    /// `None` when the server gave no `expires_in`: valid for one flow only.
    expires_at: Option<Instant>,
    lifetime: Option<Duration>,
}

impl Cached {
    fn fresh(&self, now: Instant) -> bool {
        match (self.expires_at, self.lifetime) {
            (Some(at), Some(lifetime)) => now + renewal_margin(lifetime) < at,
            _ => true,
        }
    }
}

/// How long before expiry a token is renewed. The server allows no clock skew and the
/// token request itself takes time, so a tenth of the lifetime, at most 30 s.
pub fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(30))
}

/// What obtaining a token involved, for the runner to report.
#[derive(Debug, Clone)]
pub struct TokenUse {
    pub token: Secret,
    /// Set when a request was made, not when a cached token was reused.
    pub fetched: Option<Fetched>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: Url,
    pub trace: Vec<String>,
    pub status: u16,
    pub elapsed: Duration,
}

/// The run's token store; one per run, shared by every spec.
pub struct TokenStore {
    http: Http,
    redactor: Redactor,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Cached>>>>>,
    /// Keys whose tokens came without `expires_in`.
    unbounded: Mutex<HashSet<String>>,
    file: Option<CacheFile>,
    requested: AtomicU64,
    reused: AtomicU64,
    /// Problems with the cache file, reported once at the end of the run.
    warnings: Mutex<Vec<String>>,
}

impl TokenStore {
    pub fn new(http: Http, redactor: Redactor) -> TokenStore {
        TokenStore {
            http,
            redactor,
            slots: Mutex::new(HashMap::new()),
            unbounded: Mutex::new(HashSet::new()),
            file: None,
            requested: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// Keeps tokens across runs in `path`. Returns a warning when the file is unusable;
    /// the run then goes on with an empty cache.
    pub fn persist_to(&mut self, path: PathBuf) -> Option<String> {
        let (file, warning) = CacheFile::open(path);
        self.file = Some(file);
        warning
    }

    pub fn requested(&self) -> u64 {
        self.requested.load(Ordering::Relaxed)
    }

    pub fn warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn reused(&self) -> u64 {
        self.reused.load(Ordering::Relaxed)
    }

    /// A valid token for `credentials`; `flow` scopes tokens that carry no lifetime.
    pub async fn token(
        &self,
        credentials: &Credentials,
        flow: u64,
    ) -> Result<TokenUse, TokenError> {
        let key = credentials.key();
        let slot = self.slot(&key, flow);
        // Holding the slot while fetching makes concurrent flows wait for one request.
        let mut guard = slot.lock().await;
        let now = Instant::now();

        if let Some(cached) = guard.as_ref().filter(|c| c.fresh(now)) {
            self.reused.fetch_add(1, Ordering::Relaxed);
            return Ok(self.reuse(cached, Vec::new()));
        }
        if let Some(cached) = self.stored(&key, now) {
            self.reused.fetch_add(1, Ordering::Relaxed);
            let note = "token taken from the token cache file".to_string();
            let used = self.reuse(&cached, vec![note]);
            *guard = Some(cached);
            return Ok(used);
        }

        // A refused or failed request was still a request for a token.
        self.requested.fetch_add(1, Ordering::Relaxed);
        let (cached, fetched) = self.fetch(credentials).await?;
        let mut notes = fetched.trace.clone();
        let token = cached.value.clone();
        match cached.lifetime {
            Some(lifetime) => {
                self.save(&key, &cached, lifetime, &mut notes);
                *guard = Some(cached);
            }
            None => {
                let note =
                    "the token response has no expires_in: the token is used for this flow only";
                notes.push(note.into());
                drop(guard);
                self.unbounded
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key.clone());
                *self.slot(&key, flow).lock().await = Some(cached);
            }
        }
        Ok(TokenUse {
            token,
            fetched: Some(fetched),
            notes,
        })
    }

    /// Forgets `token` if it is still the cached one, so the next call fetches anew.
    pub async fn invalidate(&self, credentials: &Credentials, flow: u64, token: &Secret) {
        let key = credentials.key();
        let slot = self.slot(&key, flow);
        let mut guard = slot.lock().await;
        if guard.as_ref().is_some_and(|c| &c.value == token) {
            *guard = None;
        }
        if let Some(file) = &self.file {
            let _ = file.remove(&key, token);
        }
    }

    /// The slot for `key`: shared by the run, or per flow once the server has shown that
    /// its tokens carry no lifetime.
    fn slot(&self, key: &str, flow: u64) -> Arc<tokio::sync::Mutex<Option<Cached>>> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let unbounded = self
            .unbounded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key);
        let name = if unbounded {
            format!("{key}#{flow}")
        } else {
            key.to_string()
        };
        slots.entry(name).or_default().clone()
    }

    fn reuse(&self, cached: &Cached, notes: Vec<String>) -> TokenUse {
        self.redactor.add(cached.value.expose());
        TokenUse {
            token: cached.value.clone(),
            fetched: None,
            notes,
        }
    }

    fn stored(&self, key: &str, now: Instant) -> Option<Cached> {
        let entry = self.file.as_ref()?.get(key)?;
        let remaining = entry.expires_at.duration_since(SystemTime::now()).ok()?;
        let cached = Cached {
            value: entry.token,
            expires_at: Some(now + remaining),
            lifetime: Some(entry.lifetime),
        };
        cached.fresh(now).then_some(cached)
    }

    fn save(&self, key: &str, cached: &Cached, lifetime: Duration, notes: &mut Vec<String>) {
        let (Some(file), Some(expires_at)) = (&self.file, cached.expires_at) else {
            return;
        };
        let remaining = expires_at.saturating_duration_since(Instant::now());
        let wall_expiry = SystemTime::now() + remaining;
        if let Err(err) = file.put(key, &cached.value, wall_expiry, lifetime) {
            let warning = format!("could not write the token cache file: {err}");
            notes.push(warning.clone());
            let mut warnings = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
    }

    async fn fetch(&self, credentials: &Credentials) -> Result<(Cached, Fetched), TokenError> {
        let sent = Instant::now();
        let granted = token_request::request(&self.http, &self.redactor, credentials).await?;
        self.redactor.add(granted.token.expose());
        let cached = Cached {
            value: granted.token,
            // Counted from when the request left, not when the answer came back.
            expires_at: granted.lifetime.map(|l| sent + l),
            lifetime: granted.lifetime,
        };
        let fetched = Fetched {
            url: credentials.token_url.clone(),
            trace: granted.trace,
            status: granted.status,
            elapsed: sent.elapsed(),
        };
        Ok((cached, fetched))
    }
}

impl From<TransportError> for TokenError {
    fn from(err: TransportError) -> Self {
        TokenError::Transport(err)
    }
}

/// Whether a 401 says the bearer token itself is no longer accepted (RFC 6750 3.1).
pub fn says_invalid_token(status: u16, www_authenticate: Option<&str>) -> bool {
    status == 401
        && www_authenticate.is_some_and(|value| {
            let challenge = parse_challenge(value);
            challenge.scheme.eq_ignore_ascii_case("bearer")
                && challenge.param("error") == Some("invalid_token")
        })
}

/// One `WWW-Authenticate` challenge: the scheme and its parameters.
#[derive(Debug, Default, PartialEq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Parses `Bearer error="invalid_token", error_description="..."`: quoted strings with
/// backslash escapes, or bare tokens.
pub fn parse_challenge(header: &str) -> Challenge {
    let header = header.trim();
    let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let (value, remaining) = take_value(after.trim_start());
        params.push((name.trim().to_string(), value));
        rest = remaining;
    }
    Challenge {
        scheme: scheme.to_string(),
        params,
    }
}

fn take_value(text: &str) -> (String, &str) {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find(',').unwrap_or(text.len());
        return (text[..end].trim().to_string(), &text[end..]);
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.extend(chars.next().map(|(_, c)| c)),
            '"' => return (value, &quoted[i + 1..]),
            c => value.push(c),
        }
    }
    (value, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parameters_are_unquoted() {
        let c = parse_challenge(
            r#"Bearer error="invalid_token", error_description="The specified token is \"invalid\".""#,
        );
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.param("error"), Some("invalid_token"));
        assert_eq!(
            c.param("error_description"),
            Some(r#"The specified token is "invalid"."#)
        );
    }

    #[test]
    fn only_invalid_token_triggers_a_refetch() {
        assert!(says_invalid_token(
            401,
            Some(r#"Bearer error="invalid_token""#)
        ));
        assert!(!says_invalid_token(401, Some("Bearer")));
        assert!(!says_invalid_token(
            403,
            Some(r#"Bearer error="invalid_token""#)
        ));
        assert!(!says_invalid_token(
            401,
            Some(r#"Basic error="invalid_token""#)
        ));
    }

    #[test]
    fn margin_is_a_tenth_capped_at_thirty_seconds() {
        assert_eq!(
            renewal_margin(Duration::from_secs(299)),
            Duration::from_millis(29_900)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(3600)),
            Duration::from_secs(30)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(2)),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn params_that_concatenate_alike_have_different_keys() {
        let with = |params: &[(&str, &str)]| Credentials {
            token_url: Url::parse("https://site/token").unwrap(),
            client_id: "id".into(),
            client_secret: Secret::new("s"),
            scope: None,
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            style: SecretStyle::Basic,
        };
        assert_ne!(
            with(&[("a", "x1=b;y")]).key(),
            with(&[("a", "x"), ("b", "y")]).key()
        );
    }

    #[test]
    fn the_key_changes_with_the_secret_but_does_not_contain_it() {
        let credentials = |secret: &str| Credentials {
            token_url: Url::parse("https://site/token").unwrap(),
            client_id: "id".into(),
            client_secret: Secret::new(secret),
            scope: None,
            params: Vec::new(),
            style: SecretStyle::Basic,
        };
        let a = credentials("hunter2").key();
        assert_ne!(a, credentials("hunter3").key());
        assert!(!a.contains("hunter2"));
    }
}
