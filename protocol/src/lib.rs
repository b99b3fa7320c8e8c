//! # kurento-protocol
//!
//! Kurento Media Server's JSON-RPC 2.0 protocol as KMS 6.18 and kurento-client 6.x/7.x speak it.
//! This crate knows no media: it owns every wire string (method names, error codes and symbols,
//! id formats, the `onEvent` shape) and the class/method/event model read from KMS's kmd files.
//!
//! ## Layout
//! - [`jsonrpc`]: request decoding, response and notification encoding.
//! - [`error`]: every error code, message and `data.type` (the only place).
//! - [`ids`]: `ObjectId`, `SessionId`, `SubscriptionId` and their string forms.
//! - [`params`]: typed access to `params` with KMS's messages for missing or mistyped members.
//! - [`events`]: event name aliases and the common `data` fields of every event.
//! - [`methods`]: the 13 server methods.
//! - [`model`]: classes, methods, properties, events and complex types from the kmd files,
//!   and marshalling of values against their declared types.
//! - [`test_skip`]: how the workspace's tests report one they cannot run (test support).

pub mod error;
pub mod events;
pub mod ids;
pub mod jsonrpc;
pub mod methods;
pub mod model;
pub mod params;
pub mod test_skip;

pub use error::{ErrorKind, RpcError};
pub use ids::{ObjectId, SessionId, SubscriptionId};
