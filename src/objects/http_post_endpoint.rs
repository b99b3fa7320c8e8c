//! HttpPostEndpoint: a file POSTed to the URL `getUrl` answers (served by our own HTTP listener,
//! HttpEndpoint.conf.ini) is played into the pipeline as it arrives.

use super::class::{ClassBehaviour, Created, NewObject};
use super::graph::MediaRole;
use super::media_pipeline::PipelineState;
use super::{class, ControlEvent, ElementMedia, MediaObject, Outcome, Registry};
use crate::gst_bridge::http_post::{self, HttpPostConfig};
use crate::media::ElementId;
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "HttpEndpoint",
    implements: |obj, _| state_of(obj).is_some(),
    invoke,
    ..ClassBehaviour::EMPTY
};

/// HttpPostEndpoint's own entry: construction and media role (getUrl is HttpEndpoint's).
pub(super) const POST_CLASS: ClassBehaviour = ClassBehaviour {
    name: "HttpPostEndpoint",
    create: Some(create),
    role: Some(MediaRole::Adapter),
    ..ClassBehaviour::EMPTY
};

struct HttpPostState {
    url: String,
}

fn state_of(obj: &MediaObject) -> Option<&HttpPostState> {
    class::state::<HttpPostState>(obj)
}

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    let pipeline = o
        .pipeline
        .ok_or_else(|| RpcError::param_required("mediaPipeline"))?;
    let Some(p) = reg.get(pipeline).and_then(class::state::<PipelineState>) else {
        return Err(RpcError::object_not_found(pipeline.as_str()));
    };
    let media = p.media.clone();
    let cfg = HttpPostConfig {
        use_encoded_media: o
            .props
            .get("useEncodedMedia")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        disconnection_timeout: Duration::from_secs(
            o.props
                .get("disconnectionTimeout")
                .and_then(Value::as_i64)
                .map_or(2, |s| s.clamp(0, 3600) as u64),
        ),
    };
    let unavailable = |e: String| {
        RpcError::new(
            ErrorKind::MediaObjectNotAvailable,
            format!("Cannot create HttpPostEndpoint: {e}"),
        )
    };
    cfg.check().map_err(unavailable)?;
    let _media_workers = reg.media.runtime.enter();
    let (url, upload) = reg
        .media
        .http
        .register()
        .map_err(|e| RpcError::new(ErrorKind::HttpEndPointRegistrationError, e))?;
    let key = ElementId::next();
    let events = reg.media.reporter(move |e| ControlEvent::Uri(key, e));
    let handle = http_post::spawn_http_post(cfg, upload, media.inbox(key), events);
    let element = ElementMedia::attach(key, &media, Arc::new(handle));
    Ok(Created {
        state: Some(Box::new(HttpPostState { url })),
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
    match (method, state_of(obj)) {
        ("getUrl", Some(s)) => Outcome::value(s.url.clone()),
        _ => Err(super::unimplemented::method("HttpEndpoint", method)),
    }
}
