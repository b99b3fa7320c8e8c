//! The RTP endpoint's media side without I/O: datagrams and graph packets in, datagrams, graph
//! messages and events out. The tokio task in `mod.rs` only moves bytes and time.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::rtcp::{self, ReportBlock, Rtcp};
use super::sdp::{self, fmtp_value, Direction, LocalParams, Negotiated, ParsedSdp};
use super::srtp::{random_master, SrtpContext};
use super::wire;
use super::{RtpError, RtpEvent, RtpKindStats, RtpStats, SrtpCrypto};
use crate::media::LatencyAvg;
use crate::media::{CodecId, FromElement, MediaExtensions, MediaKind, RtpPacket};
use crate::metrics::{self, Feedback};
use crate::webrtc::rewrite::OutStream;

/// One of the endpoint's sockets: RTP or RTCP of an m-line's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Component {
    pub kind: MediaKind,
    pub rtcp: bool,
}

#[derive(Debug)]
pub enum Output {
    Transmit {
        from: Component,
        to: SocketAddr,
        data: Vec<u8>,
    },
    Graph(FromElement),
    Event(RtpEvent),
}

/// Packets kept per outgoing stream to answer NACKs (RTP/AVPF without RTX: the same packet
/// again, as KMS does).
const HISTORY: usize = 512;
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Widest gap of sequence numbers asked for again in one NACK.
const MAX_NACK_GAP: u64 = 64;
/// Silence after which the peer counts as gone: rtpsession (KMS) times a source out after five
/// RTCP intervals of 5 s; a peer that comes back is connected again by its next packet.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(25);

fn idx(k: MediaKind) -> usize {
    match k {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

#[derive(Debug, Default)]
struct SendStream {
    out: OutStream,
    /// (extended sequence number, packet before SRTP)
    history: VecDeque<(u64, Vec<u8>)>,
    out_newest_ext: u64,
    packets: u64,
    octets: u64,
    /// Last RTP timestamp sent, when, and at which clock rate: the SR's timestamp follows it.
    last: Option<(u32, Instant, u32)>,
    fir_seq: u8,
}

#[derive(Debug, Default)]
struct RecvStream {
    ssrc: Option<u32>,
    base: u64,
    max: Option<u64>,
    received: u64,
    octets: u64,
    /// RFC 3550 A.8, in timestamp units.
    jitter: f64,
    last_transit: Option<f64>,
    expected_prior: u64,
    received_prior: u64,
    /// Middle 32 bits of the last SR's NTP time and when it arrived, for LSR/DLSR.
    last_sr: Option<(u32, Instant)>,
}

struct MediaSession {
    neg: Negotiated,
    ssrc: u32,
    remote_rtp: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    latched_rtp: bool,
    latched_rtcp: bool,
    srtp_tx: Option<SrtpContext>,
    srtp_rx: Option<SrtpContext>,
    send: SendStream,
    recv: RecvStream,
    stats: RtpKindStats,
    latency: LatencyAvg,
}

impl MediaSession {
    fn new(neg: Negotiated) -> Result<Self, RtpError> {
        let (srtp_tx, srtp_rx) = match &neg.srtp {
            Some((suite, ours, theirs)) => (
                Some(
                    SrtpContext::new(*suite, ours)
                        .map_err(|e| RtpError::Sdp(format!("our SRTP key: {e:?}")))?,
                ),
                Some(
                    SrtpContext::new(*suite, theirs)
                        .map_err(|e| RtpError::Sdp(format!("the peer's SRTP key: {e:?}")))?,
                ),
            ),
            None => (None, None),
        };
        let ssrc = rand::random::<u32>() | 1;
        Ok(MediaSession {
            remote_rtp: neg.remote_rtp,
            remote_rtcp: neg.remote_rtcp,
            ssrc,
            latched_rtp: false,
            latched_rtcp: false,
            srtp_tx,
            srtp_rx,
            send: SendStream::default(),
            recv: RecvStream::default(),
            stats: RtpKindStats {
                negotiated: true,
                ssrc_out: Some(ssrc),
                ..Default::default()
            },
            latency: LatencyAvg::default(),
            neg,
        })
    }

    fn rtcp_from(&self) -> Component {
        Component {
            kind: self.neg.kind,
            rtcp: !self.neg.rtcp_mux,
        }
    }

    /// The payload type to send `c` with: same name and clock rate; for H.264 the same
    /// packetization-mode is preferred, since it decides whether FU-A/STAP-A may appear.
    fn payload_type_for(&self, c: &CodecId) -> Option<(u8, u32)> {
        let mode = |f: &str| {
            fmtp_value(f, "packetization-mode")
                .unwrap_or("0")
                .to_owned()
        };
        self.neg
            .codecs
            .iter()
            .filter(|(_, n)| n.name.eq_ignore_ascii_case(&c.name) && n.clock_rate == c.clock_rate)
            .max_by_key(|(_, n)| {
                u8::from(n.name.eq_ignore_ascii_case("H264") && mode(&n.fmtp) == mode(&c.fmtp))
            })
            .map(|(pt, n)| (*pt, n.clock_rate))
    }
}

pub struct Session {
    crypto: Option<SrtpCrypto>,
    local: LocalParams,
    local_sdp: Option<String>,
    remote_sdp: Option<String>,
    /// Our offer while waiting for the answer.
    offered: Option<ParsedSdp>,
    media: [Option<MediaSession>; 2],
    out: VecDeque<Output>,
    connected: bool,
    /// When the last valid packet from the peer arrived.
    last_input: Option<Instant>,
    unsendable: HashSet<(MediaKind, Arc<str>)>,
    next_report: Option<Instant>,
    cname: String,
    /// Wall clock at `epoch`, for NTP timestamps in sender reports.
    epoch: (Instant, SystemTime),
}

impl Session {
    pub fn new(local: LocalParams, crypto: Option<SrtpCrypto>, now: Instant) -> Self {
        Session {
            crypto,
            local,
            local_sdp: None,
            remote_sdp: None,
            offered: None,
            media: [None, None],
            out: VecDeque::new(),
            connected: false,
            last_input: None,
            unsendable: HashSet::new(),
            next_report: None,
            cname: format!("kms-rtp-{:08x}", rand::random::<u32>()),
            epoch: (now, SystemTime::now()),
        }
    }

    pub fn local_sdp(&self) -> Option<String> {
        self.local_sdp.clone()
    }

    pub fn remote_sdp(&self) -> Option<String> {
        self.remote_sdp.clone()
    }

    fn ensure_key(&mut self) {
        if self.local.crypto.is_none() {
            if let Some(c) = &self.crypto {
                let key = c
                    .key
                    .clone()
                    .filter(|k| k.len() == c.suite.master_len())
                    .unwrap_or_else(|| random_master(c.suite));
                self.local.crypto = Some((c.suite, key));
            }
        }
    }

    fn bump_version(&mut self) {
        self.local.version += 1;
    }

    pub fn generate_offer(&mut self, audio: bool, video: bool) -> Result<String, RtpError> {
        if self.remote_sdp.is_some() || self.offered.is_some() {
            return Err(RtpError::InvalidState(
                "SDP already negotiated (renegotiation is not supported)".into(),
            ));
        }
        let kinds: Vec<MediaKind> = [(audio, MediaKind::Audio), (video, MediaKind::Video)]
            .into_iter()
            .filter_map(|(on, k)| on.then_some(k))
            .collect();
        if kinds.is_empty() {
            return Err(RtpError::Sdp("offer without audio or video".into()));
        }
        self.ensure_key();
        self.bump_version();
        let sdp = sdp::offer(&self.local, &kinds);
        self.offered = Some(sdp::parse(&sdp).map_err(RtpError::Sdp)?);
        self.local_sdp = Some(sdp.clone());
        Ok(sdp)
    }

    pub fn process_offer(&mut self, offer: &str, now: Instant) -> Result<String, RtpError> {
        if self.remote_sdp.is_some() || self.offered.is_some() {
            return Err(RtpError::InvalidState(
                "SDP already negotiated (renegotiation is not supported)".into(),
            ));
        }
        let parsed = sdp::parse(offer).map_err(RtpError::Sdp)?;
        self.ensure_key();
        self.bump_version();
        let (answer, neg, rejected) = sdp::answer(&parsed, &self.local);
        for r in rejected {
            tracing::info!(m_line = r.index, reason = %r.reason, "RTP offer: m-line rejected");
        }
        self.install(neg, now)?;
        self.remote_sdp = Some(offer.to_owned());
        self.local_sdp = Some(answer.clone());
        Ok(answer)
    }

    pub fn process_answer(&mut self, answer: &str, now: Instant) -> Result<String, RtpError> {
        let Some(ours) = self.offered.as_ref() else {
            return Err(RtpError::InvalidState(
                "processAnswer without a generated offer".into(),
            ));
        };
        if self.remote_sdp.is_some() {
            return Err(RtpError::InvalidState("answer already processed".into()));
        }
        let parsed = sdp::parse(answer).map_err(RtpError::Sdp)?;
        let neg = sdp::apply_answer(ours, &parsed, &self.local).map_err(RtpError::Sdp)?;
        self.install(neg, now)?;
        self.remote_sdp = Some(answer.to_owned());
        Ok(self.local_sdp.clone().unwrap_or_default())
    }

    fn install(&mut self, neg: Vec<Negotiated>, now: Instant) -> Result<(), RtpError> {
        let mut media: [Option<MediaSession>; 2] = [None, None];
        for n in neg {
            tracing::debug!(kind = ?n.kind, direction = ?n.direction, remote = ?n.remote_rtp,
                codecs = n.codecs.len(), srtp = n.srtp.is_some(), "RTP media negotiated");
            let i = idx(n.kind);
            media[i] = Some(MediaSession::new(n)?);
        }
        self.media = media;
        if self.media.iter().any(Option::is_some) {
            self.next_report = Some(now + REPORT_INTERVAL);
        }
        Ok(())
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_report
    }

    fn ntp(&self, now: Instant) -> u64 {
        let wall = self.epoch.1 + now.saturating_duration_since(self.epoch.0);
        let d = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
        // NTP counts from 1900.
        let secs = d.as_secs() + 2_208_988_800;
        let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        (secs << 32) | frac
    }

    fn peer_up(&mut self, now: Instant) {
        self.last_input = Some(now);
        if !self.connected {
            self.connected = true;
            self.out
                .push_back(Output::Event(RtpEvent::ConnectionStateChanged {
                    connected: true,
                }));
            self.out.push_back(Output::Graph(FromElement::TransportUp));
        }
    }

    /// A datagram arrived on one of our sockets.
    pub fn handle_input(&mut self, now: Instant, on: Component, src: SocketAddr, data: &[u8]) {
        let ntp_now = self.ntp(now);
        let since = now.saturating_duration_since(self.epoch.0).as_secs_f64();
        let Some(m) = self.media[idx(on.kind)].as_mut() else {
            return;
        };
        if wire::is_rtcp(data) {
            let latched = if on.rtcp {
                m.latched_rtcp
            } else {
                m.latched_rtp
            };
            let expected = if on.rtcp { m.remote_rtcp } else { m.remote_rtp };
            if latched && expected != Some(src) {
                return;
            }
            let plain = match m.srtp_rx.as_mut() {
                Some(c) => match c.unprotect_rtcp(data) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::trace!(?e, %src, "SRTCP dropped");
                        return;
                    }
                },
                None => data.to_vec(),
            };
            let parsed = rtcp::parse(&plain);
            if parsed.is_empty() {
                return;
            }
            if !latched {
                if on.rtcp {
                    m.remote_rtcp = Some(src);
                    m.latched_rtcp = true;
                } else if m.neg.rtcp_mux {
                    m.remote_rtp = Some(src);
                    m.remote_rtcp = Some(src);
                    m.latched_rtp = true;
                    m.latched_rtcp = true;
                }
            }
            let kind = on.kind;
            let mut graph = Vec::new();
            let mut resend = Vec::new();
            let mut bye = false;
            for p in parsed {
                Self::on_rtcp(m, kind, p, now, ntp_now, &mut graph, &mut resend, &mut bye);
            }
            for pkt in resend {
                if let Some(to) = m.remote_rtp {
                    let data = match m.srtp_tx.as_mut() {
                        Some(c) => match c.protect_rtp(&pkt.1, 12, pkt.0) {
                            Ok(d) => d,
                            Err(_) => continue,
                        },
                        None => pkt.1,
                    };
                    m.stats.retransmitted += 1;
                    metrics::retransmitted();
                    self.out.push_back(Output::Transmit {
                        from: Component { kind, rtcp: false },
                        to,
                        data,
                    });
                }
            }
            for g in graph {
                self.out.push_back(Output::Graph(g));
            }
            if bye {
                self.peer_down();
            } else {
                self.peer_up(now);
            }
            return;
        }
        if on.rtcp {
            // RTP on the RTCP port: a confused peer; nothing we could do with it.
            return;
        }
        if m.latched_rtp && m.remote_rtp != Some(src) {
            return;
        }
        let Some(h) = wire::parse_rtp(data) else {
            return;
        };
        let Some((_, codec)) = m.neg.codecs.iter().find(|(pt, _)| *pt == h.payload_type) else {
            tracing::trace!(pt = h.payload_type, %src, "RTP with a payload type not negotiated");
            return;
        };
        let codec = codec.clone();
        let plain;
        let bytes: &[u8] = match m.srtp_rx.as_mut() {
            Some(c) => match c.unprotect_rtp(data, h.header_len) {
                Ok(p) => {
                    plain = p;
                    &plain
                }
                Err(e) => {
                    tracing::trace!(?e, %src, "SRTP dropped");
                    return;
                }
            },
            None => data,
        };
        let Some(payload) = wire::payload(bytes, &h) else {
            return;
        };
        if !m.latched_rtp {
            m.latched_rtp = true;
            if m.remote_rtp != Some(src) {
                tracing::debug!(kind = ?on.kind, %src, sdp = ?m.remote_rtp, "RTP: latched onto the source address");
            }
            m.remote_rtp = Some(src);
            if m.neg.rtcp_mux {
                m.remote_rtcp = Some(src);
                m.latched_rtcp = true;
            } else if !m.latched_rtcp {
                // Symmetric RTP peers send RTCP from the port after their RTP port.
                m.remote_rtcp = Some(SocketAddr::new(src.ip(), src.port().wrapping_add(1)));
            }
        }
        m.stats.clock_rate_in = codec.clock_rate;
        let missing = Self::account(&mut m.recv, &h, payload.len(), codec.clock_rate, since);
        let nack = (m.neg.feedback.nack && !missing.is_empty()).then_some(Rtcp::Nack {
            sender: m.ssrc,
            media: h.ssrc,
            seqs: missing,
        });
        if nack.is_some() {
            m.stats.nack_sent += 1;
            metrics::feedback(Feedback::Nack, metrics::Direction::Sent);
        }
        m.stats.ssrc_in = Some(h.ssrc);
        m.stats.packets_received += 1;
        m.stats.bytes_received += payload.len() as u64;
        metrics::received(on.kind, payload.len());
        if !m.neg.direction.receives() {
            self.peer_up(now);
            return;
        }
        let kind = on.kind;
        let keyframe = kind == MediaKind::Video
            && if codec.name.eq_ignore_ascii_case("VP8") {
                wire::vp8_keyframe(payload)
            } else if codec.name.eq_ignore_ascii_case("H264") {
                wire::h264_keyframe(payload)
            } else {
                false
            };
        let pkt = RtpPacket {
            kind,
            codec,
            payload_type: h.payload_type,
            ssrc: h.ssrc,
            seq: h.seq,
            timestamp: h.timestamp,
            marker: h.marker,
            payload: Arc::from(payload),
            is_keyframe_hint: keyframe,
            ext: MediaExtensions::default(),
            arrival: now,
        };
        self.peer_up(now);
        self.out.push_back(Output::Graph(FromElement::Rtp(pkt)));
        if let Some(n) = nack {
            self.send_rtcp(kind, &[n]);
        }
    }

    /// `secs`: arrival time in seconds from any fixed origin (only differences count). Returns
    /// the sequence numbers this packet shows missing, to NACK them once (RTP/AVPF: the
    /// sender resends from its history).
    fn account(
        r: &mut RecvStream,
        h: &wire::RtpHeader,
        len: usize,
        clock: u32,
        secs: f64,
    ) -> Vec<u16> {
        if r.ssrc != Some(h.ssrc) {
            // A new source (or the first): statistics restart, as RFC 3550 A.1 does.
            *r = RecvStream {
                ssrc: Some(h.ssrc),
                base: u64::from(h.seq),
                last_sr: r.last_sr,
                ..Default::default()
            };
        }
        let ext = crate::webrtc::rewrite::extend_seq(r.max, h.seq);
        let missing: Vec<u16> = match r.max {
            // A larger jump is a restarted sender, not loss worth repairing.
            Some(m) if ext > m + 1 && ext - m <= MAX_NACK_GAP => {
                (m + 1..ext).map(|x| x as u16).collect()
            }
            _ => Vec::new(),
        };
        r.max = Some(r.max.map_or(ext, |m| m.max(ext)));
        r.base = r.base.min(ext);
        r.received += 1;
        r.octets += len as u64;
        let transit = secs * f64::from(clock) - f64::from(h.timestamp);
        if let Some(prev) = r.last_transit {
            let mut d = (transit - prev).abs();
            // Timestamps wrap at 2^32: the nearest difference is the real one.
            if d > 2_147_483_648.0 {
                d = 4_294_967_296.0 - d;
            }
            r.jitter += (d - r.jitter) / 16.0;
        }
        r.last_transit = Some(transit);
        missing
    }

    #[allow(clippy::too_many_arguments)]
    fn on_rtcp(
        m: &mut MediaSession,
        kind: MediaKind,
        p: Rtcp,
        now: Instant,
        ntp_now: u64,
        graph: &mut Vec<FromElement>,
        resend: &mut Vec<(u64, Vec<u8>)>,
        bye: &mut bool,
    ) {
        let blocks = |m: &mut MediaSession, reports: &[ReportBlock]| {
            for b in reports.iter().filter(|b| b.ssrc == m.ssrc) {
                m.stats.remote_fraction_lost = f64::from(b.fraction_lost) / 256.0;
                m.stats.remote_packets_lost = i64::from(b.packets_lost);
                m.stats.remote_jitter = b.jitter;
                if b.lsr != 0 {
                    let mid = (ntp_now >> 16) as u32;
                    let rtt = mid.wrapping_sub(b.lsr).wrapping_sub(b.dlsr);
                    // Ignore a negative or absurd RTT (clock trouble or a bogus report).
                    if rtt < 65536 * 60 {
                        m.stats.rtt_ms = Some(f64::from(rtt) * 1000.0 / 65536.0);
                    }
                }
            }
        };
        match p {
            Rtcp::SenderReport {
                ssrc, ntp, reports, ..
            } => {
                if m.recv.ssrc.is_none_or(|s| s == ssrc) {
                    m.recv.last_sr = Some(((ntp >> 16) as u32, now));
                }
                blocks(m, &reports);
            }
            Rtcp::ReceiverReport { reports, .. } => blocks(m, &reports),
            Rtcp::Nack { media, seqs, .. } if media == m.ssrc => {
                m.stats.nack_received += 1;
                metrics::feedback(Feedback::Nack, metrics::Direction::Received);
                for s in seqs.into_iter().take(64) {
                    if let Some((ext, pkt)) = m.send.history.iter().find(|(q, _)| *q as u16 == s) {
                        resend.push((*ext, pkt.clone()));
                    }
                }
            }
            Rtcp::Pli { media, .. } if media == m.ssrc || media == 0 => {
                m.stats.pli_received += 1;
                metrics::feedback(Feedback::Pli, metrics::Direction::Received);
                graph.push(FromElement::KeyframeRequested { kind });
            }
            Rtcp::Fir { entries, .. } if entries.iter().any(|(s, _)| *s == m.ssrc) => {
                m.stats.fir_received += 1;
                metrics::feedback(Feedback::Fir, metrics::Direction::Received);
                graph.push(FromElement::KeyframeRequested { kind });
            }
            Rtcp::Bye { ssrcs } if m.recv.ssrc.is_none_or(|s| ssrcs.contains(&s)) => {
                *bye = true;
            }
            Rtcp::Remb { bps, .. } => {
                m.stats.remb_received = Some(bps);
                graph.push(FromElement::BitrateEstimate { bps });
            }
            _ => {}
        }
    }

    /// Media from the graph for our peer.
    pub fn send_rtp(&mut self, now: Instant, pkt: &RtpPacket) {
        let Some(m) = self.media[idx(pkt.kind)].as_mut() else {
            return;
        };
        if !m.neg.direction.sends() {
            return;
        }
        let Some((pt, clock)) = m.payload_type_for(&pkt.codec) else {
            if self.unsendable.insert((pkt.kind, pkt.codec.name.clone())) {
                tracing::info!(kind = ?pkt.kind, codec = %pkt.codec.name, "RTP: codec not negotiated, dropping");
                let accepts = m
                    .neg
                    .codecs
                    .iter()
                    .map(|(_, c)| c.clone())
                    .filter(|c| !c.name.eq_ignore_ascii_case("telephone-event"))
                    .collect();
                self.out
                    .push_back(Output::Event(RtpEvent::CodecNotNegotiated {
                        kind: pkt.kind,
                        codec: pkt.codec.name.to_string(),
                        accepts,
                    }));
            }
            return;
        };
        let Some(to) = m.remote_rtp else {
            return;
        };
        let (ext, ts) = m
            .send
            .out
            .rewrite(pkt.ssrc, pkt.seq, pkt.timestamp, clock, now);
        let seq = ext as u16;
        let plain = wire::write_rtp(pt, pkt.marker, seq, ts, m.ssrc, &pkt.payload);
        let data = match m.srtp_tx.as_mut() {
            Some(c) => match c.protect_rtp(&plain, 12, ext) {
                Ok(d) => d,
                Err(e) => {
                    tracing::debug!(?e, "SRTP protect failed");
                    return;
                }
            },
            None => plain.clone(),
        };
        if m.neg.feedback.nack || m.neg.kind == MediaKind::Video {
            if m.send.history.len() >= HISTORY {
                m.send.history.pop_front();
            }
            m.send.history.push_back((ext, plain));
        }
        if ext >= m.send.out_newest_ext {
            m.send.out_newest_ext = ext;
            m.send.last = Some((ts, now, clock));
        }
        m.send.packets += 1;
        m.send.octets += pkt.payload.len() as u64;
        m.stats.packets_sent += 1;
        m.stats.bytes_sent += pkt.payload.len() as u64;
        m.latency.record(pkt.arrival, now);
        metrics::sent(pkt.kind, pkt.payload.len(), pkt.arrival, now);
        self.out.push_back(Output::Transmit {
            from: Component {
                kind: pkt.kind,
                rtcp: false,
            },
            to,
            data,
        });
    }

    fn send_rtcp(&mut self, kind: MediaKind, pkts: &[Rtcp]) {
        let cname = self.cname.clone();
        let Some(m) = self.media[idx(kind)].as_mut() else {
            return;
        };
        let Some(to) = m.remote_rtcp else { return };
        let mut buf = Vec::new();
        // RFC 3550 6.1: a compound packet starts with a report and carries an SDES CNAME.
        let starts_with_report = matches!(
            pkts.first(),
            Some(Rtcp::SenderReport { .. } | Rtcp::ReceiverReport { .. })
        );
        if !starts_with_report {
            rtcp::write(
                &mut buf,
                &Rtcp::ReceiverReport {
                    ssrc: m.ssrc,
                    reports: Vec::new(),
                },
            );
        }
        for p in pkts {
            rtcp::write(&mut buf, p);
            if matches!(p, Rtcp::SenderReport { .. } | Rtcp::ReceiverReport { .. }) {
                rtcp::write_sdes(&mut buf, m.ssrc, &cname);
            }
        }
        if !starts_with_report {
            rtcp::write_sdes(&mut buf, m.ssrc, &cname);
        }
        let data = match m.srtp_tx.as_mut() {
            Some(c) => match c.protect_rtcp(&buf) {
                Ok(d) => d,
                Err(_) => return,
            },
            None => buf,
        };
        let from = m.rtcp_from();
        self.out.push_back(Output::Transmit { from, to, data });
    }

    fn report(&self, m: &MediaSession, now: Instant) -> Rtcp {
        let mut reports = Vec::new();
        if let (Some(ssrc), Some(max)) = (m.recv.ssrc, m.recv.max) {
            let r = &m.recv;
            let expected = max - r.base + 1;
            let lost = expected as i64 - r.received as i64;
            let exp_int = expected.saturating_sub(r.expected_prior);
            let rec_int = r.received.saturating_sub(r.received_prior);
            let lost_int = exp_int as i64 - rec_int as i64;
            let fraction = if exp_int == 0 || lost_int <= 0 {
                0
            } else {
                ((lost_int << 8) / exp_int as i64).min(255) as u8
            };
            let (lsr, dlsr) = match r.last_sr {
                Some((lsr, at)) => {
                    let d = now.saturating_duration_since(at).as_secs_f64() * 65536.0;
                    (lsr, d as u32)
                }
                None => (0, 0),
            };
            reports.push(ReportBlock {
                ssrc,
                fraction_lost: fraction,
                packets_lost: lost.clamp(-0x80_0000, 0x7F_FFFF) as i32,
                highest_seq: max as u32,
                jitter: r.jitter as u32,
                lsr,
                dlsr,
            });
        }
        match m.send.last {
            Some((ts, at, clock)) => {
                let ticks = now.saturating_duration_since(at).as_secs_f64() * f64::from(clock);
                Rtcp::SenderReport {
                    ssrc: m.ssrc,
                    ntp: self.ntp(now),
                    rtp_ts: ts.wrapping_add(ticks as u32),
                    packets: m.send.packets as u32,
                    octets: m.send.octets as u32,
                    reports,
                }
            }
            None => Rtcp::ReceiverReport {
                ssrc: m.ssrc,
                reports,
            },
        }
    }

    fn peer_down(&mut self) {
        if self.connected {
            self.connected = false;
            self.out
                .push_back(Output::Event(RtpEvent::ConnectionStateChanged {
                    connected: false,
                }));
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.connected
            && self
                .last_input
                .is_some_and(|t| now.saturating_duration_since(t) >= PEER_TIMEOUT)
        {
            tracing::info!("RTP: nothing from the peer for {PEER_TIMEOUT:?}: disconnected");
            self.peer_down();
        }
        let Some(at) = self.next_report else { return };
        if now < at {
            return;
        }
        self.next_report = Some(now + REPORT_INTERVAL);
        for kind in [MediaKind::Audio, MediaKind::Video] {
            let Some(m) = self.media[idx(kind)].as_ref() else {
                continue;
            };
            let r = self.report(m, now);
            if let Some(m) = self.media[idx(kind)].as_mut() {
                m.recv.expected_prior = m.recv.max.map_or(0, |x| x - m.recv.base + 1);
                m.recv.received_prior = m.recv.received;
                if let Rtcp::ReceiverReport { reports, .. } | Rtcp::SenderReport { reports, .. } =
                    &r
                {
                    if let Some(b) = reports.first() {
                        m.stats.fraction_lost = f64::from(b.fraction_lost) / 256.0;
                        m.stats.packets_lost = i64::from(b.packets_lost);
                        m.stats.jitter = b.jitter;
                    }
                }
            }
            self.send_rtcp(kind, &[r]);
        }
    }

    /// PLI to the peer's sender of `kind`, or FIR when only `ccm fir` was negotiated.
    pub fn request_keyframe(&mut self, kind: MediaKind) {
        let Some(m) = self.media[idx(kind)].as_mut() else {
            return;
        };
        if !m.neg.direction.receives() {
            return;
        }
        let media = m.recv.ssrc.unwrap_or(0);
        let fb = m.neg.feedback;
        let p = if fb.fir && !fb.pli {
            m.send.fir_seq = m.send.fir_seq.wrapping_add(1);
            m.stats.fir_sent += 1;
            Rtcp::Fir {
                sender: m.ssrc,
                entries: vec![(media, m.send.fir_seq)],
            }
        } else {
            m.stats.pli_sent += 1;
            metrics::feedback(Feedback::Pli, metrics::Direction::Sent);
            Rtcp::Pli {
                sender: m.ssrc,
                media,
            }
        };
        self.send_rtcp(kind, &[p]);
    }

    /// REMB to the peer, when it negotiated goog-remb.
    pub fn limit_video_bitrate(&mut self, bps: u64) {
        let Some(m) = self.media[idx(MediaKind::Video)].as_mut() else {
            return;
        };
        if !m.neg.feedback.remb {
            return;
        }
        m.stats.remb_sent = Some(bps);
        let p = Rtcp::Remb {
            sender: m.ssrc,
            bps,
            ssrcs: m.recv.ssrc.into_iter().collect(),
        };
        self.send_rtcp(MediaKind::Video, &[p]);
    }

    /// RTCP BYE on every negotiated stream.
    pub fn close(&mut self) {
        for kind in [MediaKind::Audio, MediaKind::Video] {
            if let Some(m) = self.media[idx(kind)].as_ref() {
                let bye = Rtcp::Bye {
                    ssrcs: vec![m.ssrc],
                };
                self.send_rtcp(kind, &[bye]);
            }
        }
        self.next_report = None;
    }

    pub fn stats(&self) -> RtpStats {
        let get = |k| {
            self.media[idx(k)]
                .as_ref()
                .map(|m| RtpKindStats {
                    e2e_latency_ns: m.latency.avg_ns(),
                    ..m.stats.clone()
                })
                .unwrap_or_default()
        };
        RtpStats {
            audio: get(MediaKind::Audio),
            video: get(MediaKind::Video),
            connected: self.connected,
        }
    }

    /// Where each negotiated kind sends media now (after latching).
    pub fn remote_addrs(&self, kind: MediaKind) -> Option<(SocketAddr, SocketAddr)> {
        let m = self.media[idx(kind)].as_ref()?;
        Some((m.remote_rtp?, m.remote_rtcp?))
    }

    pub fn direction(&self, kind: MediaKind) -> Option<Direction> {
        self.media[idx(kind)].as_ref().map(|m| m.neg.direction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::SrtpSuite;

    use std::net::IpAddr;

    fn params(last: u8, base: u16) -> LocalParams {
        LocalParams {
            addr: IpAddr::from([10, 0, 0, last]),
            ports: [base, base + 2],
            crypto: None,
            session_id: 7,
            version: 0,
        }
    }

    /// Two sessions wired back to back: datagrams to an address of the other are delivered to
    /// the matching component; everything else is collected.
    struct Pair {
        a: Session,
        b: Session,
        pa: LocalParams,
        pb: LocalParams,
        now: Instant,
    }

    #[derive(Default)]
    struct Got {
        graph: Vec<FromElement>,
        events: Vec<RtpEvent>,
        stray: Vec<SocketAddr>,
        sent: Vec<Vec<u8>>,
    }

    fn component_of(p: &LocalParams, to: SocketAddr) -> Option<Component> {
        if to.ip() != p.addr {
            return None;
        }
        [MediaKind::Audio, MediaKind::Video]
            .into_iter()
            .enumerate()
            .find_map(|(i, kind)| {
                let base = p.ports[i];
                (to.port() == base || to.port() == base + 1).then_some(Component {
                    kind,
                    rtcp: to.port() == base + 1,
                })
            })
    }

    fn addr_of(p: &LocalParams, c: Component) -> SocketAddr {
        let base = p.ports[idx(c.kind)];
        SocketAddr::new(p.addr, base + u16::from(c.rtcp))
    }

    impl Pair {
        fn new(crypto: bool) -> Self {
            let c = crypto.then_some(SrtpCrypto {
                suite: SrtpSuite::AesCm128HmacSha1_32,
                key: None,
            });
            let now = Instant::now();
            let (pa, pb) = (params(1, 40000), params(2, 50000));
            let mut a = Session::new(pa.clone(), c.clone(), now);
            let mut b = Session::new(pb.clone(), c, now);
            let offer = a.generate_offer(true, true).unwrap();
            let answer = b.process_offer(&offer, now).unwrap();
            a.process_answer(&answer, now).unwrap();
            Pair { a, b, pa, pb, now }
        }

        /// Delivers what `a` (or `b`) sent to the other, returning what the receiver produced.
        fn deliver(&mut self, from_a: bool) -> Got {
            let mut got = Got::default();
            let (src, dst, sp, dp) = if from_a {
                (&mut self.a, &mut self.b, &self.pa, &self.pb)
            } else {
                (&mut self.b, &mut self.a, &self.pb, &self.pa)
            };
            let mut sent = Vec::new();
            // The sender's own graph messages and events are not what the caller asserts on.
            while let Some(o) = src.poll_output() {
                if let Output::Transmit { from, to, data } = o {
                    sent.push((from, to, data));
                }
            }
            for (from, to, data) in sent {
                got.sent.push(data.clone());
                match component_of(dp, to) {
                    Some(c) => dst.handle_input(self.now, c, addr_of(sp, from), &data),
                    None => got.stray.push(to),
                }
            }
            while let Some(o) = dst.poll_output() {
                match o {
                    Output::Transmit { .. } => {}
                    Output::Event(e) => got.events.push(e),
                    Output::Graph(g) => got.graph.push(g),
                }
            }
            got
        }
    }

    fn vp8(seq: u16, key: bool) -> RtpPacket {
        RtpPacket {
            kind: MediaKind::Video,
            codec: CodecId::new("VP8", 90000, None, ""),
            payload_type: 100,
            ssrc: 0x5555,
            seq,
            timestamp: 3000 * u32::from(seq),
            marker: true,
            payload: Arc::from(if key {
                &[0x10u8, 0x00, 1, 2][..]
            } else {
                &[0x10, 0x01, 1, 2][..]
            }),
            is_keyframe_hint: key,
            ext: MediaExtensions::default(),
            arrival: Instant::now(),
        }
    }

    fn rtp_of(g: &[FromElement]) -> Vec<&RtpPacket> {
        g.iter()
            .filter_map(|m| match m {
                FromElement::Rtp(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn media_and_feedback_flow_between_two_sessions_plain_and_srtp() {
        for crypto in [false, true] {
            let mut p = Pair::new(crypto);
            let now = p.now;
            p.a.send_rtp(now, &vp8(10, true));
            p.a.send_rtp(now, &vp8(11, false));
            let got = p.deliver(true);
            assert!(got.stray.is_empty());
            let rtp = rtp_of(&got.graph);
            assert_eq!(rtp.len(), 2, "crypto {crypto}");
            assert_eq!(&*rtp[0].codec.name, "VP8");
            assert_eq!(rtp[0].payload_type, 96, "our offer's VP8 payload type");
            assert!(rtp[0].is_keyframe_hint && !rtp[1].is_keyframe_hint);
            assert_eq!(&*rtp[1].payload, &[0x10, 0x01, 1, 2]);
            assert_eq!(rtp[1].seq, rtp[0].seq.wrapping_add(1));
            assert!(got.graph.contains(&FromElement::TransportUp));
            assert_eq!(
                got.events,
                vec![RtpEvent::ConnectionStateChanged { connected: true }]
            );
            if crypto {
                assert_ne!(&got.sent[0][12..16], &[0x10, 0x00, 1, 2], "encrypted");
            }

            p.b.request_keyframe(MediaKind::Video);
            let got = p.deliver(false);
            assert!(got.graph.contains(&FromElement::KeyframeRequested {
                kind: MediaKind::Video
            }));
            p.b.limit_video_bitrate(300_000);
            let got = p.deliver(false);
            assert!(got.graph.iter().any(
                |g| matches!(g, FromElement::BitrateEstimate { bps } if bps.abs_diff(300_000) < 1000)
            ));

            // Reports: A's SR, then B's RR answering it, gives A a round-trip time.
            p.now += Duration::from_millis(1100);
            let t = p.now;
            p.a.handle_timeout(t);
            p.deliver(true);
            p.now += Duration::from_millis(20);
            let t = p.now;
            p.b.handle_timeout(t);
            p.deliver(false);
            let sa = p.a.stats();
            assert!(sa.video.rtt_ms.is_some_and(|r| r < 100.0), "{:?}", sa.video);
            assert_eq!(sa.video.packets_sent, 2);
            assert_eq!(sa.video.pli_received, 1);
            assert_eq!(p.b.stats().video.packets_received, 2);
            assert_eq!(p.b.stats().video.pli_sent, 1);
        }
    }

    #[test]
    fn nack_is_answered_from_history_and_codecs_are_checked() {
        let mut p = Pair::new(false);
        let now = p.now;
        for s in 0..5 {
            p.a.send_rtp(now, &vp8(s, s == 0));
        }
        let first = p.deliver(true);
        let a_ssrc = p.a.stats().video.ssrc_out.unwrap();
        let mut nack = Vec::new();
        rtcp::write(
            &mut nack,
            &Rtcp::Nack {
                sender: 1,
                media: a_ssrc,
                seqs: vec![rtp_of(&first.graph)[2].seq],
            },
        );
        let from = addr_of(
            &p.pb,
            Component {
                kind: MediaKind::Video,
                rtcp: true,
            },
        );
        p.a.handle_input(
            now,
            Component {
                kind: MediaKind::Video,
                rtcp: true,
            },
            from,
            &nack,
        );
        let again = p.deliver(true);
        assert_eq!(
            again.sent,
            vec![first.sent[2].clone()],
            "the same packet again"
        );
        assert_eq!(p.a.stats().video.retransmitted, 1);

        // A codec the peer did not negotiate: one event, no packets.
        let mut h263 = vp8(9, false);
        h263.codec = CodecId::new("H263", 90000, None, "");
        p.a.send_rtp(now, &h263);
        p.a.send_rtp(now, &h263);
        let mut events = Vec::new();
        while let Some(o) = p.a.poll_output() {
            match o {
                Output::Event(e) => events.push(e),
                Output::Transmit { .. } => panic!("sent a codec that was not negotiated"),
                Output::Graph(_) => {}
            }
        }
        match events.as_slice() {
            [RtpEvent::CodecNotNegotiated {
                kind: MediaKind::Video,
                codec,
                accepts,
            }] => {
                assert_eq!(codec, "H263");
                // What the session does send instead, for a transcoder to make.
                assert!(
                    accepts.iter().any(|c| c.name.as_ref() == "VP8"),
                    "{accepts:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn latches_onto_the_source_of_the_first_valid_packet() {
        let mut p = Pair::new(false);
        let now = p.now;
        p.a.send_rtp(now, &vp8(1, true));
        let mut pkts = Vec::new();
        while let Some(o) = p.a.poll_output() {
            if let Output::Transmit { data, .. } = o {
                pkts.push(data);
            }
        }
        let video = Component {
            kind: MediaKind::Video,
            rtcp: false,
        };
        // Garbage first, from anywhere: ignored, no latching.
        let nat: SocketAddr = "198.51.100.9:61000".parse().unwrap();
        for junk in [
            &b""[..],
            &[0x80][..],
            &[0x80, 96, 0, 0][..],
            &[0xFF; 40][..],
        ] {
            p.b.handle_input(now, video, nat, junk);
        }
        assert!(p.b.poll_output().is_none());
        p.b.handle_input(now, video, nat, &pkts[0]);
        assert_eq!(p.b.remote_addrs(MediaKind::Video).map(|a| a.0), Some(nat));
        // Now the SDP address is a stranger.
        let sdp_addr = addr_of(&p.pa, video);
        while p.b.poll_output().is_some() {}
        p.b.handle_input(now, video, sdp_addr, &pkts[0]);
        assert!(p.b.poll_output().is_none());
        p.b.send_rtp(now, &vp8(2, false));
        match p.b.poll_output() {
            Some(Output::Transmit { to, .. }) => assert_eq!(to, nat),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn silence_and_bye_disconnect_and_the_next_packet_reconnects() {
        let mut p = Pair::new(false);
        let now = p.now;
        p.a.send_rtp(now, &vp8(1, true));
        assert!(p
            .deliver(true)
            .events
            .contains(&RtpEvent::ConnectionStateChanged { connected: true }));
        let later = now + PEER_TIMEOUT;
        p.b.handle_timeout(later);
        let mut ev = Vec::new();
        while let Some(o) = p.b.poll_output() {
            if let Output::Event(e) = o {
                ev.push(e);
            }
        }
        assert_eq!(
            ev,
            vec![RtpEvent::ConnectionStateChanged { connected: false }]
        );
        p.a.send_rtp(later, &vp8(2, false));
        p.now = later;
        assert!(p
            .deliver(true)
            .events
            .contains(&RtpEvent::ConnectionStateChanged { connected: true }));
        p.a.close();
        assert_eq!(
            p.deliver(true).events,
            vec![RtpEvent::ConnectionStateChanged { connected: false }],
            "BYE"
        );
    }

    #[test]
    fn a_gap_is_nacked_and_the_sender_repairs_it() {
        let mut p = Pair::new(true);
        let now = p.now;
        for s in 0..4 {
            p.a.send_rtp(now, &vp8(s, s == 0));
        }
        // Lose the third packet on the way.
        let mut sent = Vec::new();
        while let Some(o) = p.a.poll_output() {
            if let Output::Transmit { from, to, data } = o {
                sent.push((from, to, data));
            }
        }
        assert_eq!(sent.len(), 4);
        sent.remove(2);
        for (from, to, data) in sent {
            let c = component_of(&p.pb, to).unwrap();
            p.b.handle_input(now, c, addr_of(&p.pa, from), &data);
        }
        let mut nacks = Vec::new();
        while let Some(o) = p.b.poll_output() {
            if let Output::Transmit { from, to, data } = o {
                nacks.push((from, to, data));
            }
        }
        assert_eq!(nacks.len(), 1, "one NACK for one gap");
        assert_eq!(p.b.stats().video.nack_sent, 1);
        for (from, to, data) in nacks {
            let c = component_of(&p.pa, to).unwrap();
            p.a.handle_input(now, c, addr_of(&p.pb, from), &data);
        }
        let repaired = p.deliver(true);
        let rtp = rtp_of(&repaired.graph);
        assert_eq!(rtp.len(), 1, "the lost packet, resent");
        assert_eq!(p.a.stats().video.nack_received, 1);
    }

    #[test]
    fn negotiation_states() {
        let now = Instant::now();
        let mut s = Session::new(params(1, 40000), None, now);
        assert!(s.process_answer("v=0\r\n", now).is_err());
        assert!(s.generate_offer(false, false).is_err());
        let o = s.generate_offer(false, true).unwrap();
        assert_eq!(s.local_sdp().as_deref(), Some(o.as_str()));
        assert!(s.process_offer(&o, now).is_err(), "glare");
        assert!(s.process_answer("garbage", now).is_err());
        let mut t = Session::new(params(2, 50000), None, now);
        let a = t.process_offer(&o, now).unwrap();
        assert_eq!(s.process_answer(&a, now).unwrap(), o);
        assert_eq!(s.remote_sdp().as_deref(), Some(a.as_str()));
        assert_eq!(s.direction(MediaKind::Video), Some(Direction::SendRecv));
        assert_eq!(s.direction(MediaKind::Audio), None);
    }
}
