//! Configuration, read exactly as Kurento Media Server users write it.
//!
//! # Sources and precedence (lowest first)
//! 1. Built-in defaults: the values of KMS's shipped `kurento.conf.json` (ws port 8888, path `kurento`,
//!    10 threads, IPv6 on, GC every 240 s). Used only when the default file
//!    `/etc/kurento/kurento.conf.json` does not exist; a file named with `--conf-file`/`KURENTO_CONF_FILE`
//!    must exist. When a file is read, a key missing from it takes KMS's code default instead (so a file
//!    without `port` disables `ws://`, as in KMS).
//! 2. The main file (`*.json` with `//` comments, repeated `"//"` keys and `//`-prefixed disabled keys;
//!    or `*.ini` with dotted sections).
//! 3. Module files: every `*.conf.ini` / `*.conf.json` under the modules config dir(s) (default
//!    `<conf dir>/modules`, recursive) is merged at `modules.<subdirs>.<Name>`, so
//!    `modules/kurento/WebRtcEndpoint.conf.ini` ends up at `modules.kurento.WebRtcEndpoint`.
//! 4. The Docker image's `KMS_*` environment variables ([`env`]), which override module-file keys.
//!
//! Logging verbosity comes from `RUST_LOG` or `GST_DEBUG` ([`log_filter`]). The user documentation is
//! `docs/configuration.md`.
//!
//! # Layout
//! - `cli.rs`: [`Cli`], KMS's command-line options.
//! - `kurento_json.rs`, `ini.rs`: tolerant parsers for the two file formats.
//! - `tree.rs`: the merged tree (as KMS's boost ptree) with the origin of every value, and typed getters.
//! - `env.rs`: `KMS_*` Docker variables.
//! - `turn.rs`: [`TurnUrl`]. `log_filter.rs`: `RUST_LOG` / `GST_DEBUG`. `error.rs`: [`ConfigError`].

mod cli;
mod env;
mod error;
mod ini;
mod kurento_json;
mod log_filter;
mod tree;
mod turn;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

pub use cli::{Cli, DEFAULT_CONF_FILE};
pub use error::{ConfigError, ValueSource};
pub use log_filter::{gst_debug_to_filter, log_filter, DOCKER_DEFAULT_GST_DEBUG};
pub use turn::{RedactedTurnUrl, TurnTransport, TurnUrl, TurnUrlError};

use tree::ConfigTree;

const WEBSOCKET: &str = "mediaServer.net.websocket";
const RESOURCES: &str = "mediaServer.resources";
pub(crate) const METRICS: &str = "mediaServer.metrics";
const MEDIA_ELEMENT: &str = "modules.kurento.MediaElement";
const SDP_ENDPOINT: &str = "modules.kurento.SdpEndpoint";
use env::{BASE_RTP, WEBRTC};

/// Deepest module-config subdirectory we descend into; guards against symlink loops.
const MAX_MODULE_DIR_DEPTH: usize = 16;

/// The complete, validated server configuration.
#[derive(Clone, PartialEq)]
pub struct Config {
    /// The main configuration file that was read; `None` when built-in defaults were used.
    pub conf_file: Option<PathBuf>,
    /// Directory of the main configuration file (KMS's `configPath`); relative paths in the main file
    /// are resolved against it.
    pub config_dir: PathBuf,
    /// The module config directories that were scanned (existing or not).
    pub modules_config_paths: Vec<PathBuf>,
    /// `mediaServer.net.websocket`: the JSON-RPC listeners.
    pub websocket: WebSocketConfig,
    /// `mediaServer.resources`.
    pub resources: ResourcesConfig,
    /// `mediaServer.metrics` (our extension): the Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// `WebRtcEndpoint.conf.ini` (`modules.kurento.WebRtcEndpoint`).
    pub webrtc: WebRtcConfig,
    /// `BaseRtpEndpoint.conf.ini` (`modules.kurento.BaseRtpEndpoint`).
    pub base_rtp: BaseRtpConfig,
    /// `MediaElement.conf.ini` (`modules.kurento.MediaElement`).
    pub media_element: MediaElementConfig,
    /// `SdpEndpoint.conf.json` (`modules.kurento.SdpEndpoint`).
    pub sdp: SdpConfig,
    /// The whole `modules` tree as KMS builds it (INI values are strings; each module object also has
    /// KMS's `configPath`), after `KMS_*` overrides. Look keys up with [`Config::module_value`].
    pub modules: Value,
    /// tracing-subscriber `EnvFilter` directives, from [`log_filter`].
    pub log_filter: String,
}

/// KMS's built-in defaults, as if no file existed (what `cargo run` gets without /etc/kurento).
impl Default for Config {
    fn default() -> Self {
        Config {
            conf_file: None,
            config_dir: PathBuf::from("/etc/kurento"),
            modules_config_paths: Vec::new(),
            websocket: WebSocketConfig::default(),
            resources: ResourcesConfig::default(),
            metrics: MetricsConfig::default(),
            webrtc: WebRtcConfig::default(),
            base_rtp: BaseRtpConfig::default(),
            media_element: MediaElementConfig::default(),
            sdp: SdpConfig::default(),
            modules: Value::Object(serde_json::Map::new()),
            log_filter: String::new(),
        }
    }
}

/// `mediaServer.net.websocket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketConfig {
    /// `port`: plain `ws://` port; `None` when 0 or absent (listener disabled).
    pub port: Option<u16>,
    /// `path`: the URL path clients must use, without the leading `/` (default `kurento`).
    pub path: String,
    /// `address`: bind address; `None` = any (`[::]` or `0.0.0.0` depending on `ipv6`).
    pub address: Option<IpAddr>,
    /// `ipv6`: when no address is set, listen on `[::]` (falling back to IPv4); default true.
    pub ipv6: bool,
    /// `threads`: KMS worker threads (default 10); a hint for our runtime.
    pub threads: usize,
    /// `connqueue`: listen backlog; `None` = system default.
    pub connqueue: Option<u32>,
    /// `secure`: the `wss://` listener, when `secure.port` is set and non-zero.
    pub secure: Option<SecureConfig>,
    /// `registrar`: KMS's rarely used announce-to-registrar feature (parsed, not implemented).
    pub registrar: Option<RegistrarConfig>,
    /// `accessToken` (our extension; KMS ignores the token): when set, a connection must carry
    /// `?access_token=<this>` (kurento-client's `access_token` option) or it is closed.
    pub access_token: Option<Secret>,
    /// `allowedOrigins` (our extension): comma-separated `Origin` values browsers may connect
    /// from; empty = any (as KMS). Clients that send no `Origin` (servers) are always allowed.
    pub allowed_origins: Vec<String>,
}

/// A secret configuration value: compared, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `mediaServer.net.websocket.secure`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecureConfig {
    /// `secure.port`: the `wss://` port.
    pub port: u16,
    /// `secure.certificate`: PEM file with the certificate chain and private key; a relative path in
    /// the file is resolved against the config file's directory.
    pub certificate: PathBuf,
    /// `secure.password`: password of the private key, if it is encrypted. Never log it.
    pub password: Option<String>,
}

impl fmt::Debug for SecureConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecureConfig")
            .field("port", &self.port)
            .field("certificate", &self.certificate)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// `mediaServer.net.websocket.registrar`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// `registrar.address`: WebSocket URL of the registrar.
    pub address: String,
    /// `registrar.localAddress`: address announced to it.
    pub local_address: Option<String>,
}

/// `mediaServer.metrics` (not in KMS, which exports no metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `port` (`KMS_METRICS_PORT`): where `GET /metrics` answers; `None` (0 or absent, the
    /// default) = no metrics listener.
    pub port: Option<u16>,
    /// `address` (`KMS_METRICS_ADDRESS`): bind address; default 127.0.0.1, so the figures are not
    /// published beyond the machine unless asked for.
    pub address: IpAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            port: None,
            address: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        }
    }
}

/// `mediaServer.resources`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcesConfig {
    /// `garbageCollectorPeriod` (seconds in the file): how often abandoned sessions are collected.
    pub garbage_collector_period: Duration,
    /// `disableRequestCache`: turn off duplicate-request detection.
    pub disable_request_cache: bool,
    /// `exceptionLimit`: fraction of the process limits above which `create` fails (default 0.8).
    pub exception_limit: f64,
    /// `killLimit`: if set, exit when no sessions remain but usage is above this fraction.
    pub kill_limit: Option<f64>,
    /// `limits.*`: our own extension; KMS has none of these.
    pub limits: Limits,
    /// `transcoding` (our extension, default true): when false, a sink that cannot take its
    /// source's codec gets an Error event instead of a transcoder.
    pub transcoding: bool,
}

/// `mediaServer.resources.limits` (not in KMS): past each, a request gets 40009
/// NOT_ENOUGH_RESOURCES naming the key, and nothing else is affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `maxSessions`: sessions alive at once.
    pub max_sessions: usize,
    /// `maxObjectsPerSession`: objects one session may create.
    pub max_objects_per_session: usize,
    /// `maxPipelines`: MediaPipelines alive at once.
    pub max_pipelines: usize,
    /// `maxElementsPerPipeline`: elements in one pipeline.
    pub max_elements_per_pipeline: usize,
    /// `maxRequestBytes`: largest JSON-RPC request accepted (larger ones get an error reply).
    pub max_request_bytes: usize,
    /// `maxRequestsInFlight`: requests of one connection being processed at once.
    pub max_requests_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 10_000,
            max_objects_per_session: 10_000,
            max_pipelines: 10_000,
            max_elements_per_pipeline: 2_000,
            max_request_bytes: 16 << 20,
            max_requests_in_flight: 256,
        }
    }
}

/// An external address setting: a fixed IP, or `auto` (discover the public address; the Docker
/// entrypoint does that with a web lookup, we leave it to the ICE layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalAddress {
    /// `auto`.
    Auto,
    /// A fixed address.
    Ip(IpAddr),
}

/// `WebRtcEndpoint.conf.ini`.
#[derive(Clone, PartialEq)]
pub struct WebRtcConfig {
    /// `networkInterfaces`: interface names to gather ICE candidates on; `None` = all.
    pub network_interfaces: Option<Vec<String>>,
    /// `stunServerAddress`: STUN server (IP only, like KMS).
    pub stun_server_address: Option<IpAddr>,
    /// `stunServerPort` (default 3478).
    pub stun_server_port: u16,
    /// `turnURL` exactly as written. Contains the password: never log it, use [`TurnUrl::redacted`].
    pub turn_url: Option<String>,
    /// `turnURL` parsed.
    pub turn: Option<TurnUrl>,
    /// `pemCertificateRSA` (or the deprecated `pemCertificate`): DTLS certificate + key; relative
    /// paths are resolved against the module file's directory.
    pub pem_certificate_rsa: Option<PathBuf>,
    /// `pemCertificateECDSA`.
    pub pem_certificate_ecdsa: Option<PathBuf>,
    /// `externalIPv4`: rewrite IPv4 host candidates to this address.
    pub external_ipv4: Option<ExternalAddress>,
    /// `externalIPv6`: rewrite IPv6 host candidates to this address.
    pub external_ipv6: Option<ExternalAddress>,
    /// `externalAddress`: deprecated single setting for both families.
    pub external_address: Option<ExternalAddress>,
    /// `iceTcp`: gather ICE-TCP candidates (default true).
    pub ice_tcp: bool,
    /// `qos-dscp`: default DSCPValue name (e.g. `AUDIO_HIGH`) for endpoints created without one.
    pub qos_dscp: Option<String>,
    /// `sharedUdpPort` (our extension, not in KMS): one UDP port for all endpoints.
    pub shared_udp_port: Option<u16>,
}

impl fmt::Debug for WebRtcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebRtcConfig")
            .field("network_interfaces", &self.network_interfaces)
            .field("stun_server_address", &self.stun_server_address)
            .field("stun_server_port", &self.stun_server_port)
            .field(
                "turn_url",
                &self.turn.as_ref().map(|t| t.redacted().to_string()),
            )
            .field("pem_certificate_rsa", &self.pem_certificate_rsa)
            .field("pem_certificate_ecdsa", &self.pem_certificate_ecdsa)
            .field("external_ipv4", &self.external_ipv4)
            .field("external_ipv6", &self.external_ipv6)
            .field("external_address", &self.external_address)
            .field("ice_tcp", &self.ice_tcp)
            .field("qos_dscp", &self.qos_dscp)
            .field("shared_udp_port", &self.shared_udp_port)
            .finish()
    }
}

/// `BaseRtpEndpoint.conf.ini`: applies to WebRtcEndpoint and RtpEndpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseRtpConfig {
    /// `minPort`: lowest local UDP port for RTP/ICE (default 1024).
    pub min_port: u16,
    /// `maxPort`: highest local UDP port (default 65535); `min_port <= max_port` is checked.
    pub max_port: u16,
    /// `mtu`: maximum RTP packet size in bytes (default 1200).
    pub mtu: u16,
}

/// `MediaElement.conf.ini`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaElementConfig {
    /// `encoderBitrate`: target video bitrate in bps when transcoding (default 300000).
    pub encoder_bitrate: u32,
    /// `minEncoderBitrate` in bps (default 0).
    pub min_encoder_bitrate: u32,
    /// `maxEncoderBitrate` in bps (default 0 = unlimited).
    pub max_encoder_bitrate: u32,
}

/// `SdpEndpoint.conf.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpConfig {
    /// `numAudioMedias` (default 1).
    pub num_audio_medias: u32,
    /// `numVideoMedias` (default 1).
    pub num_video_medias: u32,
    /// `audioCodecs[].name`, in preference order (default opus/48000/2, PCMU/8000, AMR/8000).
    pub audio_codecs: Vec<String>,
    /// `videoCodecs[].name`, in preference order (default VP8/90000, H264/90000).
    pub video_codecs: Vec<String>,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            port: Some(8888),
            path: "kurento".to_owned(),
            address: None,
            ipv6: true,
            threads: 10,
            connqueue: None,
            secure: None,
            registrar: None,
            access_token: None,
            allowed_origins: Vec::new(),
        }
    }
}

impl Default for ResourcesConfig {
    fn default() -> Self {
        ResourcesConfig {
            garbage_collector_period: Duration::from_secs(240),
            disable_request_cache: false,
            exception_limit: 0.8,
            kill_limit: None,
            limits: Limits::default(),
            transcoding: true,
        }
    }
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        WebRtcConfig {
            network_interfaces: None,
            stun_server_address: None,
            stun_server_port: 3478,
            turn_url: None,
            turn: None,
            pem_certificate_rsa: None,
            pem_certificate_ecdsa: None,
            external_ipv4: None,
            external_ipv6: None,
            external_address: None,
            ice_tcp: true,
            qos_dscp: None,
            shared_udp_port: None,
        }
    }
}

impl Default for BaseRtpConfig {
    fn default() -> Self {
        BaseRtpConfig {
            min_port: 1024,
            max_port: 65535,
            mtu: 1200,
        }
    }
}

impl Default for MediaElementConfig {
    fn default() -> Self {
        MediaElementConfig {
            encoder_bitrate: 300_000,
            min_encoder_bitrate: 0,
            max_encoder_bitrate: 0,
        }
    }
}

impl Default for SdpConfig {
    fn default() -> Self {
        SdpConfig {
            num_audio_medias: 1,
            num_video_medias: 1,
            audio_codecs: ["opus/48000/2", "PCMU/8000", "AMR/8000"]
                .map(String::from)
                .to_vec(),
            video_codecs: ["VP8/90000", "H264/90000"].map(String::from).to_vec(),
        }
    }
}

impl Config {
    /// A value of the `modules` tree by dotted path below `modules`, e.g.
    /// `"kurento.UriEndpoint.defaultPath"`.
    pub fn module_value(&self, dotted: &str) -> Option<&Value> {
        dotted
            .split('.')
            .try_fold(&self.modules, |node, part| node.as_object()?.get(part))
    }

    /// The IP the listeners bind to: `address`, else `[::]` when `ipv6`, else `0.0.0.0`. (KMS falls
    /// back to IPv4 when binding `[::]` fails; that is the transport's job.)
    pub fn listen_ip(&self) -> IpAddr {
        match self.websocket.address {
            Some(ip) => ip,
            None if self.websocket.ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }

    /// Socket address of the `ws://` listener, if enabled.
    pub fn ws_listen_addr(&self) -> Option<SocketAddr> {
        self.websocket
            .port
            .map(|port| SocketAddr::new(self.listen_ip(), port))
    }

    /// Socket address of the `wss://` listener, if enabled.
    pub fn wss_listen_addr(&self) -> Option<SocketAddr> {
        self.websocket
            .secure
            .as_ref()
            .map(|s| SocketAddr::new(self.listen_ip(), s.port))
    }

    /// A few lines for the start-up log; secrets are redacted.
    pub fn startup_summary(&self) -> String {
        let mut lines = Vec::new();
        match &self.conf_file {
            Some(path) => lines.push(format!("configuration file: {}", path.display())),
            None => lines.push(format!(
                "configuration file: {DEFAULT_CONF_FILE} not found, using built-in defaults"
            )),
        }
        // "listening on" is the server's to say, once the socket is bound.
        if let Some(secure) = &self.websocket.secure {
            lines.push(format!(
                "secure WebSocket certificate: {}",
                secure.certificate.display()
            ));
        }
        lines.push(format!(
            "RTP ports {}-{}, MTU {}",
            self.base_rtp.min_port, self.base_rtp.max_port, self.base_rtp.mtu
        ));
        if let Some(stun) = self.webrtc.stun_server_address {
            lines.push(format!(
                "STUN server {}",
                SocketAddr::new(stun, self.webrtc.stun_server_port)
            ));
        }
        if let Some(turn) = &self.webrtc.turn {
            lines.push(format!("TURN server {}", turn.redacted()));
        }
        lines.push(format!("log filter: {}", self.log_filter));
        lines.join("\n")
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("conf_file", &self.conf_file)
            .field("config_dir", &self.config_dir)
            .field("modules_config_paths", &self.modules_config_paths)
            .field("websocket", &self.websocket)
            .field("resources", &self.resources)
            .field("metrics", &self.metrics)
            .field("webrtc", &self.webrtc)
            .field("base_rtp", &self.base_rtp)
            .field("media_element", &self.media_element)
            .field("sdp", &self.sdp)
            .field("modules", &redacted(&self.modules))
            .field("log_filter", &self.log_filter)
            .finish()
    }
}

/// A copy of a config tree with passwords and TURN URLs masked, for debug output.
pub fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    let secret = lower.contains("password") || lower == "turnurl";
                    let v = match v {
                        Value::String(s) if secret && lower == "turnurl" => Value::String(
                            s.parse::<TurnUrl>()
                                .map(|t| t.redacted().to_string())
                                .unwrap_or_else(|_| "***".to_owned()),
                        ),
                        Value::String(_) if secret => Value::String("***".to_owned()),
                        other => redacted(other),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// Loads the configuration: built-in defaults or the main file, then module files, then `KMS_*`
/// variables, then validation. `env` looks up environment variables (`|k| std::env::var(k).ok()` in
/// production; injectable for tests).
pub fn load(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    load_with_default(cli, Path::new(DEFAULT_CONF_FILE), env)
}

/// [`load`] with the default main-file location as a parameter, so tests do not depend on whether
/// this machine has an `/etc/kurento`.
fn load_with_default(
    cli: &Cli,
    default_conf_file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let conf_path = cli
        .conf_file
        .clone()
        .unwrap_or_else(|| default_conf_file.to_owned());
    let mut tree = ConfigTree::default();

    let conf_file = match std::fs::read_to_string(&conf_path) {
        Ok(text) => {
            let value = parse_main_file(&conf_path, &text)?;
            tree.merge_at("", value, &ValueSource::File(conf_path.clone()));
            Some(conf_path.clone())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && cli.conf_file.is_none() => {
            // Said once, by the start-up summary.
            tree.merge_at("", builtin_defaults(), &ValueSource::BuiltIn);
            None
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: conf_path,
                source,
            })
        }
    };

    let config_dir = match conf_path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };

    let modules_config_paths: Vec<PathBuf> = match &cli.modules_config_path {
        Some(paths) => paths
            .split(':')
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect(),
        None => vec![config_dir.join("modules")],
    };
    for dir in &modules_config_paths {
        if dir.is_dir() {
            load_modules_dir(&mut tree, dir, dir, 0)?;
        } else if cli.modules_config_path.is_some() {
            tracing::warn!(dir = %dir.display(), "module config directory not found, skipped");
        } else {
            tracing::debug!(dir = %dir.display(), "module config directory not found, skipped");
        }
    }

    env::apply(&mut tree, env);

    let kurento_modules_dir = modules_config_paths
        .first()
        .map(|d| d.join("kurento"))
        .unwrap_or_else(|| config_dir.join("modules").join("kurento"));

    let websocket = websocket_config(&tree, &config_dir)?;
    if websocket.port.is_none() && websocket.secure.is_none() {
        return Err(ConfigError::NoListener { conf_file });
    }

    Ok(Config {
        websocket,
        resources: resources_config(&tree)?,
        metrics: metrics_config(&tree)?,
        webrtc: webrtc_config(&tree, &kurento_modules_dir)?,
        base_rtp: base_rtp_config(&tree)?,
        media_element: media_element_config(&tree)?,
        sdp: sdp_config(&tree)?,
        modules: tree
            .get("modules")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default())),
        log_filter: log_filter(env),
        conf_file,
        config_dir,
        modules_config_paths,
    })
}

/// The shipped `kurento.conf.json` of KMS, minus its comments.
fn builtin_defaults() -> Value {
    json!({
        "mediaServer": {
            "resources": { "garbageCollectorPeriod": 240 },
            "net": { "websocket": { "port": 8888, "path": "kurento", "threads": 10 } }
        }
    })
}

fn ends_with_ignore_case(name: &str, suffix: &str) -> bool {
    name.len() >= suffix.len()
        && name.is_char_boundary(name.len() - suffix.len())
        && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// The main file may be named anything; its extension picks the parser (KMS also requires a `.conf`
/// stem, we do not).
fn parse_main_file(path: &Path, text: &str) -> Result<Value, ConfigError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if ends_with_ignore_case(&name, ".json") {
        kurento_json::parse(path, text)
    } else if ends_with_ignore_case(&name, ".ini") {
        ini::parse(path, text)
    } else {
        Err(ConfigError::UnsupportedFormat {
            path: path.to_owned(),
        })
    }
}

/// Loads every `<Name>.conf.ini|json` below `dir` into `modules.<subdirs of base>.<Name>`.
fn load_modules_dir(
    tree: &mut ConfigTree,
    dir: &Path,
    base: &Path,
    depth: usize,
) -> Result<(), ConfigError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot read module config directory");
            return Ok(());
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    // KMS's order is whatever the directory gives; sorting makes overlapping files deterministic.
    paths.sort();

    for path in paths {
        // `metadata` follows symlinks, which is what a config directory managed by a deploy tool needs.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if depth < MAX_MODULE_DIR_DEPTH {
                load_modules_dir(tree, &path, base, depth + 1)?;
            } else {
                tracing::warn!(dir = %path.display(), "module config directory too deep, skipped");
            }
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (stem, is_json) = if ends_with_ignore_case(&name, ".conf.json") {
            (&name[..name.len() - ".conf.json".len()], true)
        } else if ends_with_ignore_case(&name, ".conf.ini") {
            (&name[..name.len() - ".conf.ini".len()], false)
        } else {
            if name.contains(".conf.") {
                tracing::warn!(file = %path.display(), "unsupported module config format, ignored");
            }
            continue;
        };
        if stem.is_empty() {
            continue;
        }

        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let mut value = if is_json {
            kurento_json::parse(&path, &text)?
        } else {
            ini::parse(&path, &text)?
        };
        if let Value::Object(map) = &mut value {
            map.insert(
                "configPath".to_owned(),
                Value::String(dir.to_string_lossy().into_owned()),
            );
        }

        let mut prefix = String::from("modules");
        if let Ok(rel) = dir.strip_prefix(base) {
            for part in rel.iter() {
                prefix.push('.');
                prefix.push_str(&part.to_string_lossy());
            }
        }
        prefix.push('.');
        prefix.push_str(stem);
        tree.merge_at(&prefix, value, &ValueSource::File(path.clone()));
        tracing::debug!(file = %path.display(), key = %prefix, "module config loaded");
    }
    Ok(())
}

fn key(prefix: &str, name: &str) -> String {
    format!("{prefix}.{name}")
}

fn resolve(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

fn ip_value(tree: &ConfigTree, path: &str) -> Result<Option<IpAddr>, ConfigError> {
    let Some(text) = tree.string(path)? else {
        return Ok(None);
    };
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(&text);
    bare.parse::<IpAddr>()
        .map(Some)
        .map_err(|_| tree.invalid(path, format!("expected an IP address, got {text:?}")))
}

fn websocket_config(tree: &ConfigTree, config_dir: &Path) -> Result<WebSocketConfig, ConfigError> {
    let k = |name: &str| key(WEBSOCKET, name);
    let defaults = WebSocketConfig::default();

    // An explicitly empty path is meaningful (serve at `/`), so it is not treated as "absent".
    let path = match tree.get(&k("path")) {
        Some(Value::String(s)) => s.trim().trim_start_matches('/').to_owned(),
        _ => tree.string(&k("path"))?.unwrap_or(defaults.path),
    };

    let threads = match tree.uint(&k("threads"), 0, u64::from(u32::MAX))? {
        Some(0) => {
            tracing::warn!("mediaServer.net.websocket.threads is 0, using the default 10");
            defaults.threads
        }
        Some(n) => usize::try_from(n).unwrap_or(defaults.threads),
        None => defaults.threads,
    };

    let secure = match tree.port(&k("secure.port"))?.filter(|p| *p != 0) {
        None => None,
        Some(port) => {
            let Some(certificate) = tree.string(&k("secure.certificate"))? else {
                let origin = tree.origin(&k("secure.port"));
                let key = match origin.key.strip_suffix("port") {
                    Some(stem) => format!("{stem}certificate"),
                    None => k("secure.certificate"),
                };
                return Err(ConfigError::MissingCertificate {
                    source: origin.source,
                    key,
                });
            };
            Some(SecureConfig {
                port,
                certificate: resolve(config_dir, &certificate),
                password: tree.string(&k("secure.password"))?,
            })
        }
    };

    let registrar = match tree.string(&k("registrar.address"))? {
        None => None,
        Some(address) => Some(RegistrarConfig {
            address,
            local_address: tree.string(&k("registrar.localAddress"))?,
        }),
    };

    Ok(WebSocketConfig {
        port: tree.port(&k("port"))?.filter(|p| *p != 0),
        path,
        address: ip_value(tree, &k("address"))?,
        ipv6: tree.boolean(&k("ipv6"))?.unwrap_or(defaults.ipv6),
        threads,
        connqueue: tree
            .uint(&k("connqueue"), 1, u64::from(u32::MAX))?
            .and_then(|n| u32::try_from(n).ok()),
        secure,
        registrar,
        access_token: tree
            .string(&k("accessToken"))?
            .filter(|t| !t.is_empty())
            .map(Secret),
        allowed_origins: tree
            .string(&k("allowedOrigins"))?
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().to_string())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn metrics_config(tree: &ConfigTree) -> Result<MetricsConfig, ConfigError> {
    let k = |name: &str| key(METRICS, name);
    Ok(MetricsConfig {
        port: tree.port(&k("port"))?.filter(|p| *p != 0),
        address: ip_value(tree, &k("address"))?.unwrap_or(MetricsConfig::default().address),
    })
}

fn resources_config(tree: &ConfigTree) -> Result<ResourcesConfig, ConfigError> {
    let k = |name: &str| key(RESOURCES, name);
    let defaults = ResourcesConfig::default();
    Ok(ResourcesConfig {
        garbage_collector_period: tree
            .uint(&k("garbageCollectorPeriod"), 1, u64::from(u32::MAX))?
            .map(Duration::from_secs)
            .unwrap_or(defaults.garbage_collector_period),
        disable_request_cache: tree
            .boolean(&k("disableRequestCache"))?
            .unwrap_or(defaults.disable_request_cache),
        exception_limit: tree
            .fraction(&k("exceptionLimit"))?
            .unwrap_or(defaults.exception_limit),
        kill_limit: tree.fraction(&k("killLimit"))?,
        transcoding: tree
            .boolean(&k("transcoding"))?
            .unwrap_or(defaults.transcoding),
        limits: {
            let d = defaults.limits;
            let n = |name: &str, default: usize| -> Result<usize, ConfigError> {
                Ok(tree
                    .uint(&k(&format!("limits.{name}")), 1, u64::from(u32::MAX))?
                    .map_or(default, |v| usize::try_from(v).unwrap_or(usize::MAX)))
            };
            Limits {
                max_sessions: n("maxSessions", d.max_sessions)?,
                max_objects_per_session: n("maxObjectsPerSession", d.max_objects_per_session)?,
                max_pipelines: n("maxPipelines", d.max_pipelines)?,
                max_elements_per_pipeline: n(
                    "maxElementsPerPipeline",
                    d.max_elements_per_pipeline,
                )?,
                max_request_bytes: n("maxRequestBytes", d.max_request_bytes)?,
                max_requests_in_flight: n("maxRequestsInFlight", d.max_requests_in_flight)?,
            }
        },
    })
}

fn external_address(
    tree: &ConfigTree,
    path: &str,
    family: Option<fn(&IpAddr) -> bool>,
    what: &str,
) -> Result<Option<ExternalAddress>, ConfigError> {
    let Some(text) = tree.string(path)? else {
        return Ok(None);
    };
    if text.eq_ignore_ascii_case("auto") {
        return Ok(Some(ExternalAddress::Auto));
    }
    match text.parse::<IpAddr>() {
        Ok(ip) if family.is_none_or(|f| f(&ip)) => Ok(Some(ExternalAddress::Ip(ip))),
        _ => Err(tree.invalid(path, format!("expected {what} or \"auto\", got {text:?}"))),
    }
}

fn webrtc_config(
    tree: &ConfigTree,
    kurento_modules_dir: &Path,
) -> Result<WebRtcConfig, ConfigError> {
    let k = |name: &str| key(WEBRTC, name);
    let defaults = WebRtcConfig::default();

    // KMS resolves relative certificate paths against the module file's own directory.
    let cert_base = tree
        .string(&k("configPath"))?
        .map(PathBuf::from)
        .unwrap_or_else(|| kurento_modules_dir.to_owned());

    let network_interfaces = tree.string(&k("networkInterfaces"))?.and_then(|list| {
        let names: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        (!names.is_empty()).then_some(names)
    });

    let stun_server_address = match tree.string(&k("stunServerAddress"))? {
        None => None,
        Some(text) => Some(text.parse::<IpAddr>().map_err(|_| {
            let origin = tree.origin(&k("stunServerAddress"));
            ConfigError::InvalidStunAddress {
                source: origin.source,
                key: origin.key,
                value: text.clone(),
            }
        })?),
    };

    let turn_url = tree.string(&k("turnURL"))?;
    let turn = match &turn_url {
        None => None,
        Some(raw) => Some(raw.parse::<TurnUrl>().map_err(|reason| {
            let origin = tree.origin(&k("turnURL"));
            ConfigError::InvalidTurnUrl {
                source: origin.source,
                key: origin.key,
                reason,
            }
        })?),
    };

    let pem_rsa = match tree.string(&k("pemCertificateRSA"))? {
        Some(p) => Some(p),
        None => tree.string(&k("pemCertificate"))?,
    };

    Ok(WebRtcConfig {
        network_interfaces,
        stun_server_address,
        stun_server_port: tree
            .uint(&k("stunServerPort"), 1, 65535)?
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(defaults.stun_server_port),
        turn_url,
        turn,
        pem_certificate_rsa: pem_rsa.map(|p| resolve(&cert_base, &p)),
        pem_certificate_ecdsa: tree
            .string(&k("pemCertificateECDSA"))?
            .map(|p| resolve(&cert_base, &p)),
        external_ipv4: external_address(
            tree,
            &k("externalIPv4"),
            Some(IpAddr::is_ipv4),
            "an IPv4 address",
        )?,
        external_ipv6: external_address(
            tree,
            &k("externalIPv6"),
            Some(IpAddr::is_ipv6),
            "an IPv6 address",
        )?,
        external_address: external_address(tree, &k("externalAddress"), None, "an IP address")?,
        ice_tcp: tree.boolean(&k("iceTcp"))?.unwrap_or(defaults.ice_tcp),
        qos_dscp: tree.string(&k("qos-dscp"))?,
        shared_udp_port: tree
            .uint(&k("sharedUdpPort"), 1, 65535)?
            .and_then(|n| u16::try_from(n).ok()),
    })
}

fn base_rtp_config(tree: &ConfigTree) -> Result<BaseRtpConfig, ConfigError> {
    let k = |name: &str| key(BASE_RTP, name);
    let defaults = BaseRtpConfig::default();
    let u16_of = |name: &str, min: u64| -> Result<Option<u16>, ConfigError> {
        Ok(tree
            .uint(&k(name), min, 65535)?
            .and_then(|n| u16::try_from(n).ok()))
    };
    let config = BaseRtpConfig {
        min_port: u16_of("minPort", 0)?.unwrap_or(defaults.min_port),
        max_port: u16_of("maxPort", 0)?.unwrap_or(defaults.max_port),
        mtu: u16_of("mtu", 1)?.unwrap_or(defaults.mtu),
    };
    if config.min_port > config.max_port {
        return Err(ConfigError::InvertedPortRange {
            min: config.min_port,
            min_source: tree.origin(&k("minPort")).source,
            max: config.max_port,
            max_source: tree.origin(&k("maxPort")).source,
        });
    }
    Ok(config)
}

fn media_element_config(tree: &ConfigTree) -> Result<MediaElementConfig, ConfigError> {
    let k = |name: &str| key(MEDIA_ELEMENT, name);
    let defaults = MediaElementConfig::default();
    // KMS reads these as C `int`.
    let bitrate = |name: &str, default: u32| -> Result<u32, ConfigError> {
        Ok(tree
            .uint(&k(name), 0, i32::MAX as u64)?
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default))
    };
    Ok(MediaElementConfig {
        encoder_bitrate: bitrate("encoderBitrate", defaults.encoder_bitrate)?,
        min_encoder_bitrate: bitrate("minEncoderBitrate", defaults.min_encoder_bitrate)?,
        max_encoder_bitrate: bitrate("maxEncoderBitrate", defaults.max_encoder_bitrate)?,
    })
}

fn codec_list(tree: &ConfigTree, path: &str) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(value) = tree.get(path) else {
        return Ok(None);
    };
    let bad = || {
        tree.invalid(
            path,
            format!(
                "expected an array of {{\"name\": \"codec/clockrate\"}} objects, got {}",
                tree::shown(value)
            ),
        )
    };
    let Value::Array(items) = value else {
        return Err(bad());
    };
    items
        .iter()
        .map(|item| match item {
            Value::Object(map) => match map.get("name") {
                Some(Value::String(name)) if !name.trim().is_empty() => Ok(name.trim().to_owned()),
                _ => Err(bad()),
            },
            Value::String(name) if !name.trim().is_empty() => Ok(name.trim().to_owned()),
            _ => Err(bad()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn sdp_config(tree: &ConfigTree) -> Result<SdpConfig, ConfigError> {
    let k = |name: &str| key(SDP_ENDPOINT, name);
    let defaults = SdpConfig::default();
    let count = |name: &str| -> Result<Option<u32>, ConfigError> {
        Ok(tree
            .uint(&k(name), 0, u64::from(u32::MAX))?
            .and_then(|n| u32::try_from(n).ok()))
    };
    Ok(SdpConfig {
        num_audio_medias: count("numAudioMedias")?.unwrap_or(defaults.num_audio_medias),
        num_video_medias: count("numVideoMedias")?.unwrap_or(defaults.num_video_medias),
        audio_codecs: codec_list(tree, &k("audioCodecs"))?.unwrap_or(defaults.audio_codecs),
        video_codecs: codec_list(tree, &k("videoCodecs"))?.unwrap_or(defaults.video_codecs),
    })
}
