//! A player: a file, an HTTP resource or an RTSP stream demuxed (and, unless the application
//! asks for encoded media, decoded and re-encoded to VP8 + Opus) by GStreamer, and sent into the
//! graph as RTP, paced by the media's timestamps.

use super::rtp as rtpbuf;
use super::uri::Location;
use super::{classify, ErrorType, UriEvent};
use crate::media::{CodecId, ElementPort, FromElement, GraphInbox, MediaKind, RtpPacket};
use futures_util::StreamExt;
use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn, Instrument};

#[derive(Debug, Clone)]
pub struct PlayerConfig {
    pub location: Location,
    /// Pass the file's encoded media through when it is VP8, H.264 or Opus.
    pub use_encoded_media: bool,
    /// RTSP jitter buffer (ms), KMS's `networkCache`.
    pub network_cache_ms: u32,
}

impl PlayerConfig {
    pub fn check(&self) -> Result<(), String> {
        let src = match self.location {
            Location::File(_) => "filesrc",
            Location::Http(_) => "souphttpsrc",
            Location::Rtsp(_) => "rtspsrc",
        };
        super::require(&["uridecodebin", "appsink", src])
    }
}

/// A player that has not reached PLAYING this long after `play` reports its URI as invalid
/// (an unresolvable host, a server that accepts and never answers): never a silent hang.
const OPEN_TIMEOUT: Duration = Duration::from_secs(4);

/// KMS's VideoInfo, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VideoInfo {
    pub is_seekable: bool,
    pub seekable_init: i64,
    pub seekable_end: i64,
    pub duration: i64,
}

enum Ctl {
    Play,
    Pause,
    Stop,
    Position(oneshot::Sender<i64>),
    Seek(i64, oneshot::Sender<Result<(), SeekError>>),
    Info(oneshot::Sender<VideoInfo>),
    Keyframe,
    Bitrate(u64),
    Close,
}

enum SeekError {
    NotPlaying,
    /// No element took the seek; it may a moment later (a demuxer still reading its index).
    Refused(String),
}

/// Seeks GStreamer refuses are tried again this often, this many times.
const SEEK_RETRY: Duration = Duration::from_millis(100);
const SEEK_ATTEMPTS: u32 = 10;

#[derive(Clone)]
pub struct PlayerHandle {
    ctl: mpsc::UnboundedSender<Ctl>,
}

impl PlayerHandle {
    pub fn play(&self) {
        let _ = self.ctl.send(Ctl::Play);
    }
    pub fn pause(&self) {
        let _ = self.ctl.send(Ctl::Pause);
    }
    pub fn stop(&self) {
        let _ = self.ctl.send(Ctl::Stop);
    }

    /// The playing position (ms); 0 when not playing.
    pub fn position(&self) -> impl std::future::Future<Output = i64> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let _ = self.ctl.send(Ctl::Position(tx));
        async move { rx.await.unwrap_or(0) }
    }

    pub fn seek(
        &self,
        ms: i64,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send + 'static {
        let ctl = self.ctl.clone();
        let attempt = move || {
            let (tx, rx) = oneshot::channel();
            let _ = ctl.send(Ctl::Seek(ms, tx));
            rx
        };
        // The first attempt is queued now, in order with the calls around it.
        let first = attempt();
        async move {
            let mut reply = first;
            let mut n = 0;
            loop {
                n += 1;
                match reply.await {
                    Err(_) => return Err("the player is gone".into()),
                    Ok(Ok(())) => return Ok(()),
                    Ok(Err(SeekError::NotPlaying)) => {
                        return Err("the player is not playing".into())
                    }
                    Ok(Err(SeekError::Refused(e))) if n >= SEEK_ATTEMPTS => return Err(e),
                    Ok(Err(SeekError::Refused(_))) => {
                        tokio::time::sleep(SEEK_RETRY).await;
                        reply = attempt();
                    }
                }
            }
        }
    }

    pub fn video_info(&self) -> impl std::future::Future<Output = VideoInfo> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let _ = self.ctl.send(Ctl::Info(tx));
        async move { rx.await.unwrap_or_default() }
    }
}

impl ElementPort for PlayerHandle {
    fn send_rtp(&self, _: RtpPacket) {}
    fn request_keyframe(&self, kind: MediaKind) {
        if kind == MediaKind::Video {
            let _ = self.ctl.send(Ctl::Keyframe);
        }
    }
    fn limit_video_bitrate(&self, bps: u64) {
        let _ = self.ctl.send(Ctl::Bitrate(bps));
    }
    fn close(&self) {
        let _ = self.ctl.send(Ctl::Close);
    }
}

pub fn spawn_player(
    cfg: PlayerConfig,
    graph: GraphInbox,
    events: impl Fn(UriEvent) + Send + 'static,
) -> PlayerHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let span = tracing::info_span!("player", element = %graph.id());
    let task = Task {
        cfg,
        graph,
        events: Box::new(events),
        running: None,
    };
    tokio::spawn(task.run(rx).instrument(span));
    PlayerHandle { ctl: tx }
}

struct Running {
    pipeline: gst::Pipeline,
    bus: gst::bus::BusStream,
    /// Set while opening: when PLAYING must have been reached.
    open_deadline: Option<tokio::time::Instant>,
    /// The last position known (ms): a query fails while a seek settles.
    position: i64,
}

/// GStreamer wants a pipeline stopped before it is dropped (a task cancelled at shutdown drops
/// its state).
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

struct Task {
    cfg: PlayerConfig,
    graph: GraphInbox,
    events: Box<dyn Fn(UriEvent) + Send>,
    running: Option<Running>,
}

/// Starting bitrate of the player's VP8 (bps), until the sinks' estimates arrive.
const START_BITRATE: u64 = 1_000_000;
const MIN_BITRATE: u64 = 100_000;
const MAX_BITRATE: u64 = 4_000_000;

impl Task {
    async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<Ctl>) {
        loop {
            let deadline = self.running.as_ref().and_then(|r| r.open_deadline);
            let bus_msg = async {
                match &mut self.running {
                    Some(r) => r.bus.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                c = ctl.recv() => match c {
                    None | Some(Ctl::Close) => break,
                    Some(c) => self.on_ctl(c),
                },
                Some(m) = bus_msg => self.on_bus(m),
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.fail(ErrorType::InvalidUri, format!(
                        "'{}' did not open within {OPEN_TIMEOUT:?}", self.cfg.location.to_uri()));
                }
            }
        }
        self.teardown();
        debug!("player task ended");
    }

    fn teardown(&mut self) {
        self.running = None;
    }

    fn fail(&mut self, kind: ErrorType, message: String) {
        warn!("playing failed: {message}");
        self.teardown();
        (self.events)(UriEvent::Error { kind, message });
    }

    fn on_ctl(&mut self, c: Ctl) {
        match c {
            Ctl::Play => {
                if let Some(r) = &self.running {
                    let _ = r.pipeline.set_state(gst::State::Playing);
                    return;
                }
                match build(&self.cfg, &self.graph) {
                    Ok(p) => {
                        let bus = match p.bus() {
                            Some(b) => b.stream(),
                            None => return self.fail(ErrorType::Unexpected, "no bus".into()),
                        };
                        if let Err(e) = p.set_state(gst::State::Playing) {
                            // The bus holds the reason (no such file...).
                            let why = p
                                .bus()
                                .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]));
                            let _ = p.set_state(gst::State::Null);
                            let uri = self.cfg.location.to_uri();
                            return match why.as_ref().map(|m| m.view()) {
                                Some(gst::MessageView::Error(err)) => self.fail(
                                    classify(err),
                                    format!("cannot open '{uri}': {}", err.error()),
                                ),
                                _ => self.fail(
                                    ErrorType::InvalidUri,
                                    format!("cannot open '{uri}': {e}"),
                                ),
                            };
                        }
                        self.running = Some(Running {
                            pipeline: p,
                            bus,
                            open_deadline: Some(tokio::time::Instant::now() + OPEN_TIMEOUT),
                            position: 0,
                        });
                    }
                    Err(m) => self.fail(ErrorType::Unexpected, m),
                }
            }
            Ctl::Pause => {
                if let Some(r) = &self.running {
                    let _ = r.pipeline.set_state(gst::State::Paused);
                }
            }
            Ctl::Stop => self.teardown(),
            Ctl::Position(reply) => {
                let pos = self.running.as_mut().map_or(0, |r| {
                    if let Some(t) = r.pipeline.query_position::<gst::ClockTime>() {
                        r.position = t.mseconds() as i64;
                    }
                    r.position
                });
                let _ = reply.send(pos);
            }
            Ctl::Seek(ms, reply) => {
                let res = match &mut self.running {
                    None => Err(SeekError::NotPlaying),
                    Some(r) => r
                        .pipeline
                        .seek_simple(
                            gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
                            gst::ClockTime::from_mseconds(ms.max(0) as u64),
                        )
                        .map(|()| r.position = ms.max(0))
                        .map_err(|e| SeekError::Refused(format!("seek to {ms} ms failed: {e}"))),
                };
                let _ = reply.send(res);
            }
            Ctl::Info(reply) => {
                let _ = reply.send(
                    self.running
                        .as_ref()
                        .map_or_else(VideoInfo::default, |r| info_of(&r.pipeline)),
                );
            }
            Ctl::Keyframe => {
                if let Some(r) = &self.running {
                    force_keyframe(&r.pipeline);
                }
            }
            Ctl::Bitrate(bps) => {
                if let Some(r) = &self.running {
                    set_video_bitrate(&r.pipeline, bps);
                }
            }
            Ctl::Close => {}
        }
    }

    fn on_bus(&mut self, m: gst::Message) {
        match m.view() {
            gst::MessageView::Eos(_) => {
                info!("end of stream");
                self.teardown();
                (self.events)(UriEvent::EndOfStream);
            }
            gst::MessageView::Error(e) => {
                let err = e.error();
                let kind = classify(e);
                self.fail(kind, format!("{err} ({})", e.debug().unwrap_or_default()));
            }
            gst::MessageView::StateChanged(s) => {
                if let Some(r) = &mut self.running {
                    let ours = s
                        .src()
                        .is_some_and(|o| o == r.pipeline.upcast_ref::<gst::Object>());
                    if ours
                        && s.current() == gst::State::Playing
                        && r.open_deadline.take().is_some()
                    {
                        info!("playing");
                    }
                }
            }
            gst::MessageView::Buffering(b) => {
                debug!(percent = b.percent(), "buffering");
            }
            _ => {}
        }
    }
}

fn info_of(p: &gst::Pipeline) -> VideoInfo {
    let mut q = gst::query::Seeking::new(gst::Format::Time);
    let (mut seekable, mut init, mut end) = (false, 0, 0);
    if p.query(&mut q) {
        let (s, a, b) = q.result();
        seekable = s;
        let ms = |v: gst::GenericFormattedValue| match v {
            gst::GenericFormattedValue::Time(Some(t)) => t.mseconds() as i64,
            _ => 0,
        };
        init = ms(a);
        end = ms(b);
    }
    let duration = p
        .query_duration::<gst::ClockTime>()
        .map_or(0, |t| t.mseconds() as i64);
    VideoInfo {
        is_seekable: seekable,
        seekable_init: init,
        seekable_end: if end <= 0 { duration } else { end },
        duration,
    }
}

/// The branch a decoded or encoded stream takes to its appsink, and the codec it leaves with.
fn branch_of(caps_name: &str) -> Option<(MediaKind, &'static str, CodecId)> {
    let vp8 = || CodecId::new("VP8", 90000, None, "");
    let opus = || CodecId::new("opus", 48000, Some(2), "minptime=10;useinbandfec=1");
    Some(match caps_name {
        "video/x-raw" => (
            MediaKind::Video,
            "queue max-size-buffers=3 ! videoconvert ! vp8enc name=venc deadline=1 cpu-used=8 \
             threads=2 lag-in-frames=0 end-usage=cbr keyframe-max-dist=120 error-resilient=default \
             ! rtpvp8pay pt=96 mtu=1200 picture-id-mode=15-bit",
            vp8(),
        ),
        "video/x-vp8" => (
            MediaKind::Video,
            "queue ! rtpvp8pay pt=96 mtu=1200 picture-id-mode=15-bit",
            vp8(),
        ),
        "video/x-h264" => (
            MediaKind::Video,
            "queue ! h264parse config-interval=-1 ! rtph264pay pt=102 mtu=1200 config-interval=-1 aggregate-mode=zero-latency",
            CodecId::new(
                "H264",
                90000,
                None,
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            ),
        ),
        "audio/x-raw" => (
            MediaKind::Audio,
            "queue ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 ! \
             opusenc bitrate=64000 frame-size=20 ! rtpopuspay pt=111 mtu=1200",
            opus(),
        ),
        "audio/x-opus" => (
            MediaKind::Audio,
            "queue ! opusparse ! rtpopuspay pt=111 mtu=1200",
            opus(),
        ),
        _ => return None,
    })
}

/// Encoded formats passed through with `useEncodedMedia`; anything else is decoded.
pub(super) const ENCODED_CAPS: &str =
    "video/x-raw;audio/x-raw;video/x-vp8;video/x-h264;audio/x-opus";

fn build(cfg: &PlayerConfig, graph: &GraphInbox) -> Result<gst::Pipeline, String> {
    let pipeline = gst::Pipeline::new();
    let dec = gst::ElementFactory::make("uridecodebin")
        .property("uri", cfg.location.to_uri())
        .build()
        .map_err(|e| format!("no uridecodebin: {e}"))?;
    if cfg.use_encoded_media {
        let caps: gst::Caps = ENCODED_CAPS.parse().map_err(|e| format!("bad caps: {e}"))?;
        dec.set_property("caps", &caps);
    }
    let cache = cfg.network_cache_ms;
    dec.connect("source-setup", false, move |args| {
        if let Some(src) = args.get(1).and_then(|v| v.get::<gst::Element>().ok()) {
            if src.find_property("latency").is_some()
                && src.factory().is_some_and(|f| f.name() == "rtspsrc")
            {
                src.set_property("latency", cache);
            }
            if src.find_property("timeout").is_some()
                && src.factory().is_some_and(|f| f.name() == "souphttpsrc")
            {
                src.set_property("timeout", 4u32);
            }
        }
        None
    });
    pipeline
        .add(&dec)
        .map_err(|e| format!("cannot add uridecodebin: {e}"))?;
    let weak = pipeline.downgrade();
    let graph = graph.clone();
    dec.connect_pad_added(move |_, pad| {
        if let Some(pipeline) = weak.upgrade() {
            link_stream(&pipeline, pad, &graph);
        }
    });
    Ok(pipeline)
}

/// Links a decoded (or, with encoded caps, parsed) stream of `pipeline` to an RTP branch whose
/// appsink sends into `graph`, paced by the pipeline clock. One stream per media type.
pub(super) fn link_stream(pipeline: &gst::Pipeline, pad: &gst::Pad, graph: &GraphInbox) {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    let Some(name) = caps.structure(0).map(|s| s.name().to_string()) else {
        return;
    };
    let Some((kind, chain, codec)) = branch_of(&name) else {
        debug!("stream {name} not played");
        return;
    };
    let sink_name = match kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
    };
    if pipeline.by_name(sink_name).is_some() {
        debug!("a second {sink_name} stream is not played");
        return;
    }
    let desc = format!("{chain} ! appsink name={sink_name} sync=true");
    let bin = match gst::parse::bin_from_description(&desc, true) {
        Ok(b) => b,
        Err(e) => {
            warn!("cannot build the {sink_name} branch: {e}");
            return;
        }
    };
    if let Some(sink) = bin
        .by_name(sink_name)
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
    {
        let graph = graph.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(buf) = sample.buffer() {
                        if let Ok(map) = buf.map_readable() {
                            if let Some(p) = rtpbuf::from_bytes(kind, &codec, &map) {
                                graph.send(FromElement::Rtp(p));
                            }
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    if pipeline.add(&bin).is_err() {
        return;
    }
    if let Some(enc) = bin.by_name("venc") {
        enc.set_property("target-bitrate", START_BITRATE as i32);
    }
    let _ = bin.sync_state_with_parent();
    if let Some(sinkpad) = bin.static_pad("sink") {
        if let Err(e) = pad.link(&sinkpad) {
            warn!("cannot link the {sink_name} stream: {e:?}");
        }
    }
}

/// Force-key-unit towards the encoder of a pipeline's video branch.
pub(super) fn force_keyframe(pipeline: &gst::Pipeline) {
    let ev = gst::event::CustomUpstream::new(
        gst::Structure::builder("GstForceKeyUnit")
            .field("all-headers", true)
            .build(),
    );
    if let Some(sink) = pipeline.by_name("video") {
        sink.send_event(ev);
    }
}

/// The sinks' bandwidth estimate, applied to the video encoder of a pipeline (if it encodes).
pub(super) fn set_video_bitrate(pipeline: &gst::Pipeline, bps: u64) {
    if let Some(enc) = pipeline.by_name("venc") {
        let bps = bps.clamp(MIN_BITRATE, MAX_BITRATE) as i32;
        enc.set_property("target-bitrate", bps);
    }
}
