//! One step of a flow: render the request, attach its authorization, send it (again,
//! once, with a fresh token if the server rejects the cached one), capture, check.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Url};
use serde_json::Value;

use super::Runner;
use super::check::{self, Body};
use super::result::{StepError, StepResult, TokenEvent};
use super::verify::Block;
use crate::auth::{Credentials, TokenError, says_invalid_token};
use crate::exit::Exit;
use crate::http::{Outgoing, Response, describe_request, describe_response, header_map};
use crate::secret::Secret;
use crate::spec::{ClientCredentials, Pos, Request, Retry, Seg, Spec, Step};
use crate::template::Scope;

/// A spec being run: its variables so far and its flow id for the token store.
pub(super) struct Flow<'a> {
    pub runner: &'a Runner,
    pub spec: &'a Spec,
    pub scope: Scope,
    pub id: u64,
    /// `oauth2` definitions rendered once per flow: they read only vars and the
    /// environment, which do not change between steps.
    pub credentials: std::collections::HashMap<String, Credentials>,
}

/// The token a request carries, so that a rejection can replace it.
struct Bearer {
    definition: String,
    credentials: Credentials,
    token: Secret,
}

impl Flow<'_> {
    pub(super) fn pos(&self, index: usize, rest: &[&str]) -> Pos {
        let mut path = vec![Seg::from("steps"), Seg::Index(index)];
        path.extend(rest.iter().map(|s| Seg::from(*s)));
        self.spec.pos(&path)
    }

    pub async fn run(&mut self, index: usize, step: &Step) -> StepResult {
        let mut result = StepResult::new(&step.name, self.pos(index, &[]));
        result.file = self
            .spec
            .file_of(&[Seg::from("steps"), Seg::Index(index)])
            .to_path_buf();
        let started = Instant::now();
        if let Some(delay) = step.delay
            && !self.runner.stop.sleep(delay).await
        {
            let mut stopped = super::interrupted(step, result.pos);
            stopped.file = result.file;
            return stopped;
        }
        if let Err(error) = self.exchange(index, step, &mut result).await {
            result.error = Some(error);
        }
        result.elapsed = started.elapsed();
        result
    }

    async fn exchange(
        &mut self,
        index: usize,
        step: &Step,
        result: &mut StepResult,
    ) -> Result<(), StepError> {
        let invalid = |pos: Pos| {
            move |message: String| StepError {
                exit: Exit::Invalid,
                message,
                pos,
            }
        };
        let mut outgoing = self
            .render_request(&step.request)
            .map_err(invalid(self.pos(index, &["request"])))?;
        result.method = outgoing.method.to_string();
        result.url = outgoing.url.to_string();

        let response = self.attempts(index, step, &mut outgoing, result).await?;
        result.status = Some(response.status.as_u16());
        let body = Body::parse(&response, &self.runner.redactor);
        if let Body::Json(json) = &body {
            self.learn_credentials(json);
        }
        self.capture(index, step, &response, &body, result);
        let block = Block {
            index,
            keys: &["check"],
        };
        self.check(block, &step.check, &response, &body, &mut result.checks);
        if step.check.status.is_none() {
            let pos = self.pos(index, &[]);
            result.checks.push(check::default_status(&response, pos));
        }
        // A poll that ran out of attempts fails on the condition it was waiting for.
        if let Some(until) = step.retry.as_ref().and_then(|r| r.until.as_ref()) {
            let block = Block {
                index,
                keys: &["retry", "until"],
            };
            let mut checks = Vec::new();
            self.check(block, until, &response, &body, &mut checks);
            for check in &mut checks {
                check.what = format!("retry until: {}", check.what);
            }
            result.checks.extend(checks);
        }
        for check in &mut result.checks {
            check::mask_and_cut(check, &self.runner.redactor);
        }
        Ok(())
    }

    /// Sends the request as often as the step's `retry` asks, and returns the last outcome.
    async fn attempts(
        &mut self,
        index: usize,
        step: &Step,
        outgoing: &mut Outgoing,
        result: &mut StepResult,
    ) -> Result<Response, StepError> {
        let mut attempt = 1;
        loop {
            let outcome = self.authorized(index, step, outgoing, result).await;
            let Some(policy) = &step.retry else {
                return outcome;
            };
            let Some(asked) = self.wants_retry(index, policy, &outcome) else {
                return outcome;
            };
            if attempt >= policy.attempts {
                let note = format!("giving up after {attempt} attempts");
                result.trace.push(note);
                return outcome;
            }
            attempt += 1;
            let wait = retry_wait(policy, attempt, asked);
            let note = format!(
                "attempt {attempt} of {} in {} ms",
                policy.attempts,
                wait.as_millis()
            );
            result.trace.push(note);
            if !self.runner.stop.sleep(wait).await {
                return Err(StepError {
                    exit: Exit::Interrupted,
                    message: format!("interrupted while waiting for attempt {attempt}"),
                    pos: self.pos(index, &["retry"]),
                });
            }
        }
    }

    /// `None` when the outcome stands; otherwise the server's `Retry-After`, if any.
    fn wants_retry(
        &self,
        index: usize,
        policy: &Retry,
        outcome: &Result<Response, StepError>,
    ) -> Option<Option<Duration>> {
        let response = match outcome {
            Err(error) => {
                return (policy.transport && error.exit == Exit::Transport).then_some(None);
            }
            Ok(response) => response,
        };
        let asked = retry_after(response);
        if policy.statuses.contains(&response.status.as_u16()) {
            return Some(asked);
        }
        let until = policy.until.as_ref()?;
        let mut checks = Vec::new();
        let block = Block {
            index,
            keys: &["retry", "until"],
        };
        self.check(
            block,
            until,
            response,
            &Body::parse(response, &self.runner.redactor),
            &mut checks,
        );
        checks.iter().any(|c| !c.passed).then_some(asked)
    }

    /// Sends once with the step's token, fetching a fresh one and sending again once if the
    /// server rejects it as invalid.
    async fn authorized(
        &mut self,
        index: usize,
        step: &Step,
        outgoing: &mut Outgoing,
        result: &mut StepResult,
    ) -> Result<Response, StepError> {
        let request_pos = self.pos(index, &["request"]);
        let Some(name) = &step.request.oauth2 else {
            return self.send(outgoing, result, request_pos).await;
        };
        let token_pos = self.pos(index, &["request", "oauth2"]);
        let held = self.bearer(name, token_pos, result).await?;
        attach(outgoing, &held.token);
        let response = self.send(outgoing, result, request_pos).await?;
        let challenge = response.header("www-authenticate");
        if !says_invalid_token(response.status.as_u16(), challenge) {
            return Ok(response);
        }

        let note = "the server rejected the token as invalid: fetching a new one and retrying once";
        result.trace.push(note.into());
        let tokens = &self.runner.tokens;
        tokens
            .invalidate(&held.credentials, self.id, &held.token)
            .await;
        let fresh = self.bearer(&held.definition, token_pos, result).await?;
        if let Some(event) = &mut result.token {
            event.refreshed = true;
        }
        attach(outgoing, &fresh.token);
        self.send(outgoing, result, request_pos).await
    }

    async fn send(
        &self,
        outgoing: &Outgoing,
        result: &mut StepResult,
        pos: Pos,
    ) -> Result<Response, StepError> {
        self.learn_headers(&outgoing.headers);
        if self.runner.verbose {
            result.trace.extend(describe_request(outgoing));
        }
        result.requests += 1;
        let response = self
            .runner
            .http
            .send(outgoing)
            .await
            .map_err(|err| StepError {
                exit: err.exit(),
                message: err.to_string(),
                pos,
            })?;
        self.learn_headers(&response.headers);
        if self.runner.verbose {
            result.trace.extend(describe_response(&response));
        }
        Ok(response)
    }

    fn render_request(&self, request: &Request) -> Result<Outgoing, String> {
        let templates = &self.runner.templates;
        let render = |text: &str| {
            templates
                .render_str(text, &self.scope)
                .map_err(|e| e.to_string())
        };

        let method = render(&request.method)?.to_ascii_uppercase();
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("`{method}` is not an HTTP method"))?;
        let url_text = render(&request.url)?;
        self.learn_userinfo(&url_text);
        let mut url =
            Url::parse(&url_text).map_err(|err| format!("invalid URL `{url_text}`: {err}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "invalid URL `{url_text}`: only http and https are supported"
            ));
        }
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &request.query {
                pairs.append_pair(&render(name)?, &render(value)?);
            }
        }

        let mut rendered = Vec::new();
        for (name, value) in &request.headers {
            rendered.push((render(name)?, render(value)?));
        }
        let mut headers = header_map(rendered.iter().map(|(n, v)| (n.as_str(), v.as_str())))?;
        let (body, content_type) = self.render_body(request)?;
        if let Some(content_type) = content_type
            && !headers.contains_key(CONTENT_TYPE)
        {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        self.render_auth(request, &mut headers)?;

        Ok(Outgoing {
            method,
            url,
            headers,
            body,
            follow_redirects: request.follow_redirects,
            timeout: request.timeout,
        })
    }

    fn render_body(
        &self,
        request: &Request,
    ) -> Result<(Option<Vec<u8>>, Option<&'static str>), String> {
        let templates = &self.runner.templates;
        if let Some(json) = &request.json {
            let value = templates
                .render_yaml(json, &self.scope)
                .map_err(|e| e.to_string())?;
            self.learn_credentials(&value);
            let bytes = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
            return Ok((Some(bytes), Some("application/json")));
        }
        if let Some(form) = &request.form {
            let mut serializer = form_urlencoded::Serializer::new(String::new());
            for (name, value) in form {
                let name = templates
                    .render_str(name, &self.scope)
                    .map_err(|e| e.to_string())?;
                let value = templates
                    .render_str(value, &self.scope)
                    .map_err(|e| e.to_string())?;
                if is_credential_field(&name) {
                    self.runner.redactor.add(&value);
                }
                serializer.append_pair(&name, &value);
            }
            let body = serializer.finish().into_bytes();
            return Ok((Some(body), Some("application/x-www-form-urlencoded")));
        }
        if let Some(text) = &request.text {
            let text = templates
                .render_str(text, &self.scope)
                .map_err(|e| e.to_string())?;
            return Ok((Some(text.into_bytes()), Some("text/plain; charset=utf-8")));
        }
        Ok((None, None))
    }

    /// Bearer and Basic shorthands; their values are secrets from here on.
    fn render_auth(
        &self,
        request: &Request,
        headers: &mut reqwest::header::HeaderMap,
    ) -> Result<(), String> {
        let templates = &self.runner.templates;
        let render = |text: &str| {
            templates
                .render_str(text, &self.scope)
                .map_err(|e| e.to_string())
        };
        let value = if let Some(token) = &request.bearer {
            let token = render(token)?;
            self.runner.redactor.add(&token);
            format!("Bearer {token}")
        } else if let Some(basic) = &request.basic {
            use base64::Engine;
            let password = render(&basic.password)?;
            self.runner.redactor.add(&password);
            let pair = format!("{}:{password}", render(&basic.username)?);
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            self.runner.redactor.add(&encoded);
            format!("Basic {encoded}")
        } else {
            return Ok(());
        };
        let value = HeaderValue::from_str(&value)
            .map_err(|_| "the credentials are not valid in an HTTP header".to_string())?;
        headers.insert(AUTHORIZATION, value);
        Ok(())
    }

    async fn bearer(
        &mut self,
        name: &str,
        pos: Pos,
        result: &mut StepResult,
    ) -> Result<Bearer, StepError> {
        let definition = &self.spec.doc.oauth2[name];
        let credentials = self
            .credentials(name, definition)
            .map_err(|message| StepError {
                exit: Exit::Invalid,
                message,
                pos,
            })?;
        let used = self.runner.tokens.token(&credentials, self.id).await;
        let used = used.map_err(|err| {
            result.requests += 1;
            token_failure(name, err, pos)
        })?;
        result.trace.extend(used.notes.iter().cloned());
        if let Some(fetched) = &used.fetched {
            result.requests += 1;
            result
                .trace
                .push(format!("token `{name}`: requested a new token"));
            let event = (fetched.url.to_string(), fetched.status, fetched.elapsed);
            result.token = Some(TokenEvent {
                definition: name.to_string(),
                fetched: Some(event),
                refreshed: false,
            });
        } else if result.token.is_none() {
            result
                .trace
                .push(format!("token `{name}`: reused the cached token"));
            result.token = Some(TokenEvent {
                definition: name.to_string(),
                fetched: None,
                refreshed: false,
            });
        }
        Ok(Bearer {
            definition: name.to_string(),
            credentials,
            token: used.token,
        })
    }

    fn credentials(&mut self, name: &str, def: &ClientCredentials) -> Result<Credentials, String> {
        if let Some(known) = self.credentials.get(name) {
            return Ok(known.clone());
        }
        let rendered = self.render_credentials(name, def)?;
        self.credentials.insert(name.to_string(), rendered.clone());
        Ok(rendered)
    }

    fn render_credentials(
        &self,
        name: &str,
        def: &ClientCredentials,
    ) -> Result<Credentials, String> {
        let templates = &self.runner.templates;
        let render = |field: &str, text: &str| {
            templates
                .render_str(text, &self.scope)
                .map_err(|e| format!("oauth2.{name}.{field}: {e}"))
        };
        let secret = render("client_secret", &def.client_secret)?;
        self.runner.redactor.add(&secret);
        let url_text = render("token_url", &def.token_url)?;
        let token_url = Url::parse(&url_text)
            .map_err(|e| format!("oauth2.{name}.token_url: invalid URL `{url_text}`: {e}"))?;
        let client_id = render("client_id", &def.client_id)?;
        if client_id.is_empty() || secret.is_empty() {
            return Err(format!(
                "oauth2.{name}: the client id and the client secret must not be empty"
            ));
        }
        let scope = def
            .scope
            .as_deref()
            .map(|s| render("scope", s))
            .transpose()?;
        let mut params = Vec::new();
        for (param, value) in &def.params {
            params.push((param.clone(), render(param, value)?));
        }
        Ok(Credentials {
            token_url,
            client_id,
            client_secret: Secret::new(secret),
            scope,
            params,
            style: def.send_secret,
        })
    }
}

/// Field names whose values are credentials wherever they appear in a form or JSON body,
/// so that a token step written by hand is as safe as an `oauth2` definition.
const CREDENTIAL_FIELDS: &[&str] = &[
    "client_secret",
    "password",
    "access_token",
    "refresh_token",
    "id_token",
    "client_assertion",
];

fn is_credential_field(name: &str) -> bool {
    CREDENTIAL_FIELDS
        .iter()
        .any(|f| f.eq_ignore_ascii_case(name))
}

impl Flow<'_> {
    /// Teaches the redactor the credential fields of a JSON object.
    fn learn_userinfo(&self, url_text: &str) {
        learn_url_credentials(&self.runner.redactor, url_text);
    }

    /// Teaches the redactor the credential fields of a JSON value, at any depth.
    fn learn_credentials(&self, json: &Value) {
        match json {
            Value::Object(map) => {
                for (name, value) in map {
                    if is_credential_field(name) {
                        self.runner.learn_secret(value);
                    } else {
                        self.learn_credentials(value);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| self.learn_credentials(item)),
            _ => {}
        }
    }

    /// Credential headers are secret wherever their values show up later: in a check,
    /// a capture or a body the server echoes.
    fn learn_headers(&self, headers: &reqwest::header::HeaderMap) {
        for (name, value) in headers {
            if !crate::secret::is_secret_header(name.as_str()) {
                continue;
            }
            let Ok(value) = value.to_str() else { continue };
            let credentials = value.split_once(' ').map_or(value, |(_, rest)| rest);
            // Set-Cookie carries one cookie, then attributes such as Domain; Cookie carries
            // several cookies.
            let pairs = match name.as_str() {
                "set-cookie" => value.split(';').take(1).collect::<Vec<_>>(),
                _ => value.split(';').collect(),
            };
            let cookies = pairs
                .into_iter()
                .filter_map(|pair| pair.split_once('=').map(|(_, v)| v));
            // Parts this short are flags and attributes, not credentials; masking them
            // would blank out ordinary text.
            for part in [value, credentials].into_iter().chain(cookies) {
                if part.trim().len() >= 4 {
                    self.runner.redactor.add(part.trim());
                }
            }
        }
    }
}

/// The credentials in a URL (`https://user:password@host`) travel as Basic credentials;
/// all their forms are secret. A user name alone can be an API key, so it is too.
pub fn learn_url_credentials(redactor: &crate::secret::Redactor, url_text: &str) {
    use base64::Engine;
    let Ok(url) = Url::parse(url_text) else {
        return;
    };
    let password = url.password().unwrap_or_default();
    if url.username().is_empty() && password.is_empty() {
        return;
    }
    let (user, decoded) = (percent_decode(url.username()), percent_decode(password));
    let pair = format!("{user}:{decoded}");
    for secret in [url.username(), user.as_str(), password, decoded.as_str()] {
        if secret.len() >= 4 {
            redactor.add(secret);
        }
    }
    redactor.add(&base64::engine::general_purpose::STANDARD.encode(pair));
}

fn percent_decode(text: &str) -> String {
    let bytes: Vec<u8> =
        form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())
            .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The wait before `attempt`: the policy's delay, or longer if the server asked, capped.
fn retry_wait(policy: &Retry, attempt: u32, asked: Option<Duration>) -> Duration {
    let planned = policy.delay_before(attempt);
    asked.map_or(planned, |asked| asked.min(policy.max_delay()).max(planned))
}

/// `Retry-After` as seconds or as an HTTP date (RFC 9110 10.2.3).
pub(super) fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.header("retry-after")?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

fn attach(outgoing: &mut Outgoing, token: &Secret) {
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", token.expose())) {
        outgoing.headers.insert(AUTHORIZATION, value);
    }
}

fn token_failure(name: &str, err: TokenError, pos: Pos) -> StepError {
    let exit = match err {
        TokenError::Transport(ref transport) => transport.exit(),
        _ => Exit::CheckFailed,
    };
    StepError {
        exit,
        message: format!("token `{name}`: {err}"),
        pos,
    }
}

#[cfg(test)]
mod tests {
    use super::learn_url_credentials;
    use crate::secret::Redactor;

    #[test]
    fn credentials_in_a_url_are_learned_with_their_basic_form() {
        use base64::Engine;
        let redactor = Redactor::default();
        learn_url_credentials(&redactor, "http://puser:Pr0xy%20Pass@127.0.0.1:1/");
        learn_url_credentials(&redactor, "http://sk_live_4eC39HqLyjWD@127.0.0.1:1/");
        let basic = base64::engine::general_purpose::STANDARD.encode("puser:Pr0xy Pass");
        let text = format!("Pr0xy Pass Pr0xy%20Pass {basic} sk_live_4eC39HqLyjWD");
        assert_eq!(redactor.redact(&text), "*** *** *** ***");
    }
}
