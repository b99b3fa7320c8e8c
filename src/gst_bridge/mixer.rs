//! The mixing hubs: Composite (every input's video tiled in KMS's grid), AlphaBlending (inputs
//! blended over a master), Mixer (video routed between port pairs, audio mixed per sink). One
//! GStreamer pipeline per hub; each HubPort is a graph element that feeds its input into it and
//! sends out what the hub makes for it.
//!
//! Video is composited once (compositor) and encoded once to VP8, and that one stream leaves
//! every port. Audio is mixed per port without the port's own input (each participant hears the
//! others, as KMS's audio mixer does), each mix encoded to Opus. Inputs are decoded from the
//! first packet of each codec; ports come and go while the pipeline runs.
//!
//! Locking: `ports` is held while the GStreamer graph is changed; streaming threads never take
//! it (they only read `outputs`), so changing the graph cannot wait on a thread that waits on us.

use super::lock;
use super::rtp as rtpbuf;
use super::transcoder;
use crate::media::{
    CodecId, DataMessage, ElementPort, FromElement, GraphInbox, MediaKind, RtpPacket,
};
use futures_util::StreamExt;
use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use tracing::{debug, info, warn, Instrument};

/// The mix's video: KMS's Composite frame rate, a common conference size.
const WIDTH: i32 = 640;
const HEIGHT: i32 = 480;
const FPS: i32 = 15;
/// How long the mixers wait for late inputs before producing a frame without them.
const LATENCY_MS: u64 = 150;

/// What a hub does with its ports' media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixKind {
    /// Composite: every input's video tiled in a grid; audio mixed.
    Grid,
    /// AlphaBlending: every input's video over the master's, where setPortProperties puts it.
    Blend,
    /// Mixer: video routed between port pairs, audio mixed per sink, by `connect`.
    Select,
}

/// AlphaBlending's setPortProperties, as fractions of the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlendPlace {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub z: u32,
}

impl Default for BlendPlace {
    fn default() -> Self {
        BlendPlace {
            x: 0.0,
            y: 0.0,
            width: 1.0,
            height: 1.0,
            z: 1,
        }
    }
}

/// A tile of the output frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

/// KMS's Composite grid for `n` inputs: ceil(√n) columns, as many rows as needed, inputs in
/// port order left to right, top to bottom.
pub fn grid(n: usize) -> Vec<Tile> {
    if n == 0 {
        return Vec::new();
    }
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let (w, h) = (WIDTH / cols as i32, HEIGHT / rows as i32);
    (0..n)
        .map(|i| Tile {
            x: (i % cols) as i32 * w,
            y: (i / cols) as i32 * h,
            width: w,
            height: h,
        })
        .collect()
}

/// One input branch: appsrc → depayloader → decoder → converter, in a bin.
struct Input {
    codec: Arc<str>,
    bin: gst::Bin,
    src: gst_app::AppSrc,
    /// Video: the compositor's pad it feeds. Audio: the tee that reaches the other ports' mixes.
    mix_pad: Option<gst::Pad>,
    tee: Option<gst::Element>,
}

/// An audio link: port `from`'s input into port `to`'s mix.
struct Link {
    tee_pad: gst::Pad,
    queue: gst::Element,
    mix_pad: gst::Pad,
}

struct Port {
    video: Option<Input>,
    audio: Option<Input>,
    /// This port's audio mix (the other ports' audio) and its encoder bins.
    amix: gst::Element,
    amix_bins: Vec<gst::Bin>,
    blend: BlendPlace,
}

#[derive(Default)]
struct Ports {
    map: BTreeMap<u32, Port>,
    next: u32,
    links: HashMap<(u32, u32), Link>,
    /// Mixer: sink port → the port whose video it gets; (source, sink) audio pairs.
    video_routes: HashMap<u32, u32>,
    audio_routes: BTreeSet<(u32, u32)>,
    /// AlphaBlending's master port and its z-order.
    master: Option<(u32, u32)>,
}

struct Inner {
    kind: MixKind,
    pipeline: gst::Pipeline,
    vmix: Option<gst::Element>,
    vout: Option<gst_app::AppSink>,
    venc: Option<gst::Element>,
    ports: Mutex<Ports>,
    /// Where each port's output goes (read by streaming threads; see the module comment).
    outputs: Mutex<HashMap<u32, GraphInbox>>,
    stop: Arc<tokio::sync::Notify>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.notify_one();
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// A mixing hub's media side.
#[derive(Clone)]
pub struct HubMixer {
    inner: Arc<Inner>,
}

fn make_bin(desc: &str) -> Result<gst::Bin, String> {
    gst::parse::bin_from_description(desc, true).map_err(|e| format!("{desc}: {e}"))
}

fn appsink_of(bin: &gst::Bin) -> Option<gst_app::AppSink> {
    bin.by_name("out")?.downcast::<gst_app::AppSink>().ok()
}

/// Sends each RTP packet `out` produces to what `targets` answers.
fn forward_output(
    out: &gst_app::AppSink,
    kind: MediaKind,
    codec: CodecId,
    targets: impl Fn(&mut dyn FnMut(&GraphInbox)) + Send + Sync + 'static,
) {
    let first = std::sync::atomic::AtomicBool::new(true);
    out.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if first.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    debug!("hub output starts: {kind:?}");
                }
                if let Some(buf) = sample.buffer() {
                    if let Ok(map) = buf.map_readable() {
                        if let Some(p) = rtpbuf::from_bytes(kind, &codec, &map) {
                            targets(&mut |g| g.send(FromElement::Rtp(p.clone())));
                        }
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}

impl HubMixer {
    /// Builds and starts a hub's pipeline (its video mix, when it has one).
    pub fn spawn(kind: MixKind, name: &str) -> Result<HubMixer, String> {
        let mut needed = vec!["audiomixer", "audiotestsrc", "opusenc", "appsrc", "appsink"];
        if kind != MixKind::Select {
            needed.extend(["compositor", "videotestsrc", "vp8enc"]);
        }
        super::require(&needed)?;
        let pipeline = gst::Pipeline::builder().name(name).build();
        let (mut vmix, mut vout, mut venc) = (None, None, None);
        if kind != MixKind::Select {
            let mix = gst::ElementFactory::make("compositor")
                .property_from_str("background", "black")
                .property_from_str("start-time-selection", "first")
                .property("latency", LATENCY_MS * 1_000_000)
                .property("ignore-inactive-pads", true)
                .build()
                .map_err(|e| e.to_string())?;
            let caps = format!("video/x-raw,width={WIDTH},height={HEIGHT},framerate={FPS}/1");
            // A black live background keeps the mix running with no input at all.
            let bg = make_bin(&format!(
                "videotestsrc is-live=true pattern=black ! capsfilter caps={caps}"
            ))?;
            let enc = transcoder::encoder_chain_of("VP8").ok_or("no VP8 encoder")?;
            let out = make_bin(&format!(
                "capsfilter caps={caps} ! {enc} ! appsink name=out sync=false async=false"
            ))?;
            pipeline
                .add_many([
                    mix.upcast_ref::<gst::Element>(),
                    bg.upcast_ref(),
                    out.upcast_ref(),
                ])
                .map_err(|e| e.to_string())?;
            let bg_pad = mix
                .request_pad_simple("sink_%u")
                .ok_or("no compositor pad")?;
            bg_pad.set_property("zorder", 0u32);
            bg.static_pad("src")
                .ok_or("no background pad")?
                .link(&bg_pad)
                .map_err(|e| format!("background: {e:?}"))?;
            mix.link(&out).map_err(|e| e.to_string())?;
            venc = out.by_name("enc");
            vout = appsink_of(&out);
            vmix = Some(mix);
        }
        let stop = Arc::new(tokio::sync::Notify::new());
        let inner = Arc::new(Inner {
            kind,
            pipeline: pipeline.clone(),
            vmix,
            vout,
            venc,
            ports: Mutex::new(Ports::default()),
            outputs: Mutex::new(HashMap::new()),
            stop: stop.clone(),
        });
        if let Some(out) = &inner.vout {
            let weak = Arc::downgrade(&inner);
            let codec = transcoder::output_codec("VP8").ok_or("no VP8")?;
            forward_output(out, MediaKind::Video, codec, move |send| {
                if let Some(inner) = weak.upgrade() {
                    for g in lock(&inner.outputs).values() {
                        send(g);
                    }
                }
            });
        }
        let bus = pipeline.bus().ok_or("no bus")?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("cannot start the mixer: {e}"))?;
        info!("{kind:?} mixer running");
        tokio::spawn(
            async move {
                let mut msgs = bus.stream();
                loop {
                    let m = tokio::select! {
                        _ = stop.notified() => break,
                        m = msgs.next() => match m { Some(m) => m, None => break },
                    };
                    // An input that fails (a corrupt stream) must not stop the others' mix.
                    match m.view() {
                        gst::MessageView::Error(e) => {
                            warn!("mixer: {} ({})", e.error(), e.debug().unwrap_or_default())
                        }
                        gst::MessageView::Warning(w) => debug!("mixer: {}", w.error()),
                        _ => {}
                    }
                }
            }
            .instrument(tracing::info_span!("mixer", hub = name)),
        );
        Ok(HubMixer { inner })
    }

    /// A new HubPort: its audio mix starts now; its inputs start with their first packets.
    pub fn add_port(&self, graph: GraphInbox) -> Result<HubPortMedia, String> {
        let enc = transcoder::encoder_chain_of("OPUS").ok_or("no Opus encoder")?;
        let amix = gst::ElementFactory::make("audiomixer")
            .property_from_str("start-time-selection", "first")
            .property("latency", LATENCY_MS * 1_000_000)
            .property("ignore-inactive-pads", true)
            .build()
            .map_err(|e| e.to_string())?;
        let silence = make_bin(
            "audiotestsrc is-live=true wave=silence samplesperbuffer=960 \
             ! capsfilter caps=audio/x-raw,rate=48000,channels=2",
        )?;
        let out = make_bin(&format!("{enc} ! appsink name=out sync=false async=false"))?;
        let p = &self.inner.pipeline;
        p.add_many([
            amix.upcast_ref::<gst::Element>(),
            silence.upcast_ref(),
            out.upcast_ref(),
        ])
        .map_err(|e| e.to_string())?;
        let pad = amix.request_pad_simple("sink_%u").ok_or("no mixer pad")?;
        silence
            .static_pad("src")
            .ok_or("no silence pad")?
            .link(&pad)
            .map_err(|e| format!("{e:?}"))?;
        amix.link(&out).map_err(|e| e.to_string())?;
        let codec = transcoder::output_codec("OPUS").ok_or("no Opus")?;
        let target = graph.clone();
        if let Some(sink) = appsink_of(&out) {
            forward_output(&sink, MediaKind::Audio, codec, move |send| send(&target));
        }
        for e in [
            amix.upcast_ref::<gst::Element>(),
            silence.upcast_ref(),
            out.upcast_ref(),
        ] {
            let _ = e.sync_state_with_parent();
        }
        let mut ports = lock(&self.inner.ports);
        let id = ports.next;
        ports.next += 1;
        ports.map.insert(
            id,
            Port {
                video: None,
                audio: None,
                amix,
                amix_bins: vec![silence, out],
                blend: BlendPlace::default(),
            },
        );
        lock(&self.inner.outputs).insert(id, graph);
        self.inner.sync_audio(&mut ports);
        Ok(HubPortMedia {
            inner: Arc::downgrade(&self.inner),
            id,
        })
    }

    /// Mixer.connect / disconnect.
    pub fn route(&self, kind: MediaKind, source: &HubPortMedia, sink: &HubPortMedia, on: bool) {
        let mut ports = lock(&self.inner.ports);
        match kind {
            MediaKind::Video if on => {
                ports.video_routes.insert(sink.id, source.id);
            }
            MediaKind::Video => {
                if ports.video_routes.get(&sink.id) == Some(&source.id) {
                    ports.video_routes.remove(&sink.id);
                }
            }
            MediaKind::Audio if on => {
                ports.audio_routes.insert((source.id, sink.id));
            }
            MediaKind::Audio => {
                ports.audio_routes.remove(&(source.id, sink.id));
            }
        }
        self.inner.sync_audio(&mut ports);
        if kind == MediaKind::Video && on {
            // The sink's viewers start at a keyframe.
            if let Some(g) = lock(&self.inner.outputs).get(&source.id) {
                g.send(FromElement::KeyframeRequested {
                    kind: MediaKind::Video,
                });
            }
        }
    }

    /// AlphaBlending.setMaster.
    pub fn set_master(&self, port: &HubPortMedia, z: u32) {
        let mut ports = lock(&self.inner.ports);
        debug!(port = port.id, z, "hub master");
        ports.master = Some((port.id, z));
        self.inner.layout(&mut ports);
    }

    /// AlphaBlending.setPortProperties.
    pub fn set_place(&self, port: &HubPortMedia, place: BlendPlace) {
        let mut ports = lock(&self.inner.ports);
        debug!(port = port.id, ?place, "hub port place");
        if let Some(p) = ports.map.get_mut(&port.id) {
            p.blend = place;
        }
        self.inner.layout(&mut ports);
    }
}

impl Inner {
    /// The input branch for `kind` media of `codec` on `port`, built on its first packet.
    fn input(&self, id: u32, kind: MediaKind, codec: &CodecId) -> Option<gst_app::AppSrc> {
        let mut ports = lock(&self.ports);
        let port = ports.map.get_mut(&id)?;
        let slot = match kind {
            MediaKind::Video => &mut port.video,
            MediaKind::Audio => &mut port.audio,
        };
        if let Some(i) = slot {
            if *i.codec == *codec.name {
                return Some(i.src.clone());
            }
        }
        if let Some(old) = slot.take() {
            self.remove_input(old);
        }
        match self.build_input(kind, codec) {
            Ok(input) => {
                let src = input.src.clone();
                let port = ports.map.get_mut(&id)?;
                match kind {
                    MediaKind::Video => port.video = Some(input),
                    MediaKind::Audio => port.audio = Some(input),
                }
                match kind {
                    MediaKind::Video => self.layout(&mut ports),
                    MediaKind::Audio => self.sync_audio(&mut ports),
                }
                if let Some(g) = lock(&self.outputs).get(&id) {
                    // The decoder starts at a keyframe.
                    g.send(FromElement::KeyframeRequested { kind });
                }
                Some(src)
            }
            Err(e) => {
                warn!("hub port input {}: {e}", codec.name);
                None
            }
        }
    }

    fn build_input(&self, kind: MediaKind, codec: &CodecId) -> Result<Input, String> {
        let d = rtpbuf::depay_of(codec).ok_or_else(|| format!("cannot decode {}", codec.name))?;
        let raw = match kind {
            MediaKind::Video => "videoconvert ! queue max-size-buffers=2 leaky=downstream",
            MediaKind::Audio => {
                "audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 \
                 ! queue max-size-time=200000000 leaky=downstream"
            }
        };
        let bin = make_bin(&format!(
            "appsrc name=src is-live=true do-timestamp=true format=time ! {} ! {} ! {raw}",
            d.depay, d.decode
        ))?;
        let src = bin
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or("no appsrc")?;
        let caps = rtpbuf::caps_of(kind, codec, 96).ok_or("no caps")?;
        src.set_caps(Some(&caps));
        src.set_max_bytes(1024 * 1024);
        src.set_leaky_type(gst_app::AppLeakyType::Upstream);
        self.pipeline.add(&bin).map_err(|e| e.to_string())?;
        let out = bin.static_pad("src").ok_or("no branch pad")?;
        let (mix_pad, tee) = match kind {
            MediaKind::Video => {
                let mix = self.vmix.as_ref().ok_or("this hub mixes no video")?;
                let pad = mix
                    .request_pad_simple("sink_%u")
                    .ok_or("no compositor pad")?;
                pad.set_property("alpha", 0.0f64);
                out.link(&pad).map_err(|e| format!("{e:?}"))?;
                (Some(pad), None)
            }
            MediaKind::Audio => {
                let tee = gst::ElementFactory::make("tee")
                    .property("allow-not-linked", true)
                    .build()
                    .map_err(|e| e.to_string())?;
                self.pipeline.add(&tee).map_err(|e| e.to_string())?;
                let sink = tee.static_pad("sink").ok_or("no tee pad")?;
                out.link(&sink).map_err(|e| format!("{e:?}"))?;
                let _ = tee.sync_state_with_parent();
                (None, Some(tee))
            }
        };
        let _ = bin.sync_state_with_parent();
        info!("hub input: {:?} {}", kind, codec.name);
        Ok(Input {
            codec: codec.name.clone(),
            bin,
            src,
            mix_pad,
            tee,
        })
    }

    /// Takes an input out of the running pipeline: the mixer's pad first, so nothing blocks on
    /// it, then the branch.
    fn remove_input(&self, input: Input) {
        if let (Some(pad), Some(mix)) = (&input.mix_pad, &self.vmix) {
            mix.release_request_pad(pad);
        }
        let _ = input.bin.set_state(gst::State::Null);
        let _ = self.pipeline.remove(&input.bin);
        if let Some(tee) = input.tee {
            let _ = tee.set_state(gst::State::Null);
            let _ = self.pipeline.remove(&tee);
        }
    }

    /// Places every video input: KMS's grid, or the blend over the master.
    fn layout(&self, ports: &mut Ports) {
        let inputs: Vec<(u32, &gst::Pad, BlendPlace)> = ports
            .map
            .iter()
            .filter_map(|(id, p)| {
                let pad = p.video.as_ref()?.mix_pad.as_ref()?;
                Some((*id, pad, p.blend))
            })
            .collect();
        debug!(master = ?ports.master, ids = ?inputs.iter().map(|i| i.0).collect::<Vec<_>>(), "hub layout of");
        let place = |pad: &gst::Pad, t: Tile, z: u32| {
            debug!(pad = %pad.name(), ?t, z, "hub layout");
            pad.set_property("xpos", t.x);
            pad.set_property("ypos", t.y);
            pad.set_property("width", t.width);
            pad.set_property("height", t.height);
            pad.set_property("zorder", z);
            pad.set_property("alpha", 1.0f64);
        };
        match self.kind {
            MixKind::Grid => {
                for ((_, pad, _), tile) in inputs.iter().zip(grid(inputs.len())) {
                    place(pad, tile, 1);
                }
            }
            MixKind::Blend => {
                for (id, pad, b) in &inputs {
                    let (tile, z) = match ports.master {
                        Some((m, z)) if m == *id => (
                            Tile {
                                x: 0,
                                y: 0,
                                width: WIDTH,
                                height: HEIGHT,
                            },
                            z,
                        ),
                        _ => (
                            Tile {
                                x: (b.x * WIDTH as f64) as i32,
                                y: (b.y * HEIGHT as f64) as i32,
                                width: ((b.width * WIDTH as f64) as i32).max(1),
                                height: ((b.height * HEIGHT as f64) as i32).max(1),
                            },
                            b.z,
                        ),
                    };
                    place(pad, tile, z.saturating_add(1));
                }
            }
            MixKind::Select => {}
        }
    }

    /// Makes the audio links what they should be: every other port's input into each port's
    /// mix (Composite, AlphaBlending), or the `connect`ed pairs (Mixer).
    fn sync_audio(&self, ports: &mut Ports) {
        let with_audio: Vec<u32> = ports
            .map
            .iter()
            .filter(|(_, p)| p.audio.as_ref().is_some_and(|a| a.tee.is_some()))
            .map(|(id, _)| *id)
            .collect();
        let want: BTreeSet<(u32, u32)> = match self.kind {
            MixKind::Select => ports
                .audio_routes
                .iter()
                .filter(|(from, to)| with_audio.contains(from) && ports.map.contains_key(to))
                .copied()
                .collect(),
            _ => with_audio
                .iter()
                .flat_map(|from| {
                    ports
                        .map
                        .keys()
                        .filter(move |to| *to != from)
                        .map(move |to| (*from, *to))
                })
                .collect(),
        };
        let stale: Vec<(u32, u32)> = ports
            .links
            .keys()
            .filter(|k| !want.contains(k))
            .copied()
            .collect();
        for k in stale {
            if let Some(link) = ports.links.remove(&k) {
                let tee = ports
                    .map
                    .get(&k.0)
                    .and_then(|p| p.audio.as_ref())
                    .and_then(|a| a.tee.clone());
                let amix = ports.map.get(&k.1).map(|p| p.amix.clone());
                self.unlink(link, tee.as_ref(), amix.as_ref());
            }
        }
        for k in want {
            if ports.links.contains_key(&k) {
                continue;
            }
            let tee = ports
                .map
                .get(&k.0)
                .and_then(|p| p.audio.as_ref())
                .and_then(|a| a.tee.clone());
            let amix = ports.map.get(&k.1).map(|p| p.amix.clone());
            let (Some(tee), Some(amix)) = (tee, amix) else {
                continue;
            };
            match self.link(&tee, &amix) {
                Ok(l) => {
                    ports.links.insert(k, l);
                }
                Err(e) => warn!("hub audio {} → {}: {e}", k.0, k.1),
            }
        }
    }

    fn link(&self, tee: &gst::Element, amix: &gst::Element) -> Result<Link, String> {
        let queue = gst::ElementFactory::make("queue")
            .property("max-size-time", 200_000_000u64)
            .property_from_str("leaky", "downstream")
            .build()
            .map_err(|e| e.to_string())?;
        self.pipeline.add(&queue).map_err(|e| e.to_string())?;
        let mix_pad = amix.request_pad_simple("sink_%u").ok_or("no mixer pad")?;
        let qsrc = queue.static_pad("src").ok_or("no queue pad")?;
        qsrc.link(&mix_pad).map_err(|e| format!("{e:?}"))?;
        let _ = queue.sync_state_with_parent();
        let tee_pad = tee.request_pad_simple("src_%u").ok_or("no tee pad")?;
        let qsink = queue.static_pad("sink").ok_or("no queue pad")?;
        tee_pad.link(&qsink).map_err(|e| format!("{e:?}"))?;
        Ok(Link {
            tee_pad,
            queue,
            mix_pad,
        })
    }

    /// The tee stops feeding the link and the mix lets go of its pad before the queue stops: the
    /// queue's thread may be blocked in the mix's pad (a mix that has not started consuming), and
    /// only releasing that pad unblocks it; stopping the queue first waited on it forever.
    fn unlink(&self, link: Link, tee: Option<&gst::Element>, amix: Option<&gst::Element>) {
        if let Some(tee) = tee {
            tee.release_request_pad(&link.tee_pad);
        }
        if let Some(amix) = amix {
            amix.release_request_pad(&link.mix_pad);
        }
        let _ = link.queue.set_state(gst::State::Null);
        let _ = self.pipeline.remove(&link.queue);
    }

    fn remove_port(&self, id: u32) {
        lock(&self.outputs).remove(&id);
        // Out of the table under the lock, torn down after it: tearing a branch down waits on
        // its streaming threads, and a new port (the control plane) or another port's first
        // packet (the router) must never wait on that.
        let (gone, port) = {
            let mut ports = lock(&self.ports);
            ports.video_routes.retain(|k, v| *k != id && *v != id);
            ports.audio_routes.retain(|(a, b)| *a != id && *b != id);
            if ports.master.is_some_and(|(m, _)| m == id) {
                ports.master = None;
            }
            let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut ports.links)
                .into_iter()
                .partition(|((a, b), _)| *a == id || *b == id);
            ports.links = keep.into_iter().collect();
            // Each link with the tee that feeds it and the mix it feeds, while both exist.
            let gone: Vec<_> = gone
                .into_iter()
                .map(|((a, b), link)| {
                    let tee = ports
                        .map
                        .get(&a)
                        .and_then(|p| p.audio.as_ref())
                        .and_then(|x| x.tee.clone());
                    let amix = ports.map.get(&b).map(|p| p.amix.clone());
                    (link, tee, amix)
                })
                .collect();
            let port = ports.map.remove(&id);
            // Hidden at once: the layout below no longer places it, whatever its teardown takes.
            if let Some(pad) = port
                .as_ref()
                .and_then(|p| p.video.as_ref())
                .and_then(|v| v.mix_pad.as_ref())
            {
                pad.set_property("alpha", 0.0f64);
            }
            self.layout(&mut ports);
            (gone, port)
        };
        let began = std::time::Instant::now();
        let (video, audio) = match port {
            Some(mut p) => (p.video.take(), Some(p)),
            None => (None, None),
        };
        // The picture first: the other ports' mix loses this one at once.
        if let Some(v) = video {
            self.remove_input(v);
        }
        // Its audio links next (while its tee and mix still exist), then its own elements.
        for (link, tee, amix) in gone {
            self.unlink(link, tee.as_ref(), amix.as_ref());
        }
        if let Some(mut port) = audio {
            if let Some(a) = port.audio.take() {
                self.remove_input(a);
            }
            for b in port.amix_bins {
                let _ = b.set_state(gst::State::Null);
                let _ = self.pipeline.remove(&b);
            }
            let _ = port.amix.set_state(gst::State::Null);
            let _ = self.pipeline.remove(&port.amix);
        }
        debug!(
            port = id,
            ms = began.elapsed().as_millis() as u64,
            "hub port torn down"
        );
    }
}

/// A HubPort's media: what enters it goes into the hub's mix; the hub's output for it leaves.
#[derive(Clone)]
pub struct HubPortMedia {
    inner: Weak<Inner>,
    id: u32,
}

impl ElementPort for HubPortMedia {
    fn send_rtp(&self, pkt: RtpPacket) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        if inner.kind == MixKind::Select && pkt.kind == MediaKind::Video {
            // Mixer video is routed as it is, without decoding.
            let sinks: Vec<u32> = lock(&inner.ports)
                .video_routes
                .iter()
                .filter(|(_, src)| **src == self.id)
                .map(|(sink, _)| *sink)
                .collect();
            let outputs = lock(&inner.outputs);
            for s in sinks {
                if let Some(g) = outputs.get(&s) {
                    g.send(FromElement::Rtp(pkt.clone()));
                }
            }
            return;
        }
        let Some(codec) = transcoder::input_codec(&pkt.codec.name) else {
            return;
        };
        if let Some(src) = inner.input(self.id, pkt.kind, &codec) {
            let _ = src.push_buffer(rtpbuf::to_buffer(&pkt, None));
        }
    }

    fn send_data(&self, _msg: DataMessage) {
        // Hubs do not mix data channels (KMS's do not either).
    }

    fn request_keyframe(&self, kind: MediaKind) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        if kind != MediaKind::Video {
            return;
        }
        if inner.kind == MixKind::Select {
            let src = lock(&inner.ports).video_routes.get(&self.id).copied();
            if let Some(g) = src.and_then(|s| lock(&inner.outputs).get(&s).cloned()) {
                g.send(FromElement::KeyframeRequested { kind });
            }
            return;
        }
        if let Some(out) = &inner.vout {
            out.send_event(gst::event::CustomUpstream::new(
                gst::Structure::builder("GstForceKeyUnit")
                    .field("all-headers", true)
                    .build(),
            ));
        }
    }

    fn limit_video_bitrate(&self, bps: u64) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        if let Some(enc) = &inner.venc {
            // One encoder for every port: the latest estimate wins (they are alike on a call).
            enc.set_property("target-bitrate", bps.clamp(100_000, 4_000_000) as i32);
        }
    }

    fn close(&self) {
        // Taking a branch out of a running pipeline waits on its streaming threads: never on
        // the router's or the control plane's thread.
        if let Some(inner) = self.inner.upgrade() {
            let id = self.id;
            std::thread::spawn(move || inner.remove_port(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_kms_grid() {
        let t = |x, y, width, height| Tile {
            x,
            y,
            width,
            height,
        };
        assert_eq!(grid(0), vec![]);
        assert_eq!(grid(1), vec![t(0, 0, 640, 480)]);
        // Two inputs: two columns, one row (tiles stretched, as KMS's).
        assert_eq!(grid(2), vec![t(0, 0, 320, 480), t(320, 0, 320, 480)]);
        assert_eq!(
            grid(3),
            vec![t(0, 0, 320, 240), t(320, 0, 320, 240), t(0, 240, 320, 240)]
        );
        assert_eq!(grid(4)[3], t(320, 240, 320, 240));
        let five = grid(5);
        assert_eq!(five.len(), 5);
        assert_eq!(five[0], t(0, 0, 213, 240));
        assert_eq!(five[4], t(213, 240, 213, 240));
        assert_eq!(grid(10)[9], t(160, 320, 160, 160));
    }
}

#[cfg(test)]
mod live_tests {
    use super::*;
    use crate::media::ElementId;

    /// Every port of every kind of hub sends audio (the others' mix, silence at first) from the
    /// start, and video when the hub makes its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ports_send_their_mix() {
        if let Err(e) = super::super::engine() {
            kurento_protocol::test_skip::skipped("ports_send_their_mix", e, true);
            return;
        }
        for kind in [MixKind::Grid, MixKind::Select] {
            let mixer = HubMixer::spawn(kind, "test").expect("mixer");
            let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
            let port = mixer
                .add_port(GraphInbox::new(ElementId::next(), tx))
                .expect("port");
            // Packets keep coming: count them after a second.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            while rx.try_recv().is_ok() {}
            let (mut audio, mut video) = (0, 0);
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
            while let Ok(Some((_, m))) = tokio::time::timeout_at(deadline, rx.recv()).await {
                if let FromElement::Rtp(p) = m {
                    match p.kind {
                        MediaKind::Audio => audio += 1,
                        MediaKind::Video => video += 1,
                    }
                }
            }
            port.close();
            assert!(audio > 20, "{kind:?}: {audio} audio packets in 2 s");
            assert_eq!(
                video > 0,
                kind != MixKind::Select,
                "{kind:?}: {video} video packets"
            );
        }
    }
}
