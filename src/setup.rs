//! From configuration to server options (TEMPORARY: built-in defaults until the config module lands).

use crate::server::ServerOptions;
use crate::webrtc::{EndpointConfig, TurnServer, TurnTransport};
use std::time::Duration;

/// `user:password@host:port[?transport=udp|tcp]` → a TURN server for the WebRTC adapter.
pub fn turn_server(url: &str) -> Option<TurnServer> {
    let (cred, rest) = url.rsplit_once('@')?;
    let (user, pass) = cred.split_once(':')?;
    let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
    let addr = hostport.parse().ok()?;
    let transport = if query.contains("transport=tcp") { TurnTransport::Tcp } else { TurnTransport::Udp };
    Some(TurnServer { username: user.to_string(), password: pass.to_string(), addr, transport })
}

pub fn default_options() -> ServerOptions {
    ServerOptions {
        port: Some(8888),
        address: None,
        ipv6: true,
        path: "kurento".into(),
        secure: None,
        gc_period: Duration::from_secs(240),
        disable_request_cache: false,
        max_request_bytes: 1 << 20,
        webrtc: EndpointConfig { port_range: (1024, 65535), mtu: 1200, ice_tcp: true, ..Default::default() },
        property_defaults: Vec::new(),
    }
}
