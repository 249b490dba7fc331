//! The protected and public Management API resources: `user/current` (behind a bearer
//! token) and `server/status` (open). Bearer challenges follow OpenIddict's validation
//! handler: a bare `Bearer` when no token was sent, `invalid_token` otherwise.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::store::Lookup;

/// The API user behind the sandbox's client; fixed so that captures are repeatable.
const API_USER_ID: &str = "5c6d9a52-3f1e-4b7a-9d0e-8a1b2c3d4e5f";
const API_USER_NAME: &str = "Sandbox API User";
const API_USER_EMAIL: &str = "api-user@sandbox.invalid";

const ALL_SECTIONS: [&str; 7] = [
    "Umb.Section.Content",
    "Umb.Section.Media",
    "Umb.Section.Settings",
    "Umb.Section.Members",
    "Umb.Section.Packages",
    "Umb.Section.Translation",
    "Umb.Section.Users",
];

const FALLBACK_PERMISSIONS: [&str; 8] = [
    "Umb.Document.Read",
    "Umb.Document.Create",
    "Umb.Document.Update",
    "Umb.Document.Delete",
    "Umb.Document.Publish",
    "Umb.Document.Unpublish",
    "Umb.Document.Duplicate",
    "Umb.Document.Move",
];

const INVALID_CHALLENGE: &str = concat!(
    r#"Bearer error="invalid_token", "#,
    r#"error_description="The specified token is invalid.""#
);
const EXPIRED_CHALLENGE: &str = concat!(
    r#"Bearer error="invalid_token", "#,
    r#"error_description="The specified token is no longer valid.""#
);

/// Why a request to a protected resource was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BearerRejection {
    Missing,
    Unknown,
    Expired,
}

impl BearerRejection {
    fn challenge(self) -> &'static str {
        match self {
            BearerRejection::Missing => "Bearer",
            BearerRejection::Unknown => INVALID_CHALLENGE,
            BearerRejection::Expired => EXPIRED_CHALLENGE,
        }
    }
}

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        let challenge = HeaderValue::from_static(self.challenge());
        (StatusCode::UNAUTHORIZED, [(WWW_AUTHENTICATE, challenge)]).into_response()
    }
}

/// `GET .../user/current`: the API user, for a caller holding a live token.
pub(super) async fn current_user(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    match authorize(&shared, &headers) {
        Ok(()) => Json(api_user()).into_response(),
        Err(rejection) => rejection.into_response(),
    }
}

/// `GET .../server/status`: open to anyone, always running.
pub(super) async fn server_status() -> Json<Value> {
    Json(json!({ "serverStatus": "Run" }))
}

fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), BearerRejection> {
    let token = bearer_token(headers).ok_or(BearerRejection::Missing)?;
    match shared.tokens.lookup(token) {
        Lookup::Valid => Ok(()),
        Lookup::Expired => Err(BearerRejection::Expired),
        Lookup::Unknown => Err(BearerRejection::Unknown),
    }
}

/// The token from `Authorization: Bearer <token>`; any other shape counts as no token.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    let well_formed = scheme.eq_ignore_ascii_case("bearer") && !token.is_empty();
    well_formed.then_some(token)
}

fn api_user() -> Value {
    json!({
        "id": API_USER_ID,
        "email": API_USER_EMAIL,
        "userName": API_USER_EMAIL,
        "name": API_USER_NAME,
        "languageIsoCode": "en-US",
        "documentStartNodeIds": [],
        "hasDocumentRootAccess": true,
        "mediaStartNodeIds": [],
        "hasMediaRootAccess": true,
        "avatarUrls": [],
        "languages": [],
        "hasAccessToAllLanguages": true,
        "hasAccessToSensitiveData": false,
        "fallbackPermissions": FALLBACK_PERMISSIONS,
        "permissions": [],
        "allowedSections": ALL_SECTIONS,
        "isAdmin": true,
    })
}
