//! WebSocket transport as KMS's websocketpp-based one behaves: the HTTP upgrade is parsed here so
//! that the Docker health check (an upgrade request without a key) gets KMS's immediate `500`, a
//! wrong path is closed with 1002 "Invalid path" after the handshake, and the query string
//! (`?access_token=`) is ignored. One JSON object per text frame; replies and `onEvent`
//! notifications share one bounded outbound queue per connection.

use crate::rpc::dispatch::Dispatcher;
use crate::rpc::session::{ConnHandle, ConnId};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info, info_span, warn, Instrument};

/// Largest HTTP upgrade request head we read before giving up on a client.
const MAX_HEAD: usize = 16 * 1024;
/// A frame larger than this is refused by the WebSocket layer itself and the connection closed;
/// frames between `max_request_bytes` and this get an error reply and the connection stays up.
const HARD_FRAME_LIMIT: usize = 64 * 1024 * 1024;
/// Replies and events waiting for a slow client; past this the connection is closed (the session
/// survives for a reconnect) so a stalled reader cannot grow the server's memory.
pub const OUTBOUND_QUEUE: usize = 4096;

/// Transport limits and the expected path.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    pub path: String,
    pub max_request_bytes: usize,
    /// Requests of one connection processed at once; more get 40009 at once.
    pub max_requests_in_flight: usize,
    /// When set, `?access_token=` must carry it (an opt-in for servers exposed beyond the
    /// application; KMS itself ignores the token).
    pub access_token: Option<String>,
    /// Browser origins allowed to connect; empty = any.
    pub allowed_origins: Vec<String>,
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Accepts plain TCP connections forever.
pub async fn serve_plain(
    listener: TcpListener,
    cfg: Arc<TransportConfig>,
    dispatcher: Arc<Dispatcher>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let cfg = cfg.clone();
                let d = dispatcher.clone();
                tokio::spawn(async move { handle_stream(stream, peer, cfg, d).await });
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Accepts TLS connections forever (wss://).
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    cfg: Arc<TransportConfig>,
    dispatcher: Arc<Dispatcher>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let cfg = cfg.clone();
                let d = dispatcher.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => handle_stream(tls, peer, cfg, d).await,
                        Ok(Err(e)) => debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
            Err(e) => {
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What the HTTP head asked for.
#[derive(Debug, PartialEq)]
pub(crate) enum Upgrade {
    WebSocket {
        path: String,
        accept_key: String,
        origin: Option<String>,
    },
    /// Anything that is not a complete WebSocket upgrade: answered like websocketpp answers the
    /// KMS health check (HTTP 500) and closed.
    NotWebSocket,
}

/// Parses a request head. `None` until the head is complete.
pub(crate) fn parse_head(buf: &[u8]) -> Option<(Upgrade, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let consumed = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return None,
        Err(_) => return Some((Upgrade::NotWebSocket, buf.len())),
    };
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let is_upgrade = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && header("connection").is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    let key = header("sec-websocket-key");
    let version_ok = header("sec-websocket-version").is_none_or(|v| v == "13");
    match (req.method, req.path, key) {
        (Some("GET"), Some(path), Some(key)) if is_upgrade && version_ok && !key.is_empty() => {
            Some((
                Upgrade::WebSocket {
                    path: path.to_string(),
                    accept_key: derive_accept_key(key.as_bytes()),
                    origin: header("origin").map(str::to_string),
                },
                consumed,
            ))
        }
        _ => Some((Upgrade::NotWebSocket, consumed)),
    }
}

/// KMS compares the resource without its leading `/` and without the query string.
pub(crate) fn path_matches(resource: &str, expected: &str) -> bool {
    let r = resource.strip_prefix('/').unwrap_or(resource);
    let r = r.split('?').next().unwrap_or(r);
    r == expected.trim_start_matches('/')
}

/// The raw value of one query parameter of a request resource.
pub(crate) fn query_param<'a>(resource: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = resource.split_once('?')?;
    query.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    })
}

/// Compares without an early exit, so the time taken does not tell how much of a guess was right.
pub(crate) fn token_matches(given: Option<&str>, expected: &str) -> bool {
    let Some(given) = given else { return false };
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ x);
    }
    diff == 0
}

async fn handle_stream<S>(
    mut stream: S,
    peer: SocketAddr,
    cfg: Arc<TransportConfig>,
    dispatcher: Arc<Dispatcher>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut buf = Vec::with_capacity(1024);
    let head = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 2048];
        loop {
            if let Some(parsed) = parse_head(&buf) {
                return Some(parsed);
            }
            if buf.len() > MAX_HEAD {
                return Some((Upgrade::NotWebSocket, buf.len()));
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let Ok(Some((upgrade, consumed))) = head else {
        return;
    };
    let (path, accept_key) = match upgrade {
        Upgrade::NotWebSocket => {
            let _ = stream
                .write_all(
                    b"HTTP/1.1 500 Internal Server Error\r\nServer: WebSocket++/0.8.2 kurento-media-server-rs\r\n\
                      Content-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            let _ = stream.shutdown().await;
            return;
        }
        Upgrade::WebSocket {
            path,
            accept_key,
            origin,
        } => {
            if let Some(o) = origin
                .filter(|o| !cfg.allowed_origins.is_empty() && !cfg.allowed_origins.contains(o))
            {
                debug!(%peer, origin = %o, "refusing a WebSocket from an origin that is not allowed");
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
                let _ = stream.shutdown().await;
                return;
            }
            (path, accept_key)
        }
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Accept: {accept_key}\r\nServer: kurento-media-server-rs\r\n\r\n"
    );
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let leftover = buf.split_off(consumed.min(buf.len()));
    let ws_cfg = WebSocketConfig::default()
        .max_message_size(Some(HARD_FRAME_LIMIT))
        .max_frame_size(Some(HARD_FRAME_LIMIT));
    let mut ws =
        WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(ws_cfg)).await;
    if !path_matches(&path, &cfg.path) {
        debug!(%peer, %path, "closing connection: invalid path");
        let _ = ws
            .close(Some(CloseFrame {
                code: CloseCode::Protocol,
                reason: "Invalid path".into(),
            }))
            .await;
        return;
    }
    if let Some(expected) = &cfg.access_token {
        if !token_matches(query_param(&path, "access_token"), expected) {
            debug!(%peer, "closing connection: missing or wrong access token");
            let _ = ws
                .close(Some(CloseFrame {
                    code: CloseCode::Policy,
                    reason: "Invalid access token".into(),
                }))
                .await;
            return;
        }
    }
    let conn_id = ConnId(NEXT_CONN.fetch_add(1, Ordering::Relaxed));
    let span = info_span!("conn", id = conn_id.0, %peer);
    run_connection(ws, conn_id, cfg, dispatcher)
        .instrument(span)
        .await;
}

async fn run_connection<S>(
    ws: WebSocketStream<S>,
    conn_id: ConnId,
    cfg: Arc<TransportConfig>,
    dispatcher: Arc<Dispatcher>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    debug!("WebSocket connection open");
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel::<String>(OUTBOUND_QUEUE);
    let conn = ConnHandle::new(conn_id, tx);
    crate::metrics::connection_opened();
    let shutdown = conn.shutdown_signal();
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                next = rx.recv() => match next {
                    Some(text) => {
                        if sink.send(Message::text(text)).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
                _ = shutdown.notified() => break,
            }
        }
        let _ = sink.close().await;
    });
    let reader_shutdown = conn.shutdown_signal();
    // Requests run concurrently, as KMS's worker pool does; a client that sends faster than they
    // finish gets refusals instead of an ever-growing pile of tasks.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(cfg.max_requests_in_flight));
    loop {
        let msg = tokio::select! {
            m = source.next() => match m {
                Some(m) => m,
                None => break,
            },
            _ = reader_shutdown.notified() => break,
        };
        let text = match msg {
            Ok(Message::Text(t)) => t.to_string(),
            // kurento-client's socket (websocket-stream) sends JSON in binary frames; KMS reads
            // both kinds alike.
            Ok(Message::Binary(b)) => match String::from_utf8(b.to_vec()) {
                Ok(t) => t,
                Err(_) => {
                    conn.send_error_text(None, kurento_protocol::RpcError::parse_error());
                    continue;
                }
            },
            Ok(Message::Close(_)) => break,
            Ok(_) => continue,
            Err(e) => {
                debug!("WebSocket read error: {e}");
                break;
            }
        };
        if text.len() > cfg.max_request_bytes {
            conn.send_error_text(
                None,
                kurento_protocol::RpcError::new(
                    kurento_protocol::ErrorKind::InvalidRequest,
                    format!(
                        "Request of {} bytes exceeds the limit of {} bytes",
                        text.len(),
                        cfg.max_request_bytes
                    ),
                ),
            );
            continue;
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            dispatcher.refuse_in_flight(&conn, &text, cfg.max_requests_in_flight);
            continue;
        };
        let d = dispatcher.clone();
        let c = conn.clone();
        tokio::spawn(async move {
            d.handle_text(&c, &text).await;
            drop(permit);
        });
    }
    dispatcher.connection_closed(&conn);
    crate::metrics::connection_closed();
    conn.close();
    let _ = writer.await;
    info!("WebSocket connection closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_check_is_not_websocket() {
        let head = b"GET /kurento HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nOrigin: 127.0.0.1\r\n\r\n";
        assert_eq!(parse_head(head).map(|x| x.0), Some(Upgrade::NotWebSocket));
    }

    #[test]
    fn websocket_upgrade_parses() {
        let head = b"GET /kurento?access_token=x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let (u, n) = parse_head(head).unwrap();
        assert_eq!(n, head.len());
        assert_eq!(
            u,
            Upgrade::WebSocket {
                path: "/kurento?access_token=x".into(),
                accept_key: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
                origin: None,
            }
        );
    }

    #[test]
    fn partial_head_waits() {
        assert_eq!(parse_head(b"GET /kurento HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(
            parse_head(b"\x00\x01garbage\r\n\r\n").map(|x| x.0),
            Some(Upgrade::NotWebSocket)
        );
    }

    #[test]
    fn access_token_rules() {
        assert_eq!(
            query_param("/kurento?access_token=abc&x=1", "access_token"),
            Some("abc")
        );
        assert_eq!(query_param("/kurento?x=1", "access_token"), None);
        assert_eq!(query_param("/kurento", "access_token"), None);
        assert!(token_matches(Some("abc"), "abc"));
        assert!(!token_matches(Some("abd"), "abc"));
        assert!(!token_matches(Some("ab"), "abc"));
        assert!(!token_matches(Some("abcd"), "abc"));
        assert!(!token_matches(None, "abc"));
    }

    #[test]
    fn path_rules() {
        assert!(path_matches("/kurento", "kurento"));
        assert!(path_matches("/kurento?access_token=abc", "kurento"));
        assert!(path_matches("kurento", "kurento"));
        assert!(!path_matches("/kurento/", "kurento"));
        assert!(!path_matches("/other", "kurento"));
        assert!(!path_matches("/", "kurento"));
    }
}
