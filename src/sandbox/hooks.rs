//! Test hooks under `/_sandbox/`. These are not part of Umbraco: they let a test look at
//! and disturb the sandbox's token state from outside.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::Shared;

/// `GET /_sandbox/stats`: tokens issued since start and tokens still usable.
pub(super) async fn stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({
        "tokens_issued": shared.tokens.issued(),
        "active_tokens": shared.tokens.active(),
    }))
}

/// `POST /_sandbox/revoke`: every token issued so far becomes unknown to the site.
pub(super) async fn revoke(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "revoked": shared.tokens.revoke_all() }))
}
