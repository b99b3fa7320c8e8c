//! Transcoding where KMS would do it: a sink that cannot take its source's codec (it says so when
//! the first packet arrives) gets the source's media through a transcoder, one per (source, media
//! type, target codec) and shared by every sink that needs that codec. `setVideoFormat` /
//! `setAudioFormat` force one on everything that leaves an element. The router sees a transcoder
//! as one more element: the source routes to it, it routes to its sinks.
//!
//! MediaTranscodingStateChanged is raised on the source element when its first transcoder of a
//! media type starts and when its last one stops, as KMS raises it on the transcoding element.

use super::graph::{self, MediaType};
use super::media_pipeline::PipelineState;
use super::{class, Registry};
use crate::gst_bridge::transcoder::{self, TranscoderHandle};
use crate::media::{CodecId, ElementId, ElementPort, MediaKind};
use kurento_protocol::{ErrorKind, ObjectId};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

type Key = (ObjectId, MediaType, String);

struct Running {
    element: ElementId,
    handle: TranscoderHandle,
    pipeline: ObjectId,
}

/// The path from a source to a sink.
pub(super) enum Hop {
    Direct,
    Through(ElementId),
    /// Nothing, for now (a transcoder that cannot start, a codec not known yet).
    Hold,
}

struct Need {
    source: ObjectId,
    from: CodecId,
    to: CodecId,
}

#[derive(Default)]
pub(super) struct Transcoders {
    /// (sink, type) → (the source it was fed by when it asked, what it got, the codec it takes).
    needs: HashMap<(ObjectId, MediaType), Need>,
    /// (element, type) → the codec forced on its output (setVideoFormat / setAudioFormat).
    forced: HashMap<(ObjectId, MediaType), CodecId>,
    running: HashMap<Key, Running>,
}

impl Transcoders {
    pub(super) fn running(&self) -> usize {
        self.running.len()
    }

    /// How media of `ty` goes from `source` to `sink`.
    pub(super) fn hop(
        &self,
        reg: &Registry,
        sink: &ObjectId,
        ty: MediaType,
        source: &ObjectId,
    ) -> Hop {
        if self.forced.contains_key(&(source.clone(), ty))
            && source_codec(reg, source, ty).is_none()
        {
            // The source's codec is not known yet: nothing the sink could not take may reach it.
            return Hop::Hold;
        }
        let Some((_, to)) = self.target(reg, sink, ty, source) else {
            return Hop::Direct;
        };
        match self.running.get(&(source.clone(), ty, to.name.to_string())) {
            Some(r) => Hop::Through(r.element),
            None => Hop::Hold,
        }
    }

    /// (from, to) for what reaches `sink` from `source`, when it must be transcoded.
    fn target(
        &self,
        reg: &Registry,
        sink: &ObjectId,
        ty: MediaType,
        source: &ObjectId,
    ) -> Option<(CodecId, CodecId)> {
        if let Some(to) = self.forced.get(&(source.clone(), ty)) {
            let from = source_codec(reg, source, ty)?;
            // Already in the forced codec: nothing to do.
            return (!from.name.eq_ignore_ascii_case(&to.name)).then(|| (from, to.clone()));
        }
        match self.needs.get(&(sink.clone(), ty)) {
            Some(n) if &n.source == source => Some((n.from.clone(), n.to.clone())),
            _ => None,
        }
    }

    /// Whether a format is forced on `element`'s output.
    pub(super) fn forces(&self, element: &ObjectId) -> bool {
        self.forced.keys().any(|(e, _)| e == element)
    }

    /// Whether `element` has media of `ty` transcoded (MediaElement.isMediaTranscoding).
    pub(super) fn transcoding(&self, element: &ObjectId, ty: Option<MediaType>) -> bool {
        self.running
            .keys()
            .any(|(s, t, _)| s == element && ty.is_none_or(|ty| ty == *t))
    }
}

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A sink got media it cannot send: transcode to the first codec it takes that we can make, or
/// say why not. Returns the Error event's fields when there is no transcoding.
pub(super) fn on_codec_mismatch(
    reg: &mut Registry,
    sink: &ObjectId,
    kind: MediaKind,
    codec: &str,
    accepts: &[CodecId],
) -> Option<Map<String, Value>> {
    let ty = MediaType::from(kind);
    let no = |why: String| {
        tracing::warn!(endpoint = %sink, "{why}");
        Some(fields(json!({
            "description": why,
            "errorCode": ErrorKind::UnsupportedMediaType.code(),
            "type": "UNSUPPORTED_MEDIA_TYPE",
        })))
    };
    let t = ty.as_str();
    if !reg.media.transcoding {
        return no(format!(
            "{t} arrives as {codec}, which this endpoint did not negotiate, and transcoding is off \
             (mediaServer.resources.transcoding): it is not sent"
        ));
    }
    // No source (it was disconnected meanwhile): nothing to transcode, nothing to report.
    let source = graph::source_of(reg, sink, ty)?;
    let Some(from) = transcoder::input_codec(codec) else {
        return no(format!(
            "{t} arrives as {codec}, which cannot be transcoded: it is not sent"
        ));
    };
    let Some(to) = accepts.iter().find_map(|c| {
        transcoder::output_codec(&c.name).filter(|_| transcoder::check(&from, c).is_ok())
    }) else {
        return no(format!(
            "{t} arrives as {codec}; this endpoint takes {}, none of which can be made from it: it is not sent",
            accepts.iter().map(|c| c.name.to_string()).collect::<Vec<_>>().join(", ")
        ));
    };
    tracing::info!(endpoint = %sink, "{t} {codec} is transcoded to {} for this endpoint", to.name);
    reg.transcoders.needs.insert(
        (sink.clone(), ty),
        Need {
            source: source.clone(),
            from,
            to,
        },
    );
    if let Some(p) = reg.get(sink).and_then(|o| o.pipeline.clone()) {
        reg.update_routes(&p);
    }
    None
}

/// setVideoFormat / setAudioFormat: the codec forced on what leaves `element`.
pub(super) fn force(reg: &mut Registry, element: &ObjectId, ty: MediaType, codec: Option<CodecId>) {
    match codec {
        Some(c) => reg.transcoders.forced.insert((element.clone(), ty), c),
        None => reg.transcoders.forced.remove(&(element.clone(), ty)),
    };
    if let Some(p) = reg.get(element).and_then(|o| o.pipeline.clone()) {
        reg.update_routes(&p);
    }
}

/// Brings a pipeline's transcoders in line with its graph: forgets needs whose sink is gone or
/// fed by another source now, starts the transcoders still needed and stops the others.
pub(super) fn plan(reg: &mut Registry, pipeline: &ObjectId) {
    let t = std::mem::take(&mut reg.transcoders.needs);
    let needs = t
        .into_iter()
        .filter(|((sink, ty), n)| {
            reg.get(sink).is_some() && graph::source_of(reg, sink, *ty).as_ref() == Some(&n.source)
        })
        .collect();
    reg.transcoders.needs = needs;
    reg.transcoders
        .forced
        .retain(|(e, _), _| reg.objects.contains_key(e));
    // What this pipeline's sinks need now.
    let mut wanted: HashMap<Key, (CodecId, CodecId)> = HashMap::new();
    let sinks: Vec<ObjectId> = reg
        .objects
        .values()
        .filter(|o| o.pipeline.as_ref() == Some(pipeline) && o.element.is_some())
        .map(|o| o.id.clone())
        .collect();
    for sink in &sinks {
        for ty in [MediaType::Audio, MediaType::Video] {
            let Some(source) = graph::source_of(reg, sink, ty) else {
                continue;
            };
            if let Some((from, to)) = reg.transcoders.target(reg, sink, ty, &source) {
                wanted.insert((source, ty, to.name.to_string()), (from, to));
            }
        }
    }
    let stale: Vec<Key> = reg
        .transcoders
        .running
        .iter()
        .filter(|(k, r)| &r.pipeline == pipeline && !wanted.contains_key(*k))
        .map(|(k, _)| k.clone())
        .collect();
    for k in stale {
        if let Some(r) = reg.transcoders.running.remove(&k) {
            tracing::info!(element = %k.0, "{} transcoding to {} stopped", k.1.as_str(), k.2);
            r.handle.close();
            if let Some(p) = reg.get(pipeline).and_then(class::state::<PipelineState>) {
                p.media.detach(r.element);
            }
            if !reg.transcoders.transcoding(&k.0, Some(k.1)) {
                raise_state(reg, &k.0, k.1, false);
            }
        }
    }
    for (k, (from, to)) in wanted {
        if reg.transcoders.running.contains_key(&k) {
            continue;
        }
        let Some(media) = reg
            .get(pipeline)
            .and_then(class::state::<PipelineState>)
            .map(|p| p.media.clone())
        else {
            return;
        };
        let Some(kind) = k.1.rtp_kind() else { continue };
        let element = ElementId::next();
        let _workers = reg.media.runtime.enter();
        match transcoder::spawn_transcoder(kind, &from, &to, media.inbox(element)) {
            Ok(handle) => {
                media.attach(element, std::sync::Arc::new(handle.clone()));
                let first = !reg.transcoders.transcoding(&k.0, Some(k.1));
                reg.transcoders.running.insert(
                    k.clone(),
                    Running {
                        element,
                        handle,
                        pipeline: pipeline.clone(),
                    },
                );
                if first {
                    raise_state(reg, &k.0, k.1, true);
                }
            }
            Err(e) => {
                tracing::warn!(element = %k.0, "cannot transcode {} to {}: {e}", from.name, to.name);
            }
        }
    }
}

/// The codec a source produces, as the graph last saw it.
fn source_codec(reg: &Registry, source: &ObjectId, ty: MediaType) -> Option<CodecId> {
    let e = reg.get(source)?.element.as_ref()?;
    e.produced_codec[ty.index()]
        .as_deref()
        .and_then(transcoder::input_codec)
}

fn raise_state(reg: &mut Registry, element: &ObjectId, ty: MediaType, on: bool) {
    let state = if on { "TRANSCODING" } else { "NOT_TRANSCODING" };
    reg.raise(
        element,
        "MediaTranscodingStateChanged",
        fields(json!({"state": state, "binName": format!("transcoder_{}", ty.as_str().to_lowercase()), "mediaType": ty.as_str()})),
    );
}
