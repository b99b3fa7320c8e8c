//! The media core: the graph of a pipeline's elements as the packet path sees it.
//!
//! Glossary: an *element* ([`ElementId`]) is a node with pads of three media types (AUDIO, VIDEO,
//! DATA); a [`Route`] says that media of one type produced by a source element is sent by a sink
//! element. The control plane flattens Kurento's element graph (through PassThrough, HubPorts
//! and dispatchers) into routes between elements that produce or consume media. Each pipeline
//! has one router task that owns its routes, so no lock is taken per packet.
//!
//! This module knows no JSON, no Kurento class name and no adapter (WebRTC, RTP): adapters speak
//! its vocabulary ([`RtpPacket`], [`DataMessage`], [`FromElement`], [`ElementPort`]).

pub mod bitrate;
pub mod element;
pub mod keyframe;
pub mod packet;
pub mod pipeline;
pub mod router;
pub mod stats;

pub use bitrate::BitrateLimits;
pub use element::{ElementId, ElementPort, FromElement, GraphInbox, PadId};
pub use packet::{CodecId, DataMessage, MediaExtensions, MediaKind, MediaType, RtpPacket};
pub use pipeline::{GraphEvent, InputLatency, PipelineMedia};
pub use router::Route;
pub use stats::{LatencyAvg, RtpStreamStats};
