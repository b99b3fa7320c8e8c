//! getStats: the adapters' figures in Kurento's Stats shapes, as KMS's BaseRtpEndpointImpl and
//! MediaElementImpl build them.
//!
//! Units follow KMS: jitter and roundTripTime in seconds, fractionLost on RTCP's 0..255 scale,
//! latencies in nanoseconds.

use crate::media::{InputLatency, MediaKind, RtpStreamStats};
use crate::webrtc::WebRtcStats;
use kurento_protocol::model::marshal::complex;
use serde_json::{json, Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
    }
}

fn stats_common(id: &str, ty: &str, now_ms: u128) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), id.into());
    m.insert("type".into(), ty.into());
    // KMS 6 clients still read the deprecated seconds field next to timestampMillis.
    m.insert("timestamp".into(), ((now_ms as f64) / 1000.0).into());
    m.insert("timestampMillis".into(), (now_ms as i64).into());
    m
}

fn rtp_common(
    id: &str,
    ty: &str,
    kind: MediaKind,
    ssrc: Option<u32>,
    now_ms: u128,
) -> Map<String, Value> {
    let mut m = stats_common(id, ty, now_ms);
    let rest = json!({
        "ssrc": ssrc.map(|s| s.to_string()).unwrap_or_default(), "associateStatsId": "",
        "isRemote": false, "mediaTrackId": kind_name(kind), "transportId": "transport",
        "codecId": "", "sliCount": 0,
    });
    if let Value::Object(r) = rest {
        m.extend(r);
    }
    m
}

/// RTCP carries the loss fraction as an 8-bit fixed-point number and KMS reports it raw.
fn rtcp_fraction(f: f64) -> f64 {
    (f * 256.0).clamp(0.0, 255.0).floor()
}

fn rtp_entries(out: &mut Map<String, Value>, k: &RtpStreamStats, kind: MediaKind, now_ms: u128) {
    let name = kind_name(kind);
    let in_id = format!("inbound-rtp-{name}");
    let mut m = rtp_common(&in_id, "inboundrtp", kind, k.ssrc_in, now_ms);
    m.insert("packetsReceived".into(), k.packets_received.into());
    m.insert("bytesReceived".into(), k.bytes_received.into());
    let jitter_s = if k.clock_rate_in > 0 {
        f64::from(k.jitter) / f64::from(k.clock_rate_in)
    } else {
        0.0
    };
    m.insert("jitter".into(), jitter_s.into());
    m.insert("packetsLost".into(), k.packets_lost.into());
    m.insert("fractionLost".into(), rtcp_fraction(k.fraction_lost).into());
    m.insert("firCount".into(), k.fir_sent.into());
    m.insert("pliCount".into(), k.pli_sent.into());
    m.insert("nackCount".into(), k.nack_sent.into());
    m.insert("remb".into(), k.remb_sent.unwrap_or(0).into());
    out.insert(in_id, complex("RTCInboundRTPStreamStats", m));

    let out_id = format!("outbound-rtp-{name}");
    let mut m = rtp_common(&out_id, "outboundrtp", kind, k.ssrc_out, now_ms);
    m.insert("packetsSent".into(), k.packets_sent.into());
    m.insert("bytesSent".into(), k.bytes_sent.into());
    m.insert("packetsLost".into(), k.remote_packets_lost.into());
    m.insert(
        "fractionLost".into(),
        rtcp_fraction(k.remote_fraction_lost).into(),
    );
    m.insert("firCount".into(), k.fir_received.into());
    m.insert("pliCount".into(), k.pli_received.into());
    m.insert("nackCount".into(), k.nack_received.into());
    m.insert("remb".into(), k.remb_received.unwrap_or(0).into());
    m.insert(
        "targetBitrate".into(),
        (k.remb_received.unwrap_or(0) as f64).into(),
    );
    m.insert(
        "roundTripTime".into(),
        k.rtt_ms.map(|r| r / 1000.0).unwrap_or(0.0).into(),
    );
    out.insert(out_id, complex("RTCOutboundRTPStreamStats", m));
}

fn latency_stat(name: &str, kind: MediaKind, avg_ns: f64) -> Value {
    let ty = match kind {
        MediaKind::Audio => "AUDIO",
        MediaKind::Video => "VIDEO",
    };
    complex(
        "MediaLatencyStat",
        match json!({"name": name, "type": ty, "avg": avg_ns}) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    )
}

/// The `mediaType` selector of getStats: one kind, or both.
pub(crate) fn kinds_of(ty: Option<crate::objects::graph::MediaType>) -> Vec<MediaKind> {
    match ty.and_then(crate::objects::graph::MediaType::rtp_kind) {
        Some(k) => vec![k],
        None => vec![MediaKind::Audio, MediaKind::Video],
    }
}

/// Builds KMS's stats map from an adapter's figures, for the kinds asked, with the element's
/// own entry (id and input latencies) when the pipeline measures latency.
pub(crate) type Build<S> = fn(&S, &[MediaKind], Option<(&str, InputLatency)>) -> Value;

/// getStats of an endpoint: its adapter's figures (`fetch`, run on the media side) in KMS's
/// shapes (`build`), with the element's own entry when the pipeline measures latency.
pub(crate) fn endpoint<S: Send + 'static>(
    reg: &crate::objects::Registry,
    id: &kurento_protocol::ObjectId,
    ty: Option<crate::objects::graph::MediaType>,
    fetch: impl std::future::Future<Output = Result<S, String>> + Send + 'static,
    build: Build<S>,
) -> Result<crate::objects::Outcome, kurento_protocol::RpcError> {
    let kinds = kinds_of(ty);
    let latency = element_latency(reg, id);
    Ok(crate::objects::Outcome::Pending(Box::pin(async move {
        let element = match latency {
            Some((id, input)) => Some((id, input.await)),
            None => None,
        };
        let element = element.as_ref().map(|(id, l)| (id.as_str(), *l));
        let s = fetch.await.map_err(|e| {
            kurento_protocol::RpcError::new(kurento_protocol::ErrorKind::UnexpectedError, e)
        })?;
        Ok(build(&s, &kinds, element))
    })))
}

/// With the pipeline's `latencyStats` on: the element's id, and its input latencies to come.
fn element_latency(
    reg: &crate::objects::Registry,
    id: &kurento_protocol::ObjectId,
) -> Option<(
    String,
    impl std::future::Future<Output = InputLatency> + Send + 'static,
)> {
    if !crate::objects::media_pipeline::latency_stats(reg, id) {
        return None;
    }
    let input = reg.get(id)?.element.as_ref()?.input_latency();
    Some((id.to_string(), input))
}

fn stream_name(kind: MediaKind) -> String {
    // KMS names each stream after the sink pad it measured on.
    format!("sink_{}_default", kind_name(kind))
}

/// The element's own entry when the pipeline's `latencyStats` is on (KMS adds none otherwise),
/// keyed by the element's id: `ElementStats` ("element") with the input latency of each stream,
/// or for endpoints `EndpointStats` ("endpoint") that adds the end-to-end latency of each stream
/// the endpoint sends. Latencies are in nanoseconds; the deprecated per-kind doubles that KMS 6
/// clients read are 0 when that kind has no measurement.
pub(crate) fn element_entry(
    out: &mut Map<String, Value>,
    element_id: &str,
    input: InputLatency,
    kinds: &[MediaKind],
    e2e: Option<&[(MediaKind, Option<f64>)]>,
) {
    let now = now_ms();
    let ty = if e2e.is_some() { "endpoint" } else { "element" };
    let mut m = stats_common(element_id, ty, now);
    let mut list = Vec::new();
    let (mut audio, mut video) = (0.0, 0.0);
    for &kind in kinds {
        let avg = match kind {
            MediaKind::Audio => input[0],
            MediaKind::Video => input[1],
        };
        let Some(avg) = avg else { continue };
        list.push(latency_stat(&stream_name(kind), kind, avg));
        match kind {
            MediaKind::Audio => audio = avg,
            MediaKind::Video => video = avg,
        }
    }
    m.insert("inputAudioLatency".into(), audio.into());
    m.insert("inputVideoLatency".into(), video.into());
    m.insert("inputLatency".into(), Value::Array(list));
    let Some(e2e) = e2e else {
        out.insert(element_id.into(), complex("ElementStats", m));
        return;
    };
    let mut list = Vec::new();
    let (mut audio, mut video) = (0.0, 0.0);
    for &(kind, avg) in e2e {
        let Some(avg) = avg else { continue };
        list.push(latency_stat(&stream_name(kind), kind, avg));
        match kind {
            MediaKind::Audio => audio = avg,
            MediaKind::Video => video = avg,
        }
    }
    m.insert("audioE2ELatency".into(), audio.into());
    m.insert("videoE2ELatency".into(), video.into());
    m.insert("E2ELatency".into(), Value::Array(list));
    out.insert(element_id.into(), complex("EndpointStats", m));
}

fn endpoint_map(
    audio: &RtpStreamStats,
    video: &RtpStreamStats,
    kinds: &[MediaKind],
    element: Option<(&str, InputLatency)>,
) -> Map<String, Value> {
    let now = now_ms();
    let mut out = Map::new();
    for &kind in kinds {
        let k = match kind {
            MediaKind::Audio => audio,
            MediaKind::Video => video,
        };
        if k.negotiated {
            rtp_entries(&mut out, k, kind, now);
        }
    }
    if let Some((id, input)) = element {
        let e2e: Vec<(MediaKind, Option<f64>)> = kinds
            .iter()
            .map(|&kind| {
                let k = match kind {
                    MediaKind::Audio => audio,
                    MediaKind::Video => video,
                };
                (kind, k.e2e_latency_ns)
            })
            .collect();
        element_entry(&mut out, id, input, kinds, Some(&e2e));
    }
    out
}

/// getStats of a WebRtcEndpoint. `element` is the endpoint's id when latency stats are on.
pub(crate) fn to_kurento(
    s: &WebRtcStats,
    kinds: &[MediaKind],
    element: Option<(&str, InputLatency)>,
) -> Value {
    let now = now_ms();
    let mut out = endpoint_map(&s.audio, &s.video, kinds, element);
    if let Some((local, remote)) = &s.selected_pair {
        let mut m = stats_common("candidate-pair", "candidatepair", now);
        m.insert("transportId".into(), "transport".into());
        m.insert("localCandidateId".into(), local.clone().into());
        m.insert("remoteCandidateId".into(), remote.clone().into());
        m.insert("state".into(), "succeeded".into());
        m.insert("priority".into(), 0.into());
        m.insert("nominated".into(), true.into());
        m.insert("writable".into(), true.into());
        m.insert("readable".into(), true.into());
        m.insert(
            "bytesSent".into(),
            (s.audio.bytes_sent + s.video.bytes_sent).into(),
        );
        m.insert(
            "bytesReceived".into(),
            (s.audio.bytes_received + s.video.bytes_received).into(),
        );
        let rtt = s
            .video
            .rtt_ms
            .or(s.audio.rtt_ms)
            .map(|r| r / 1000.0)
            .unwrap_or(0.0);
        m.insert("roundTripTime".into(), rtt.into());
        m.insert("availableOutgoingBitrate".into(), 0.0.into());
        m.insert("availableIncomingBitrate".into(), 0.0.into());
        out.insert(
            "candidate-pair".into(),
            complex("RTCIceCandidatePairStats", m),
        );
    }
    Value::Object(out)
}

/// getStats of an RtpEndpoint. `element` is the endpoint's id when latency stats are on.
pub(crate) fn rtp_to_kurento(
    s: &crate::rtp::RtpStats,
    kinds: &[MediaKind],
    element: Option<(&str, InputLatency)>,
) -> Value {
    Value::Object(endpoint_map(&s.audio, &s.video, kinds, element))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video() -> RtpStreamStats {
        RtpStreamStats {
            negotiated: true,
            ssrc_in: Some(4_000_000_000),
            ssrc_out: Some(7),
            clock_rate_in: 90_000,
            packets_received: 10,
            jitter: 900,
            fraction_lost: 0.5,
            rtt_ms: Some(20.0),
            e2e_latency_ns: Some(150_000.0),
            ..Default::default()
        }
    }

    #[test]
    fn rtp_entries_use_kms_units() {
        let v = rtp_to_kurento(
            &crate::rtp::RtpStats {
                audio: RtpStreamStats::default(),
                video: video(),
                connected: true,
            },
            &[MediaKind::Audio, MediaKind::Video],
            None,
        );
        let inb = &v["inbound-rtp-video"];
        assert_eq!(inb["ssrc"], "4000000000");
        assert_eq!(inb["jitter"], 0.01);
        assert_eq!(inb["fractionLost"], 128.0);
        assert_eq!(v["outbound-rtp-video"]["ssrc"], "7");
        assert_eq!(v["outbound-rtp-video"]["roundTripTime"], 0.02);
        // Not negotiated: no entries; latency off: no element entry.
        assert!(v.get("inbound-rtp-audio").is_none());
        assert_eq!(v.as_object().map(|m| m.len()), Some(2));
    }

    #[test]
    fn endpoint_entry_reports_e2e_latency_in_nanoseconds() {
        let v = rtp_to_kurento(
            &crate::rtp::RtpStats {
                audio: RtpStreamStats {
                    negotiated: true,
                    ..Default::default()
                },
                video: video(),
                connected: true,
            },
            &[MediaKind::Audio, MediaKind::Video],
            Some(("pipe/ep", [None, Some(2_000.0)])),
        );
        let e = &v["pipe/ep"];
        assert_eq!(e["type"], "endpoint");
        assert_eq!(e["id"], "pipe/ep");
        assert_eq!(e["videoE2ELatency"], 150_000.0);
        assert_eq!(e["audioE2ELatency"], 0.0);
        let list = e["E2ELatency"].as_array().cloned().unwrap_or_default();
        assert_eq!(list.len(), 1, "{e}");
        assert_eq!(list[0]["name"], "sink_video_default");
        assert_eq!(list[0]["type"], "VIDEO");
        assert_eq!(list[0]["avg"], 150_000.0);
        assert_eq!(e["inputVideoLatency"], 2_000.0);
        assert_eq!(e["inputAudioLatency"], 0.0);
        let input = e["inputLatency"].as_array().cloned().unwrap_or_default();
        assert_eq!(input.len(), 1, "{e}");
        assert_eq!(input[0]["type"], "VIDEO");
    }
}
