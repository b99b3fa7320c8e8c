//! An HttpPostEndpoint's media side: a posted file, streamed into GStreamer as it arrives,
//! demuxed (and decoded and re-encoded to VP8 + Opus unless `useEncodedMedia`) and sent into the
//! graph as RTP paced by its timestamps, as a player does.

use super::player::{force_keyframe, link_stream, set_video_bitrate, ENCODED_CAPS};
use super::{classify, ErrorType, UriEvent};
use crate::http_endpoint::UploadEvent;
use crate::media::{ElementPort, GraphInbox, MediaKind, RtpPacket};
use futures_util::StreamExt;
use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, info, warn, Instrument};

#[derive(Debug, Clone)]
pub struct HttpPostConfig {
    pub use_encoded_media: bool,
    /// How long a connection lost mid-upload may take to come back before the stream ends.
    pub disconnection_timeout: Duration,
}

impl HttpPostConfig {
    pub fn check(&self) -> Result<(), String> {
        super::require(&["appsrc", "appsink"])
    }
}

/// Bytes queued in the appsrc before the upload is read further.
const MAX_QUEUED: u64 = 2 * 1024 * 1024;

enum Ctl {
    Keyframe,
    Bitrate(u64),
    Close,
}

#[derive(Clone)]
pub struct HttpPostHandle {
    ctl: mpsc::UnboundedSender<Ctl>,
}

impl ElementPort for HttpPostHandle {
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

struct Running {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    bus: gst::bus::BusStream,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

pub fn spawn_http_post(
    cfg: HttpPostConfig,
    mut upload: mpsc::Receiver<UploadEvent>,
    graph: GraphInbox,
    events: impl Fn(UriEvent) + Send + 'static,
) -> HttpPostHandle {
    let (tx, mut ctl) = mpsc::unbounded_channel();
    let span = tracing::info_span!("http_post", element = %graph.id());
    tokio::spawn(
        async move {
            let mut running: Option<Running> = None;
            let mut lost_at: Option<tokio::time::Instant> = None;
            loop {
                let bus_msg = async {
                    match &mut running {
                        Some(r) => r.bus.next().await,
                        None => std::future::pending().await,
                    }
                };
                let reconnect_deadline = async {
                    match lost_at {
                        Some(t) => tokio::time::sleep_until(t + cfg.disconnection_timeout).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    c = ctl.recv() => match c {
                        None | Some(Ctl::Close) => break,
                        Some(Ctl::Keyframe) => {
                            if let Some(r) = &running { force_keyframe(&r.pipeline); }
                        }
                        Some(Ctl::Bitrate(bps)) => {
                            if let Some(r) = &running { set_video_bitrate(&r.pipeline, bps); }
                        }
                    },
                    u = upload.recv() => match u {
                        None => break,
                        Some(UploadEvent::Data(bytes)) => {
                            lost_at = None;
                            if running.is_none() {
                                match build(&cfg, &graph) {
                                    Ok(r) => running = Some(r),
                                    Err(m) => {
                                        events(UriEvent::Error { kind: ErrorType::Unexpected, message: m });
                                        continue;
                                    }
                                }
                            }
                            if let Some(r) = &running {
                                // Backpressure: the upload waits while GStreamer catches up.
                                // (Bounded: a pipeline that stopped consuming fails on its bus.)
                                for _ in 0..500 {
                                    if r.src.current_level_bytes() <= MAX_QUEUED {
                                        break;
                                    }
                                    tokio::time::sleep(Duration::from_millis(20)).await;
                                }
                                let _ = r.src.push_buffer(gst::Buffer::from_mut_slice(bytes));
                            }
                        }
                        Some(UploadEvent::End) => {
                            lost_at = None;
                            if let Some(r) = &running {
                                let _ = r.src.end_of_stream();
                            } else {
                                events(UriEvent::EndOfStream);
                            }
                        }
                        Some(UploadEvent::Lost) => {
                            debug!("upload connection lost: waiting {:?}", cfg.disconnection_timeout);
                            lost_at = Some(tokio::time::Instant::now());
                        }
                    },
                    _ = reconnect_deadline => {
                        lost_at = None;
                        if let Some(r) = &running {
                            let _ = r.src.end_of_stream();
                        }
                    }
                    Some(m) = bus_msg => match m.view() {
                        gst::MessageView::Eos(_) => {
                            info!("end of stream");
                            running = None;
                            events(UriEvent::EndOfStream);
                        }
                        gst::MessageView::Error(e) => {
                            let kind = classify(e);
                            let message = format!("{} ({})", e.error(), e.debug().unwrap_or_default());
                            warn!("posted media failed: {message}");
                            running = None;
                            events(UriEvent::Error { kind, message });
                        }
                        _ => {}
                    },
                }
            }
            debug!("http post task ended");
        }
        .instrument(span),
    );
    HttpPostHandle { ctl: tx }
}

fn build(cfg: &HttpPostConfig, graph: &GraphInbox) -> Result<Running, String> {
    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder()
        .name("src")
        .format(gst::Format::Bytes)
        .build();
    src.set_stream_type(gst_app::AppStreamType::Stream);
    let dec = gst::ElementFactory::make("decodebin")
        .build()
        .map_err(|e| format!("no decodebin: {e}"))?;
    if cfg.use_encoded_media {
        let caps: gst::Caps = ENCODED_CAPS.parse().map_err(|e| format!("bad caps: {e}"))?;
        dec.set_property("caps", &caps);
    }
    pipeline
        .add_many([src.upcast_ref::<gst::Element>(), &dec])
        .map_err(|e| e.to_string())?;
    src.link(&dec).map_err(|e| e.to_string())?;
    let weak = pipeline.downgrade();
    let graph = graph.clone();
    dec.connect_pad_added(move |_, pad| {
        if let Some(p) = weak.upgrade() {
            link_stream(&p, pad, &graph);
        }
    });
    let bus = pipeline.bus().ok_or("no bus")?.stream();
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start: {e}"))?;
    Ok(Running { pipeline, src, bus })
}
