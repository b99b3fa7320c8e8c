//! From KMS configuration to the server's options: the one place where configuration keys become
//! media settings and property defaults.

use crate::config::{self, Config, ExternalAddress};
use crate::server::{SecureOptions, ServerOptions};
use crate::webrtc::{EndpointConfig, TurnServer, TurnTransport};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use tracing::warn;

/// `user:password@ip:port[?transport=udp|tcp]` → a TURN server for the WebRTC adapter.
pub fn turn_server(url: &str) -> Option<TurnServer> {
    let t: config::TurnUrl = url.parse().ok()?;
    turn_from(&t)
}

fn turn_from(t: &config::TurnUrl) -> Option<TurnServer> {
    let transport = match t.transport {
        config::TurnTransport::Udp => TurnTransport::Udp,
        config::TurnTransport::Tcp => TurnTransport::Tcp,
        config::TurnTransport::Tls => {
            warn!(
                "TURN over TLS is not supported yet; using TCP to {}",
                t.socket_addr()
            );
            TurnTransport::Tcp
        }
    };
    Some(TurnServer {
        username: t.username.clone(),
        password: t.password.clone(),
        addr: t.socket_addr(),
        transport,
    })
}

fn ip_of(a: &Option<ExternalAddress>) -> Option<IpAddr> {
    match a {
        Some(ExternalAddress::Ip(ip)) => Some(*ip),
        Some(ExternalAddress::Auto) => {
            warn!("external address 'auto' is not supported yet; advertising host addresses");
            None
        }
        None => None,
    }
}

pub fn options(cfg: &Config) -> ServerOptions {
    let w = &cfg.webrtc;
    let legacy = ip_of(&w.external_address);
    let external_ipv4 = ip_of(&w.external_ipv4).or(legacy.filter(IpAddr::is_ipv4));
    let external_ipv6 = ip_of(&w.external_ipv6).or(legacy.filter(IpAddr::is_ipv6));
    let webrtc = EndpointConfig {
        network_interfaces: w.network_interfaces.clone(),
        external_ipv4,
        external_ipv6,
        stun_server: w
            .stun_server_address
            .map(|ip| SocketAddr::new(ip, w.stun_server_port)),
        turn: w.turn.as_ref().and_then(turn_from),
        ice_tcp: w.ice_tcp,
        port_range: (cfg.base_rtp.min_port, cfg.base_rtp.max_port),
        recvonly: false,
        sendonly: false,
        mtu: cfg.base_rtp.mtu as usize,
        // 0: no limit announced until the application sets maxAudio/VideoRecvBandwidth.
        max_audio_recv_bandwidth_kbps: 0,
        max_video_recv_bandwidth_kbps: 0,
        shared_udp: None,
        // Per endpoint: the WebRtcEndpoint constructor's `useDataChannels`.
        use_data_channels: false,
    };
    let opt_str = |v: &Option<String>| v.clone().map(Value::String).unwrap_or_else(|| json!(""));
    let ext = |a: &Option<ExternalAddress>| match a {
        Some(ExternalAddress::Ip(ip)) => json!(ip.to_string()),
        Some(ExternalAddress::Auto) => json!("auto"),
        None => json!(""),
    };
    let property_defaults = vec![
        (
            "WebRtcEndpoint",
            "stunServerAddress",
            w.stun_server_address
                .map(|a| json!(a.to_string()))
                .unwrap_or(json!("")),
        ),
        (
            "WebRtcEndpoint",
            "stunServerPort",
            json!(w.stun_server_port),
        ),
        ("WebRtcEndpoint", "turnUrl", opt_str(&w.turn_url)),
        (
            "WebRtcEndpoint",
            "networkInterfaces",
            w.network_interfaces
                .as_ref()
                .map(|v| json!(v.join(",")))
                .unwrap_or(json!("")),
        ),
        ("WebRtcEndpoint", "externalIPv4", ext(&w.external_ipv4)),
        ("WebRtcEndpoint", "externalIPv6", ext(&w.external_ipv6)),
        (
            "WebRtcEndpoint",
            "externalAddress",
            ext(&w.external_address),
        ),
        ("WebRtcEndpoint", "iceTcp", json!(w.ice_tcp)),
        ("BaseRtpEndpoint", "mtu", json!(cfg.base_rtp.mtu)),
        (
            "MediaElement",
            "encoderBitrate",
            json!(cfg.media_element.encoder_bitrate),
        ),
        (
            "MediaElement",
            "minEncoderBitrate",
            json!(cfg.media_element.min_encoder_bitrate),
        ),
        (
            "MediaElement",
            "maxEncoderBitrate",
            json!(cfg.media_element.max_encoder_bitrate),
        ),
    ];
    ServerOptions {
        port: cfg.websocket.port,
        address: cfg.websocket.address,
        ipv6: cfg.websocket.ipv6,
        path: cfg.websocket.path.clone(),
        secure: cfg.websocket.secure.as_ref().map(|s| SecureOptions {
            port: s.port,
            certificate: s.certificate.clone(),
            password: s.password.clone(),
        }),
        gc_period: cfg.resources.garbage_collector_period,
        request_cache_ttl: if cfg.resources.disable_request_cache {
            std::time::Duration::ZERO
        } else {
            crate::rpc::dispatch::REQUEST_CACHE_TTL
        },
        limits: cfg.resources.limits,
        access_token: cfg.websocket.access_token.as_ref().map(|t| t.0.clone()),
        allowed_origins: cfg.websocket.allowed_origins.clone(),
        webrtc,
        shared_udp_port: w.shared_udp_port,
        media_runtime: None,
        property_defaults,
        uri_default_path: cfg
            .module_value("kurento.UriEndpoint.defaultPath")
            .and_then(Value::as_str)
            .unwrap_or(crate::objects::DEFAULT_URI_PATH)
            .to_string(),
        transcoding: cfg.resources.transcoding,
        http_endpoint: http_endpoint_config(cfg, &webrtc_address(w)),
        metrics: cfg
            .metrics
            .port
            .map(|p| std::net::SocketAddr::new(cfg.metrics.address, p)),
    }
}

/// KMS's built-in defaults (what `cargo run` gets with no /etc/kurento).
pub fn default_options() -> ServerOptions {
    options(&Config::default())
}

/// The address media is announced on when nothing more specific is configured: the first IPv4
/// address of `networkInterfaces`, else loopback.
fn webrtc_address(w: &crate::config::WebRtcConfig) -> String {
    w.network_interfaces
        .as_deref()
        .and_then(|i| crate::webrtc::host_addresses(Some(i)).ok())
        .and_then(|a| a.into_iter().find(|ip| ip.is_ipv4()))
        .map_or_else(|| "127.0.0.1".to_string(), |ip| ip.to_string())
}

/// HttpEndpoint.conf.ini: `serverAddress` (bind), `port` (9091), `announcedAddress` (in URLs).
fn http_endpoint_config(
    cfg: &Config,
    media_address: &str,
) -> crate::http_endpoint::HttpEndpointConfig {
    let d = crate::http_endpoint::HttpEndpointConfig::default();
    let get = |k: &str| {
        cfg.module_value(&format!("kurento.HttpEndpoint.{k}"))
            .and_then(|v| match v {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
    };
    let bind: Option<std::net::IpAddr> = get("serverAddress").and_then(|a| a.parse().ok());
    let port = get("port").and_then(|p| p.parse().ok()).unwrap_or(d.port);
    let announced = get("announcedAddress")
        .or_else(|| bind.filter(|b| !b.is_unspecified()).map(|b| b.to_string()))
        .unwrap_or_else(|| media_address.to_string());
    crate::http_endpoint::HttpEndpointConfig {
        bind: bind.unwrap_or(d.bind),
        port,
        announced,
    }
}
