//! getStats: the media core's counters in Kurento's RTCStats shapes (the subset KMS users read:
//! packets and bytes per direction and media kind, plus the selected candidate pair).

use crate::media::MediaKind;
use crate::webrtc::{MediaCounters, WebRtcStats};
use kurento_protocol::model::marshal::complex;
use serde_json::{json, Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

fn rtp_common(id: &str, ty: &str, kind: MediaKind, now_ms: u128) -> Map<String, Value> {
    let kind_name = match kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
    };
    let v = json!({
        "id": id, "type": ty, "timestamp": (now_ms as f64) / 1000.0, "timestampMillis": now_ms as i64,
        "ssrc": "", "associateStatsId": "", "isRemote": false, "mediaTrackId": kind_name,
        "transportId": "transport", "codecId": "", "firCount": 0, "pliCount": 0, "nackCount": 0,
        "sliCount": 0, "remb": 0, "packetsLost": 0, "fractionLost": 0.0,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub(crate) fn to_kurento(s: &WebRtcStats, kinds: &[MediaKind]) -> Value {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut out = Map::new();
    for &kind in kinds {
        let c: &MediaCounters = match kind {
            MediaKind::Audio => &s.audio,
            MediaKind::Video => &s.video,
        };
        let name = match kind {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        };
        let in_id = format!("inbound-rtp-{name}");
        let mut m = rtp_common(&in_id, "inboundrtp", kind, now_ms);
        m.insert("packetsReceived".into(), c.packets_received.into());
        m.insert("bytesReceived".into(), c.bytes_received.into());
        m.insert("jitter".into(), 0.0.into());
        out.insert(in_id, complex("RTCInboundRTPStreamStats", m));
        let out_id = format!("outbound-rtp-{name}");
        let mut m = rtp_common(&out_id, "outboundrtp", kind, now_ms);
        m.insert("packetsSent".into(), c.packets_sent.into());
        m.insert("bytesSent".into(), c.bytes_sent.into());
        m.insert("targetBitrate".into(), 0.0.into());
        m.insert("roundTripTime".into(), 0.0.into());
        out.insert(out_id, complex("RTCOutboundRTPStreamStats", m));
    }
    if let Some((local, remote)) = &s.selected_pair {
        let mut m = Map::new();
        m.insert("id".into(), "candidate-pair".into());
        m.insert("type".into(), "candidatepair".into());
        m.insert("timestamp".into(), ((now_ms as f64) / 1000.0).into());
        m.insert("timestampMillis".into(), (now_ms as i64).into());
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
        m.insert("roundTripTime".into(), 0.0.into());
        m.insert("availableOutgoingBitrate".into(), 0.0.into());
        m.insert("availableIncomingBitrate".into(), 0.0.into());
        out.insert(
            "candidate-pair".into(),
            complex("RTCIceCandidatePairStats", m),
        );
    }
    Value::Object(out)
}

/// getStats of an RtpEndpoint: inbound and outbound RTP per kind with the real SSRCs, RTCP-derived
/// jitter, loss and round-trip time, and the feedback counts.
pub(crate) fn rtp_to_kurento(s: &crate::rtp::RtpStats, kinds: &[MediaKind]) -> Value {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut out = Map::new();
    for &kind in kinds {
        let (k, name) = match kind {
            MediaKind::Audio => (&s.audio, "audio"),
            MediaKind::Video => (&s.video, "video"),
        };
        if !k.negotiated {
            continue;
        }
        let ssrc = |v: Option<u32>| v.map(|x| x.to_string()).unwrap_or_default();
        let in_id = format!("inbound-rtp-{name}");
        let mut m = rtp_common(&in_id, "inboundrtp", kind, now_ms);
        m.insert("ssrc".into(), ssrc(k.ssrc_in).into());
        m.insert("packetsReceived".into(), k.packets_received.into());
        m.insert("bytesReceived".into(), k.bytes_received.into());
        m.insert("jitter".into(), f64::from(k.jitter).into());
        m.insert("packetsLost".into(), k.packets_lost.into());
        m.insert("fractionLost".into(), k.fraction_lost.into());
        m.insert("firCount".into(), k.fir_sent.into());
        m.insert("pliCount".into(), k.pli_sent.into());
        m.insert("nackCount".into(), k.nack_sent.into());
        m.insert("remb".into(), k.remb_sent.unwrap_or(0).into());
        out.insert(in_id, complex("RTCInboundRTPStreamStats", m));
        let out_id = format!("outbound-rtp-{name}");
        let mut m = rtp_common(&out_id, "outboundrtp", kind, now_ms);
        m.insert("ssrc".into(), ssrc(k.ssrc_out).into());
        m.insert("packetsSent".into(), k.packets_sent.into());
        m.insert("bytesSent".into(), k.bytes_sent.into());
        m.insert("packetsLost".into(), k.remote_packets_lost.into());
        m.insert("fractionLost".into(), k.remote_fraction_lost.into());
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
    Value::Object(out)
}
