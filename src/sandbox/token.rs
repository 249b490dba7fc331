//! The OAuth 2.0 token endpoint (client credentials grant only), answering the way
//! OpenIddict does: the same error codes, statuses, challenges and cache headers.
//!
//! Checks run in OpenIddict's order: transport (method, content type), request shape
//! (duplicates, credential sources), grant type, then client authentication.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::Shared;

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
const CLIENT_CREDENTIALS: &str = "client_credentials";

/// Every way a token request can fail, worded as OpenIddict words it.
#[derive(Debug, thiserror::Error)]
pub(super) enum TokenError {
    #[error("The specified HTTP method is not valid.")]
    Method,
    #[error("The specified 'Content-Type' header is invalid.")]
    ContentType,
    #[error("The '{0}' parameter cannot be specified more than once.")]
    DuplicateParameter(String),
    #[error("The specified 'Authorization' header is malformed.")]
    MalformedBasic,
    #[error("Multiple client credentials cannot be specified.")]
    MultipleCredentials,
    #[error("The mandatory 'grant_type' parameter is missing.")]
    MissingGrantType,
    #[error("The specified 'grant_type' is not supported.")]
    UnsupportedGrantType,
    #[error("The mandatory 'client_id' parameter is missing.")]
    MissingClientId,
    #[error("The specified 'client_id' is invalid.")]
    UnknownClient,
    #[error("The 'client_secret' parameter required for this client application is missing.")]
    MissingClientSecret,
    #[error("The specified client credentials are invalid.")]
    WrongClientSecret,
}

impl TokenError {
    fn code(&self) -> &'static str {
        match self {
            TokenError::UnsupportedGrantType => "unsupported_grant_type",
            TokenError::MissingClientId
            | TokenError::UnknownClient
            | TokenError::MissingClientSecret
            | TokenError::WrongClientSecret => "invalid_client",
            _ => "invalid_request",
        }
    }

    /// The OpenIddict error identifier that `error_uri` points at.
    fn openiddict_id(&self) -> &'static str {
        match self {
            TokenError::Method => "ID2084",
            TokenError::ContentType => "ID2082",
            TokenError::DuplicateParameter(_) => "ID2031",
            TokenError::MalformedBasic => "ID2055",
            TokenError::MultipleCredentials => "ID2087",
            TokenError::MissingGrantType | TokenError::MissingClientId => "ID2029",
            TokenError::UnsupportedGrantType => "ID2032",
            TokenError::UnknownClient => "ID2052",
            TokenError::MissingClientSecret => "ID2054",
            TokenError::WrongClientSecret => "ID2055",
        }
    }

    fn status(&self) -> StatusCode {
        match self.code() {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// RFC 6749 5.2: a 401 for a failed client authentication must carry a challenge.
    fn challenge(&self) -> Option<HeaderValue> {
        if self.status() != StatusCode::UNAUTHORIZED {
            return None;
        }
        let value = format!(
            r#"Basic error="{}", error_description="{self}""#,
            self.code()
        );
        HeaderValue::from_str(&value).ok()
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": self.code(),
            "error_description": self.to_string(),
            "error_uri": format!("https://documentation.openiddict.com/errors/{}",
                self.openiddict_id()),
        });
        let mut response = (self.status(), no_store(), Json(body)).into_response();
        if let Some(challenge) = self.challenge() {
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// The form fields of a token request, each present at most once and never empty.
struct TokenForm {
    fields: HashMap<String, String>,
}

impl TokenForm {
    fn parse(body: &[u8]) -> Result<Self, TokenError> {
        let mut fields = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if fields
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(TokenError::DuplicateParameter(name.into_owned()));
            }
        }
        // OpenIddict treats an empty parameter exactly like a missing one.
        fields.retain(|_, value: &mut String| !value.is_empty());
        Ok(TokenForm { fields })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// The client's claimed identity, from the form or from a Basic header.
struct ClientCredentials {
    id: Option<String>,
    secret: Option<String>,
}

/// Handles the token endpoint for any method so that a wrong one gets an OAuth error.
pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match issue(&shared, &method, &headers, &body) {
        Ok(token) => grant(token, shared.tokens.lifetime().as_secs()),
        Err(error) => error.into_response(),
    }
}

fn issue(
    shared: &Shared,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, TokenError> {
    if method != Method::POST {
        return Err(TokenError::Method);
    }
    check_content_type(headers)?;
    let form = TokenForm::parse(body)?;
    let credentials = client_credentials(headers, &form)?;

    match form.get("grant_type") {
        None => return Err(TokenError::MissingGrantType),
        Some(CLIENT_CREDENTIALS) => {}
        Some(_) => return Err(TokenError::UnsupportedGrantType),
    }

    authenticate(shared, credentials)?;
    Ok(shared.tokens.issue())
}

fn grant(token: String, expires_in: u64) -> Response {
    let body = json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
    });
    (no_store(), Json(body)).into_response()
}

/// Token responses, good or bad, must never be cached (RFC 6749 5.1).
fn no_store() -> [(axum::http::HeaderName, HeaderValue); 2] {
    [
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// Only the media type counts; parameters such as `charset` are ignored.
fn check_content_type(headers: &HeaderMap) -> Result<(), TokenError> {
    let value = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let media_type = value
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    match media_type {
        Some(media_type) if media_type.eq_ignore_ascii_case(FORM_CONTENT_TYPE) => Ok(()),
        _ => Err(TokenError::ContentType),
    }
}

/// Reads the credentials from exactly one place: the Basic header or the form.
fn client_credentials(
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<ClientCredentials, TokenError> {
    let from_form = ClientCredentials {
        id: form.get("client_id").map(str::to_owned),
        secret: form.get("client_secret").map(str::to_owned),
    };
    let Some(from_header) = basic_credentials(headers)? else {
        return Ok(from_form);
    };
    if from_form.id.is_some() || from_form.secret.is_some() {
        return Err(TokenError::MultipleCredentials);
    }
    Ok(from_header)
}

/// RFC 6749 2.3.1: base64 of `id:secret`, each part form-urlencoded beforehand.
/// A non-Basic `Authorization` header is not client authentication and is ignored.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<ClientCredentials>, TokenError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| TokenError::MalformedBasic)?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }

    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| TokenError::MalformedBasic)?;
    let decoded = String::from_utf8(decoded).map_err(|_| TokenError::MalformedBasic)?;
    let (id, secret) = decoded.split_once(':').ok_or(TokenError::MalformedBasic)?;
    let id = form_decode(id).ok_or(TokenError::MalformedBasic)?;
    let secret = form_decode(secret).ok_or(TokenError::MalformedBasic)?;

    let present = |part: String| (!part.is_empty()).then_some(part);
    Ok(Some(ClientCredentials {
        id: present(id),
        secret: present(secret),
    }))
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space and `%XX`
/// a byte; a `%` not followed by two hex digits stays as it is, as browsers do.
fn form_decode(component: &str) -> Option<String> {
    let bytes = component.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes.get(index + 1..index + 3).and_then(hex_byte);
        match (bytes[index], escaped) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
                continue;
            }
            (b'+', _) => decoded.push(b' '),
            (other, _) => decoded.push(other),
        }
        index += 1;
    }
    String::from_utf8(decoded).ok()
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    // Checked by hand because `from_str_radix` would also accept a sign, as in `%+1`.
    if !pair.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()
}

fn authenticate(shared: &Shared, credentials: ClientCredentials) -> Result<(), TokenError> {
    let config = &shared.config;
    let id = credentials.id.ok_or(TokenError::MissingClientId)?;
    if id != config.client_id {
        return Err(TokenError::UnknownClient);
    }
    let secret = credentials.secret.ok_or(TokenError::MissingClientSecret)?;
    if secret != config.client_secret {
        return Err(TokenError::WrongClientSecret);
    }
    Ok(())
}
