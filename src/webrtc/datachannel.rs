//! Data channels (KMS WebRtcEndpoint `useDataChannels`): the SDP surgery that keeps SCTP out
//! of a session when they are disabled, and the bookkeeping between str0m's channel ids, the
//! SCTP stream ids KMS reports as `channelId`, and the labels the graph routes by.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::channel::{ChannelConfig, ChannelId, Reliability};

use super::{Reply, WebRtcError};

/// Stream id of the channel that only exists to make str0m put an `m=application` section in
/// an offer (str0m offers one only along with a channel). It is negotiated out of band, so
/// nothing about it ever reaches the wire, and 65535 is reserved by RFC 8832, so no peer's
/// channel can collide with it.
pub(super) const PLACEHOLDER_STREAM: u16 = u16::MAX;

/// How long a `create_data_channel` waits for SCTP to come up and assign a stream id.
pub(super) const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

/// Incoming message bytes this endpoint may have alive in the graph (queued or held by sinks)
/// before further messages are dropped; with the message cap below this bounds what a flooding
/// peer costs, whatever the consumers' speed. str0m itself caps one message at 256 KiB
/// (`a=max-message-size`) and the SCTP receive window at 1 MiB.
const IN_FLIGHT_BYTES: usize = 4 * 1024 * 1024;
const IN_FLIGHT_MSGS: usize = 4096;

/// `-1` (KMS "unset") and other negatives become None; values beyond u16 saturate, as SCTP
/// carries these parameters in 16 bits (lifetime, ms) and 32 bits (retransmits).
fn param(v: i32) -> Option<u16> {
    (v >= 0).then(|| u16::try_from(v).unwrap_or(u16::MAX))
}

pub(super) fn channel_config(
    label: String,
    ordered: bool,
    max_packet_life_time: i32,
    max_retransmits: i32,
    protocol: String,
) -> Result<ChannelConfig, WebRtcError> {
    let reliability = match (param(max_packet_life_time), param(max_retransmits)) {
        (Some(_), Some(_)) => {
            // As RTCPeerConnection.createDataChannel: SCTP can apply only one of them.
            return Err(WebRtcError::InvalidState(
                "maxPacketLifeTime and maxRetransmits are mutually exclusive".into(),
            ));
        }
        (Some(lifetime), None) => Reliability::MaxPacketLifetime { lifetime },
        (None, Some(retransmits)) => Reliability::MaxRetransmits { retransmits },
        (None, None) => Reliability::Reliable,
    };
    Ok(ChannelConfig {
        label,
        ordered,
        reliability,
        negotiated: None,
        protocol,
    })
}

pub(super) fn placeholder_config() -> ChannelConfig {
    ChannelConfig {
        label: String::new(),
        negotiated: Some(PLACEHOLDER_STREAM),
        ..Default::default()
    }
}

pub(super) struct OpenChannel {
    pub cid: ChannelId,
    pub stream: u16,
    pub label: Arc<str>,
}

/// Channel-related state of one endpoint.
#[derive(Default)]
pub(super) struct Channels {
    pub open: Vec<OpenChannel>,
    /// Requested before negotiation; handed to str0m by the next offer or answer.
    pub queued: Vec<(ChannelConfig, Reply<u16>)>,
    /// Handed to str0m, answered once str0m assigns the stream id (after the DTLS role is known).
    pub awaiting_id: Vec<(ChannelId, Reply<u16>, Instant)>,
    pub placeholder: Option<ChannelId>,
    /// Requests that timed out in `awaiting_id`: closed if str0m still opens them.
    pub abandoned: Vec<ChannelId>,
    /// The remote description carries an `m=application` section we accepted.
    pub negotiated: bool,
    /// Incoming payloads handed to the graph, oldest first, to measure what is still alive.
    in_flight: VecDeque<Arc<[u8]>>,
    in_flight_bytes: usize,
    pub drops: Arc<DataDropCounters>,
}

#[derive(Debug, Default)]
pub(super) struct DataDropCounters {
    pub outgoing: AtomicU64,
    pub incoming: AtomicU64,
}

impl DataDropCounters {
    pub fn count_out(&self) -> u64 {
        self.outgoing.fetch_add(1, Ordering::Relaxed) + 1
    }
    pub fn count_in(&self) -> u64 {
        self.incoming.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl Channels {
    pub fn new(drops: Arc<DataDropCounters>) -> Self {
        Channels {
            drops,
            ..Default::default()
        }
    }

    pub fn by_cid(&self, cid: ChannelId) -> Option<&OpenChannel> {
        self.open.iter().find(|c| c.cid == cid)
    }

    /// The channel a graph message goes out on: its own label, else the first open one.
    pub fn target(&self, label: &str) -> Option<ChannelId> {
        self.open
            .iter()
            .find(|c| &*c.label == label)
            .or_else(|| self.open.first())
            .map(|c| c.cid)
    }

    /// Whether one more incoming payload fits the in-flight budget; if so it is tracked.
    pub fn admit(&mut self, data: &Arc<[u8]>) -> bool {
        // Consumers mostly finish in arrival order, so pruning from the front is enough; a
        // message released out of order is only counted a little longer.
        while let Some(front) = self.in_flight.front() {
            if Arc::strong_count(front) > 1 {
                break;
            }
            self.in_flight_bytes -= front.len();
            self.in_flight.pop_front();
        }
        if self.in_flight.len() >= IN_FLIGHT_MSGS
            || self.in_flight_bytes + data.len() > IN_FLIGHT_BYTES
        {
            return false;
        }
        self.in_flight_bytes += data.len();
        self.in_flight.push_back(data.clone());
        true
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.awaiting_id.iter().map(|(_, _, t)| *t).min()
    }

    pub fn fail_queued(&mut self, why: &str) {
        for (_, r) in self.queued.drain(..) {
            let _ = r.send(Err(WebRtcError::InvalidState(why.into())));
        }
    }
}

/// An SDP cut into its session part and its media sections (each starting at `m=`).
fn sections(sdp: &str) -> (String, Vec<String>) {
    let mut session = String::new();
    let mut media: Vec<String> = Vec::new();
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("m=") {
            media.push(String::new());
        }
        match media.last_mut() {
            Some(m) => m.push_str(line),
            None => session.push_str(line),
        }
    }
    (session, media)
}

fn section_mid(section: &str) -> Option<&str> {
    section
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:"))
}

/// An `m=application` section taken out of a remote offer, to be answered as rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Removed {
    index: usize,
    mline: String,
    mid: Option<String>,
}

/// A media protocol KMS's WebRtcEndpoint has a handler for: `(UDP/TLS/)?RTP/SAVP(F)?` and
/// `(UDP/)?DTLS/SCTP` (kms-core kmssdprtpsavpfmediahandler.c and kmssdpsctpmediahandler.c,
/// `manage_protocol`). Any other m-line (RTP/AVP from a SIP phone, say) KMS answers rejected.
fn webrtc_protocol(section: &str) -> bool {
    let proto = section.split_whitespace().nth(2).unwrap_or_default();
    let rtp = proto.strip_prefix("UDP/TLS/").unwrap_or(proto);
    let sctp = proto.strip_prefix("UDP/").unwrap_or(proto);
    rtp == "RTP/SAVPF" || rtp == "RTP/SAVP" || sctp == "DTLS/SCTP"
}

/// Takes out of an offer what str0m must not see: sections with a protocol no WebRtcEndpoint
/// handles (str0m refuses the whole offer for them, KMS rejects just that m-line) and, without
/// `useDataChannels`, the `m=application` sections.
pub(super) fn strip_unanswerable(sdp: &str, keep_application: bool) -> (String, Vec<Removed>) {
    strip_sections(sdp, |s| {
        !webrtc_protocol(s) || (!keep_application && s.starts_with("m=application"))
    })
}

/// The offer had no m-line left for str0m: the answer KMS gives then (kmssdpagent.c
/// `kms_sdp_agent_generate_answer`: session name "Kurento Media Server", every m-line answered by
/// the reject handler), without touching the peer connection.
pub(super) fn all_rejected_answer(removed: &[Removed], session_id: u64) -> String {
    let session = format!(
        "v=0\r\no=- {session_id} {session_id} IN IP4 0.0.0.0\r\ns=Kurento Media Server\r\nt=0 0\r\n"
    );
    insert_rejected(&session, removed)
}

fn strip_sections(sdp: &str, strip: impl Fn(&str) -> bool) -> (String, Vec<Removed>) {
    let (session, media) = sections(sdp);
    let mut removed = Vec::new();
    let mut kept = Vec::new();
    for (index, s) in media.into_iter().enumerate() {
        if strip(&s) {
            let mline = s.lines().next().unwrap_or_default().trim_end().to_string();
            removed.push(Removed {
                index,
                mline,
                mid: section_mid(&s).map(str::to_string),
            });
        } else {
            kept.push(s);
        }
    }
    if removed.is_empty() {
        return (sdp.to_string(), removed);
    }
    let gone: Vec<&str> = removed.iter().filter_map(|r| r.mid.as_deref()).collect();
    let mut out = String::with_capacity(sdp.len());
    for line in session.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        match body.strip_prefix("a=group:BUNDLE") {
            Some(mids) => {
                let left: Vec<&str> = mids
                    .split_whitespace()
                    .filter(|m| !gone.contains(m))
                    .collect();
                if !left.is_empty() {
                    out.push_str(&format!(
                        "a=group:BUNDLE {}{}",
                        left.join(" "),
                        &line[body.len()..]
                    ));
                }
            }
            None => out.push_str(line),
        }
    }
    for s in kept {
        out.push_str(&s);
    }
    (out, removed)
}

/// Puts the removed sections back into our answer at their places, rejected (port 0, RFC 3264
/// §6), so the answer has as many m-lines as the offer.
pub(super) fn insert_rejected(answer: &str, removed: &[Removed]) -> String {
    if removed.is_empty() {
        return answer.to_string();
    }
    let (session, mut media) = sections(answer);
    for r in removed {
        let mut parts = r.mline.splitn(3, ' ');
        let kind = parts.next().unwrap_or("m=application");
        let _port = parts.next();
        let rest = parts.next().unwrap_or("UDP/DTLS/SCTP webrtc-datachannel");
        // a=inactive: KMS's reject handler (kmssdpagent.c `create_reject_handler`) answers every
        // rejected m-line with that direction.
        let mut s = format!("{kind} 0 {rest}\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\n");
        if let Some(mid) = &r.mid {
            s.push_str(&format!("a=mid:{mid}\r\n"));
        }
        let at = r.index.min(media.len());
        media.insert(at, s);
    }
    let mut out = session;
    for s in media {
        out.push_str(&s);
    }
    out
}

/// The description has an `m=application` section that is not rejected (port 0).
pub(super) fn has_live_application(sdp: &str) -> bool {
    sections(sdp)
        .1
        .iter()
        .any(|s| s.starts_with("m=application") && s.split_whitespace().nth(1) != Some("0"))
}

/// The mid and m-line index candidates are signalled for: the first section not rejected.
pub(super) fn candidate_mid(sdp: &str) -> (Option<String>, u16) {
    let (_, media) = sections(sdp);
    for (i, s) in media.iter().enumerate() {
        let port = s.split_whitespace().nth(1);
        if port != Some("0") {
            let idx = u16::try_from(i).unwrap_or(0);
            return (section_mid(s).map(str::to_string), idx);
        }
    }
    (
        media
            .first()
            .and_then(|s| section_mid(s))
            .map(str::to_string),
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 0 1 2\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sctp-port:5000\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\n";

    #[test]
    fn application_section_is_stripped_and_answered_rejected() {
        let (stripped, removed) = strip_unanswerable(OFFER, false);
        assert!(!stripped.contains("m=application"), "{stripped}");
        assert!(!stripped.contains("sctp-port"), "{stripped}");
        assert!(stripped.contains("a=group:BUNDLE 1 2\r\n"), "{stripped}");
        assert_eq!(removed.len(), 1);

        let answer = "v=0\r\ns=-\r\na=group:BUNDLE 1 2\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\n";
        let full = insert_rejected(answer, &removed);
        let mlines: Vec<&str> = full.lines().filter(|l| l.starts_with("m=")).collect();
        assert_eq!(
            mlines,
            [
                "m=application 0 UDP/DTLS/SCTP webrtc-datachannel",
                "m=audio 9 UDP/TLS/RTP/SAVPF 111",
                "m=video 9 UDP/TLS/RTP/SAVPF 96"
            ]
        );
        assert!(full.contains("a=mid:0\r\nm=audio"), "{full}");
        assert_eq!(candidate_mid(&full), (Some("1".into()), 1));
    }

    #[test]
    fn offer_without_application_is_untouched() {
        let o = "v=0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n";
        let (s, r) = strip_unanswerable(o, false);
        assert_eq!(s, o);
        assert!(r.is_empty());
        assert_eq!(insert_rejected(o, &r), o);
        assert_eq!(candidate_mid(o), (Some("0".into()), 0));
    }

    #[test]
    fn kms_unset_parameters() {
        let c = channel_config("a".into(), true, -1, -1, String::new()).unwrap();
        assert_eq!(c.reliability, Reliability::Reliable);
        let c = channel_config("a".into(), false, 100, -1, String::new()).unwrap();
        assert_eq!(
            c.reliability,
            Reliability::MaxPacketLifetime { lifetime: 100 }
        );
        let c = channel_config("a".into(), false, -1, 70000, String::new()).unwrap();
        assert_eq!(
            c.reliability,
            Reliability::MaxRetransmits {
                retransmits: u16::MAX
            }
        );
        assert!(channel_config("a".into(), true, 1, 1, String::new()).is_err());
    }

    #[test]
    fn in_flight_budget_releases_consumed_messages() {
        let mut ch = Channels::default();
        let big: Arc<[u8]> = vec![0u8; IN_FLIGHT_BYTES / 2].into();
        let held = big.clone();
        assert!(ch.admit(&big));
        let big2: Arc<[u8]> = vec![0u8; IN_FLIGHT_BYTES / 2].into();
        assert!(ch.admit(&big2));
        drop(big2);
        let more: Arc<[u8]> = vec![0u8; 10].into();
        // The first is still held downstream, so the budget is full.
        assert!(!ch.admit(&more));
        drop(big);
        drop(held);
        assert!(ch.admit(&more));
    }

    #[test]
    fn plain_rtp_sections_are_stripped_and_answered_rejected_like_kms() {
        let o = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
            m=audio 5004 RTP/AVP 0 8\r\na=mid:0\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n\
            m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n";
        let (s, r) = strip_unanswerable(o, true);
        assert!(!s.contains("RTP/AVP "), "{s}");
        assert!(s.contains("a=group:BUNDLE 1\r\n"), "{s}");
        assert!(s.contains("m=application 9"), "{s}");
        let answer = "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n";
        let full = insert_rejected(answer, &r);
        assert!(
            full.contains(
                "m=audio 0 RTP/AVP 0 8\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\na=mid:0\r\nm=video 9"
            ),
            "{full}"
        );
        for p in ["RTP/SAVPF", "RTP/SAVP", "UDP/TLS/RTP/SAVP", "DTLS/SCTP"] {
            let one = format!("v=0\r\nm=audio 9 {p} 0\r\n");
            assert!(strip_unanswerable(&one, true).1.is_empty(), "{p}");
        }
    }

    #[test]
    fn offer_with_only_plain_rtp_gets_every_line_rejected() {
        let o = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
            m=audio 5004 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\nm=video 5006 RTP/AVPF 96\r\n";
        let (s, r) = strip_unanswerable(o, false);
        assert!(!s.contains("m="), "{s}");
        assert_eq!(
            all_rejected_answer(&r, 7),
            "v=0\r\no=- 7 7 IN IP4 0.0.0.0\r\ns=Kurento Media Server\r\nt=0 0\r\n\
             m=audio 0 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\n\
             m=video 0 RTP/AVPF 96\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\n"
        );
    }
}
