//! A filter element (GStreamerFilter, ZBarFilter...): the media type it filters is decoded, run
//! through one GStreamer element and re-encoded (VP8 / Opus; the graph transcodes further for
//! sinks that need another codec); the other media types pass through untouched, as in KMS.

use super::transcoder::{self, ChainHooks, TranscoderHandle};
use crate::media::{
    CodecId, DataMessage, ElementPort, FromElement, GraphInbox, MediaKind, RtpPacket,
};
use gst::prelude::*;
use gstreamer as gst;
use std::sync::{Arc, Mutex};
use tracing::warn;

/// The command as GStreamer 1.22 runs it. KMS users write `videoflip method=horizontal-flip`
/// (KMS's GStreamer honours it); in 1.22 the deprecated `method` property is accepted and then
/// ignored, so it becomes the `video-direction` it stands for.
pub fn normalize_command(command: &str) -> String {
    let mut tokens: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    if tokens.first().map(String::as_str) != Some("videoflip") {
        return command.to_string();
    }
    const METHODS: [(&str, &str); 9] = [
        ("none", "identity"),
        ("clockwise", "90r"),
        ("rotate-180", "180"),
        ("counterclockwise", "90l"),
        ("horizontal-flip", "horiz"),
        ("vertical-flip", "vert"),
        ("upper-left-diagonal", "ul-lr"),
        ("upper-right-diagonal", "ur-ll"),
        ("automatic", "auto"),
    ];
    for t in tokens.iter_mut().skip(1) {
        let Some(v) = t.strip_prefix("method=") else {
            continue;
        };
        let v = v.trim_matches('"');
        let direction = METHODS
            .iter()
            .enumerate()
            .find(|(i, (nick, _))| *nick == v || i.to_string() == v)
            .map(|(_, (_, d))| *d);
        if let Some(d) = direction {
            *t = format!("video-direction={d}");
        }
    }
    tokens.join(" ")
}

/// Checks a GStreamerFilter command as KMS does: it must make exactly one element. Returns the
/// media type that element filters, from its sink pad (None when it cannot tell).
pub fn check_command(command: &str) -> Result<Option<MediaKind>, String> {
    super::engine().map_err(str::to_string)?;
    let el = gst::parse::launch(&normalize_command(command))
        .map_err(|e| format!("GStreamer element cannot be created: {e}"))?;
    if el.is::<gst::Bin>() {
        return Err("Given command is not valid, only one element can be created".into());
    }
    let caps = el
        .pad_template_list()
        .into_iter()
        .filter(|t| t.direction() == gst::PadDirection::Sink)
        .map(|t| t.caps().to_string())
        .collect::<Vec<_>>()
        .join(";");
    Ok(if caps.contains("video/") {
        Some(MediaKind::Video)
    } else if caps.contains("audio/") {
        Some(MediaKind::Audio)
    } else {
        None
    })
}

/// What a filter runs: raw-media elements on one media type, and what watches them.
#[derive(Clone)]
pub struct FilterSpec {
    kind: MediaKind,
    /// A gst-launch description of the raw-media part of the chain.
    description: String,
    /// The element setElementProperty reaches, as its own description (None: no such element).
    element: Option<String>,
    hooks: Option<Arc<dyn ChainHooks>>,
}

impl FilterSpec {
    /// GStreamerFilter: one element from a KMS command string.
    pub fn command(kind: MediaKind, command: &str) -> FilterSpec {
        let element = normalize_command(command);
        // Converters before the element let it negotiate any raw format or size it needs.
        let convert = match kind {
            MediaKind::Video => "videoconvert ! videoscale",
            MediaKind::Audio => "audioconvert ! audioresample",
        };
        FilterSpec {
            kind,
            description: format!("{convert} ! {element} name={}", transcoder::FILTER_NAME),
            element: Some(element),
            hooks: None,
        }
    }

    /// One element whose element messages go to `on_message` (name, fields as strings).
    pub fn watched(
        kind: MediaKind,
        element: &str,
        on_message: impl Fn(String, Vec<(String, String)>) + Send + Sync + 'static,
    ) -> FilterSpec {
        FilterSpec {
            kind,
            description: match kind {
                MediaKind::Video => format!("videoconvert ! {element}"),
                MediaKind::Audio => format!("audioconvert ! audioresample ! {element}"),
            },
            element: None,
            hooks: Some(Arc::new(Messages(Box::new(on_message)))),
        }
    }

    /// A chain made by another bridge module (the overlays).
    pub(super) fn custom(
        kind: MediaKind,
        description: String,
        hooks: Arc<dyn ChainHooks>,
    ) -> FilterSpec {
        FilterSpec {
            kind,
            description,
            element: None,
            hooks: Some(hooks),
        }
    }
}

/// Element messages as (name, fields as strings), for owners outside the bridge.
struct Messages(Box<MessageSink>);

impl ChainHooks for Messages {
    fn message(&self, _: &gst::Pipeline, st: &gst::StructureRef) {
        let fields = st
            .iter()
            .map(|(k, v)| {
                let v = v
                    .get::<String>()
                    .ok()
                    .or_else(|| v.serialize().ok().map(|s| s.to_string()))
                    .unwrap_or_default();
                (k.to_string(), v)
            })
            .collect();
        (self.0)(st.name().to_string(), fields);
    }
}

struct State {
    chain: Option<(Arc<str>, TranscoderHandle)>,
    /// setElementProperty calls, applied again when the chain is (re)built.
    props: Vec<(String, String)>,
}

#[derive(Clone)]
pub struct FilterHandle {
    spec: Arc<FilterSpec>,
    graph: GraphInbox,
    state: Arc<Mutex<State>>,
}

/// Where a filter's element messages go: (message name, fields as strings).
type MessageSink = dyn Fn(String, Vec<(String, String)>) + Send + Sync;

/// A filter on the graph.
pub fn spawn_filter(spec: FilterSpec, graph: GraphInbox) -> FilterHandle {
    FilterHandle {
        spec: Arc::new(spec),
        graph,
        state: Arc::new(Mutex::new(State {
            chain: None,
            props: Vec::new(),
        })),
    }
}

impl FilterHandle {
    fn output_codec(&self) -> Option<CodecId> {
        transcoder::output_codec(match self.spec.kind {
            MediaKind::Video => "VP8",
            MediaKind::Audio => "OPUS",
        })
    }

    /// setElementProperty: checked against the element (KMS's MARSHALL_ERROR cases) and applied
    /// now if it runs, and whenever it is rebuilt.
    pub fn set_element_property(&self, prop: &str, value: &str) -> Result<(), String> {
        let element = self
            .spec
            .element
            .as_deref()
            .ok_or("this filter has no element to set properties on")?;
        let el = gst::parse::launch(element)
            .map_err(|e| format!("GStreamer element cannot be created: {e}"))?;
        transcoder::set_property(&el, prop, value)?;
        let mut st = self.state.lock().map_err(|_| "filter state poisoned")?;
        if let Some((_, chain)) = &st.chain {
            chain.set_filter_property(prop, value)?;
        }
        st.props.retain(|(p, _)| p != prop);
        st.props.push((prop.to_string(), value.to_string()));
        Ok(())
    }

    /// The chain for `codec`, built on its first packet (and rebuilt if the codec changes).
    fn chain_for(&self, codec: &CodecId) -> Option<TranscoderHandle> {
        let mut st = self.state.lock().ok()?;
        if let Some((c, chain)) = &st.chain {
            if **c == *codec.name {
                return Some(chain.clone());
            }
            chain.close();
        }
        st.chain = None;
        let to = self.output_codec()?;
        match transcoder::spawn_chain(
            self.spec.kind,
            codec,
            &to,
            Some(&self.spec.description),
            self.graph.clone(),
            self.spec.hooks.clone(),
        ) {
            Ok(chain) => {
                for (p, v) in &st.props {
                    if let Err(e) = chain.set_filter_property(p, v) {
                        warn!("filter property {p}: {e}");
                    }
                }
                st.chain = Some((codec.name.clone(), chain.clone()));
                Some(chain)
            }
            Err(e) => {
                warn!("cannot run the filter on {}: {e}", codec.name);
                None
            }
        }
    }
}

impl ElementPort for FilterHandle {
    fn send_rtp(&self, pkt: RtpPacket) {
        if pkt.kind != self.spec.kind {
            // Not this filter's media: it leaves the element as it came in.
            self.graph.send(FromElement::Rtp(pkt));
            return;
        }
        let Some(codec) = transcoder::input_codec(&pkt.codec.name) else {
            return;
        };
        if let Some(chain) = self.chain_for(&codec) {
            chain.send_rtp(pkt);
        }
    }

    fn send_data(&self, msg: DataMessage) {
        self.graph.send(FromElement::Data(msg));
    }

    fn request_keyframe(&self, kind: MediaKind) {
        let chain = self
            .state
            .lock()
            .ok()
            .and_then(|s| s.chain.as_ref().map(|(_, c)| c.clone()));
        match chain {
            Some(c) if kind == self.spec.kind => c.request_keyframe(kind),
            // Passed-through media: the request goes on to our source.
            _ => self.graph.send(FromElement::KeyframeRequested { kind }),
        }
    }

    fn limit_video_bitrate(&self, bps: u64) {
        let chain = self
            .state
            .lock()
            .ok()
            .and_then(|s| s.chain.as_ref().map(|(_, c)| c.clone()));
        match chain {
            Some(c) if self.spec.kind == MediaKind::Video => c.limit_video_bitrate(bps),
            _ => self.graph.send(FromElement::BitrateEstimate { bps }),
        }
    }

    fn close(&self) {
        if let Ok(mut st) = self.state.lock() {
            if let Some((_, c)) = st.chain.take() {
                c.close();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_command;

    #[test]
    fn videoflip_methods_become_video_directions() {
        let table = [
            (
                "videoflip method=horizontal-flip",
                "videoflip video-direction=horiz",
            ),
            ("videoflip method=4", "videoflip video-direction=horiz"),
            (
                "videoflip  method=clockwise",
                "videoflip video-direction=90r",
            ),
            (
                "videoflip method=automatic name=x",
                "videoflip video-direction=auto name=x",
            ),
            ("videoflip method=bogus", "videoflip method=bogus"),
            (
                "videoflip video-direction=vert",
                "videoflip video-direction=vert",
            ),
            ("videobalance saturation=0", "videobalance saturation=0"),
            ("", ""),
        ];
        for (given, want) in table {
            assert_eq!(normalize_command(given), want, "{given:?}");
        }
    }
}
