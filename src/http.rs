//! Sending requests: one reqwest client per run, redirects followed by hand so that each
//! request decides, and transport failures sorted into kinds a user can act on.
//!
//! This module knows nothing about specs or output; it takes a prepared request and
//! gives back the whole response or a [`TransportError`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode, Url};

use crate::secret::{Redactor, is_secret_header, shown_header_value};

/// How many redirects one request may follow before it counts as a loop.
const MAX_REDIRECTS: usize = 10;

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub insecure: bool,
    pub cacert: Option<PathBuf>,
    /// The most body bytes read from one response.
    pub max_body: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            insecure: false,
            cacert: None,
            max_body: 16 * 1024 * 1024,
        }
    }
}

/// The client could not be set up; nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read CA certificate {}: {source}", path.display())]
    ReadCa {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no usable PEM certificate: {detail}", path.display())]
    BadCa { path: PathBuf, detail: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// A request that did not yield a usable response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("connection failed to {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("cannot resolve the host of {url}: {detail}")]
    Dns { url: String, detail: String },
    #[error(
        "TLS failed for {url}: {detail} (trust the site's CA with --cacert FILE, or skip verification with --insecure)"
    )]
    Tls { url: String, detail: String },
    #[error("could not connect within {} ms: {url}", after.as_millis())]
    ConnectTimeout { url: String, after: Duration },
    #[error("timed out after {} ms: {url}", after.as_millis())]
    Timeout { url: String, after: Duration },
    #[error("the connection broke before the whole response arrived from {url}: {detail}")]
    Incomplete { url: String, detail: String },
    #[error(
        "more than {MAX_REDIRECTS} redirects (a redirect loop?); the last one pointed to {url}"
    )]
    TooManyRedirects { url: String },
    #[error("the response body from {url} is larger than the limit of {limit} bytes (--max-body)")]
    BodyTooLarge { url: String, limit: usize },
    #[error("request to {url} failed: {detail}")]
    Other { url: String, detail: String },
}

impl TransportError {
    /// A response that arrived but cannot be used is a failed check; one that never
    /// arrived whole is a transport failure.
    pub fn exit(&self) -> crate::exit::Exit {
        match self {
            TransportError::TooManyRedirects { .. } | TransportError::BodyTooLarge { .. } => {
                crate::exit::Exit::CheckFailed
            }
            _ => crate::exit::Exit::Transport,
        }
    }
}

/// A request ready to go: templates rendered, auth applied.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    pub follow_redirects: bool,
    pub timeout: Option<Duration>,
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Where the final response came from, after redirects.
    pub url: Url,
    pub elapsed: Duration,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The run's HTTP client; clones share one connection pool.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    options: HttpOptions,
}

impl Http {
    pub fn new(options: HttpOptions) -> Result<Http, SetupError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .danger_accept_invalid_certs(options.insecure)
            .user_agent(concat!("runner/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &options.cacert {
            for cert in read_certificates(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|err| SetupError::Client(err.to_string()))?;
        Ok(Http { client, options })
    }

    pub fn options(&self) -> &HttpOptions {
        &self.options
    }

    /// Sends `request`, following redirects if it asks to.
    pub async fn send(&self, request: &Outgoing) -> Result<Response, TransportError> {
        let started = Instant::now();
        let timeout = request.timeout.unwrap_or(self.options.timeout);
        let mut current = request.clone();
        for _ in 0..=MAX_REDIRECTS {
            // One deadline for the whole chain of redirects, not one per hop.
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                let url = current.url.to_string();
                return Err(TransportError::Timeout {
                    url,
                    after: timeout,
                });
            }
            let response = self
                .send_once(&current, left)
                .await
                .map_err(|err| with_total_timeout(err, timeout))?;
            let next = match request.follow_redirects {
                true => redirect_target(&current, &response),
                false => None,
            };
            match next {
                Some(next) => current = next,
                None => {
                    return Ok(Response {
                        elapsed: started.elapsed(),
                        ..response
                    });
                }
            }
        }
        Err(TransportError::TooManyRedirects {
            url: current.url.to_string(),
        })
    }

    async fn send_once(
        &self,
        request: &Outgoing,
        timeout: Duration,
    ) -> Result<Response, TransportError> {
        let started = Instant::now();
        let url = request.url.to_string();
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone())
            .timeout(timeout);
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }

        let mut response = builder
            .send()
            .await
            .map_err(|err| classify(&url, (self.options.connect_timeout, timeout), &err))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| classify(&url, (self.options.connect_timeout, timeout), &err))?
        {
            if body.len() + chunk.len() > self.options.max_body {
                let limit = self.options.max_body;
                return Err(TransportError::BodyTooLarge { url, limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
            url: request.url.clone(),
            elapsed: started.elapsed(),
        })
    }
}

/// A hop that ran out of the time left reports the request's whole time limit.
fn with_total_timeout(err: TransportError, timeout: Duration) -> TransportError {
    match err {
        TransportError::Timeout { url, .. } => TransportError::Timeout {
            url,
            after: timeout,
        },
        other => other,
    }
}

/// The request a redirect asks for, if `response` is one we follow.
fn redirect_target(request: &Outgoing, response: &Response) -> Option<Outgoing> {
    let status = response.status.as_u16();
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.header(LOCATION.as_str())?;
    let url = request.url.join(location).ok()?;
    let mut next = request.clone();

    // 307 and 308 repeat the request as it was; the others turn it into a GET.
    if !matches!(status, 307 | 308) && request.method != Method::HEAD {
        next.method = Method::GET;
        next.body = None;
        next.headers.remove(reqwest::header::CONTENT_TYPE);
        next.headers.remove(reqwest::header::CONTENT_LENGTH);
    }
    // Credentials never travel to another origin.
    if url.origin() != request.url.origin() {
        let secret: Vec<HeaderName> = next
            .headers
            .keys()
            .filter(|name| is_secret_header(name.as_str()))
            .cloned()
            .collect();
        for name in secret {
            next.headers.remove(name);
        }
    }
    next.url = url;
    Some(next)
}

fn classify(url: &str, timeouts: (Duration, Duration), err: &reqwest::Error) -> TransportError {
    let (connect_timeout, timeout) = timeouts;
    let url = url.to_string();
    let detail = error_chain(err);
    let lower = detail.to_ascii_lowercase();
    if err.is_connect() && err.is_timeout() {
        return TransportError::ConnectTimeout {
            url,
            after: connect_timeout,
        };
    }
    if err.is_timeout() {
        return TransportError::Timeout {
            url,
            after: timeout,
        };
    }
    if lower.contains("dns error") || lower.contains("failed to lookup address") {
        return TransportError::Dns { url, detail };
    }
    if looks_like_tls(&url, err, &lower) {
        return TransportError::Tls { url, detail };
    }
    if err.is_connect() {
        return TransportError::Connect { url, detail };
    }
    if err.is_body() || err.is_decode() || err.is_request() {
        return TransportError::Incomplete { url, detail };
    }
    TransportError::Other { url, detail }
}

/// rustls names few of its failures after TLS ("received corrupt message"), so an https
/// connection that fails on invalid data counts as a TLS failure too.
fn looks_like_tls(url: &str, err: &reqwest::Error, lower: &str) -> bool {
    let words = [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "alert",
    ];
    if words.iter().any(|w| lower.contains(w)) {
        return true;
    }
    url.starts_with("https:") && err.is_connect() && has_invalid_data(err)
}

fn has_invalid_data(err: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::InvalidData
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The innermost causes say what happened; reqwest's own text only says that it did.
fn error_chain(err: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    causes.dedup();
    match causes.last() {
        Some(last) => last.clone(),
        None => err.to_string(),
    }
}

fn read_certificates(path: &PathBuf) -> Result<Vec<reqwest::Certificate>, SetupError> {
    let pem = std::fs::read(path).map_err(|source| SetupError::ReadCa {
        path: path.clone(),
        source,
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| SetupError::BadCa {
        path: path.clone(),
        detail: err.to_string(),
    })?;
    if certs.is_empty() {
        return Err(SetupError::BadCa {
            path: path.clone(),
            detail: "no certificate found".into(),
        });
    }
    Ok(certs)
}

/// Builds a header map from pairs, failing on the first invalid name or value.
pub fn header_map<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("the value of header `{name}` is not valid in HTTP"))?;
        map.append(header, value);
    }
    Ok(map)
}

/// The first characters of a body for an error message, masked before it is cut so that
/// no part of a secret survives the cut.
pub fn body_start(body: &[u8], redactor: &Redactor) -> String {
    const SHOWN: usize = 80;
    if body.is_empty() {
        return "(empty)".into();
    }
    let head = &body[..body.len().min(64 * 1024)];
    let text = redactor.redact(&canonical_text(head)).into_owned();
    let shown: String = text
        .chars()
        .take(SHOWN)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > SHOWN || head.len() < body.len() {
        format!("`{shown}…`")
    } else {
        format!("`{shown}`")
    }
}

/// A body as text, with JSON written the way serde_json writes it: servers escape strings
/// in many ways (`\/`, `\u00e9`), and secrets are recognised in the usual one.
fn canonical_text(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => json.to_string(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

/// A request as verbose output shows it: credential headers masked. Bodies are kept whole
/// here; the printer masks secrets first and cuts long lines after.
pub fn describe_request(request: &Outgoing) -> Vec<String> {
    let mut lines = vec![format!("> {} {}", request.method, request.url)];
    lines.extend(describe_headers("> ", &request.headers));
    if let Some(body) = &request.body {
        lines.push(format!("> {}", canonical_text(body)));
    }
    lines
}

/// A response as verbose output shows it.
pub fn describe_response(response: &Response) -> Vec<String> {
    let mut lines = vec![format!(
        "< {} ({} ms)",
        response.status,
        response.elapsed.as_millis()
    )];
    lines.extend(describe_headers("< ", &response.headers));
    if !response.body.is_empty() {
        lines.push(format!("< {}", canonical_text(&response.body)));
    }
    lines
}

fn describe_headers(prefix: &str, headers: &HeaderMap) -> Vec<String> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().unwrap_or("(not text)");
            format!(
                "{prefix}{name}: {}",
                shown_header_value(name.as_str(), value)
            )
        })
        .collect()
}
