//! GStreamerFilter: one GStreamer element, given as a command string (`videoflip
//! method=horizontal-flip`, `videobalance saturation=0`...), run on the element's video or audio,
//! as KMS runs it. The other media type passes through.

use super::class::{self, ClassBehaviour, Created, NewObject};
use super::graph::MediaRole;
use super::media_pipeline::PipelineState;
use super::{ElementMedia, MediaObject, Outcome, Registry};
use crate::gst_bridge::filter::{self, FilterHandle, FilterSpec};
use crate::media::{ElementId, MediaKind};
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{Map, Value};
use std::sync::Arc;

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "GStreamerFilter",
    implements: |obj, _| filter_of(obj).is_some(),
    invoke,
    create: Some(create),
    role: Some(MediaRole::Adapter),
    ..ClassBehaviour::EMPTY
};

/// Class state of the filters that run on the GStreamer bridge.
pub(super) struct FilterState {
    pub handle: FilterHandle,
}

pub(super) fn filter_of(obj: &MediaObject) -> Option<&FilterHandle> {
    class::state::<FilterState>(obj).map(|s| &s.handle)
}

fn marshall(msg: String) -> RpcError {
    RpcError::new(ErrorKind::MarshallError, msg)
}

/// Attaches a filter running `spec(element key)` to the new object's pipeline.
pub(super) fn attach_filter(
    reg: &mut Registry,
    o: &NewObject,
    spec: impl FnOnce(ElementId) -> FilterSpec,
) -> Result<Created, RpcError> {
    let pipeline = o
        .pipeline
        .ok_or_else(|| RpcError::param_required("mediaPipeline"))?;
    let Some(p) = reg.get(pipeline).and_then(class::state::<PipelineState>) else {
        return Err(RpcError::object_not_found(pipeline.as_str()));
    };
    let media = p.media.clone();
    let key = ElementId::next();
    let _media_workers = reg.media.runtime.enter();
    let handle = filter::spawn_filter(spec(key), media.inbox(key));
    let element = ElementMedia::attach(key, &media, Arc::new(handle.clone()));
    Ok(Created {
        state: Some(Box::new(FilterState { handle })),
        element: Some(element),
    })
}

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    let command = o
        .props
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let detected = filter::check_command(&command).map_err(marshall)?;
    let kind = match o.props.get("filterType").and_then(Value::as_str) {
        Some("AUDIO") => MediaKind::Audio,
        Some("VIDEO") => MediaKind::Video,
        _ => detected.unwrap_or(MediaKind::Video),
    };
    attach_filter(reg, o, |_| FilterSpec::command(kind, &command))
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let obj = reg.require(id)?;
    let Some(f) = filter_of(obj) else {
        return Err(super::unimplemented::method("GStreamerFilter", method));
    };
    match method {
        "setElementProperty" => {
            let name = p.get("propertyName").and_then(Value::as_str).unwrap_or("");
            let value = p.get("propertyValue").and_then(Value::as_str).unwrap_or("");
            f.set_element_property(name, value).map_err(marshall)?;
            Outcome::null()
        }
        _ => Err(super::unimplemented::method("GStreamerFilter", method)),
    }
}
