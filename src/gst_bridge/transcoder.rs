//! A transcoder: one source's media decoded and re-encoded to a codec its sinks can take, shared
//! by every sink that needs that codec. It sits in the graph as an element that consumes the
//! source's RTP and produces RTP of the target codec; sinks' keyframe requests and bandwidth
//! estimates reach its encoder (and keyframe requests its source, since the decoder needs one to
//! recover).

use super::rtp as rtpbuf;
use crate::media::{CodecId, ElementPort, FromElement, GraphInbox, MediaKind, RtpPacket};
use futures_util::StreamExt;
use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tracing::{info, warn, Instrument};

/// Video bitrate until the sinks' estimates arrive (bps).
const START_BITRATE: u64 = 1_000_000;
const MIN_BITRATE: u64 = 100_000;
const MAX_BITRATE: u64 = 4_000_000;

/// The codecs a transcoder can produce, as the graph names them.
pub fn output_codec(name: &str) -> Option<CodecId> {
    Some(match name.to_ascii_uppercase().as_str() {
        "VP8" => CodecId::new("VP8", 90000, None, ""),
        "H264" => CodecId::new(
            "H264",
            90000,
            None,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        ),
        "OPUS" => CodecId::new("opus", 48000, Some(2), "minptime=10;useinbandfec=1"),
        "PCMU" => CodecId::new("PCMU", 8000, None, ""),
        "PCMA" => CodecId::new("PCMA", 8000, None, ""),
        _ => return None,
    })
}

/// The input codec named by an adapter (it only knows the name): clock rates are fixed by RFC.
pub fn input_codec(name: &str) -> Option<CodecId> {
    Some(match name.to_ascii_uppercase().as_str() {
        "VP8" | "H264" => output_codec(name)?,
        "VP9" => CodecId::new("VP9", 90000, None, ""),
        "OPUS" | "PCMU" | "PCMA" => output_codec(name)?,
        _ => return None,
    })
}

/// The encoder and payloader that make `name` (VP8, H264, OPUS...) from raw media.
pub(super) fn encoder_chain_of(name: &str) -> Option<&'static str> {
    encoder_chain(&output_codec(name)?)
}

fn encoder_chain(to: &CodecId) -> Option<&'static str> {
    Some(match to.name.to_ascii_uppercase().as_str() {
        "VP8" => {
            "videoconvert ! vp8enc name=enc deadline=1 cpu-used=8 threads=1 lag-in-frames=0 \
             end-usage=cbr keyframe-max-dist=120 error-resilient=default \
             ! rtpvp8pay pt=96 mtu=1200 picture-id-mode=15-bit"
        }
        "H264" => {
            "videoconvert ! x264enc name=enc tune=zerolatency speed-preset=ultrafast threads=1 \
             key-int-max=120 bitrate=1000 ! video/x-h264,profile=constrained-baseline \
             ! rtph264pay pt=102 mtu=1200 config-interval=-1 aggregate-mode=zero-latency"
        }
        "OPUS" => {
            "audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 ! opusenc \
             bitrate=48000 frame-size=20 ! rtpopuspay pt=111 mtu=1200"
        }
        "PCMU" => {
            "audioconvert ! audioresample ! audio/x-raw,rate=8000,channels=1 ! mulawenc \
             ! rtppcmupay pt=0 mtu=1200"
        }
        "PCMA" => {
            "audioconvert ! audioresample ! audio/x-raw,rate=8000,channels=1 ! alawenc \
             ! rtppcmapay pt=8 mtu=1200"
        }
        _ => return None,
    })
}

/// The GStreamer elements a transcoding from `from` to `to` needs.
pub fn check(from: &CodecId, to: &CodecId) -> Result<(), String> {
    let d = rtpbuf::depay_of(from).ok_or_else(|| format!("cannot decode {}", from.name))?;
    let enc = match to.name.to_ascii_uppercase().as_str() {
        "VP8" => "vp8enc",
        "H264" => "x264enc",
        "OPUS" => "opusenc",
        "PCMU" => "mulawenc",
        "PCMA" => "alawenc",
        other => return Err(format!("cannot encode {other}")),
    };
    let dec = d.decode;
    super::require(&["appsrc", "appsink", dec, enc])
}

#[derive(Clone)]
pub struct TranscoderHandle {
    inner: Arc<Inner>,
}

struct Inner {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    out: gst_app::AppSink,
    enc: Option<gst::Element>,
    to: CodecId,
    graph: GraphInbox,
    closed: AtomicBool,
    /// Ends the bus task: a closed pipeline posts nothing more.
    stop: Arc<tokio::sync::Notify>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.notify_one();
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Builds and starts a transcoder of `kind` media from `from` to `to`. Its output goes to `graph`
/// as media this element produced.
pub fn spawn_transcoder(
    kind: MediaKind,
    from: &CodecId,
    to: &CodecId,
    graph: GraphInbox,
) -> Result<TranscoderHandle, String> {
    spawn_chain(kind, from, to, None, graph, None)
}

/// What a chain's owner does with its pipeline: a filter's element messages (zbar's barcodes,
/// facedetect's faces) and properties to set once it is built. Runs on the chain's bus task.
pub(super) trait ChainHooks: Send + Sync {
    /// The pipeline was built (again, when the input codec changed) and is about to play.
    fn started(&self, _pipeline: &gst::Pipeline) {}
    /// An element message of the pipeline.
    fn message(&self, _pipeline: &gst::Pipeline, _s: &gst::StructureRef) {}
}

/// Name given to the filter element inside a chain, for setElementProperty.
pub(super) const FILTER_NAME: &str = "kms_filter";

/// Decode → [`filter`, a description of raw-media elements] → encode, as a graph element.
/// `hooks` see the pipeline and its element messages.
pub(super) fn spawn_chain(
    kind: MediaKind,
    from: &CodecId,
    to: &CodecId,
    filter: Option<&str>,
    graph: GraphInbox,
    hooks: Option<Arc<dyn ChainHooks>>,
) -> Result<TranscoderHandle, String> {
    check(from, to)?;
    let d = rtpbuf::depay_of(from).ok_or_else(|| format!("cannot decode {}", from.name))?;
    let enc = encoder_chain(to).ok_or_else(|| format!("cannot encode {}", to.name))?;
    let filter = filter.map(|f| format!("{f} ! ")).unwrap_or_default();
    let desc = format!(
        "appsrc name=src is-live=true do-timestamp=true format=time ! {} ! {} ! queue max-size-buffers=3 leaky=downstream \
         ! {filter}{enc} ! appsink name=out sync=false",
        d.depay, d.decode
    );
    let pipeline = gst::parse::launch(&desc)
        .map_err(|e| format!("cannot build the transcoder: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "the transcoder is not a pipeline".to_string())?;
    let src = pipeline
        .by_name("src")
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        .ok_or("no appsrc")?;
    let out = pipeline
        .by_name("out")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or("no appsink")?;
    let caps =
        rtpbuf::caps_of(kind, from, 96).ok_or_else(|| format!("cannot take {}", from.name))?;
    src.set_caps(Some(&caps));
    src.set_max_bytes(2 * 1024 * 1024);
    src.set_leaky_type(gst_app::AppLeakyType::Upstream);
    let enc_el = pipeline.by_name("enc");
    if let Some(e) = &enc_el {
        set_bitrate(e, to, START_BITRATE);
    }
    let codec = to.clone();
    let out_graph = graph.clone();
    out.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(buf) = sample.buffer() {
                    if let Ok(map) = buf.map_readable() {
                        if let Some(p) = rtpbuf::from_bytes(kind, &codec, &map) {
                            out_graph.send(FromElement::Rtp(p));
                        }
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let bus = pipeline.bus().ok_or("no bus")?;
    if let Some(h) = &hooks {
        h.started(&pipeline);
    }
    let weak = pipeline.downgrade();
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start the transcoder: {e}"))?;
    info!(element = %graph.id(), "transcoding {:?} {} → {}", kind, from.name, to.name);
    let span = tracing::info_span!("transcoder", element = %graph.id());
    tokio::spawn(
        async move {
            let mut msgs = bus.stream();
            loop {
                let m = tokio::select! {
                    _ = stopped.notified() => break,
                    m = msgs.next() => match m { Some(m) => m, None => break },
                };
                match m.view() {
                    gst::MessageView::Element(e) => {
                        let (Some(h), Some(st)) = (&hooks, e.structure()) else {
                            continue;
                        };
                        let Some(p) = weak.upgrade() else { break };
                        h.message(&p, st);
                    }
                    gst::MessageView::Error(e) => {
                        warn!(
                            "transcoder error: {} ({})",
                            e.error(),
                            e.debug().unwrap_or_default()
                        );
                        break;
                    }
                    gst::MessageView::Eos(_) => break,
                    _ => {}
                }
            }
        }
        .instrument(span),
    );
    // The decoder starts at a keyframe.
    graph.send(FromElement::KeyframeRequested { kind });
    Ok(TranscoderHandle {
        inner: Arc::new(Inner {
            pipeline,
            src,
            out,
            enc: enc_el,
            to: to.clone(),
            graph,
            closed: AtomicBool::new(false),
            stop,
        }),
    })
}

fn set_bitrate(enc: &gst::Element, to: &CodecId, bps: u64) {
    let bps = bps.clamp(MIN_BITRATE, MAX_BITRATE);
    match to.name.to_ascii_uppercase().as_str() {
        "VP8" => enc.set_property("target-bitrate", bps as i32),
        "H264" => enc.set_property("bitrate", (bps / 1000) as u32),
        _ => {}
    }
}

impl TranscoderHandle {
    /// GStreamerFilter.setElementProperty on the chain's filter element, as KMS converts values.
    pub(super) fn set_filter_property(&self, prop: &str, value: &str) -> Result<(), String> {
        let el = self
            .inner
            .pipeline
            .by_name(FILTER_NAME)
            .ok_or("this chain has no filter element")?;
        set_property(&el, prop, value)
    }
}

/// Sets a property from its string form, with an error (never a panic) when it does not exist,
/// is read-only or the value does not convert.
pub(super) fn set_property(el: &gst::Element, prop: &str, value: &str) -> Result<(), String> {
    let pspec = el
        .find_property(prop)
        .ok_or_else(|| format!("No property named '{prop}' in object '{}'", el.name()))?;
    if !pspec.flags().contains(gst::glib::ParamFlags::WRITABLE) {
        return Err(format!("Property '{prop}' of '{}' is read-only", el.name()));
    }
    let v = gst::glib::Value::deserialize_with_pspec(value, &pspec)
        .map_err(|_| format!("Cannot convert '{value}' to {}", pspec.value_type().name()))?;
    el.set_property_from_value(prop, &v);
    Ok(())
}

impl ElementPort for TranscoderHandle {
    fn send_rtp(&self, pkt: RtpPacket) {
        if self.inner.closed.load(Ordering::Relaxed) {
            return;
        }
        // do-timestamp: the appsrc stamps arrival; the decoder needs nothing more.
        let _ = self.inner.src.push_buffer(rtpbuf::to_buffer(&pkt, None));
    }

    fn request_keyframe(&self, kind: MediaKind) {
        let ev = gst::event::CustomUpstream::new(
            gst::Structure::builder("GstForceKeyUnit")
                .field("all-headers", true)
                .build(),
        );
        self.inner.out.send_event(ev);
        // A decoder that lost packets recovers only at the source's next keyframe.
        self.inner
            .graph
            .send(FromElement::KeyframeRequested { kind });
    }

    fn limit_video_bitrate(&self, bps: u64) {
        if let Some(e) = &self.inner.enc {
            set_bitrate(e, &self.inner.to, bps);
        }
    }

    fn close(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
        self.inner.stop.notify_one();
        let _ = self.inner.pipeline.set_state(gst::State::Null);
    }
}
