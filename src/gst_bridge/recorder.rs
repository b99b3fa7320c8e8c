//! A recorder: the RTP its sources send, depayloaded and muxed into a file by GStreamer.
//!
//! Codecs that fit the container are muxed as received (VP8 + Opus into WEBM); only what the
//! container cannot hold is transcoded (Opus to AAC for MP4, as KMS). Video waits for a keyframe
//! at the start and after a resume; the file's timeline leaves out paused time.

use super::rtp::{self as rtpbuf, Timeline};
use super::uri::Location;
use super::{classify, ErrorType, UriEvent};
use crate::media::{CodecId, ElementPort, FromElement, GraphInbox, MediaKind, RtpPacket};
use futures_util::StreamExt;
use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn, Instrument};

/// The container of a recording, from Kurento's MediaProfileSpecType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Webm,
    Mkv,
    Mp4,
    Flv,
    Jpeg,
}

#[derive(Debug, Clone)]
pub struct RecorderConfig {
    pub location: Location,
    pub container: Container,
    /// The profile records audio / video (the _AUDIO_ONLY and _VIDEO_ONLY forms clear one).
    pub audio: bool,
    pub video: bool,
}

impl RecorderConfig {
    /// The GStreamer elements this recording needs whatever arrives (checked at creation).
    pub fn check(&self) -> Result<(), String> {
        let mux = match self.container {
            Container::Webm => "webmmux",
            Container::Mkv => "matroskamux",
            Container::Mp4 => "mp4mux",
            Container::Flv => "flvmux",
            Container::Jpeg => "jpegenc",
        };
        let sink = match self.location {
            Location::File(_) => "filesink",
            Location::Http(_) => "curlhttpsink",
            Location::Rtsp(_) => return Err("a recorder cannot write to an rtsp:// URI".into()),
        };
        super::require(&["appsrc", mux, sink])
    }
}

/// How long a recording waits, from the first packet, for the other media type it expects before
/// it starts with what came. Generous: the streams of a file are fixed when it starts, and a
/// source's second type can come seconds after the first (a hub port's mixed audio on a loaded
/// machine, a second player). Nothing is lost while waiting: what came is queued and written, and
/// a pause or stop in the meantime starts the file with it.
const START_GRACE: Duration = Duration::from_secs(5);
/// Packets kept while waiting (5 s of a 15 Mbit/s stream); past it the file starts with what came.
const WAIT_QUEUE: usize = 8192;
/// Media queued between the graph and the recorder's task; when full, packets are dropped and
/// counted (the recording shows a glitch; the pipeline's packet path is never held up).
const MEDIA_QUEUE: usize = 4096;
/// How long stop waits for the muxer to finalise the file.
const FINALISE_TIMEOUT: Duration = Duration::from_secs(10);

enum Ctl {
    Record { expect: [bool; 2] },
    Pause,
    Stop(Option<oneshot::Sender<()>>),
}

#[derive(Clone)]
pub struct RecorderHandle {
    media: mpsc::Sender<RtpPacket>,
    ctl: mpsc::UnboundedSender<Ctl>,
    dropped: Arc<AtomicU64>,
}

impl RecorderHandle {
    /// Starts (or resumes) recording. `expect` says which of (audio, video) reach the recorder
    /// now: it waits for those before writing, so the file starts with both.
    pub fn record(&self, expect: [bool; 2]) {
        let _ = self.ctl.send(Ctl::Record { expect });
    }

    pub fn pause(&self) {
        let _ = self.ctl.send(Ctl::Pause);
    }

    /// Stops and finalises the file; resolves when it is complete on disk.
    pub fn stop(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = self.ctl.send(Ctl::Stop(Some(tx))).is_ok();
        async move {
            if sent {
                let _ = rx.await;
            }
        }
    }
}

impl ElementPort for RecorderHandle {
    fn send_rtp(&self, pkt: RtpPacket) {
        // Closed: the recording ended (stopped or failed) and later media is not wanted.
        if let Err(mpsc::error::TrySendError::Full(_)) = self.media.try_send(pkt) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                warn!(dropped = n + 1, "recorder queue full: media dropped");
            }
        }
    }
    fn request_keyframe(&self, _: MediaKind) {}
    fn close(&self) {
        // Released: the file is finalised as on stop.
        let _ = self.ctl.send(Ctl::Stop(None));
    }
}

static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Recorders whose task has not finished (finalising included): shutdown waits for them.
pub fn active() -> usize {
    ACTIVE.load(Ordering::Relaxed)
}

/// Spawns the recorder's task on the current runtime. It asks the graph for keyframes through
/// `graph`, and reports on `events`.
pub fn spawn_recorder(
    cfg: RecorderConfig,
    graph: GraphInbox,
    events: impl Fn(UriEvent) + Send + 'static,
) -> RecorderHandle {
    let (media_tx, media_rx) = mpsc::channel(MEDIA_QUEUE);
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let span = tracing::info_span!("recorder", element = %graph.id());
    let task = Task {
        cfg,
        graph,
        events: Box::new(events),
        state: State::Idle,
        paused_total: Duration::ZERO,
    };
    ACTIVE.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(
        async move {
            task.run(media_rx, ctl_rx).await;
            ACTIVE.fetch_sub(1, Ordering::Relaxed);
        }
        .instrument(span),
    );
    RecorderHandle {
        media: media_tx,
        ctl: ctl_tx,
        dropped: Arc::new(AtomicU64::new(0)),
    }
}

/// One stream of the file: its appsrc and timeline.
struct Branch {
    src: gst_app::AppSrc,
    codec: CodecId,
    timeline: Timeline,
    /// Video is dropped until a keyframe (after the start and each resume).
    need_keyframe: bool,
    mismatch_logged: bool,
}

struct Running {
    pipeline: gst::Pipeline,
    bus: gst::bus::BusStream,
    branches: [Option<Branch>; 2],
    /// Zero of the file's timeline.
    start: Instant,
    wrote: bool,
}

/// GStreamer wants a pipeline stopped before it is dropped (a task cancelled at shutdown drops
/// its state).
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

enum State {
    Idle,
    /// record() was called; packets are kept until every expected type has arrived.
    Waiting {
        expect: [bool; 2],
        since: Instant,
        queued: Vec<RtpPacket>,
        /// Which types are in `queued`.
        have: [bool; 2],
    },
    Recording(Running),
    Paused(Running, Instant),
    Done,
}

struct Task {
    cfg: RecorderConfig,
    graph: GraphInbox,
    events: Box<dyn Fn(UriEvent) + Send>,
    state: State,
    paused_total: Duration,
}

fn idx(k: MediaKind) -> usize {
    match k {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

impl Task {
    async fn run(
        mut self,
        mut media: mpsc::Receiver<RtpPacket>,
        mut ctl: mpsc::UnboundedReceiver<Ctl>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            let bus_msg = async {
                match &mut self.state {
                    State::Recording(r) | State::Paused(r, _) => r.bus.next().await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                c = ctl.recv() => match c {
                    Some(Ctl::Record { expect }) => self.record(expect),
                    Some(Ctl::Pause) => self.pause(),
                    Some(Ctl::Stop(reply)) => {
                        self.stop().await;
                        if let Some(r) = reply {
                            let _ = r.send(());
                        }
                    }
                    None => {
                        self.stop().await;
                        break;
                    }
                },
                Some(p) = media.recv() => self.on_packet(p),
                Some(m) = bus_msg => self.on_bus(m),
                _ = tick.tick() => self.on_tick(),
            }
            if matches!(self.state, State::Done) {
                break;
            }
        }
        debug!("recorder task ended");
    }

    fn emit(&self, e: UriEvent) {
        (self.events)(e);
    }

    fn fail(&mut self, kind: ErrorType, message: String) {
        warn!("recording failed: {message}");
        self.state = State::Done;
        self.emit(UriEvent::Error { kind, message });
    }

    fn record(&mut self, expect: [bool; 2]) {
        let expect = [expect[0] && self.cfg.audio, expect[1] && self.cfg.video];
        match std::mem::replace(&mut self.state, State::Done) {
            State::Idle => {
                self.graph.send(FromElement::KeyframeRequested {
                    kind: MediaKind::Video,
                });
                self.state = State::Waiting {
                    expect,
                    since: Instant::now(),
                    queued: Vec::new(),
                    have: [false; 2],
                };
            }
            State::Paused(mut r, at) => {
                self.paused_total += at.elapsed();
                for b in r.branches.iter_mut().flatten() {
                    b.timeline.reanchor();
                    b.need_keyframe = b.src.name() == "video";
                }
                self.graph.send(FromElement::KeyframeRequested {
                    kind: MediaKind::Video,
                });
                self.state = State::Recording(r);
            }
            other => self.state = other,
        }
    }

    fn pause(&mut self) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Recording(r) => {
                self.state = State::Paused(r, Instant::now());
                self.emit(UriEvent::Paused);
            }
            State::Waiting { queued, .. } if queued.is_empty() => {
                // Nothing came yet: pausing before the start is starting over later.
                self.state = State::Idle;
                self.emit(UriEvent::Paused);
            }
            waiting @ State::Waiting { .. } => {
                self.state = waiting;
                self.start();
                self.pause();
            }
            other => self.state = other,
        }
    }

    async fn stop(&mut self) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Recording(r) | State::Paused(r, _) => {
                finalise(r).await;
                info!("recording finalised");
                self.emit(UriEvent::Stopped);
            }
            State::Waiting { queued, .. } if queued.is_empty() => self.emit(UriEvent::Stopped),
            waiting @ State::Waiting { .. } => {
                // Stopped before the other type came: the file keeps what did.
                self.state = waiting;
                self.start();
                if matches!(self.state, State::Recording(_)) {
                    Box::pin(self.stop()).await;
                }
            }
            State::Idle => self.emit(UriEvent::Stopped),
            State::Done => {}
        }
    }

    fn on_tick(&mut self) {
        if let State::Waiting { queued, .. } = &self.state {
            if queued
                .first()
                .is_some_and(|p| p.arrival.elapsed() >= START_GRACE)
            {
                self.start();
            }
        }
    }

    fn on_packet(&mut self, p: RtpPacket) {
        match &mut self.state {
            State::Waiting {
                expect,
                queued,
                have,
                ..
            } => {
                let k = idx(p.kind);
                if !(self.cfg.audio && k == 0 || self.cfg.video && k == 1) {
                    return;
                }
                if p.kind == MediaKind::Video && !have[1] && !p.is_keyframe_hint {
                    return;
                }
                have[k] = true;
                queued.push(p);
                let ready = (0..2).all(|i| !expect[i] || have[i]);
                if ready || queued.len() >= WAIT_QUEUE {
                    self.start();
                }
            }
            State::Recording(r) => {
                if let Err(e) = push(r, p, self.paused_total) {
                    warn!("recorder: {e}");
                }
                if !r.wrote {
                    r.wrote = true;
                    self.emit(UriEvent::Recording);
                }
            }
            _ => {}
        }
    }

    /// Builds the GStreamer pipeline for what arrived and writes what was queued.
    fn start(&mut self) {
        let State::Waiting {
            mut queued, since, ..
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return;
        };
        let mut codecs: [Option<CodecId>; 2] = [None, None];
        for p in &queued {
            codecs[idx(p.kind)].get_or_insert_with(|| p.codec.clone());
        }
        let pts_of = queued
            .iter()
            .map(|p| (p.kind, p.payload_type))
            .collect::<Vec<_>>();
        let pt = |k: MediaKind| pts_of.iter().find(|(kk, _)| *kk == k).map(|(_, pt)| *pt);
        let built = build(
            &self.cfg,
            &codecs,
            pt(MediaKind::Audio),
            pt(MediaKind::Video),
        );
        let running = match built {
            Ok(r) => r,
            Err((kind, msg)) => return self.fail(kind, msg),
        };
        info!(
            audio = ?codecs[0].as_ref().map(|c| c.name.clone()),
            video = ?codecs[1].as_ref().map(|c| c.name.clone()),
            waited_ms = since.elapsed().as_millis() as u64,
            "recording started"
        );
        // The streams were chosen from everything queued; the file starts with the first
        // keyframe: audio that came while waiting for it is left out, so both streams start
        // together (a browser answers a keyframe request in 100-300 ms).
        if let Some(key) = queued.iter().find(|p| p.kind == MediaKind::Video) {
            let t = key.arrival;
            queued.retain(|p| p.kind == MediaKind::Video || p.arrival >= t);
        }
        let mut r = running;
        r.start = queued.first().map_or_else(Instant::now, |p| p.arrival);
        for p in queued {
            if let Err(e) = push(&mut r, p, self.paused_total) {
                warn!("recorder: {e}");
            }
        }
        r.wrote = true;
        self.state = State::Recording(r);
        self.emit(UriEvent::Recording);
    }

    fn on_bus(&mut self, m: gst::Message) {
        if let gst::MessageView::Error(e) = m.view() {
            let err = e.error();
            let kind = classify(e);
            self.fail(kind, format!("{} ({})", err, e.debug().unwrap_or_default()));
        }
    }
}

/// Writes one packet into its branch; packets of a type or codec the file was not started with
/// are dropped (a recording's streams are fixed when it starts).
fn push(r: &mut Running, p: RtpPacket, paused: Duration) -> Result<(), String> {
    let Some(b) = r.branches[idx(p.kind)].as_mut() else {
        return Ok(());
    };
    if p.codec.name != b.codec.name {
        if !b.mismatch_logged {
            b.mismatch_logged = true;
            warn!(
                "the recording's {:?} is {} but {} arrives: not recorded",
                p.kind, b.codec.name, p.codec.name
            );
        }
        return Ok(());
    }
    if b.need_keyframe {
        if !p.is_keyframe_hint {
            return Ok(());
        }
        b.need_keyframe = false;
    }
    let since = p
        .arrival
        .saturating_duration_since(r.start)
        .saturating_sub(paused);
    let pts = b.timeline.pts(
        p.ssrc,
        p.timestamp,
        p.codec.clock_rate,
        since.as_nanos() as u64,
    );
    b.src
        .push_buffer(rtpbuf::to_buffer(&p, Some(pts)))
        .map(|_| ())
        .map_err(|e| format!("appsrc refused a buffer: {e:?}"))
}

async fn finalise(mut r: Running) {
    for b in r.branches.iter().flatten() {
        let _ = b.src.end_of_stream();
    }
    let wait = async {
        while let Some(m) = r.bus.next().await {
            match m.view() {
                gst::MessageView::Eos(_) => return,
                gst::MessageView::Error(e) => {
                    warn!("while finalising: {}", e.error());
                    return;
                }
                _ => {}
            }
        }
    };
    if tokio::time::timeout(FINALISE_TIMEOUT, wait).await.is_err() {
        warn!("the muxer did not finish within {FINALISE_TIMEOUT:?}: the file may be incomplete");
    }
}

/// The chain from depayloaded `codec` to what `container` holds, or an error to report.
fn video_chain(container: Container, codec: &CodecId) -> Result<String, String> {
    let d = rtpbuf::depay_of(codec).ok_or_else(|| format!("cannot record {} video", codec.name))?;
    let name = d.encoding;
    let x264 = "videoconvert ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=60 \
                bitrate=2000 threads=1 ! video/x-h264,profile=constrained-baseline ! h264parse";
    Ok(match (container, name) {
        (Container::Webm, "VP8" | "VP9") | (Container::Mkv, "VP8" | "VP9" | "H264") => {
            d.depay.to_string()
        }
        (Container::Mp4 | Container::Flv, "H264") => d.depay.to_string(),
        (Container::Webm, _) => format!(
            "{} ! {} ! videoconvert ! vp8enc deadline=1 cpu-used=8 threads=1 \
             target-bitrate=2000000 keyframe-max-dist=60",
            d.depay, d.decode
        ),
        (Container::Mkv | Container::Mp4 | Container::Flv, _) => {
            format!("{} ! {} ! {x264}", d.depay, d.decode)
        }
        (Container::Jpeg, _) => format!("{} ! {} ! videoconvert ! jpegenc", d.depay, d.decode),
    })
}

fn audio_chain(container: Container, codec: &CodecId) -> Result<String, String> {
    let d = rtpbuf::depay_of(codec).ok_or_else(|| format!("cannot record {} audio", codec.name))?;
    let raw = format!("{} ! {} ! audioconvert ! audioresample", d.depay, d.decode);
    Ok(match (container, d.encoding) {
        (Container::Webm | Container::Mkv, "OPUS") => format!("{} ! opusparse", d.depay),
        (Container::Webm | Container::Mkv, _) => format!("{raw} ! opusenc"),
        (Container::Mp4, _) => format!("{raw} ! avenc_aac ! aacparse"),
        (Container::Flv, _) => {
            format!("{raw} ! audio/x-raw,rate=44100 ! avenc_aac ! aacparse")
        }
        (Container::Jpeg, _) => return Err("JPEG holds no audio".into()),
    })
}

fn build(
    cfg: &RecorderConfig,
    codecs: &[Option<CodecId>; 2],
    audio_pt: Option<u8>,
    video_pt: Option<u8>,
) -> Result<Running, (ErrorType, String)> {
    let unexpected = |m: String| (ErrorType::Unexpected, m);
    // Over HTTP the muxer cannot seek back to write its index: it writes a streamable file
    // (WEBM/MKV without cues, fragmented MP4), sent in one chunked POST as KMS does.
    let http = matches!(cfg.location, Location::Http(_));
    let mux = match (cfg.container, http) {
        (Container::Webm, false) => "webmmux name=mux",
        (Container::Webm, true) => "webmmux name=mux streamable=true",
        (Container::Mkv, false) => "matroskamux name=mux",
        (Container::Mkv, true) => "matroskamux name=mux streamable=true",
        (Container::Mp4, false) => "mp4mux name=mux",
        (Container::Mp4, true) => "mp4mux name=mux streamable=true fragment-duration=1000",
        (Container::Flv, false) => "flvmux name=mux streamable=false",
        (Container::Flv, true) => "flvmux name=mux streamable=true",
        (Container::Jpeg, _) => "",
    };
    let sink = if http {
        "curlhttpsink name=sink"
    } else {
        "filesink name=sink async=false"
    };
    let queue = "queue max-size-buffers=0 max-size-bytes=0 max-size-time=5000000000";
    let mut desc = Vec::new();
    let audio = codecs[0]
        .as_ref()
        .filter(|_| cfg.audio && cfg.container != Container::Jpeg);
    let video = codecs[1].as_ref().filter(|_| cfg.video);
    if audio.is_none() && video.is_none() {
        return Err(unexpected("no media of the profile's types arrived".into()));
    }
    let tail = if cfg.container == Container::Jpeg {
        format!("! {sink}")
    } else {
        desc.push(format!("{mux} ! {sink}"));
        "! mux.".to_string()
    };
    if let Some(c) = audio {
        let chain = audio_chain(cfg.container, c).map_err(|m| (ErrorType::InvalidMedia, m))?;
        desc.push(format!("appsrc name=audio ! {chain} ! {queue} {tail}"));
    }
    if let Some(c) = video {
        let chain = video_chain(cfg.container, c).map_err(|m| (ErrorType::InvalidMedia, m))?;
        desc.push(format!("appsrc name=video ! {chain} ! {queue} {tail}"));
    }
    let desc = desc.join("  ");
    debug!("recorder pipeline: {desc}");
    let pipeline = gst::parse::launch(&desc)
        .map_err(|e| unexpected(format!("cannot build the recording pipeline: {e}")))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| unexpected("the recording pipeline is not a pipeline".into()))?;
    let sink_el = pipeline
        .by_name("sink")
        .ok_or_else(|| unexpected("the recording pipeline has no sink".into()))?;
    match &cfg.location {
        Location::File(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    (
                        ErrorType::InvalidUri,
                        format!("cannot create {}: {e}", dir.display()),
                    )
                })?;
            }
            sink_el.set_property("location", path.to_string_lossy().as_ref());
        }
        other => sink_el.set_property("location", other.to_uri()),
    }
    let mut branches: [Option<Branch>; 2] = [None, None];
    for (i, (name, codec, pt)) in [("audio", audio, audio_pt), ("video", video, video_pt)]
        .into_iter()
        .enumerate()
    {
        let Some(codec) = codec else { continue };
        let kind = if i == 0 {
            MediaKind::Audio
        } else {
            MediaKind::Video
        };
        let src = pipeline
            .by_name(name)
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| unexpected(format!("no {name} appsrc")))?;
        let caps = rtpbuf::caps_of(kind, codec, pt.unwrap_or(96)).ok_or_else(|| {
            (
                ErrorType::InvalidMedia,
                format!("cannot record {}", codec.name),
            )
        })?;
        src.set_caps(Some(&caps));
        src.set_format(gst::Format::Time);
        src.set_max_bytes(8 * 1024 * 1024);
        src.set_leaky_type(gst_app::AppLeakyType::Upstream);
        branches[i] = Some(Branch {
            src,
            codec: codec.clone(),
            timeline: Timeline::default(),
            need_keyframe: kind == MediaKind::Video,
            mismatch_logged: false,
        });
    }
    let bus = pipeline
        .bus()
        .ok_or_else(|| unexpected("the recording pipeline has no bus".into()))?
        .stream();
    pipeline.set_state(gst::State::Playing).map_err(|e| {
        (
            ErrorType::InvalidUri,
            format!("cannot start recording: {e}"),
        )
    })?;
    Ok(Running {
        pipeline,
        bus,
        branches,
        start: Instant::now(),
        wrote: false,
    })
}
