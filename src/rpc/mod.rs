//! The JSON-RPC side: WebSocket transport, sessions, dispatch and event delivery. Knows no RTP.

pub mod dispatch;
pub mod events;
pub mod session;
pub mod transport;
