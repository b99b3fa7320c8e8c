//! UriEndpoint: what players and recorders share: `pause`, `stop`, the `state` property and
//! UriEndpointStateChanged, and the Error, EndOfStream and recording events their media sides
//! report.

use super::class::{self, ClassBehaviour};
use super::{MediaObject, Outcome, Registry, ServerFacts};
use crate::gst_bridge::player::PlayerHandle;
use crate::gst_bridge::recorder::RecorderHandle;
use crate::gst_bridge::{ErrorType, UriEvent};
use crate::media::ElementId;
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{json, Map, Value};

/// The media side behind a UriEndpoint.
pub(super) enum UriMedia {
    Player(PlayerHandle),
    Recorder(RecorderHandle),
}

/// Kurento's UriEndpointState.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UriState {
    Stop,
    Start,
    Pause,
}

impl UriState {
    fn as_str(self) -> &'static str {
        match self {
            UriState::Stop => "STOP",
            UriState::Start => "START",
            UriState::Pause => "PAUSE",
        }
    }
}

/// Class state of every PlayerEndpoint and RecorderEndpoint.
pub(super) struct UriEndpointState {
    pub media: UriMedia,
    pub state: UriState,
}

pub(super) fn uri_state(obj: &MediaObject) -> Option<&UriEndpointState> {
    class::state::<UriEndpointState>(obj)
}

/// Moves the endpoint to `new`, raising UriEndpointStateChanged when that is a change.
pub(super) fn set_state(reg: &mut Registry, id: &ObjectId, new: UriState) {
    let changed = reg
        .get_mut(id)
        .and_then(class::state_mut::<UriEndpointState>)
        .is_some_and(|s| std::mem::replace(&mut s.state, new) != new);
    if changed {
        reg.raise(
            id,
            "UriEndpointStateChanged",
            fields(json!({"state": new.as_str()})),
        );
    }
}

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    _p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let obj = reg.require(id)?;
    let Some(s) = uri_state(obj) else {
        return Err(super::unimplemented::method(&obj.class.name, method));
    };
    match (method, &s.media) {
        ("pause", UriMedia::Player(p)) => p.pause(),
        ("pause", UriMedia::Recorder(r)) => r.pause(),
        ("stop", UriMedia::Player(p)) => p.stop(),
        ("stop", UriMedia::Recorder(r)) => {
            // KMS's stop returns at once; the file is complete when Stopped is raised (or
            // stopAndWait returns).
            drop(tokio::spawn(r.stop()));
        }
        _ => return Err(super::unimplemented::method("UriEndpoint", method)),
    }
    let new = if method == "pause" {
        UriState::Pause
    } else {
        UriState::Stop
    };
    set_state(reg, id, new);
    Outcome::null()
}

fn get(
    _reg: &Registry,
    obj: &MediaObject,
    prop: &str,
    _: &ServerFacts,
) -> Option<Result<Outcome, RpcError>> {
    let s = uri_state(obj)?;
    match prop {
        "state" => Some(Outcome::value(s.state.as_str())),
        _ => None,
    }
}

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "UriEndpoint",
    implements: |obj, _| uri_state(obj).is_some(),
    invoke,
    get,
    ..ClassBehaviour::EMPTY
};

/// The Error event of a URI endpoint, with KMS's types for what went wrong.
pub(super) fn error_fields(kind: ErrorType, message: &str) -> Map<String, Value> {
    let (ty, code) = match kind {
        ErrorType::InvalidUri => ("INVALID_URI", ErrorKind::UriPathFileNotFound.code()),
        ErrorType::InvalidMedia => ("INVALID_MEDIA", ErrorKind::UnsupportedMediaType.code()),
        ErrorType::Unexpected => ("UNEXPECTED_ERROR", ErrorKind::UnexpectedError.code()),
    };
    fields(json!({"description": message, "errorCode": code, "type": ty}))
}

/// A report of a player's or recorder's media side, as Kurento events.
pub(super) fn on_event(reg: &mut Registry, key: ElementId, ev: UriEvent) {
    let Some(id) = reg.endpoints.get(&key).cloned() else {
        return;
    };
    match ev {
        UriEvent::Recording => reg.raise(&id, "Recording", Map::new()),
        UriEvent::Paused => reg.raise(&id, "Paused", Map::new()),
        UriEvent::Stopped => {
            set_state(reg, &id, UriState::Stop);
            reg.raise(&id, "Stopped", Map::new());
        }
        UriEvent::EndOfStream => {
            set_state(reg, &id, UriState::Stop);
            reg.raise(&id, "EndOfStream", Map::new());
            stop_recorders_fed_by(reg, &id);
        }
        UriEvent::Error { kind, message } => {
            tracing::warn!(element = %id, "{message}");
            set_state(reg, &id, UriState::Stop);
            reg.raise(&id, "Error", error_fields(kind, &message));
        }
    }
}

/// RecorderEndpoint `stopOnEndOfStream`: a recorder whose source ended stops (and finalises) on
/// its own, as KMS's does.
fn stop_recorders_fed_by(reg: &mut Registry, source: &ObjectId) {
    let Some(pipeline) = reg.get(source).and_then(|o| o.pipeline.clone()) else {
        return;
    };
    let fed: Vec<ObjectId> = reg
        .objects
        .values()
        .filter(|o| o.pipeline.as_ref() == Some(&pipeline))
        .filter(|o| o.props.get("stopOnEndOfStream").and_then(Value::as_bool) == Some(true))
        .filter(|o| {
            [
                super::graph::MediaType::Audio,
                super::graph::MediaType::Video,
            ]
            .into_iter()
            .any(|t| super::graph::source_of(reg, &o.id, t).as_ref() == Some(source))
        })
        .map(|o| o.id.clone())
        .collect();
    for r in fed {
        if let Some(UriMedia::Recorder(h)) = reg.get(&r).and_then(uri_state).map(|s| &s.media) {
            tracing::info!(recorder = %r, "its source ended: stopping (stopOnEndOfStream)");
            drop(tokio::spawn(h.stop()));
        }
    }
}
