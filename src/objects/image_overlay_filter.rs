//! ImageOverlayFilter: images at fixed places of the frame (addImage / removeImage). As with
//! FaceOverlayFilter, images are fetched off the control plane; one that cannot be fetched is
//! left out, with an Error event.

use super::class::{self, ClassBehaviour, Created, NewObject};
use super::face_overlay_filter::fetch_image;
use super::graph::MediaRole;
use super::gstreamer_filter;
use super::{num, opt_str, Outcome, Registry};
use crate::gst_bridge::overlay::{ImageGeometry, ImageOverlay};
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{Map, Value};

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "ImageOverlayFilter",
    implements: |obj, m| {
        class::state::<ImageOverlay>(obj).is_some() && matches!(m, "addImage" | "removeImage")
    },
    invoke,
    create: Some(create),
    role: Some(MediaRole::Adapter),
    ..ClassBehaviour::EMPTY
};

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    crate::gst_bridge::require(&["gdkpixbufoverlay"])
        .map_err(|e| RpcError::new(ErrorKind::MediaObjectNotAvailable, e))?;
    let images = ImageOverlay::default();
    let spec = images.spec();
    let mut created = gstreamer_filter::attach_filter(reg, o, |_| spec)?;
    created.state = Some(Box::new(images));
    Ok(created)
}

fn flag(p: &Map<String, Value>, key: &str) -> Result<bool, RpcError> {
    p.get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| RpcError::param_required(key))
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let obj = reg.require(id)?;
    let Some(images) = class::state::<ImageOverlay>(obj).cloned() else {
        return Err(super::unimplemented::method("ImageOverlayFilter", method));
    };
    let image_id = opt_str(p, "id")
        .ok_or_else(|| RpcError::param_required("id"))?
        .to_string();
    match method {
        "addImage" => {
            let uri = opt_str(p, "uri")
                .ok_or_else(|| RpcError::param_required("uri"))?
                .to_string();
            let geometry = ImageGeometry {
                offset_x: num(p, "offsetXPercent")?,
                offset_y: num(p, "offsetYPercent")?,
                width: num(p, "widthPercent")?,
                height: num(p, "heightPercent")?,
                keep_aspect_ratio: flag(p, "keepAspectRatio")?,
                center: flag(p, "center")?,
            };
            fetch_image(reg, obj, uri, move |image| {
                images.add(&image_id, image, geometry)
            });
            Outcome::null()
        }
        "removeImage" => {
            // KMS answers removing an unknown id without error.
            images.remove(&image_id);
            Outcome::null()
        }
        _ => Err(super::unimplemented::method("ImageOverlayFilter", method)),
    }
}
