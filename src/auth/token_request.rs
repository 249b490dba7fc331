//! One client-credentials token request and the reading of its answer, with errors that
//! say what the server said and what to do about it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION};
use reqwest::{Method, Url};

use super::Credentials;
use crate::http::{Http, Outgoing, Response, TransportError, describe_request, describe_response};
use crate::secret::{Redactor, Secret};
use crate::spec::SecretStyle;

/// A token request that did not yield a usable token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Transport(TransportError),
    #[error("token request to {url} was refused: {status}{}{}",
        oauth_error(error.as_deref(), description.as_deref()),
        hint.as_ref().map(|h| format!(" (hint: {h})")).unwrap_or_default())]
    Refused {
        url: String,
        status: u16,
        error: Option<String>,
        description: Option<String>,
        hint: Option<String>,
    },
    #[error(
        "token request to {url} was redirected ({status}) to {location}: the token URL is wrong"
    )]
    Redirected {
        url: String,
        status: u16,
        location: String,
    },
    #[error(
        "token endpoint {url} answered {status} but {problem} (content type {content_type}, body starts {start})"
    )]
    NotAToken {
        url: String,
        status: u16,
        problem: String,
        content_type: String,
        start: String,
    },
}

fn oauth_error(error: Option<&str>, description: Option<&str>) -> String {
    match (error, description) {
        (Some(e), Some(d)) => format!(" {e}: {d}"),
        (Some(e), None) => format!(" {e}"),
        (None, Some(d)) => format!(" {d}"),
        (None, None) => String::new(),
    }
}

/// What a successful token response granted.
pub(super) struct Granted {
    pub token: Secret,
    /// The exchange as verbose output shows it.
    pub trace: Vec<String>,
    pub lifetime: Option<Duration>,
    pub status: u16,
}

pub(super) async fn request(
    http: &Http,
    redactor: &Redactor,
    credentials: &Credentials,
) -> Result<Granted, TokenError> {
    let outgoing = build(credentials, redactor);
    let mut trace = describe_request(&outgoing);
    let response = http.send(&outgoing).await?;
    trace.extend(describe_response(&response));
    learn_tokens(redactor, &response);
    let mut granted = read(credentials, response, redactor)?;
    granted.trace = trace;
    Ok(granted)
}

fn build(credentials: &Credentials, redactor: &Redactor) -> Outgoing {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if let Some(scope) = &credentials.scope {
        form.append_pair("scope", scope);
    }
    for (name, value) in &credentials.params {
        form.append_pair(name, value);
    }

    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let content_type = "application/x-www-form-urlencoded";
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    match credentials.style {
        SecretStyle::Form => {
            form.append_pair("client_id", &credentials.client_id);
            form.append_pair("client_secret", credentials.client_secret.expose());
        }
        SecretStyle::Basic => {
            let value = basic_authorization(&credentials.client_id, &credentials.client_secret);
            redactor.add(&value);
            redactor.add(value.trim_start_matches("Basic "));
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(AUTHORIZATION, value);
            }
        }
    }

    Outgoing {
        method: Method::POST,
        url: credentials.token_url.clone(),
        headers,
        body: Some(form.finish().into_bytes()),
        follow_redirects: false,
        timeout: None,
    }
}

/// Any token in the answer is a secret, even when the answer is then rejected as unusable.
fn learn_tokens(redactor: &Redactor, response: &Response) {
    let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(&response.body) else {
        return;
    };
    for field in ["access_token", "refresh_token", "id_token"] {
        match body.get(field) {
            Some(serde_json::Value::String(token)) => redactor.add(token),
            Some(serde_json::Value::Number(token)) => redactor.add(&token.to_string()),
            _ => {}
        }
    }
}

/// RFC 6749 2.3.1: id and secret are form-urlencoded before they are joined and encoded.
fn basic_authorization(client_id: &str, secret: &Secret) -> String {
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(secret.expose()));
    format!("Basic {}", STANDARD.encode(pair))
}

fn read(
    credentials: &Credentials,
    response: Response,
    redactor: &Redactor,
) -> Result<Granted, TokenError> {
    let url = credentials.token_url.to_string();
    let status = response.status.as_u16();
    if response.status.is_redirection() {
        let location = response
            .header(LOCATION.as_str())
            .unwrap_or("(no Location)");
        let location = absolute(&credentials.token_url, location);
        return Err(TokenError::Redirected {
            url,
            status,
            location,
        });
    }
    let body: Option<serde_json::Value> = serde_json::from_slice(&response.body).ok();
    if !response.status.is_success() {
        return Err(refused(url, status, &response, body.as_ref()));
    }
    let not_a_token = |problem: &str| TokenError::NotAToken {
        url: url.clone(),
        status,
        problem: problem.to_string(),
        content_type: response
            .header("content-type")
            .unwrap_or("(none)")
            .to_string(),
        start: crate::http::body_start(&response.body, redactor),
    };
    let Some(body) = body else {
        return Err(not_a_token("the body is not JSON"));
    };
    let Some(token) = body
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
    else {
        return Err(not_a_token("the body has no access_token"));
    };
    let token_type = body
        .get("token_type")
        .and_then(|t| t.as_str())
        .unwrap_or("");
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(not_a_token(&format!(
            "token_type is `{token_type}`, not Bearer"
        )));
    }
    Ok(Granted {
        token: Secret::new(token),
        trace: Vec::new(),
        lifetime: expires_in(&body),
        status,
    })
}

/// `expires_in` as a number, or as a numeric string as some servers send it.
fn expires_in(body: &serde_json::Value) -> Option<Duration> {
    let value = body.get("expires_in")?;
    let seconds = value
        .as_u64()
        .or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        .or_else(|| value.as_str()?.trim().parse().ok())?;
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

fn refused(
    url: String,
    status: u16,
    response: &Response,
    body: Option<&serde_json::Value>,
) -> TokenError {
    let field = |name: &str| {
        body.and_then(|b| b.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let challenge = response
        .header("www-authenticate")
        .map(super::parse_challenge)
        .unwrap_or_default();
    let error = field("error").or_else(|| challenge.param("error").map(str::to_string));
    let description = field("error_description")
        .or_else(|| challenge.param("error_description").map(str::to_string));
    let hint = hint(error.as_deref(), description.as_deref());
    TokenError::Refused {
        url,
        status,
        error,
        description,
        hint,
    }
}

fn hint(error: Option<&str>, description: Option<&str>) -> Option<String> {
    let description = description.unwrap_or_default();
    if description.contains("only accepts HTTPS") {
        return Some("use https:// in the token URL, or change the site's UseHttps setting".into());
    }
    match error {
        Some("invalid_client") => Some(
            "check the client id, which must carry the `umbraco-back-office-` prefix, and the secret"
                .into(),
        ),
        Some("unsupported_grant_type") => {
            Some("the site does not allow client credentials for this client".into())
        }
        Some("invalid_scope") => Some("check the `scope` of the oauth2 definition".into()),
        _ => None,
    }
}

fn absolute(base: &Url, location: &str) -> String {
    base.join(location)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| location.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        let value = basic_authorization("my client", &Secret::new("a:b+c"));
        let decoded = STANDARD
            .decode(value.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "my+client:a%3Ab%2Bc");
    }

    #[test]
    fn expires_in_is_read_as_number_or_string() {
        let read = |v: serde_json::Value| expires_in(&serde_json::json!({ "expires_in": v }));
        assert_eq!(read(serde_json::json!(299)), Some(Duration::from_secs(299)));
        assert_eq!(
            read(serde_json::json!("300")),
            Some(Duration::from_secs(300))
        );
        assert_eq!(read(serde_json::json!(0)), None);
        assert_eq!(expires_in(&serde_json::json!({})), None);
    }
}
