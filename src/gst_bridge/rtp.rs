//! The graph's RTP packets in and out of GStreamer buffers, and the caps that describe them.

use crate::media::{CodecId, MediaExtensions, MediaKind, RtpPacket};
use crate::rtp::wire;
use gstreamer as gst;
use std::sync::Arc;
use std::time::Instant;

/// What GStreamer needs to depayload one of our codecs: (encoding-name, depayloader, decoder
/// chain to raw).
pub(super) struct Depay {
    pub encoding: &'static str,
    pub depay: &'static str,
    pub decode: &'static str,
}

/// How a received codec is taken apart; `None` for codecs we cannot record.
pub(super) fn depay_of(c: &CodecId) -> Option<Depay> {
    let n = c.name.to_ascii_uppercase();
    Some(match n.as_str() {
        "VP8" => Depay {
            encoding: "VP8",
            depay: "rtpvp8depay",
            decode: "vp8dec",
        },
        "VP9" => Depay {
            encoding: "VP9",
            depay: "rtpvp9depay",
            decode: "vp9dec",
        },
        "H264" => Depay {
            encoding: "H264",
            depay: "rtph264depay ! h264parse",
            decode: "avdec_h264",
        },
        "OPUS" => Depay {
            encoding: "OPUS",
            depay: "rtpopusdepay",
            decode: "opusdec",
        },
        "PCMU" => Depay {
            encoding: "PCMU",
            depay: "rtppcmudepay",
            decode: "mulawdec",
        },
        "PCMA" => Depay {
            encoding: "PCMA",
            depay: "rtppcmadepay",
            decode: "alawdec",
        },
        _ => return None,
    })
}

/// application/x-rtp caps for an appsrc fed with this codec.
pub(super) fn caps_of(kind: MediaKind, c: &CodecId, pt: u8) -> Option<gst::Caps> {
    let d = depay_of(c)?;
    let media = match kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
    };
    Some(
        gst::Caps::builder("application/x-rtp")
            .field("media", media)
            .field("clock-rate", c.clock_rate as i32)
            .field("encoding-name", d.encoding)
            .field("payload", i32::from(pt))
            .build(),
    )
}

/// A graph packet as the RTP buffer an appsrc takes (header extensions are per hop: dropped);
/// without `pts_ns` the appsrc stamps it.
pub(super) fn to_buffer(p: &RtpPacket, pts_ns: Option<u64>) -> gst::Buffer {
    let bytes = wire::write_rtp(
        p.payload_type,
        p.marker,
        p.seq,
        p.timestamp,
        p.ssrc,
        &p.payload,
    );
    let mut buf = gst::Buffer::from_mut_slice(bytes);
    if let (Some(b), Some(ns)) = (buf.get_mut(), pts_ns) {
        b.set_pts(gst::ClockTime::from_nseconds(ns));
    }
    buf
}

/// An RTP buffer from a payloader as a graph packet.
pub(super) fn from_bytes(kind: MediaKind, codec: &CodecId, d: &[u8]) -> Option<RtpPacket> {
    let h = wire::parse_rtp(d)?;
    let payload = wire::payload(d, &h)?;
    let is_keyframe_hint = match (kind, codec.name.as_ref()) {
        (MediaKind::Video, "VP8") => wire::vp8_keyframe(payload),
        (MediaKind::Video, "H264") => wire::h264_keyframe(payload),
        _ => false,
    };
    Some(RtpPacket {
        kind,
        codec: codec.clone(),
        payload_type: h.payload_type,
        ssrc: h.ssrc,
        seq: h.seq,
        timestamp: h.timestamp,
        marker: h.marker,
        payload: Arc::from(payload),
        is_keyframe_hint,
        ext: MediaExtensions::default(),
        arrival: Instant::now(),
    })
}

/// Maps one stream's RTP timestamps onto the recording's timeline (ns), anchored at the
/// arrival of its first packet (and again after a source or SSRC change, or a resume), so audio
/// and video line up by arrival and each keeps its own sender's spacing.
#[derive(Debug, Default)]
pub(super) struct Timeline {
    anchor: Option<Anchor>,
    last_pts: u64,
}

#[derive(Debug)]
struct Anchor {
    ssrc: u32,
    rate: u64,
    last_ts: u32,
    /// Unwrapped RTP time since the anchor, in clock ticks.
    ticks: i64,
    base_ns: u64,
}

impl Timeline {
    /// Forget the anchor: the next packet re-anchors at its arrival.
    pub fn reanchor(&mut self) {
        self.anchor = None;
    }

    /// The PTS of a packet that arrived `arrival_ns` into the recording's timeline.
    pub fn pts(&mut self, ssrc: u32, ts: u32, rate: u32, arrival_ns: u64) -> u64 {
        let a = match &mut self.anchor {
            Some(a) if a.ssrc == ssrc => {
                a.ticks += i64::from(ts.wrapping_sub(a.last_ts) as i32);
                a.last_ts = ts;
                a
            }
            slot => slot.insert(Anchor {
                ssrc,
                rate: u64::from(rate.max(1)),
                last_ts: ts,
                ticks: 0,
                base_ns: arrival_ns.max(self.last_pts),
            }),
        };
        let offset = i128::from(a.ticks) * 1_000_000_000 / i128::from(a.rate);
        let pts = (i128::from(a.base_ns) + offset).max(0) as u64;
        // Muxers refuse time going backwards; a reordered packet keeps its frame's time.
        self.last_pts = self.last_pts.max(pts);
        self.last_pts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_follows_rtp_time_across_wraps_ssrc_changes_and_reordering() {
        let mut t = Timeline::default();
        // (ssrc, rtp ts, arrival ns, expected pts ns)
        let ms = 1_000_000u64;
        let rows: &[(u32, u32, u64, u64)] = &[
            (1, u32::MAX - 900, 100 * ms, 100 * ms),
            (1, 899, 110 * ms, 120 * ms), // 1800 ticks = 20 ms after the first, across the wrap
            (1, 0, 115 * ms, 120 * ms),   // reordered (earlier) packet: time does not go back
            (2, 5000, 400 * ms, 400 * ms), // new source: anchored at its arrival
            (2, 5000 + 9000, 480 * ms, 500 * ms),
        ];
        for (i, &(ssrc, ts, arr, want)) in rows.iter().enumerate() {
            assert_eq!(t.pts(ssrc, ts, 90000, arr), want, "row {i}");
        }
        t.reanchor();
        assert_eq!(
            t.pts(2, 1, 90000, 450 * ms),
            500 * ms,
            "never before what was written"
        );
        assert_eq!(t.pts(2, 1 + 90000, 90000, 0), 1500 * ms);
    }
}
