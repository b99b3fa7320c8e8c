//! Wires the parts together: listeners, the dispatcher, the media event pump and the garbage
//! collector. `main` only parses configuration and calls [`start`].

use crate::objects::MediaEnv;
use crate::objects::Registry;
use crate::rpc::dispatch::{DispatchConfig, Dispatcher};
use crate::rpc::transport::{self, TransportConfig};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{info, warn};

#[derive(Debug, Clone)]
pub struct SecureOptions {
    pub port: u16,
    pub certificate: PathBuf,
    pub password: Option<String>,
}

/// Everything the server needs to start, already validated.
pub struct ServerOptions {
    /// `None`: no plain ws:// listener.
    pub port: Option<u16>,
    pub address: Option<IpAddr>,
    pub ipv6: bool,
    pub path: String,
    pub secure: Option<SecureOptions>,
    pub gc_period: Duration,
    /// How long replies are kept for retries; zero disables the cache.
    pub request_cache_ttl: Duration,
    pub limits: crate::config::Limits,
    pub access_token: Option<String>,
    pub allowed_origins: Vec<String>,
    pub webrtc: crate::webrtc::EndpointConfig,
    /// `sharedUdpPort`: one UDP port for every WebRTC endpoint (bound by [`start`]).
    pub shared_udp_port: Option<u16>,
    /// Where media tasks run; `None` = the runtime that calls [`start`].
    pub media_runtime: Option<tokio::runtime::Handle>,
    pub property_defaults: Vec<(&'static str, &'static str, serde_json::Value)>,
    /// UriEndpoint.conf.ini `defaultPath`: the base of URIs without a scheme.
    pub uri_default_path: String,
    /// `mediaServer.resources.transcoding`.
    pub transcoding: bool,
    /// HttpEndpoint.conf.ini.
    pub http_endpoint: crate::http_endpoint::HttpEndpointConfig,
    /// `mediaServer.metrics`: where `GET /metrics` answers (`None`: nowhere).
    pub metrics: Option<SocketAddr>,
}

pub struct RunningServer {
    pub ws_addr: Option<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    pub wss_addr: Option<SocketAddr>,
    pub dispatcher: Arc<Dispatcher>,
}

/// Errors name the address that could not be bound.
async fn bind(address: Option<IpAddr>, ipv6: bool, port: u16) -> io::Result<TcpListener> {
    let at = |a: SocketAddr| async move {
        TcpListener::bind(a)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {a}: {e}")))
    };
    if let Some(a) = address {
        return at(SocketAddr::new(a, port)).await;
    }
    if ipv6 {
        match TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)).await {
            Ok(l) => return Ok(l),
            // A port in use is in use for IPv4 too: say so rather than try again.
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                let a = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot listen on {a}: {e}"),
                ));
            }
            Err(e) => warn!("IPv6 listener failed ({e}); falling back to IPv4"),
        }
    }
    at(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).await
}

fn tls_acceptor(s: &SecureOptions) -> io::Result<tokio_rustls::TlsAcceptor> {
    use rustls_pemfile::Item;
    let pem = std::fs::read(&s.certificate)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", s.certificate.display())))?;
    let mut certs = Vec::new();
    let mut key = None;
    for item in rustls_pemfile::read_all(&mut pem.as_slice()) {
        match item {
            Ok(Item::X509Certificate(c)) => certs.push(c),
            Ok(Item::Pkcs1Key(k)) => key = Some(k.into()),
            Ok(Item::Pkcs8Key(k)) => key = Some(k.into()),
            Ok(Item::Sec1Key(k)) => key = Some(k.into()),
            Ok(_) => {}
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", s.certificate.display()),
                ))
            }
        }
    }
    let bad = |m: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {m}", s.certificate.display()),
        )
    };
    let key = key.ok_or_else(|| {
        bad(if s.password.is_some() {
            "no unencrypted private key found (password-protected keys are not supported: decrypt it with `openssl pkey`)"
        } else {
            "no private key found"
        })
    })?;
    if certs.is_empty() {
        return Err(bad("no certificate found"));
    }
    let cfg = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// Binds the listeners and spawns the control tasks on the current runtime (media tasks go to
/// `media_runtime`).
pub async fn start(opts: ServerOptions) -> io::Result<RunningServer> {
    let (media_tx, mut media_rx) = mpsc::unbounded_channel();
    let runtime = opts
        .media_runtime
        .unwrap_or_else(tokio::runtime::Handle::current);
    let mut webrtc = opts.webrtc;
    if let Some(port) = opts.shared_udp_port {
        let _media_workers = runtime.enter();
        let shared = crate::webrtc::SharedUdp::bind(webrtc.network_interfaces.as_deref(), port)?;
        info!(
            "WebRTC media on one shared UDP port: {:?}",
            shared.local_addrs()
        );
        webrtc.shared_udp = Some(shared);
    }
    let env = Arc::new(MediaEnv {
        runtime,
        rtp: crate::objects::rtp_config(&webrtc),
        webrtc,
        property_defaults: opts.property_defaults,
        uri_default_path: opts.uri_default_path.clone(),
        transcoding: opts.transcoding,
        http: Arc::new(crate::http_endpoint::HttpEndpointServer::new(
            opts.http_endpoint.clone(),
        )),
        events: media_tx,
    });
    let dispatcher = Dispatcher::new(
        Registry::new(env),
        DispatchConfig {
            request_cache_ttl: opts.request_cache_ttl,
            limits: opts.limits,
        },
    );
    let tcfg = Arc::new(TransportConfig {
        path: opts.path.clone(),
        max_request_bytes: opts.limits.max_request_bytes,
        max_requests_in_flight: opts.limits.max_requests_in_flight,
        access_token: opts.access_token.clone(),
        allowed_origins: opts.allowed_origins.clone(),
    });
    let mut ws_addr = None;
    let mut wss_addr = None;
    if let Some(port) = opts.port {
        let l = bind(opts.address, opts.ipv6, port).await?;
        ws_addr = l.local_addr().ok();
        tokio::spawn(transport::serve_plain(l, tcfg.clone(), dispatcher.clone()));
    }
    if let Some(s) = &opts.secure {
        let acceptor = tls_acceptor(s)?;
        let l = bind(opts.address, opts.ipv6, s.port).await?;
        wss_addr = l.local_addr().ok();
        tokio::spawn(transport::serve_tls(
            l,
            acceptor,
            tcfg.clone(),
            dispatcher.clone(),
        ));
    }
    if ws_addr.is_none() && wss_addr.is_none() {
        return Err(io::Error::other(
            "neither ws nor wss is configured: set mediaServer.net.websocket.port",
        ));
    }
    let mut metrics_addr = None;
    if let Some(a) = opts.metrics {
        let l = TcpListener::bind(a)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {a}: {e}")))?;
        metrics_addr = l.local_addr().ok();
        tokio::spawn(crate::metrics::serve(
            l,
            opts.access_token.clone(),
            dispatcher.clone(),
        ));
    }
    let d = dispatcher.clone();
    tokio::spawn(async move {
        while let Some(ev) = media_rx.recv().await {
            d.media_event(ev);
        }
    });
    let d = dispatcher.clone();
    let period = opts.gc_period.max(Duration::from_millis(100));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        loop {
            tick.tick().await;
            if d.collect_garbage() {
                crate::sysinfo::return_freed_memory();
            }
        }
    });
    for (scheme, a) in [("ws", ws_addr), ("wss", wss_addr)] {
        if let Some(a) = a {
            info!(
                "Kurento Media Server (Rust) listening on {scheme}://{a}/{}",
                opts.path
            );
        }
    }
    if let Some(a) = metrics_addr {
        info!("Prometheus metrics on http://{a}/metrics");
    }
    Ok(RunningServer {
        ws_addr,
        metrics_addr,
        wss_addr,
        dispatcher,
    })
}
