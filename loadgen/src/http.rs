//! Just enough HTTP/1.1 for a JSON API on loopback: one request per connection
//! (`Connection: close`), a JSON body each way, no TLS. The response head is parsed with
//! `httparse`; the body is delimited by Content-Length, chunked encoding, or the close.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response accepted: Janus events with SDP are a few kB, a long poll batch a few 100 kB.
const MAX_RESPONSE: usize = 16 << 20;

/// `http://host:port/path` split into the address to connect to and the path (no TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if host.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let host = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        Ok(Url {
            host,
            path: path.trim_end_matches('/').to_string(),
        })
    }
}

/// Sends one request (`body` as JSON, if any) to `host` and returns the JSON response body.
/// Fails on a non-2xx status, a malformed response, or when it takes longer than `limit`.
pub async fn request(
    host: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    limit: Duration,
) -> Result<Value, String> {
    let what = format!("{method} {path}");
    tokio::time::timeout(limit, exchange(host, method, path, body))
        .await
        .map_err(|_| format!("{what}: no response within {limit:?}"))?
        .map_err(|e| format!("{what}: {e}"))
}

async fn exchange(
    host: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let mut s = TcpStream::connect(host)
        .await
        .map_err(|e| format!("connect {host}: {e}"))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        let n = s
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("receive: {e}"))?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_RESPONSE {
            return Err("response too large".into());
        }
        // Stop as soon as the body is complete, in case the server keeps the connection open.
        if let Ok(Some(_)) = parse_response(&buf, false) {
            break;
        }
    }
    match parse_response(&buf, true)? {
        Some((status, body)) if (200..300).contains(&status) => {
            serde_json::from_slice(&body).map_err(|e| format!("response is not JSON: {e}"))
        }
        Some((status, body)) => Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
        None => Err("connection closed before a complete response".into()),
    }
}

/// `Ok(None)` while more bytes are needed; `(status, body)` once the response is complete.
/// A response without Content-Length or chunked encoding is complete only at the close
/// (`eof`: the peer closed and `buf` is all there is).
fn parse_response(buf: &[u8], eof: bool) -> Result<Option<(u16, Vec<u8>)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf).map_err(|e| format!("bad response: {e}"))? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let status = resp.code.unwrap_or(0);
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let rest = &buf[head_len..];
    if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        return dechunk(rest).map(|b| b.map(|b| (status, b)));
    }
    if let Some(len) = header("content-length") {
        let len: usize = len.parse().map_err(|_| "bad Content-Length")?;
        return Ok((rest.len() >= len).then(|| (status, rest[..len].to_vec())));
    }
    // Delimited by the close.
    Ok(eof.then(|| (status, rest.to_vec())))
}

/// Decodes a chunked body; `Ok(None)` while incomplete.
fn dechunk(mut b: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_line = String::from_utf8_lossy(&b[..eol]);
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| "bad chunk size")?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if b.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        assert_eq!(
            Url::parse("http://127.0.0.1:8088/janus/").unwrap(),
            Url {
                host: "127.0.0.1:8088".into(),
                path: "/janus".into()
            }
        );
        assert_eq!(Url::parse("http://localhost").unwrap().host, "localhost:80");
        assert!(Url::parse("https://127.0.0.1/janus").is_err());
        assert!(Url::parse("http:///janus").is_err());
    }

    #[test]
    fn content_length_body() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{}\r\n";
        assert_eq!(
            parse_response(r, false).unwrap(),
            Some((200, b"{}\r\n".to_vec()))
        );
        let partial = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}";
        assert_eq!(parse_response(partial, true).unwrap(), None);
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nConte", true).unwrap(),
            None
        );
    }

    #[test]
    fn chunked_body() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n5;x=1\r\na\":1}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(r, false).unwrap(),
            Some((200, b"{\"a\":1}".to_vec()))
        );
        let partial = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
        assert_eq!(parse_response(partial, true).unwrap(), None);
        assert!(parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            false
        )
        .is_err());
    }

    #[test]
    fn close_delimited_body() {
        let r = b"HTTP/1.0 200 OK\r\n\r\n[1]";
        assert_eq!(parse_response(r, false).unwrap(), None);
        assert_eq!(
            parse_response(r, true).unwrap(),
            Some((200, b"[1]".to_vec()))
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_response(b"\x00\x01 nonsense\r\n\r\n", true).is_err());
    }
}
