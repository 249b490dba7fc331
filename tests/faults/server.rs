//! A loopback server that misbehaves on purpose. Each request gets a scripted reply that
//! may be late, cut short, missing or not HTTP at all, which axum cannot be made to send;
//! the server records when each request came, so tests can measure the waits between them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Runtime;

/// What the server does with one request.
pub enum Reply {
    /// Writes these bytes as they are and closes the connection.
    Raw(Vec<u8>),
    /// Waits, then replies.
    Late(Duration, Box<Reply>),
    /// Closes the connection without answering.
    HangUp,
}

/// A complete HTTP/1.1 response. Every response closes its connection, so each request
/// the runner sends arrives on a connection of its own and a fault never leaks into the
/// next request through the pool.
pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut head = format!("HTTP/1.1 {status} Scripted\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    Reply::Raw(bytes)
}

pub fn json(status: u16, body: serde_json::Value) -> Reply {
    let body = body.to_string();
    response(
        status,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The request target: path and query.
    pub target: String,
    pub at: Instant,
}

/// A running fault server; it lives as long as the runtime it was started on.
pub struct Faulty {
    pub base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Faulty {
    pub fn url(&self, target: &str) -> String {
        format!("{}{target}", self.base)
    }

    /// The requests for `path` (the query ignored), in the order they came.
    pub fn hits(&self, path: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|hit| hit.target.split('?').next() == Some(path))
            .cloned()
            .collect()
    }

    /// The time between consecutive requests for `path`.
    pub fn gaps(&self, path: &str) -> Vec<Duration> {
        let hits = self.hits(path);
        hits.windows(2).map(|w| w[1].at - w[0].at).collect()
    }
}

/// Starts a server whose `script` decides the reply from the request's path (without
/// the query) and how many requests for that path came before it, counting from 1.
pub fn start<F>(runtime: &Runtime, script: F) -> Faulty
where
    F: Fn(&str, usize) -> Reply + Send + Sync + 'static,
{
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let seen = hits.clone();
    let script = Arc::new(script);
    let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (seen, script, counts) = (seen.clone(), script.clone(), counts.clone());
            tokio::spawn(async move {
                let mut stream = stream;
                let Some(target) = read_request(&mut stream).await else {
                    return;
                };
                let path = target.split('?').next().unwrap_or_default().to_string();
                let nth = {
                    let mut counts = counts.lock().unwrap();
                    let count = counts.entry(path.clone()).or_default();
                    *count += 1;
                    *count
                };
                seen.lock().unwrap().push(Hit {
                    target,
                    at: Instant::now(),
                });
                let reply = script(&path, nth);
                send(stream, reply).await;
            });
        }
    });
    Faulty { base, hits }
}

/// Reads one request head and its body, and returns the request target. The body is read
/// too: closing a socket with unread input makes the kernel reset the connection, which
/// would turn every scripted reply into a reset.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(at) = find(&buffer, b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let request_line = head.lines().next()?;
    Some(request_line.split(' ').nth(1)?.to_string())
}

async fn send(mut stream: TcpStream, reply: Reply) {
    let mut reply = reply;
    loop {
        match reply {
            Reply::Late(wait, then) => {
                tokio::time::sleep(wait).await;
                reply = *then;
            }
            Reply::Raw(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
                return;
            }
            Reply::HangUp => {
                let _ = stream.shutdown().await;
                return;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A server that answers a TLS ClientHello with plain text, as a site does when https://
/// is used for a port that speaks HTTP. Returns its `https://` base URL.
pub fn plain_text_to_tls(runtime: &Runtime) -> String {
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let base = format!("https://{}", listener.local_addr().unwrap());
    runtime.spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut hello = [0u8; 4096];
                let _ = stream.read(&mut hello).await;
                let garbage = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nnot TLS\n";
                let _ = stream.write_all(garbage).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    base
}

/// A port that accepts no new connection: its listener never accepts, and its accept
/// queue is already full, so the kernel drops every further SYN and a connect attempt
/// hangs until the client gives up. Keep the returned guard alive while it is used.
pub struct Unanswered {
    pub port: u16,
    _listener: TcpListener,
    _queued: Vec<std::net::TcpStream>,
}

pub fn unanswered(runtime: &Runtime) -> Unanswered {
    let _guard = runtime.enter();
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
    let listener = socket.listen(0).expect("listen");
    let address = listener.local_addr().unwrap();

    // Connect until one attempt hangs: from then on the queue is full.
    let mut queued = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&address, Duration::from_millis(100)) {
            Ok(stream) => queued.push(stream),
            Err(_) => break,
        }
    }
    Unanswered {
        port: address.port(),
        _listener: listener,
        _queued: queued,
    }
}
