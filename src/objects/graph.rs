//! The element graph: `connect`/`disconnect` links between media elements, and the flattening of
//! that graph into packet routes between real media endpoints (through PassThrough, filters,
//! HubPorts and dispatchers), which is all the media core needs to know.

use super::transcoding::Hop;
use super::Registry;
pub use crate::media::MediaType;
use crate::media::Route;
use kurento_protocol::model::marshal::complex;
use kurento_protocol::ObjectId;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Kurento's names for media types (the `MediaType` enum of the kmd).
impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Audio => "AUDIO",
            MediaType::Video => "VIDEO",
            MediaType::Data => "DATA",
        }
    }

    pub fn parse(s: &str) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub source: ObjectId,
    pub sink: ObjectId,
    pub media_type: MediaType,
    pub source_description: String,
    pub sink_description: String,
}

impl Connection {
    /// ElementConnectionData as KMS returns it.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("source".into(), self.source.as_str().into());
        m.insert("sink".into(), self.sink.as_str().into());
        m.insert("type".into(), self.media_type.as_str().into());
        m.insert(
            "sourceDescription".into(),
            self.source_description.clone().into(),
        );
        m.insert(
            "sinkDescription".into(),
            self.sink_description.clone().into(),
        );
        complex("ElementConnectionData", m)
    }

    fn event_fields(&self) -> Map<String, Value> {
        let mut f = Map::new();
        f.insert("sink".into(), self.sink.as_str().into());
        f.insert("mediaType".into(), self.media_type.as_str().into());
        f.insert(
            "sourceMediaDescription".into(),
            self.source_description.clone().into(),
        );
        f.insert(
            "sinkMediaDescription".into(),
            self.sink_description.clone().into(),
        );
        f
    }
}

#[derive(Debug, Default)]
pub struct Graph {
    links: Vec<Connection>,
}

impl Graph {
    pub fn links(&self) -> &[Connection] {
        &self.links
    }

    /// Removes every link and dispatch entry that involves `id`; returns the removed links.
    pub fn remove_element(&mut self, id: &ObjectId) -> Vec<Connection> {
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.links)
            .into_iter()
            .partition(|c| &c.source == id || &c.sink == id);
        self.links = keep;
        gone
    }
}

pub(super) fn raise_disconnected(reg: &mut Registry, c: &Connection) {
    let f = c.event_fields();
    reg.raise(&c.source, "ElementDisconnected", f);
}

impl Registry {
    pub fn connections(&self) -> &[Connection] {
        self.graph.links()
    }

    /// Links `source` → `sink` for one media type. A sink input takes one source per media type
    /// and description, so an existing link into it from another element is replaced (and
    /// reported as disconnected), as in KMS.
    pub(crate) fn link(&mut self, c: Connection) {
        if self.graph.links.contains(&c) {
            return;
        }
        let replaced: Vec<Connection> = self
            .graph
            .links
            .iter()
            .filter(|l| {
                l.sink == c.sink
                    && l.media_type == c.media_type
                    && l.sink_description == c.sink_description
            })
            .cloned()
            .collect();
        self.graph.links.retain(|l| !replaced.contains(l));
        for r in &replaced {
            raise_disconnected(self, r);
        }
        let f = c.event_fields();
        let source = c.source.clone();
        self.graph.links.push(c);
        self.raise(&source, "ElementConnected", f);
    }

    /// Removes matching links; returns how many.
    pub(crate) fn unlink(
        &mut self,
        source: &ObjectId,
        sink: &ObjectId,
        ty: Option<MediaType>,
        sd: &str,
        kd: &str,
    ) -> usize {
        let gone: Vec<Connection> = self
            .graph
            .links
            .iter()
            .filter(|l| {
                &l.source == source
                    && &l.sink == sink
                    && ty.is_none_or(|t| l.media_type == t)
                    && l.source_description == sd
                    && l.sink_description == kd
            })
            .cloned()
            .collect();
        self.graph.links.retain(|l| !gone.contains(l));
        for g in &gone {
            raise_disconnected(self, g);
        }
        gone.len()
    }
}

/// What an element does with media, as far as the graph is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaRole {
    /// Produces and consumes media itself (WebRTC, RTP): a node of the media core.
    Adapter,
    /// Hands its input to its outputs unchanged (PassThrough).
    PassThrough,
    /// A hub's port: what leaves it is what the hub routes to it.
    HubPort,
    /// Transforms, plays, records or mixes media. None of these is built yet, so media stops
    /// here: it never skips the element to reach what is connected after it.
    Processor,
}

pub(super) fn role_of(reg: &Registry, id: &ObjectId) -> Option<MediaRole> {
    let obj = reg.get(id)?;
    if obj.element.is_some() {
        return Some(MediaRole::Adapter);
    }
    Some(
        super::class::hierarchy(&obj.class.name)
            .find_map(|b| b.role)
            .unwrap_or(MediaRole::Processor),
    )
}

/// The element producing the media that reaches `element`'s input of type `ty`, following
/// pass-through elements, HubPorts and dispatchers upstream. `None` when nothing feeds it, or when
/// the media comes out of an element that would transform it (see [`MediaRole::Processor`]).
fn upstream(
    reg: &Registry,
    element: &ObjectId,
    ty: MediaType,
    seen: &mut HashSet<ObjectId>,
) -> Option<ObjectId> {
    let link = reg
        .graph
        .links
        .iter()
        .find(|l| &l.sink == element && l.media_type == ty)?;
    output_source(reg, &link.source, ty, seen)
}

/// The element producing the media of type `ty` that leaves `element`'s output: itself for an
/// adapter, what feeds it for a PassThrough or a routing hub's port, nothing for a processor.
fn output_source(
    reg: &Registry,
    element: &ObjectId,
    ty: MediaType,
    seen: &mut HashSet<ObjectId>,
) -> Option<ObjectId> {
    if !seen.insert(element.clone()) {
        return None;
    }
    match role_of(reg, element)? {
        MediaRole::Adapter => Some(element.clone()),
        MediaRole::PassThrough => upstream(reg, element, ty, seen),
        MediaRole::HubPort => {
            let obj = reg.get(element)?;
            let hub = reg.get(obj.parent.as_ref()?)?;
            // Composite, Mixer and AlphaBlending mix decoded media: no route yet.
            let route = super::class::hierarchy(&hub.class.name).find_map(|b| b.hub_route)?;
            let feeding_port = route(reg, hub, element)?;
            upstream(reg, &feeding_port, ty, seen)
        }
        MediaRole::Processor => None,
    }
}

fn producing(reg: &Registry, source: Option<ObjectId>, ty: MediaType) -> bool {
    source
        .and_then(|s| reg.get(&s))
        .and_then(|o| o.element.as_ref())
        .is_some_and(|e| e.producing[ty.index()])
}

/// Kurento's (MediaFlowIn, MediaFlowOut) of an element for one media type: media flows in when
/// what feeds its input is produced; it flows out when what leaves its output is produced and the
/// output is connected to something.
pub(super) fn flow_of(reg: &Registry, element: &ObjectId, ty: MediaType) -> (bool, bool) {
    let flowing_in = producing(reg, upstream(reg, element, ty, &mut HashSet::new()), ty);
    let connected_out = reg
        .graph
        .links
        .iter()
        .any(|l| &l.source == element && l.media_type == ty);
    let flowing_out = connected_out
        && producing(
            reg,
            output_source(reg, element, ty, &mut HashSet::new()),
            ty,
        );
    (flowing_in, flowing_out)
}

/// Whether media of type `ty` produced by some element reaches `element`'s input.
pub(super) fn fed(reg: &Registry, element: &ObjectId, ty: MediaType) -> bool {
    source_of(reg, element, ty).is_some()
}

/// The element producing the media of type `ty` that reaches `element`'s input.
pub(super) fn source_of(reg: &Registry, element: &ObjectId, ty: MediaType) -> Option<ObjectId> {
    upstream(reg, element, ty, &mut HashSet::new())
}

/// Every (source element, media type) → sink element route of a pipeline.
pub(super) fn routes_of(reg: &Registry, pipeline: &ObjectId) -> Vec<Route> {
    let mut routes = Vec::new();
    for obj in reg.objects.values() {
        if obj.pipeline.as_ref() != Some(pipeline) {
            continue;
        }
        let Some(sink) = &obj.element else {
            continue;
        };
        for ty in MediaType::ALL {
            if let Some(src) = upstream(reg, &obj.id, ty, &mut HashSet::new()) {
                if let Some(s) = reg.get(&src).and_then(|o| o.element.as_ref()) {
                    // Through a transcoder when the sink cannot take what the source makes.
                    let last_hop = match reg.transcoders.hop(reg, &obj.id, ty, &src) {
                        Hop::Through(t) => {
                            routes.push(Route {
                                source: s.id,
                                media: ty,
                                sink: t,
                            });
                            t
                        }
                        Hop::Direct => s.id,
                        Hop::Hold => continue,
                    };
                    routes.push(Route {
                        source: last_hop,
                        media: ty,
                        sink: sink.id,
                    });
                }
            }
        }
    }
    routes
}
