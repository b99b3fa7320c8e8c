//! # kurento-media-server
//!
//! A drop-in replacement for Kurento Media Server that forwards packets instead of re-encoding.
//!
//! ## Layout
//! - [`config`]: KMS's own configuration files, Docker variables and command line.
//! - [`rpc`]: WebSocket transport, sessions, JSON-RPC dispatch and event delivery (no RTP).
//! - [`objects`]: the Kurento object model, one file per class; turns calls into media commands.
//! - [`media`]: the media core: routes packets between endpoints without decoding (no JSON).
//! - [`webrtc`]: the WebRTC adapter, the only code that uses str0m.
//! - [`rtp`]: the RTP adapter (RtpEndpoint): plain RTP/AVP(F) and SDES-keyed SRTP.
//! - [`gst_bridge`]: the GStreamer bridge (players, recorders), the only code that uses GStreamer.
//! - [`http_endpoint`]: the embedded HTTP server behind HttpPostEndpoint URLs.
//! - [`server`]: wiring: listeners, media event pump, garbage collector.

pub mod config;
pub mod gst_bridge;
pub mod http_endpoint;
pub mod media;
pub mod metrics;
pub mod objects;
pub mod rpc;
pub mod rtp;
pub mod server;
pub mod setup;
pub mod sysinfo;
pub mod vision;
pub mod webrtc;
