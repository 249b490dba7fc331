//! The stand-in Umbraco Management API that `runner sandbox` and the tests talk to.
//!
//! It imitates an Umbraco 15+ site (OpenIddict underneath) closely enough to catch the
//! runner's OAuth mistakes, and deliberately shares no code with the runner. This file owns
//! the configuration, the server's lifecycle and the routing table; the endpoints live in
//! the sub-modules. It prints nothing and never logs a token or a secret.

mod hooks;
mod store;
mod token;
mod users;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get, post};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use store::TokenStore;

const TOKEN_PATH: &str = "/umbraco/management/api/v1/security/back-office/token";
const CURRENT_USER_PATH: &str = "/umbraco/management/api/v1/user/current";
const SERVER_STATUS_PATH: &str = "/umbraco/management/api/v1/server/status";

/// How long `shutdown` waits for in-flight requests before cutting connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The single API client the sandbox knows, and how long its tokens live.
#[derive(Clone)]
pub struct SandboxConfig {
    pub client_id: String,
    pub client_secret: String,
    pub token_lifetime: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            client_id: "umbraco-back-office-sandbox".to_owned(),
            client_secret: "sandbox-secret".to_owned(),
            token_lifetime: Duration::from_secs(299),
        }
    }
}

// Hand-written so that a stray `{:?}` can never reveal the secret.
impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("token_lifetime", &self.token_lifetime)
            .finish()
    }
}

/// What every handler needs: the client it accepts and the tokens it has issued.
struct Shared {
    config: SandboxConfig,
    tokens: TokenStore,
}

/// A running sandbox server. Dropping it also stops the server, without waiting.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<io::Result<()>>,
}

impl Sandbox {
    /// Binds 127.0.0.1:port (0 = free port) and serves in a tokio task.
    pub async fn start(config: SandboxConfig, port: u16) -> io::Result<Sandbox> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let tokens = TokenStore::new(config.token_lifetime);
        let shared = Arc::new(Shared { config, tokens });

        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(Arc::clone(&shared));
        let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
            // A dropped sender stops the server as surely as an explicit stop.
            let _ = stopped.await;
        });
        let server = tokio::spawn(async move { serving.await });

        Ok(Sandbox {
            addr,
            shared,
            stop,
            server,
        })
    }

    /// The site root, e.g. `http://127.0.0.1:41234`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many access tokens have been issued since start, revoked ones included.
    pub fn tokens_issued(&self) -> u64 {
        self.shared.tokens.issued()
    }

    /// Stops accepting connections and waits (briefly) for in-flight requests to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let mut server = self.server;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
    }

    /// Serves until Ctrl-C (used by `runner sandbox`), then shuts down gracefully.
    ///
    /// Prints nothing itself: the caller announces `base_url` before calling this.
    /// Returns early with the server's error if serving fails on its own.
    pub async fn serve_until_ctrl_c(mut self) -> io::Result<()> {
        let ended = tokio::select! {
            signal = tokio::signal::ctrl_c() => Ended::Signal(signal),
            served = &mut self.server => Ended::Server(served),
        };
        match ended {
            Ended::Signal(signal) => {
                self.shutdown().await;
                signal
            }
            Ended::Server(Ok(served)) => served,
            Ended::Server(Err(join)) => Err(io::Error::other(join)),
        }
    }
}

/// Why `serve_until_ctrl_c` stopped waiting.
enum Ended {
    Signal(io::Result<()>),
    Server(Result<io::Result<()>, tokio::task::JoinError>),
}

/// The routing table. Anything not listed answers 404 with an empty body.
fn router(shared: Arc<Shared>) -> Router {
    let trailing_token_path = format!("{TOKEN_PATH}/");
    Router::new()
        .route(TOKEN_PATH, any(token::handle))
        .route(&trailing_token_path, any(token::handle))
        .route(CURRENT_USER_PATH, get(users::current_user))
        .route(SERVER_STATUS_PATH, get(users::server_status))
        .route("/_sandbox/stats", get(hooks::stats))
        .route("/_sandbox/revoke", post(hooks::revoke))
        .with_state(shared)
}
