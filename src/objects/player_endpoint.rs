//! PlayerEndpoint: a file, HTTP resource or RTSP stream played into the pipeline.

use super::class::{ClassBehaviour, Created, NewObject};
use super::graph::MediaRole;
use super::media_pipeline::PipelineState;
use super::uri_endpoint::{self, UriEndpointState, UriMedia, UriState};
use super::{class, ControlEvent, ElementMedia, MediaObject, Outcome, Registry, ServerFacts};
use crate::gst_bridge::player::{self, PlayerConfig, PlayerHandle};
use crate::gst_bridge::uri;
use crate::media::ElementId;
use kurento_protocol::model::marshal::complex;
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "PlayerEndpoint",
    implements: |obj, _| player_of(obj).is_some(),
    invoke,
    get,
    set: Some(set),
    create: Some(create),
    role: Some(MediaRole::Adapter),
    ..ClassBehaviour::EMPTY
};

fn player_of(obj: &MediaObject) -> Option<&PlayerHandle> {
    match &uri_endpoint::uri_state(obj)?.media {
        UriMedia::Player(p) => Some(p),
        UriMedia::Recorder(_) => None,
    }
}

fn illegal(msg: String) -> RpcError {
    RpcError::new(ErrorKind::MediaObjectIllegalParamError, msg)
}

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    let pipeline = o
        .pipeline
        .ok_or_else(|| RpcError::param_required("mediaPipeline"))?;
    let Some(p) = reg.get(pipeline).and_then(class::state::<PipelineState>) else {
        return Err(RpcError::object_not_found(pipeline.as_str()));
    };
    let media = p.media.clone();
    let raw = o.props.get("uri").and_then(Value::as_str).unwrap_or("");
    let location = uri::parse(raw, &reg.media.uri_default_path)
        .map_err(|e| illegal(format!("PlayerEndpoint uri: {e}")))?;
    let cfg = PlayerConfig {
        location,
        use_encoded_media: o
            .props
            .get("useEncodedMedia")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        network_cache_ms: o
            .props
            .get("networkCache")
            .and_then(Value::as_i64)
            .map_or(2000, |v| v.clamp(0, 60_000) as u32),
    };
    cfg.check().map_err(|e| {
        RpcError::new(
            ErrorKind::MediaObjectNotAvailable,
            format!("Cannot create PlayerEndpoint: {e}"),
        )
    })?;
    let key = ElementId::next();
    let _media_workers = reg.media.runtime.enter();
    let events = reg.media.reporter(move |e| ControlEvent::Uri(key, e));
    let handle = player::spawn_player(cfg, media.inbox(key), events);
    let element = ElementMedia::attach(key, &media, Arc::new(handle.clone()));
    Ok(Created {
        state: Some(Box::new(UriEndpointState {
            media: UriMedia::Player(handle),
            state: UriState::Stop,
        })),
        element: Some(element),
    })
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    _p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let obj = reg.require(id)?;
    let Some(p) = player_of(obj) else {
        return Err(super::unimplemented::method("PlayerEndpoint", method));
    };
    match method {
        "play" => {
            p.play();
            uri_endpoint::set_state(reg, id, UriState::Start);
            Outcome::null()
        }
        _ => Err(super::unimplemented::method("PlayerEndpoint", method)),
    }
}

fn get(
    _reg: &Registry,
    obj: &MediaObject,
    prop: &str,
    _: &ServerFacts,
) -> Option<Result<Outcome, RpcError>> {
    let p = player_of(obj)?.clone();
    match prop {
        "position" => Some(Ok(Outcome::Pending(Box::pin(async move {
            Ok(Value::from(p.position().await))
        })))),
        "videoInfo" => Some(Ok(Outcome::Pending(Box::pin(async move {
            let i = p.video_info().await;
            let m = match json!({
                "isSeekable": i.is_seekable,
                "seekableInit": i.seekable_init,
                "seekableEnd": i.seekable_end,
                "duration": i.duration,
            }) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            Ok(complex("VideoInfo", m))
        })))),
        "elementGstreamerDot" => Some(Outcome::value("")),
        _ => None,
    }
}

fn set(
    reg: &mut Registry,
    id: &ObjectId,
    prop: &str,
    v: &Value,
) -> Option<Result<Outcome, RpcError>> {
    if prop != "position" {
        return None;
    }
    let p = player_of(reg.get(id)?)?.clone();
    let ms = v.as_i64().unwrap_or(0);
    Some(Ok(Outcome::Pending(Box::pin(async move {
        p.seek(ms)
            .await
            .map(|()| Value::Null)
            .map_err(|e| RpcError::new(ErrorKind::PlayerSeekFail, e))
    }))))
}
