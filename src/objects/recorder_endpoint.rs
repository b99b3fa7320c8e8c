//! RecorderEndpoint: the media that reaches it written to a file in one of Kurento's profiles.

use super::class::{ClassBehaviour, Created, NewObject};
use super::graph::{self, MediaRole, MediaType};
use super::media_pipeline::PipelineState;
use super::uri_endpoint::{self, UriEndpointState, UriMedia, UriState};
use super::{class, ControlEvent, ElementMedia, MediaObject, Outcome, Registry};
use crate::gst_bridge::recorder::{self, Container, RecorderConfig, RecorderHandle};
use crate::gst_bridge::uri;
use crate::media::ElementId;
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{Map, Value};
use std::sync::Arc;

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "RecorderEndpoint",
    implements: |obj, _| recorder_of(obj).is_some(),
    invoke,
    create: Some(create),
    role: Some(MediaRole::Adapter),
    ..ClassBehaviour::EMPTY
};

fn recorder_of(obj: &MediaObject) -> Option<&RecorderHandle> {
    match &uri_endpoint::uri_state(obj)?.media {
        UriMedia::Recorder(r) => Some(r),
        UriMedia::Player(_) => None,
    }
}

fn illegal(msg: impl Into<String>) -> RpcError {
    RpcError::new(ErrorKind::MediaObjectIllegalParamError, msg)
}

/// MediaProfileSpecType → (container, records audio, records video).
fn profile(name: &str) -> Result<(Container, bool, bool), RpcError> {
    Ok(match name {
        "WEBM" => (Container::Webm, true, true),
        "WEBM_AUDIO_ONLY" => (Container::Webm, true, false),
        "WEBM_VIDEO_ONLY" => (Container::Webm, false, true),
        "MKV" => (Container::Mkv, true, true),
        "MKV_AUDIO_ONLY" => (Container::Mkv, true, false),
        "MKV_VIDEO_ONLY" => (Container::Mkv, false, true),
        "MP4" => (Container::Mp4, true, true),
        "MP4_AUDIO_ONLY" => (Container::Mp4, true, false),
        "MP4_VIDEO_ONLY" => (Container::Mp4, false, true),
        "FLV" => (Container::Flv, true, true),
        "JPEG_VIDEO_ONLY" => (Container::Jpeg, false, true),
        // KMS answers this unless its split-recorder plugin is installed, which it never is.
        "KURENTO_SPLIT_RECORDER" => return Err(illegal("Kurento Split Recorder not supported")),
        other => return Err(illegal(format!("Unknown MediaProfileSpecType '{other}'"))),
    })
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
        .map_err(|e| illegal(format!("RecorderEndpoint uri: {e}")))?;
    let (container, audio, video) = profile(
        o.props
            .get("mediaProfile")
            .and_then(Value::as_str)
            .unwrap_or("WEBM"),
    )?;
    let cfg = RecorderConfig {
        location,
        container,
        audio,
        video,
    };
    cfg.check().map_err(|e| {
        RpcError::new(
            ErrorKind::MediaObjectNotAvailable,
            format!("Cannot create RecorderEndpoint: {e}"),
        )
    })?;
    let key = ElementId::next();
    let _media_workers = reg.media.runtime.enter();
    let events = reg.media.reporter(move |e| ControlEvent::Uri(key, e));
    let handle = recorder::spawn_recorder(cfg, media.inbox(key), events);
    let element = ElementMedia::attach(key, &media, Arc::new(handle.clone()));
    Ok(Created {
        state: Some(Box::new(UriEndpointState {
            media: UriMedia::Recorder(handle),
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
    let Some(r) = recorder_of(obj).cloned() else {
        return Err(super::unimplemented::method("RecorderEndpoint", method));
    };
    match method {
        "record" => {
            let expect = [
                graph::fed(reg, id, MediaType::Audio),
                graph::fed(reg, id, MediaType::Video),
            ];
            r.record(expect);
            uri_endpoint::set_state(reg, id, UriState::Start);
            Outcome::null()
        }
        "stopAndWait" => {
            uri_endpoint::set_state(reg, id, UriState::Stop);
            Ok(Outcome::Pending(Box::pin(async move {
                r.stop().await;
                Ok(Value::Null)
            })))
        }
        _ => Err(super::unimplemented::method("RecorderEndpoint", method)),
    }
}
