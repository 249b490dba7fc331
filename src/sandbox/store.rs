//! The sandbox's memory of the access tokens it issued: minting, lookup, expiry and
//! revocation. It knows nothing about HTTP.
//!
//! Expired tokens are kept (so they can be told apart from tokens never issued) until
//! a revoke clears everything; a sandbox lives for one test session, so this stays small.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Random bytes per token; 32 bytes give 43 url-safe characters.
const TOKEN_BYTES: usize = 32;

/// What a presented token turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    Valid,
    Expired,
    Unknown,
}

pub(super) struct TokenStore {
    lifetime: Duration,
    issued: AtomicU64,
    expiries: Mutex<HashMap<String, Instant>>,
}

impl TokenStore {
    pub(super) fn new(lifetime: Duration) -> Self {
        TokenStore {
            lifetime,
            issued: AtomicU64::new(0),
            expiries: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Mints a fresh opaque token valid for exactly the configured lifetime.
    pub(super) fn issue(&self) -> String {
        let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; TOKEN_BYTES]>());
        let expires_at = Instant::now() + self.lifetime;
        self.lock().insert(token.clone(), expires_at);
        self.issued.fetch_add(1, Ordering::Relaxed);
        token
    }

    /// No clock skew: a token is valid strictly before its expiry instant.
    pub(super) fn lookup(&self, token: &str) -> Lookup {
        match self.lock().get(token) {
            None => Lookup::Unknown,
            Some(expires_at) if Instant::now() < *expires_at => Lookup::Valid,
            Some(_) => Lookup::Expired,
        }
    }

    pub(super) fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    pub(super) fn active(&self) -> usize {
        let now = Instant::now();
        self.lock()
            .values()
            .filter(|expires_at| now < **expires_at)
            .count()
    }

    /// Forgets every token issued so far, expired ones included; returns how many.
    pub(super) fn revoke_all(&self) -> usize {
        let mut expiries = self.lock();
        let revoked = expiries.len();
        expiries.clear();
        revoked
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // A panic while holding the lock cannot leave the map half-updated, so a poisoned
        // lock is still safe to use.
        self.expiries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
