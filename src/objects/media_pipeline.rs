//! MediaPipeline: owns a router in the media core and reports its graph as DOT.

use super::class::{ClassBehaviour, Created, NewObject};
use super::{ControlEvent, MediaEnv, MediaObject, Outcome, Registry};
use crate::media::{PipelineMedia, Route};
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{Map, Value};
use std::fmt::Write;

pub struct PipelineState {
    pub media: PipelineMedia,
}

impl PipelineState {
    pub fn new(env: &MediaEnv, id: &ObjectId) -> Self {
        let _media_workers = env.runtime.enter();
        PipelineState {
            media: PipelineMedia::spawn(id.to_string(), env.reporter(ControlEvent::Graph)),
        }
    }

    pub fn set_routes(&self, routes: Vec<Route>) {
        self.media.set_routes(routes);
    }
}

// Dropping the state drops the router's control sender, which ends the router task, which closes
// its elements.
fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    Ok(Created {
        state: Some(Box::new(PipelineState::new(&reg.media, o.id))),
        element: None,
    })
}

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "MediaPipeline",
    implements: |_, m| matches!(m, "getGstreamerDot" | "dumpGstreamerDot"),
    invoke,
    create: Some(create),
    property_changed,
    ..ClassBehaviour::EMPTY
};

fn property_changed(reg: &mut Registry, id: &ObjectId, prop: &str, v: &Value) {
    if prop != "latencyStats" {
        return;
    }
    if let Some(p) = reg.get(id).and_then(super::class::state::<PipelineState>) {
        p.media.set_latency_stats(v.as_bool().unwrap_or(false));
    }
}

/// MediaPipeline `latencyStats` (default false, as KMS) of the pipeline holding `element`.
pub(crate) fn latency_stats(reg: &Registry, element: &ObjectId) -> bool {
    reg.get(element)
        .and_then(|o| o.pipeline.as_ref())
        .and_then(|p| reg.get(p))
        .and_then(|p| p.props.get("latencyStats"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    _p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    match method {
        "getGstreamerDot" => Outcome::value(dot(reg, id)),
        // KMS writes the graph to its debug directory; we write it to the log.
        "dumpGstreamerDot" => {
            tracing::info!(pipeline = %id, "pipeline graph:\n{}", dot(reg, id));
            Outcome::null()
        }
        _ => Err(super::unimplemented::method("MediaPipeline", method)),
    }
}

/// The pipeline's elements and links as a DOT graph: what KMS users paste into Graphviz, for our
/// own forwarding graph rather than a GStreamer one.
pub(crate) fn dot(reg: &Registry, pipeline: &ObjectId) -> String {
    let short = |id: &ObjectId| {
        id.as_str()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "digraph pipeline {{");
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  label=\"{}\";", short(pipeline));
    let mut ids: Vec<&MediaObject> = reg
        .objects
        .values()
        .filter(|o| o.pipeline.as_ref() == Some(pipeline) && &o.id != pipeline)
        .collect();
    ids.sort_by(|a, b| a.id.cmp(&b.id));
    for o in &ids {
        let kind = if o.element.is_some() {
            "box"
        } else {
            "ellipse"
        };
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\\n{}\", shape={kind}];",
            o.id,
            o.class.name,
            short(&o.id)
        );
    }
    for c in reg.connections() {
        if ids.iter().any(|o| o.id == c.source) {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{}\"];",
                c.source,
                c.sink,
                c.media_type.as_str()
            );
        }
    }
    let _ = writeln!(out, "}}");
    out
}
