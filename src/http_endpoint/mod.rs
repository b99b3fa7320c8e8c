//! The embedded HTTP server behind HttpPostEndpoint.getUrl() (KMS's `HttpEndpoint.conf.ini`:
//! `serverAddress`, `port`, `announcedAddress`). Each endpoint registers a path; a POST to it
//! (raw, chunked, or multipart/form-data as browsers' forms send) streams the file to the
//! endpoint as [`UploadEvent`]s, with backpressure: the body is read only as fast as the endpoint
//! takes it. The listener is bound when the first endpoint asks for a URL.

pub mod body;

use body::{Chunked, Multipart};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// What an upload tells its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadEvent {
    /// The next bytes of the posted file.
    Data(Vec<u8>),
    /// The body is complete.
    End,
    /// The connection closed before the body was complete.
    Lost,
}

#[derive(Debug, Clone)]
pub struct HttpEndpointConfig {
    pub bind: IpAddr,
    /// 0: any free port.
    pub port: u16,
    /// The host put in URLs (`announcedAddress`, else `serverAddress`, else the media address).
    pub announced: String,
}

impl Default for HttpEndpointConfig {
    fn default() -> Self {
        HttpEndpointConfig {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 9091,
            announced: "127.0.0.1".into(),
        }
    }
}

type Uploads = Arc<Mutex<HashMap<String, mpsc::Sender<UploadEvent>>>>;

struct Bound {
    base_url: String,
    uploads: Uploads,
}

pub struct HttpEndpointServer {
    cfg: HttpEndpointConfig,
    bound: Mutex<Option<Bound>>,
}

/// Uploads queued per endpoint (pieces of up to 64 KiB): the reader waits when it is full.
const UPLOAD_QUEUE: usize = 16;
const MAX_HEAD: usize = 16 * 1024;

impl HttpEndpointServer {
    pub fn new(cfg: HttpEndpointConfig) -> Self {
        HttpEndpointServer {
            cfg,
            bound: Mutex::new(None),
        }
    }

    /// A new upload URL and the receiving end of what is posted to it. Binds the listener on
    /// first use, on the current tokio runtime.
    pub fn register(&self) -> Result<(String, mpsc::Receiver<UploadEvent>), String> {
        let mut bound = self
            .bound
            .lock()
            .map_err(|_| "HTTP server state poisoned")?;
        if bound.is_none() {
            *bound = Some(self.bind()?);
        }
        let b = bound.as_ref().ok_or("HTTP server not bound")?;
        let key = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = mpsc::channel(UPLOAD_QUEUE);
        if let Ok(mut u) = b.uploads.lock() {
            u.retain(|_, s| !s.is_closed());
            u.insert(key.clone(), tx);
        }
        Ok((format!("{}/{key}", b.base_url), rx))
    }

    fn bind(&self) -> Result<Bound, String> {
        let addr = SocketAddr::new(self.cfg.bind, self.cfg.port);
        let std = std::net::TcpListener::bind(addr)
            .map_err(|e| format!("cannot listen on {addr} for HttpEndpoint URLs: {e}"))?;
        std.set_nonblocking(true).map_err(|e| e.to_string())?;
        let port = std.local_addr().map_err(|e| e.to_string())?.port();
        let listener = TcpListener::from_std(std).map_err(|e| e.to_string())?;
        let host = if self.cfg.announced.contains(':') {
            format!("[{}]", self.cfg.announced)
        } else {
            self.cfg.announced.clone()
        };
        let base_url = format!("http://{host}:{port}");
        info!("HttpEndpoint URLs served on {addr} (port {port}) as {base_url}/...");
        let uploads: Uploads = Arc::default();
        let u = uploads.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((sock, peer)) => {
                        let u = u.clone();
                        tokio::spawn(async move {
                            if let Err(e) = serve(sock, &u).await {
                                debug!(%peer, "HttpEndpoint connection: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        warn!("HttpEndpoint accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(Bound { base_url, uploads })
    }
}

const CORS: &str =
    "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: POST, OPTIONS\r\n\
                    Access-Control-Allow-Headers: Content-Type\r\n";

async fn respond(sock: &mut TcpStream, status: &str) -> std::io::Result<()> {
    let r = format!("HTTP/1.1 {status}\r\n{CORS}Content-Length: 0\r\nConnection: close\r\n\r\n");
    sock.write_all(r.as_bytes()).await
}

enum Framing {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
}

async fn serve(mut sock: TcpStream, uploads: &Uploads) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let mut tmp = vec![0u8; 64 * 1024];
    // The request head.
    let (head_len, method, path, framing, multipart, expect_continue) = loop {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .map(str::to_string)
                };
                let chunked = header("transfer-encoding")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
                let framing = if chunked {
                    Framing::Chunked(Chunked::default())
                } else if let Some(l) = header("content-length") {
                    match l.trim().parse::<u64>() {
                        Ok(n) => Framing::Length(n),
                        Err(_) => return respond(&mut sock, "400 Bad Request").await,
                    }
                } else {
                    Framing::UntilClose
                };
                let multipart = match header("content-type")
                    .as_deref()
                    .and_then(Multipart::from_content_type)
                {
                    Some(Ok(m)) => Some(m),
                    Some(Err(_)) => return respond(&mut sock, "400 Bad Request").await,
                    None => None,
                };
                let expect =
                    header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
                break (
                    len,
                    req.method.unwrap_or("").to_string(),
                    req.path.unwrap_or("").to_string(),
                    framing,
                    multipart,
                    expect,
                );
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            _ => return respond(&mut sock, "400 Bad Request").await,
        }
    };
    match method.as_str() {
        "OPTIONS" => return respond(&mut sock, "204 No Content").await,
        "POST" | "PUT" => {}
        _ => return respond(&mut sock, "405 Method Not Allowed").await,
    }
    let key = path
        .trim_start_matches('/')
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_string();
    let tx = uploads
        .lock()
        .ok()
        .and_then(|u| u.get(&key).filter(|s| !s.is_closed()).cloned());
    let Some(tx) = tx else {
        return respond(&mut sock, "404 Not Found").await;
    };
    if expect_continue {
        sock.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    info!(upload = %key, "HTTP upload started");
    let mut body = Body {
        framing,
        multipart,
        received: 0,
    };
    let mut pending: Vec<u8> = buf.split_off(head_len);
    loop {
        let mut out = Vec::new();
        let done = match body.feed(&pending, &mut out) {
            Ok(d) => d,
            Err(e) => {
                warn!(upload = %key, "bad upload body: {}", e.0);
                let _ = tx.send(UploadEvent::Lost).await;
                return respond(&mut sock, "400 Bad Request").await;
            }
        };
        if !out.is_empty() && tx.send(UploadEvent::Data(out)).await.is_err() {
            return respond(&mut sock, "410 Gone").await;
        }
        if done {
            let _ = tx.send(UploadEvent::End).await;
            info!(upload = %key, bytes = body.received, "HTTP upload complete");
            return respond(&mut sock, "200 OK").await;
        }
        let n = sock.read(&mut tmp).await.unwrap_or(0);
        if n == 0 {
            if matches!(body.framing, Framing::UntilClose) {
                let _ = tx.send(UploadEvent::End).await;
            } else {
                let _ = tx.send(UploadEvent::Lost).await;
            }
            return Ok(());
        }
        pending = tmp[..n].to_vec();
    }
}

struct Body {
    framing: Framing,
    multipart: Option<Multipart>,
    received: u64,
}

impl Body {
    /// Decodes `input` into the file's bytes; true when the body (or the file part) is complete.
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, body::BodyError> {
        let mut raw = Vec::new();
        let framing_done = match &mut self.framing {
            Framing::Length(left) => {
                let take = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                raw.extend_from_slice(&input[..take]);
                *left -= take as u64;
                *left == 0
            }
            Framing::Chunked(c) => c.feed(input, &mut raw)?,
            Framing::UntilClose => {
                raw.extend_from_slice(input);
                false
            }
        };
        self.received += raw.len() as u64;
        match &mut self.multipart {
            Some(m) => {
                let part_done = m.feed(&raw, out)?;
                if framing_done && !part_done {
                    return Err(body::BodyError("multipart body ended inside its part"));
                }
                Ok(part_done)
            }
            None => {
                out.extend_from_slice(&raw);
                Ok(framing_done)
            }
        }
    }
}
