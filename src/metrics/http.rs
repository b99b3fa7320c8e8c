//! The metrics listener: `GET /metrics`, one request per connection. It shares nothing with the
//! JSON-RPC listener but the access token: when one is set, a scrape must carry it (Prometheus's
//! `authorization` / `bearer_token`, or `?access_token=`), so figures about a protected server are
//! not public either.

use crate::rpc::dispatch::Dispatcher;
use crate::rpc::transport::{query_param, token_matches};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

/// Longest request head read; a scrape's is a few hundred bytes.
const MAX_HEAD: usize = 8192;
/// A client that has not sent its request head by then is dropped.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Scrapes handled at once; more wait in the listen backlog (a scraper is one client).
const MAX_CONNECTIONS: usize = 16;

pub async fn serve(listener: TcpListener, token: Option<String>, dispatcher: Arc<Dispatcher>) {
    let token = Arc::new(token);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors and the like: wait rather than spin.
                warn!("metrics listener: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let token = token.clone();
        let dispatcher = dispatcher.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &token, &dispatcher).await {
                debug!(%peer, "metrics request: {e}");
            }
            drop(permit);
        });
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ask {
    Metrics,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// Reads what a complete request head asks for; `None` while it is incomplete.
pub(crate) fn ask(head: &[u8], token: Option<&str>) -> Option<Ask> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Partial) => return None,
        Err(_) => return Some(Ask::BadRequest),
        Ok(httparse::Status::Complete(_)) => {}
    }
    let (Some(method), Some(path)) = (req.method, req.path) else {
        return Some(Ask::BadRequest);
    };
    if path.split('?').next() != Some("/metrics") {
        return Some(Ask::NotFound);
    }
    if method != "GET" && method != "HEAD" {
        return Some(Ask::MethodNotAllowed);
    }
    if let Some(expected) = token {
        let bearer = req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("authorization"))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let given = bearer.or_else(|| query_param(path, "access_token"));
        if !token_matches(given, expected) {
            return Some(Ask::Unauthorized);
        }
    }
    Some(Ask::Metrics)
}

async fn handle(
    mut stream: TcpStream,
    token: &Option<String>,
    dispatcher: &Dispatcher,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(512);
    let asked = tokio::time::timeout(HEAD_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(a) = ask(&buf, token.as_deref()) {
                return Ok(a);
            }
            if buf.len() > MAX_HEAD {
                return Ok(Ask::BadRequest);
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let (status, content_type, body) = match asked {
        Ask::Metrics => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            super::render(&dispatcher.census()),
        ),
        Ask::Unauthorized => (
            "401 Unauthorized",
            "text/plain",
            "an access token is required\n".into(),
        ),
        Ask::NotFound => ("404 Not Found", "text/plain", "try /metrics\n".into()),
        Ask::MethodNotAllowed => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
        Ask::BadRequest => ("400 Bad Request", "text/plain", "bad request\n".into()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if !buf.starts_with(b"HEAD ") {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_by_table() {
        let get =
            |path: &str, extra: &str| format!("GET {path} HTTP/1.1\r\nHost: a\r\n{extra}\r\n");
        let cases: &[(String, Option<&str>, Option<Ask>)] = &[
            (get("/metrics", ""), None, Some(Ask::Metrics)),
            (get("/metrics?x=1", ""), None, Some(Ask::Metrics)),
            (get("/", ""), None, Some(Ask::NotFound)),
            (get("/metricsx", ""), None, Some(Ask::NotFound)),
            (
                "POST /metrics HTTP/1.1\r\n\r\n".into(),
                None,
                Some(Ask::MethodNotAllowed),
            ),
            (get("/metrics", ""), Some("s3cret"), Some(Ask::Unauthorized)),
            (
                get("/metrics?access_token=s3cret", ""),
                Some("s3cret"),
                Some(Ask::Metrics),
            ),
            (
                get("/metrics?access_token=s3cre", ""),
                Some("s3cret"),
                Some(Ask::Unauthorized),
            ),
            (
                get("/metrics", "Authorization: Bearer s3cret\r\n"),
                Some("s3cret"),
                Some(Ask::Metrics),
            ),
            (
                get("/metrics", "authorization: Bearer nope\r\n"),
                Some("s3cret"),
                Some(Ask::Unauthorized),
            ),
            ("GET /metrics HTTP/1.1\r\nHost:".into(), None, None),
            (
                "\u{1}\u{2} garbage\r\n\r\n".into(),
                None,
                Some(Ask::BadRequest),
            ),
        ];
        for (head, token, want) in cases {
            assert_eq!(
                &ask(head.as_bytes(), *token),
                want,
                "{head:?} with {token:?}"
            );
        }
    }
}
