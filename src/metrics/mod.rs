//! Prometheus metrics (`mediaServer.metrics`; KMS exports none).
//!
//! Counters live in one process-wide set, so the packet paths of both adapters, the router and the
//! control plane bump them without being handed anything; figures that are a count of what exists
//! now (sessions, pipelines, elements, recordings) are read at scrape time instead of being kept in
//! step. Labels are bounded by construction: media kind, direction, Kurento class, JSON-RPC method
//! (the 13 of the protocol, else `other`) and error code; never an id or an SSRC.

mod http;

pub use http::serve;

use crate::media::MediaKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MediaLabels {
    media: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeedbackLabels {
    r#type: &'static str,
    direction: &'static str,
}

/// Handles per media kind (audio, video), so the packet path never looks a label set up.
struct PerKind {
    audio: Counter,
    video: Counter,
}

impl PerKind {
    fn new(f: &Family<MediaLabels, Counter>) -> PerKind {
        PerKind {
            audio: f.get_or_create_owned(&MediaLabels { media: "audio" }),
            video: f.get_or_create_owned(&MediaLabels { media: "video" }),
        }
    }
    fn get(&self, k: MediaKind) -> &Counter {
        match k {
            MediaKind::Audio => &self.audio,
            MediaKind::Video => &self.video,
        }
    }
}

/// What RTCP feedback is counted.
#[derive(Debug, Clone, Copy)]
pub enum Feedback {
    Nack,
    Pli,
    Fir,
}

/// Where a WebRTC connection failed.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    Ice,
    Dtls,
}

/// Which way a packet or a feedback message went, seen from the server.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    Received,
    Sent,
}

struct Metrics {
    registry: Registry,
    packets_in: PerKind,
    bytes_in: PerKind,
    packets_out: PerKind,
    bytes_out: PerKind,
    feedback: Family<FeedbackLabels, Counter>,
    retransmissions: Counter,
    keyframe_requests: Counter,
    webrtc_failures: Family<StageLabels, Counter>,
    latency: Histogram,
    latency_tick: AtomicU64,
    requests: Family<RequestLabels, Counter>,
    connections: Gauge,
    sessions: Gauge,
    pipelines: Gauge,
    elements: Family<TypeLabels, Gauge>,
    recordings: Gauge,
    transcoders: Gauge,
    cpu: Counter<f64, AtomicU64>,
    rss: Gauge,
}

/// One packet in this many has its forwarding latency observed: the histogram's shape is the same
/// and the packet path pays for it rarely.
const LATENCY_SAMPLE: u64 = 16;

/// A new metric of type `M`, registered under `name`; the handle returned is the registered one.
fn registered<M: Metric + Clone + Default>(r: &mut Registry, name: &str, help: &str) -> M {
    let m = M::default();
    r.register(name, help, m.clone());
    m
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let mut root = Registry::default();
        let r = root.sub_registry_with_prefix("kms");
        let per_kind = |r: &mut Registry, name: &str, help: &str| {
            PerKind::new(&registered::<Family<MediaLabels, Counter>>(r, name, help))
        };
        let packets_in = per_kind(r, "rtp_received_packets", "RTP packets received");
        let bytes_in = per_kind(r, "rtp_received_bytes", "RTP payload bytes received");
        let packets_out = per_kind(r, "rtp_sent_packets", "RTP packets sent");
        let bytes_out = per_kind(r, "rtp_sent_bytes", "RTP payload bytes sent");
        let feedback = registered(
            r,
            "rtcp_feedback",
            "RTCP feedback messages (nack, pli, fir) received from or sent to peers",
        );
        let retransmissions = registered(
            r,
            "rtp_retransmitted_packets",
            "RTP packets sent again after a NACK",
        );
        let keyframe_requests = registered(
            r,
            "keyframe_requests",
            "Keyframe requests passed from sinks towards their sources",
        );
        let webrtc_failures = registered(
            r,
            "webrtc_failures",
            "WebRtcEndpoint connections that failed, by stage (ice, dtls)",
        );
        // 10 µs .. ~80 ms: forwarding is microseconds, a transcoded hop tens of milliseconds.
        let latency = Histogram::new(exponential_buckets(0.000_01, 2.0, 14));
        r.register(
            "forwarding_latency_seconds",
            "Time from a packet's arrival at the server to its departure to a peer (sampled)",
            latency.clone(),
        );
        let requests = registered(
            r,
            "rpc_requests",
            "JSON-RPC requests answered, by method and result (ok or the Kurento error code)",
        );
        let connections = registered(r, "websocket_connections", "Open JSON-RPC connections");
        let sessions = registered(r, "sessions", "Kurento sessions alive");
        let pipelines = registered(r, "pipelines", "MediaPipelines alive");
        let elements = registered(r, "elements", "Media elements alive, by Kurento class");
        let recordings = registered(r, "recordings", "Recordings running or finalising");
        let transcoders = registered(r, "transcoders", "Transcoders running");
        // Process figures under their conventional names, outside the kms_ prefix.
        let process = root.sub_registry_with_prefix("process");
        let cpu = registered(process, "cpu_seconds", "CPU time used by the process");
        let rss = registered(
            process,
            "resident_memory_bytes",
            "Resident memory of the process",
        );
        Metrics {
            registry: root,
            packets_in,
            bytes_in,
            packets_out,
            bytes_out,
            feedback,
            retransmissions,
            keyframe_requests,
            webrtc_failures,
            latency,
            latency_tick: AtomicU64::new(0),
            requests,
            connections,
            sessions,
            pipelines,
            elements,
            recordings,
            transcoders,
            cpu,
            rss,
        }
    })
}

/// A packet arrived from a peer.
pub fn received(kind: MediaKind, bytes: usize) {
    let m = metrics();
    m.packets_in.get(kind).inc();
    m.bytes_in.get(kind).inc_by(bytes as u64);
}

/// A packet left for a peer; it had arrived at the server at `arrival`.
pub fn sent(kind: MediaKind, bytes: usize, arrival: Instant, now: Instant) {
    let m = metrics();
    m.packets_out.get(kind).inc();
    m.bytes_out.get(kind).inc_by(bytes as u64);
    if m.latency_tick
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(LATENCY_SAMPLE)
    {
        m.latency
            .observe(now.saturating_duration_since(arrival).as_secs_f64());
    }
}

pub fn feedback(kind: Feedback, direction: Direction) {
    let labels = FeedbackLabels {
        r#type: match kind {
            Feedback::Nack => "nack",
            Feedback::Pli => "pli",
            Feedback::Fir => "fir",
        },
        direction: match direction {
            Direction::Received => "received",
            Direction::Sent => "sent",
        },
    };
    metrics().feedback.get_or_create(&labels).inc();
}

pub fn retransmitted() {
    metrics().retransmissions.inc();
}

pub fn webrtc_failed(stage: Stage) {
    let stage = match stage {
        Stage::Ice => "ice",
        Stage::Dtls => "dtls",
    };
    metrics()
        .webrtc_failures
        .get_or_create(&StageLabels { stage })
        .inc();
}

pub fn keyframe_requested() {
    metrics().keyframe_requests.inc();
}

/// A JSON-RPC request was answered; `code` is `None` for a success.
pub fn request(method: &str, code: Option<i64>) {
    let labels = RequestLabels {
        method: kurento_protocol::methods::Method::from_name(method).map_or("other", |m| m.name()),
        code: code.map_or_else(|| "ok".to_string(), |c| c.to_string()),
    };
    metrics().requests.get_or_create(&labels).inc();
}

pub fn connection_opened() {
    metrics().connections.inc();
}

pub fn connection_closed() {
    metrics().connections.dec();
}

/// What exists now, counted by the control plane at scrape time.
#[derive(Debug, Default)]
pub struct Census {
    pub sessions: usize,
    pub pipelines: usize,
    /// (Kurento class, how many).
    pub elements: Vec<(String, usize)>,
    pub transcoders: usize,
}

/// The text exposition (OpenMetrics) of every metric, with `census` and the process figures as of
/// now.
pub fn render(census: &Census) -> String {
    let m = metrics();
    m.sessions.set(census.sessions as i64);
    m.pipelines.set(census.pipelines as i64);
    // A class with no element left disappears rather than staying at zero forever.
    m.elements.clear();
    for (class, n) in &census.elements {
        m.elements
            .get_or_create(&TypeLabels {
                r#type: class.clone(),
            })
            .set(*n as i64);
    }
    m.transcoders.set(census.transcoders as i64);
    m.recordings
        .set(crate::gst_bridge::recorder::active() as i64);
    let cpu = crate::sysinfo::process_cpu_seconds();
    let delta = cpu - m.cpu.get();
    if delta > 0.0 {
        m.cpu.inc_by(delta);
    }
    m.rss.set(crate::sysinfo::rss_kib().saturating_mul(1024));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &m.registry);
    out
}
