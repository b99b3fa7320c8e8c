//! The WebRTC peers: a str0m `Rtc` (offerer, full ICE, DTLS-SRTP) on its own UDP socket on
//! 127.0.0.1 (or the configured local address), signalled through the Kurento JSON-RPC exactly as the one2many tutorial does.
//! The presenter sends synthetic VP8 + Opus through str0m's frame API; viewers run in RTP mode
//! and reassemble VP8 frames themselves, which is cheaper and also lets them see packet gaps.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpPacket;
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::reorder::{self, Reorder};
use crate::rpc::Rpc;

/// Marks our synthetic VP8 frames; followed by the frame number and the send time.
const MAGIC: &[u8; 4] = b"KLG1";
const VIDEO_PERIOD: Duration = Duration::from_micros(33_333);
const AUDIO_PERIOD: Duration = Duration::from_millis(20);
const KEYFRAME_INTERVAL: Duration = Duration::from_secs(2);
/// A viewer whose frame chain is broken asks for a keyframe (PLI) at most this often.
const PLI_INTERVAL: Duration = Duration::from_millis(500);

/// Microseconds since the process-wide epoch: the same clock for sender and receivers.
pub fn now_us(epoch: Instant) -> u64 {
    Instant::now().saturating_duration_since(epoch).as_micros() as u64
}

pub(crate) struct Net {
    pub(crate) rtc: Rtc,
    sock: UdpSocket,
    addr: SocketAddr,
    events: mpsc::UnboundedReceiver<Value>,
    buf: Vec<u8>,
}

pub(crate) fn new_rtc(rtp_mode: bool) -> Rtc {
    Rtc::builder()
        .clear_codecs()
        .enable_vp8(true)
        .enable_opus(true, false)
        .set_rtp_mode(rtp_mode)
        .build(Instant::now())
}

/// Removes candidate lines: candidates travel by trickle only, as with browsers.
pub(crate) fn strip_candidates(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|l| !l.starts_with("a=candidate") && !l.starts_with("a=end-of-candidates"))
        .collect()
}

/// create WebRtcEndpoint, addIceCandidate, subscribe IceCandidateFound, processOffer,
/// (viewer: presenter.connect(viewer)), gatherCandidates: the tutorial's order.
async fn signal(
    rpc: &Rpc,
    pipeline: &str,
    dir: Direction,
    rtp_mode: bool,
    connect_from: Option<&str>,
    local_ip: IpAddr,
) -> Result<(Net, String, Mid, Mid), String> {
    let mut rtc = new_rtc(rtp_mode);
    let sock = UdpSocket::bind(SocketAddr::new(local_ip, 0))
        .await
        .map_err(|e| format!("bind UDP: {e}"))?;
    let addr = sock.local_addr().map_err(|e| e.to_string())?;
    let ep = rpc
        .create("WebRtcEndpoint", json!({ "mediaPipeline": pipeline }))
        .await?;

    let cand = Candidate::host(addr, "udp").map_err(|e| e.to_string())?;
    let cand = rtc
        .add_local_candidate(cand)
        .ok_or("local candidate rejected")?
        .to_sdp_string();
    rpc.invoke(
        &ep,
        "addIceCandidate",
        Some(json!({"candidate": {
            "__module__": "kurento", "__type__": "IceCandidate",
            "candidate": cand, "sdpMid": "0", "sdpMLineIndex": 0
        }})),
    )
    .await?;
    let events = rpc.subscribe(&ep, "IceCandidateFound").await?;

    let mut api = rtc.sdp_api();
    let audio = api.add_media(MediaKind::Audio, dir, None, None, None);
    let video = api.add_media(MediaKind::Video, dir, None, None, None);
    let (offer, pending) = api.apply().ok_or("no SDP changes to offer")?;
    let offer = strip_candidates(&offer.to_sdp_string());
    let answer = rpc
        .invoke(&ep, "processOffer", Some(json!({ "offer": offer })))
        .await?;
    let answer = answer.as_str().ok_or("processOffer returned no SDP")?;
    let answer = SdpAnswer::from_sdp_string(answer).map_err(|e| format!("bad answer: {e}"))?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| format!("answer not accepted: {e}"))?;
    if let Some(presenter) = connect_from {
        rpc.invoke(presenter, "connect", Some(json!({ "sink": ep })))
            .await?;
    }
    rpc.invoke(&ep, "gatherCandidates", None).await?;
    debug!(%ep, %addr, "signalled");
    Ok((
        Net {
            rtc,
            sock,
            addr,
            events,
            buf: vec![0u8; 2048],
        },
        ep,
        audio,
        video,
    ))
}

impl Net {
    /// Transmits what str0m has queued, hands events to `on_event`; returns str0m's next timeout.
    fn drain(&mut self, mut on_event: impl FnMut(&mut Rtc, Event)) -> Result<Instant, String> {
        // A timeout already due (e.g. the pacer releasing the next queued packet) is served
        // here rather than through a trip around the event loop; bounded so input is not starved.
        let mut spins = 0;
        loop {
            match self.rtc.poll_output().map_err(|e| e.to_string())? {
                Output::Timeout(t) => {
                    let now = Instant::now();
                    if t > now || spins >= 64 {
                        return Ok(t);
                    }
                    spins += 1;
                    self.rtc
                        .handle_input(Input::Timeout(now))
                        .map_err(|e| e.to_string())?;
                }
                Output::Transmit(t) => {
                    // A full socket buffer is loss the report will show; do not block the loop.
                    let _ = self.sock.try_send_to(&t.contents, t.destination);
                }
                Output::Event(e) => on_event(&mut self.rtc, e),
            }
        }
    }

    fn on_remote_event(&mut self, v: &Value) {
        let Some(c) = v["data"]["candidate"]["candidate"].as_str() else {
            return;
        };
        match Candidate::from_sdp_string(c) {
            Ok(c) => self.rtc.add_remote_candidate(c),
            Err(e) => warn!("unusable server candidate {c}: {e}"),
        }
    }

    fn on_datagram(&mut self, n: usize, src: SocketAddr) -> Result<(), String> {
        let Ok(contents) = self.buf[..n].try_into() else {
            return Ok(());
        };
        self.rtc
            .handle_input(Input::Receive(
                Instant::now(),
                Receive {
                    proto: Protocol::Udp,
                    source: src,
                    destination: self.addr,
                    contents,
                },
            ))
            .map_err(|e| e.to_string())
    }

    fn on_timeout(&mut self) -> Result<(), String> {
        self.rtc
            .handle_input(Input::Timeout(Instant::now()))
            .map_err(|e| e.to_string())
    }
}

/// What happened on one wake-up of a peer loop.
enum Wake {
    Datagram(usize, SocketAddr),
    Remote(Value),
    Timer,
    Stop,
}

async fn wait(net: &mut Net, until: Instant, stop: &mut watch::Receiver<bool>) -> Wake {
    tokio::select! {
        r = net.sock.recv_from(&mut net.buf) => match r {
            Ok((n, src)) => Wake::Datagram(n, src),
            Err(_) => Wake::Timer,
        },
        Some(v) = net.events.recv() => Wake::Remote(v),
        _ = tokio::time::sleep_until(until.into()) => Wake::Timer,
        _ = stop.changed() => Wake::Stop,
    }
}

#[derive(Debug, Default, Clone)]
pub struct PresenterStats {
    pub connected: bool,
    pub frames_sent: u64,
    pub keyframes_sent: u64,
    pub keyframe_requests: u64,
    pub audio_sent: u64,
    /// Number of the last frame sent (frames are numbered from 0).
    pub last_frame: Option<u32>,
}

/// Builds a VP8 frame (RFC 6386 frame tag, plus the key-frame start code and size), then our
/// marker, frame number and send time, then filler up to `size`.
fn vp8_frame(key: bool, frame_no: u32, sent_us: u64, size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size.max(32));
    // first_part_size is only read by decoders, which we are not; keep it plausible.
    let first_part: u32 = 64;
    let tag: u32 = (if key { 0 } else { 1 }) | (1 << 4) | (first_part << 5);
    v.extend_from_slice(&tag.to_le_bytes()[..3]);
    if key {
        v.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        v.extend_from_slice(&640u16.to_le_bytes());
        v.extend_from_slice(&480u16.to_le_bytes());
    }
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&frame_no.to_be_bytes());
    v.extend_from_slice(&sent_us.to_be_bytes());
    v.resize(size.max(v.len()), 0x5a);
    v
}

/// Runs the presenter until `stop`; reports on `connected` once ICE + DTLS are up.
pub async fn presenter(
    rpc: Arc<Rpc>,
    pipeline: String,
    presenter_ep: tokio::sync::oneshot::Sender<Result<(String, Instant), String>>,
    bitrate_kbps: u32,
    epoch: Instant,
    local_ip: IpAddr,
    stop: watch::Receiver<bool>,
) -> Result<PresenterStats, String> {
    let r = signal(&rpc, &pipeline, Direction::SendOnly, false, None, local_ip).await;
    presenter_with(r, presenter_ep, bitrate_kbps, epoch, stop).await
}

/// The presenter's media loop on a peer already signalled (by whichever server protocol):
/// `signalled` is (peer, id announced to the viewers, audio mid, video mid).
pub(crate) async fn presenter_with(
    signalled: Result<(Net, String, Mid, Mid), String>,
    presenter_ep: tokio::sync::oneshot::Sender<Result<(String, Instant), String>>,
    bitrate_kbps: u32,
    epoch: Instant,
    mut stop: watch::Receiver<bool>,
) -> Result<PresenterStats, String> {
    let (mut net, ep_id, audio_mid, video_mid) = match signalled {
        Ok(x) => x,
        Err(e) => {
            let _ = presenter_ep.send(Err(e.clone()));
            return Err(e);
        }
    };

    let mut st = PresenterStats::default();
    let mut announce = Some(presenter_ep);
    let frame_bytes = (bitrate_kbps as usize * 1000 / 8 / 30).max(64);
    // Keyframes are larger, as with real encoders; interframes shrink so the average holds.
    let key_bytes = frame_bytes * 3;
    let inter_bytes = frame_bytes.saturating_sub(2 * frame_bytes / 60).max(32);
    let opus: Arc<[u8]> = {
        // TOC: config 31 (CELT FB 20 ms), mono, one frame; then an ~80 byte "frame".
        let mut v = vec![0xf8u8];
        v.resize(80, 0x33);
        v.into()
    };
    let mut pts: Option<(Pt, Pt)> = None;
    let mut next_video = Instant::now();
    let mut next_audio = Instant::now();
    let mut last_key: Option<Instant> = None;
    let mut force_key = true;
    let mut frame_no: u32 = 0;
    let mut audio_no: u64 = 0;
    let mut connected = false;

    loop {
        let timeout = net.drain(|_, e| match e {
            Event::Connected => connected = true,
            Event::KeyframeRequest(_) => {
                st.keyframe_requests += 1;
                force_key = true;
            }
            _ => {}
        })?;
        if connected && !st.connected {
            st.connected = true;
            // As browsers: answer every NACK the cache can, without str0m's default cap on
            // the share of retransmissions (0.15, reached with loss plus reordering).
            if let Some(tx) = net.rtc.direct_api().stream_tx_by_mid(video_mid, None) {
                tx.set_rtx_cache(1024, Duration::from_secs(3), None);
            }
            if let Some(tx) = announce.take() {
                let _ = tx.send(Ok((ep_id.clone(), Instant::now())));
            }
            next_video = Instant::now();
            next_audio = next_video;
        }
        if st.connected && pts.is_none() {
            let find = |rtc: &mut Rtc, mid: Mid, codec: Codec| {
                rtc.writer(mid).and_then(|w| {
                    w.payload_params()
                        .find(|p| p.spec().codec == codec)
                        .map(|p| p.pt())
                })
            };
            match (
                find(&mut net.rtc, video_mid, Codec::Vp8),
                find(&mut net.rtc, audio_mid, Codec::Opus),
            ) {
                (Some(v), Some(a)) => pts = Some((v, a)),
                _ => return Err("presenter: VP8/Opus not negotiated".into()),
            }
        }
        let now = Instant::now();
        if let Some((vpt, apt)) = pts {
            let wrote = now >= next_video || now >= next_audio;
            if now >= next_video {
                let key = force_key || last_key.is_none_or(|k| now - k >= KEYFRAME_INTERVAL);
                let size = if key { key_bytes } else { inter_bytes };
                let data = vp8_frame(key, frame_no, now_us(epoch), size);
                let rtp_time = MediaTime::from_90khz(frame_no as u64 * 3000);
                if let Some(w) = net.rtc.writer(video_mid) {
                    w.write(vpt, now, rtp_time, data)
                        .map_err(|e| format!("presenter video write: {e}"))?;
                }
                if key {
                    last_key = Some(now);
                    force_key = false;
                    st.keyframes_sent += 1;
                }
                st.frames_sent += 1;
                st.last_frame = Some(frame_no);
                frame_no = frame_no.wrapping_add(1);
                next_video += VIDEO_PERIOD;
                // After a stall, do not burst to catch up.
                if now > next_video + Duration::from_millis(200) {
                    next_video = now + VIDEO_PERIOD;
                }
            }
            if now >= next_audio {
                let rtp_time = MediaTime::new(audio_no * 960, Frequency::FORTY_EIGHT_KHZ);
                if let Some(w) = net.rtc.writer(audio_mid) {
                    w.write(apt, now, rtp_time, opus.clone())
                        .map_err(|e| format!("presenter audio write: {e}"))?;
                }
                audio_no += 1;
                st.audio_sent += 1;
                next_audio += AUDIO_PERIOD;
                if now > next_audio + Duration::from_millis(200) {
                    next_audio = now + AUDIO_PERIOD;
                }
            }
            if wrote {
                // str0m's pacer snapshots its queues on input, not on write: without a fresh
                // input the media just written would wait for the next timer or datagram.
                net.on_timeout()?;
            }
            net.drain(|_, e| {
                if let Event::KeyframeRequest(_) = e {
                    st.keyframe_requests += 1;
                    force_key = true;
                }
            })?;
        }
        let mut until = timeout;
        if pts.is_some() {
            until = until.min(next_video).min(next_audio);
        }
        match wait(&mut net, until, &mut stop).await {
            Wake::Datagram(n, src) => net.on_datagram(n, src)?,
            Wake::Remote(v) => net.on_remote_event(&v),
            Wake::Timer => net.on_timeout()?,
            Wake::Stop => break,
        }
    }
    Ok(st)
}

#[derive(Debug, Default, Clone)]
pub struct ViewerStats {
    pub late: bool,
    pub error: Option<String>,
    pub connected: bool,
    pub join_to_connected: Option<Duration>,
    pub join_to_first_keyframe: Option<Duration>,
    pub connected_to_first_keyframe: Option<Duration>,
    /// Seconds from ICE + DTLS connected to stop: the denominator of the packet rate.
    pub active_secs: f64,
    pub video_packets: u64,
    pub audio_packets: u64,
    pub other_packets: u64,
    /// Sequence-number gaps not filled within the reorder wait (packets never received).
    pub video_lost: u64,
    pub audio_lost: u64,
    /// Packets that filled a gap in time: NACK retransmissions, or reordered by the network.
    pub video_recovered: u64,
    pub audio_recovered: u64,
    /// Duplicated packets, or late ones (arrived after their gap was given up).
    pub reordered: u64,
    /// PLIs sent because a frame was lost or incomplete (as a browser's decoder asks).
    pub keyframe_requests: u64,
    /// Frames received whole before the first keyframe (undecodable by nature, not a fault).
    pub frames_before_keyframe: u64,
    pub frames_complete: u64,
    pub frames_incomplete: u64,
    /// Complete frames whose reference chain back to a keyframe is intact.
    pub frames_decodable: u64,
    /// Frame numbers that never arrived at all (gap in our embedded numbering).
    pub frames_skipped: u64,
    /// Frames whose embedded number went backwards.
    pub frames_out_of_order: u64,
    pub first_frame: Option<u32>,
    pub last_frame: Option<u32>,
    pub latencies_us: Vec<u32>,
}

/// Reassembly state of the VP8 frame being received.
#[derive(Default)]
struct Asm {
    in_frame: bool,
    broken: bool,
    key: bool,
    frame_no: u32,
    sent_us: u64,
}

/// A received video packet waiting in the reorder buffer.
struct VideoPkt {
    marker: bool,
    payload: Arc<[u8]>,
}

struct Viewer {
    st: ViewerStats,
    epoch: Instant,
    vp8: Option<Pt>,
    opus: Option<Pt>,
    video_seq: Reorder<VideoPkt>,
    audio_seq: Reorder<()>,
    asm: Asm,
    seen_key: bool,
    /// The frame chain broke after the first keyframe: ask for a new keyframe.
    need_key: bool,
    last_pli: Option<Instant>,
    chain_ok: bool,
    join: Instant,
    connected_at: Option<Instant>,
}

/// The VP8 payload after the RFC 7741 descriptor, and whether it starts partition 0 of a frame.
fn vp8_descriptor(p: &[u8]) -> Option<(bool, &[u8])> {
    let b0 = *p.first()?;
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let x = *p.get(1)?;
        i = 2;
        if x & 0x80 != 0 {
            // PictureID: 7 or 15 bits.
            i += if *p.get(i)? & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    let start = b0 & 0x10 != 0 && b0 & 0x07 == 0;
    Some((start, p.get(i..)?))
}

/// (keyframe, frame number, send time) of one of our frames.
fn frame_header(vp8: &[u8]) -> Option<(bool, u32, u64)> {
    let key = vp8.first()? & 1 == 0;
    let off = if key { 10 } else { 3 };
    let h = vp8.get(off..off + 16)?;
    if &h[..4] != MAGIC {
        return None;
    }
    let n = u32::from_be_bytes(h[4..8].try_into().ok()?);
    let t = u64::from_be_bytes(h[8..16].try_into().ok()?);
    Some((key, n, t))
}

impl Viewer {
    /// `wait`: how long a sequence gap may stay open for a retransmission before it is lost.
    fn new(late: bool, epoch: Instant, join: Instant, wait: Duration) -> Viewer {
        Viewer {
            st: ViewerStats {
                late,
                ..Default::default()
            },
            epoch,
            vp8: None,
            opus: None,
            video_seq: Reorder::new(wait),
            audio_seq: Reorder::new(wait),
            asm: Asm::default(),
            seen_key: false,
            need_key: false,
            last_pli: None,
            chain_ok: false,
            join,
            connected_at: None,
        }
    }

    fn on_rtp(&mut self, p: RtpPacket) {
        self.on_packet(
            p.header.payload_type,
            *p.seq_no,
            p.header.marker,
            p.payload,
            Instant::now(),
        );
    }

    /// One received RTP packet: `seq` is the extended sequence number.
    fn on_packet(&mut self, pt: Pt, seq: u64, marker: bool, payload: Arc<[u8]>, now: Instant) {
        let mut out = Vec::new();
        if Some(pt) == self.opus {
            self.st.audio_packets += 1;
            self.audio_seq.push(seq, now, (), &mut out);
        } else if Some(pt) == self.vp8 {
            self.st.video_packets += 1;
            let mut vout = Vec::new();
            self.video_seq
                .push(seq, now, VideoPkt { marker, payload }, &mut vout);
            self.on_video(vout);
        } else {
            self.st.other_packets += 1;
        }
        self.sync_counts();
    }

    /// Gives up gaps that waited too long (`flush`: all of them, at the end).
    fn on_time(&mut self, now: Instant, flush: bool) {
        let mut vout = Vec::new();
        let mut aout = Vec::new();
        if flush {
            self.video_seq.flush(&mut vout);
            self.audio_seq.flush(&mut aout);
        } else {
            self.video_seq.poll(now, &mut vout);
            self.audio_seq.poll(now, &mut aout);
        }
        self.on_video(vout);
        self.sync_counts();
    }

    fn deadline(&self) -> Option<Instant> {
        match (self.video_seq.deadline(), self.audio_seq.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn sync_counts(&mut self) {
        self.st.video_lost = self.video_seq.lost;
        self.st.audio_lost = self.audio_seq.lost;
        self.st.video_recovered = self.video_seq.recovered;
        self.st.audio_recovered = self.audio_seq.recovered;
        self.st.reordered = self.video_seq.late + self.audio_seq.late;
    }

    fn on_video(&mut self, out: Vec<reorder::Out<VideoPkt>>) {
        for o in out {
            match o {
                reorder::Out::Gap(_) => self.asm.broken = true,
                reorder::Out::Packet(p) => self.on_video_packet(p.marker, &p.payload),
            }
        }
    }

    /// One video packet, in sequence order.
    fn on_video_packet(&mut self, marker: bool, payload: &[u8]) {
        let Some((start, vp8)) = vp8_descriptor(payload) else {
            self.asm.broken = true;
            return;
        };
        if start {
            if self.asm.in_frame {
                // The previous frame's last packet (marker) never came.
                self.finish(false);
            }
            match frame_header(vp8) {
                Some((key, n, t)) => {
                    self.asm = Asm {
                        in_frame: true,
                        broken: false,
                        key,
                        frame_no: n,
                        sent_us: t,
                    };
                }
                None => {
                    self.asm.in_frame = false;
                    self.st.other_packets += 1;
                }
            }
        }
        if self.asm.in_frame && marker {
            let complete = !self.asm.broken;
            self.finish(complete);
        }
    }

    fn finish(&mut self, complete: bool) {
        self.asm.in_frame = false;
        let (key, n) = (self.asm.key, self.asm.frame_no);
        if !self.seen_key {
            if !(complete && key) {
                self.st.frames_before_keyframe += 1;
                return;
            }
            self.seen_key = true;
            let now = Instant::now();
            self.st.join_to_first_keyframe = Some(now - self.join);
            self.st.connected_to_first_keyframe = self.connected_at.map(|c| now - c);
            self.st.first_frame = Some(n);
        } else if let Some(last) = self.st.last_frame {
            if n <= last {
                self.st.frames_out_of_order += 1;
                return;
            }
            if n != last + 1 {
                self.st.frames_skipped += (n - last - 1) as u64;
                self.chain_ok = false;
                self.need_key = true;
            }
        }
        self.st.last_frame = Some(n);
        if !complete {
            self.st.frames_incomplete += 1;
            self.chain_ok = false;
            self.need_key = true;
            return;
        }
        self.st.frames_complete += 1;
        if key {
            self.chain_ok = true;
            self.need_key = false;
        }
        if self.chain_ok {
            self.st.frames_decodable += 1;
        }
        let lat = now_us(self.epoch).saturating_sub(self.asm.sent_us);
        self.st.latencies_us.push(lat.min(u32::MAX as u64) as u32);
    }
}

/// Joins as a viewer (recvonly) and counts what arrives until `stop`.
/// `setup_done` is dropped once connected (or on failure), to bound concurrent handshakes.
// Each argument is one independent setting of the run; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub async fn viewer(
    rpc: Arc<Rpc>,
    pipeline: String,
    presenter_ep: String,
    late: bool,
    epoch: Instant,
    local_ip: IpAddr,
    setup_done: Option<tokio::sync::OwnedSemaphorePermit>,
    stop: watch::Receiver<bool>,
) -> ViewerStats {
    let sig = async {
        signal(
            &rpc,
            &pipeline,
            Direction::RecvOnly,
            true,
            Some(&presenter_ep),
            local_ip,
        )
        .await
        .map(|(net, _ep, _, video_mid)| (net, video_mid))
    };
    viewer_with(sig, late, epoch, setup_done, stop).await
}

/// A viewer whose peer (RTP mode) and video mid come out of `signalling`, which may offer or
/// answer.
pub(crate) async fn viewer_with(
    signalling: impl std::future::Future<Output = Result<(Net, Mid), String>>,
    late: bool,
    epoch: Instant,
    setup_done: Option<tokio::sync::OwnedSemaphorePermit>,
    mut stop: watch::Receiver<bool>,
) -> ViewerStats {
    let join = Instant::now();
    let mut v = Viewer::new(late, epoch, join, reorder::DEFAULT_WAIT);
    let sig = tokio::select! {
        r = signalling => r,
        _ = stop.changed() => Err("stopped before signalling finished".into()),
    };
    let (mut net, video_mid) = match sig {
        Ok(x) => x,
        Err(e) => {
            v.st.error = Some(e);
            return v.st;
        }
    };
    let pt_of = |rtc: &Rtc, codec: Codec| {
        rtc.codec_config()
            .find(|p| p.spec().codec == codec)
            .map(|p| p.pt())
    };
    v.vp8 = pt_of(&net.rtc, Codec::Vp8);
    v.opus = pt_of(&net.rtc, Codec::Opus);
    let mut setup_done = setup_done;
    let r: Result<(), String> = async {
        loop {
            let mut connected = false;
            let timeout = net.drain(|_, e| match e {
                Event::Connected => connected = true,
                Event::RtpPacket(p) => v.on_rtp(p),
                _ => {}
            })?;
            if connected && v.connected_at.is_none() {
                let now = Instant::now();
                v.connected_at = Some(now);
                v.st.connected = true;
                v.st.join_to_connected = Some(now - join);
                setup_done.take();
            }
            let now = Instant::now();
            if v.need_key && v.last_pli.is_none_or(|t| now - t >= PLI_INTERVAL) {
                if let Some(rx) = net.rtc.direct_api().stream_rx_by_mid(video_mid, None) {
                    rx.request_keyframe(KeyframeRequestKind::Pli);
                    v.last_pli = Some(now);
                    v.st.keyframe_requests += 1;
                    net.on_timeout()?;
                    continue;
                }
            }
            let until = v.deadline().map_or(timeout, |d| d.min(timeout));
            match wait(&mut net, until, &mut stop).await {
                Wake::Datagram(n, src) => net.on_datagram(n, src)?,
                Wake::Remote(e) => net.on_remote_event(&e),
                Wake::Timer => net.on_timeout()?,
                Wake::Stop => return Ok(()),
            }
            v.on_time(Instant::now(), false);
        }
    }
    .await;
    // Gaps still open at the end were not filled: count them lost, release what they held.
    v.on_time(Instant::now(), true);
    if let Err(e) = r {
        v.st.error = Some(e);
    }
    if let Some(c) = v.connected_at {
        v.st.active_secs = c.elapsed().as_secs_f64();
    }
    v.st
}

impl Net {
    /// A peer on a fresh UDP socket on `ip` (a local address: bind fails otherwise), with its
    /// host candidate added to `rtc`; returns the candidate line to signal. Remote candidates
    /// arrive on `events` in the Kurento `IceCandidateFound` shape (`data.candidate.candidate`).
    pub(crate) async fn bind(
        mut rtc: Rtc,
        ip: std::net::IpAddr,
        events: mpsc::UnboundedReceiver<Value>,
    ) -> Result<(Net, String), String> {
        let sock = UdpSocket::bind((ip, 0))
            .await
            .map_err(|e| format!("bind UDP on {ip}: {e}"))?;
        let addr = sock.local_addr().map_err(|e| e.to_string())?;
        let cand = Candidate::host(addr, "udp").map_err(|e| e.to_string())?;
        let cand = rtc
            .add_local_candidate(cand)
            .ok_or("local candidate rejected")?
            .to_sdp_string();
        let net = Net {
            rtc,
            sock,
            addr,
            events,
            buf: vec![0u8; 2048],
        };
        Ok((net, cand))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VP8: u8 = 96;
    const OPUS: u8 = 111;

    /// Splits a frame into RTP payloads of at most `mtu` bytes, with a 15-bit PictureID
    /// descriptor as str0m writes it, or the minimal one.
    fn packetize(frame: &[u8], mtu: usize, picture_id: Option<u16>) -> Vec<Vec<u8>> {
        frame
            .chunks(mtu)
            .enumerate()
            .map(|(i, c)| {
                let s = if i == 0 { 0x10 } else { 0 };
                let mut p = match picture_id {
                    Some(id) => vec![0x80 | s, 0x80, 0x80 | (id >> 8) as u8, id as u8],
                    None => vec![s],
                };
                p.extend_from_slice(c);
                p
            })
            .collect()
    }

    struct Feed {
        v: Viewer,
        seq: u64,
    }

    impl Feed {
        fn new() -> Feed {
            let now = Instant::now();
            // No reorder wait: a gap is lost as soon as a later packet shows it.
            let mut v = Viewer::new(false, now, now, Duration::ZERO);
            v.vp8 = Some(VP8.into());
            v.opus = Some(OPUS.into());
            Feed { v, seq: 1000 }
        }

        /// Sends frame `n`; `drop` lists packet indexes that get lost on the way.
        fn frame(&mut self, n: u32, key: bool, drop: &[usize]) {
            let f = vp8_frame(key, n, 0, 3000);
            let pkts = packetize(&f, 1000, Some(n as u16));
            let last = pkts.len() - 1;
            for (i, p) in pkts.iter().enumerate() {
                self.seq += 1;
                if !drop.contains(&i) {
                    let p: Arc<[u8]> = p.as_slice().into();
                    self.v
                        .on_packet(VP8.into(), self.seq, i == last, p, Instant::now());
                }
            }
        }
    }

    #[test]
    fn descriptor_and_header_parse() {
        let f = vp8_frame(true, 7, 1234, 100);
        for pid in [None, Some(5), Some(300)] {
            let p = &packetize(&f, 1000, pid)[0];
            let (start, vp8) = vp8_descriptor(p).unwrap();
            assert!(start);
            assert_eq!(frame_header(vp8), Some((true, 7, 1234)));
        }
        let f = vp8_frame(false, 8, 99, 100);
        let pkts = packetize(&f, 1000, Some(1));
        let (_, vp8) = vp8_descriptor(&pkts[0]).unwrap();
        assert_eq!(frame_header(vp8), Some((false, 8, 99)));
        assert_eq!(vp8_descriptor(&[]), None);
        assert_eq!(vp8_descriptor(&[0x90]), None);
        assert_eq!(frame_header(&[0x00, 1, 2]), None);
    }

    #[test]
    fn clean_stream_is_complete_and_decodable() {
        let mut f = Feed::new();
        for n in 0..10 {
            f.frame(n, n % 5 == 0, &[]);
        }
        let st = &f.v.st;
        assert_eq!(st.frames_complete, 10);
        assert_eq!(st.frames_decodable, 10);
        assert_eq!(st.video_lost, 0);
        assert_eq!((st.first_frame, st.last_frame), (Some(0), Some(9)));
        assert_eq!(st.latencies_us.len(), 10);
    }

    #[test]
    fn lost_packet_breaks_the_frame_and_the_chain_until_a_keyframe() {
        let mut f = Feed::new();
        f.frame(0, true, &[]);
        f.frame(1, false, &[1]); // middle packet lost
        f.frame(2, false, &[]); // complete, but refers to a broken frame
        f.frame(3, true, &[]);
        f.frame(4, false, &[]);
        let st = &f.v.st;
        assert_eq!(st.video_lost, 1);
        assert_eq!(st.frames_incomplete, 1);
        assert_eq!(st.frames_complete, 4);
        assert_eq!(st.frames_decodable, 3);
    }

    #[test]
    fn whole_frame_lost_and_marker_lost() {
        let mut f = Feed::new();
        f.frame(0, true, &[]);
        f.frame(1, false, &[0, 1, 2]); // every packet lost
        f.frame(2, false, &[]);
        f.frame(3, true, &[2]); // marker packet lost: seen as incomplete at the next start
        f.frame(4, false, &[]);
        let st = &f.v.st;
        assert_eq!(st.frames_skipped, 1);
        assert_eq!(st.frames_incomplete, 1);
        assert_eq!(st.video_lost, 4);
        assert_eq!(st.frames_complete, 3);
        assert_eq!(st.frames_decodable, 1);
    }

    #[test]
    fn joining_mid_stream_waits_for_a_keyframe() {
        let mut f = Feed::new();
        // Joined during frame 5: its tail, then interframes, then a keyframe.
        let tail = packetize(&vp8_frame(false, 5, 0, 3000), 1000, None);
        let p: Arc<[u8]> = tail[2].as_slice().into();
        f.v.on_packet(VP8.into(), 1, true, p, Instant::now());
        f.seq = 1;
        f.frame(6, false, &[]);
        f.frame(7, true, &[]);
        f.frame(8, false, &[]);
        let st = &f.v.st;
        assert_eq!(st.frames_before_keyframe, 1);
        assert_eq!(st.first_frame, Some(7));
        assert_eq!(st.frames_complete, 2);
        assert_eq!(st.frames_decodable, 2);
        assert_eq!(st.video_lost, 0);
        assert!(st.join_to_first_keyframe.is_some());
    }

    /// With the real reorder wait, a packet retransmitted after later ones completes its frame;
    /// one that never comes breaks its frame once the wait is over.
    #[test]
    fn a_retransmission_within_the_wait_completes_the_frame() {
        let t0 = Instant::now();
        let mut v = Viewer::new(false, t0, t0, reorder::DEFAULT_WAIT);
        v.vp8 = Some(VP8.into());
        let mut seq = 100;
        let mut late = Vec::new();
        for n in 0..3u32 {
            let pkts = packetize(&vp8_frame(n == 0, n, 0, 3000), 1000, Some(n as u16));
            let last = pkts.len() - 1;
            for (i, p) in pkts.into_iter().enumerate() {
                seq += 1;
                let p: Arc<[u8]> = p.as_slice().into();
                // Frame 1 loses its middle packet; frame 2 its first one.
                if (n, i) == (1, 1) || (n, i) == (2, 0) {
                    late.push((seq, i == last, p));
                } else {
                    v.on_packet(VP8.into(), seq, i == last, p, t0);
                }
            }
        }
        assert_eq!(v.st.frames_complete, 1, "frame 1 waits for its packet");
        // Frame 1's packet comes back 200 ms later (a NACK answered); frame 2's never does.
        let (s1, m1, p1) = late.remove(0);
        v.on_packet(VP8.into(), s1, m1, p1, t0 + Duration::from_millis(200));
        assert_eq!(v.st.frames_complete, 2);
        v.on_time(t0 + Duration::from_millis(499), false);
        assert_eq!(v.st.video_lost, 0);
        v.on_time(t0 + Duration::from_millis(700), false);
        let st = &v.st;
        assert_eq!(st.video_lost, 1);
        assert_eq!(st.video_recovered, 1);
        assert_eq!(st.frames_decodable, 2);
        // Frame 2 without its first packet is not recognised as a frame at all.
        assert_eq!((st.frames_complete, st.last_frame), (2, Some(1)));
        // Its packet, arriving now, is late and changes nothing.
        let (s2, m2, p2) = late.remove(0);
        v.on_packet(VP8.into(), s2, m2, p2, t0 + Duration::from_millis(800));
        assert_eq!((v.st.reordered, v.st.video_lost), (1, 1));
    }

    #[test]
    fn audio_gaps_and_duplicates() {
        let mut f = Feed::new();
        for seq in [10, 11, 13, 13, 12, 14] {
            f.v.on_packet(OPUS.into(), seq, false, [0xf8, 0].into(), Instant::now());
        }
        f.v.on_packet(5.into(), 1, false, [0].into(), Instant::now());
        let st = &f.v.st;
        assert_eq!(st.audio_packets, 6);
        assert_eq!(st.audio_lost, 1);
        assert_eq!(st.reordered, 2);
        assert_eq!(st.other_packets, 1);
    }
}
