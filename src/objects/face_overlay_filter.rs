//! FaceOverlayFilter: an image over every face the detector finds (the magic-mirror tutorial).
//! setOverlayedImage answers at once, as KMS does; the image is fetched off the control plane,
//! and one that cannot be fetched leaves the video flowing without overlay, with an Error event.

use super::class::{self, ClassBehaviour, Created, NewObject};
use super::graph::MediaRole;
use super::gstreamer_filter;
use super::{num, opt_str, ControlEvent, MediaObject, Outcome, Registry};
use crate::gst_bridge::overlay::{self, FaceGeometry, FaceOverlay};
use crate::gst_bridge::ErrorType;
use crate::media::ElementId;
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{Map, Value};

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "FaceOverlayFilter",
    implements: |obj, m| {
        class::state::<FaceOverlay>(obj).is_some()
            && matches!(m, "setOverlayedImage" | "unsetOverlayedImage")
    },
    invoke,
    create: Some(create),
    role: Some(MediaRole::Adapter),
    ..ClassBehaviour::EMPTY
};

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    crate::gst_bridge::require(&["facedetect", "gdkpixbufoverlay"])
        .map_err(|e| RpcError::new(kurento_protocol::ErrorKind::MediaObjectNotAvailable, e))?;
    let face = FaceOverlay::default();
    let spec = face.spec();
    let mut created = gstreamer_filter::attach_filter(reg, o, |_| spec)?;
    created.state = Some(Box::new(face));
    Ok(created)
}

/// Fetches `uri` on a blocking thread; `done` gets the image, or the element raises Error.
pub(super) fn fetch_image<F>(reg: &Registry, obj: &MediaObject, uri: String, done: F)
where
    F: FnOnce(overlay::OverlayImage) -> Result<(), String> + Send + 'static,
{
    if let Some(key) = obj.element.as_ref().map(|e| e.id) {
        fetch_image_for(reg, key, obj.id.clone(), uri, done);
    }
}

/// fetch_image for an element being created (not in the registry yet).
pub(super) fn fetch_image_for<F>(reg: &Registry, key: ElementId, id: ObjectId, uri: String, done: F)
where
    F: FnOnce(overlay::OverlayImage) -> Result<(), String> + Send + 'static,
{
    let events = reg.media.events.clone();
    let default_path = reg.media.uri_default_path.clone();
    std::thread::spawn(move || {
        let result = overlay::load_image(&uri, &default_path).and_then(done);
        if let Err(e) = result {
            tracing::warn!(element = %id, "overlay image {uri}: {e}; the video goes on without it");
            let _ = events.send(ControlEvent::ElementError(
                key,
                ErrorType::InvalidUri,
                format!("overlay image {uri}: {e}"),
            ));
        }
    });
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let obj = reg.require(id)?;
    let Some(face) = class::state::<FaceOverlay>(obj).cloned() else {
        return Err(super::unimplemented::method("FaceOverlayFilter", method));
    };
    match method {
        "setOverlayedImage" => {
            let uri = opt_str(p, "uri")
                .ok_or_else(|| RpcError::param_required("uri"))?
                .to_string();
            let geometry = FaceGeometry {
                offset_x: num(p, "offsetXPercent")?,
                offset_y: num(p, "offsetYPercent")?,
                width: num(p, "widthPercent")?,
                height: num(p, "heightPercent")?,
            };
            fetch_image(reg, obj, uri, move |image| {
                face.set_image(Some((image, geometry)));
                Ok(())
            });
            Outcome::null()
        }
        "unsetOverlayedImage" => {
            face.set_image(None);
            Outcome::null()
        }
        _ => Err(super::unimplemented::method("FaceOverlayFilter", method)),
    }
}
