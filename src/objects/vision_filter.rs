//! What the optional modules' filters (ChromaFilter, CrowdDetectorFilter, PlateDetectorFilter,
//! PointerDetectorFilter) share: a frame processor on the video, its events raised as KMS raises
//! them, and WindowParam / images read from params.

use super::class::{Created, NewObject};
use super::face_overlay_filter::fetch_image_for;
use super::gstreamer_filter;
use super::{ControlEvent, MediaObject, Registry};
use crate::gst_bridge::frames;
use crate::media::ElementId;
use crate::vision::{EventSink, FrameProcessor, Picture, Rect, VisionEvent};
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};

/// A processor's guard; a panicked holder (a streaming thread) leaves it usable.
pub(super) fn lock<P: ?Sized>(p: &Mutex<P>) -> std::sync::MutexGuard<'_, P> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// The filter on the pipeline, its video through `make(events)`'s processor.
pub(super) fn attach<P: FrameProcessor + 'static>(
    reg: &mut Registry,
    o: &NewObject,
    make: impl FnOnce(EventSink) -> P,
) -> Result<(Created, Arc<Mutex<P>>), RpcError> {
    let tx = reg.media.events.clone();
    let mut shared = None;
    let created = gstreamer_filter::attach_filter(reg, o, |key| {
        let sink: EventSink = Box::new(move |e| {
            let _ = tx.send(ControlEvent::Vision(key, e));
        });
        let p = Arc::new(Mutex::new(make(sink)));
        shared = Some(p.clone());
        frames::spec(p)
    })?;
    let shared = shared.ok_or_else(|| RpcError::param_required("mediaPipeline"))?;
    Ok((created, shared))
}

/// A processor's event as the Kurento event KMS raises (with the deprecated `roiID` beside
/// `roiId`, as KMS fills both).
pub(super) fn on_event(reg: &mut Registry, key: ElementId, e: VisionEvent) {
    let Some(id) = reg.endpoints.get(&key).cloned() else {
        return;
    };
    let (name, fields) = match e {
        VisionEvent::WindowIn(w) => ("WindowIn", json!({ "windowId": w })),
        VisionEvent::WindowOut(w) => ("WindowOut", json!({ "windowId": w })),
        VisionEvent::Occupancy {
            roi,
            percentage,
            level,
        } => (
            "CrowdDetectorOccupancy",
            json!({"occupancyPercentage": percentage, "occupancyLevel": level, "roiID": roi, "roiId": roi}),
        ),
        VisionEvent::Fluidity {
            roi,
            percentage,
            level,
        } => (
            "CrowdDetectorFluidity",
            json!({"fluidityPercentage": percentage, "fluidityLevel": level, "roiID": roi, "roiId": roi}),
        ),
        VisionEvent::Direction { roi, angle } => (
            "CrowdDetectorDirection",
            json!({"directionAngle": angle, "roiID": roi, "roiId": roi}),
        ),
        VisionEvent::Plate(plate) => ("PlateDetected", json!({ "plate": plate })),
    };
    if let Value::Object(f) = fields {
        reg.raise(&id, name, f);
    }
}

/// A required int field (the marshaller has checked its type), clamped to i32.
pub(super) fn int(p: &Map<String, Value>, key: &str) -> Result<i32, RpcError> {
    p.get(key)
        .and_then(Value::as_i64)
        .map(|v| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
        .ok_or_else(|| RpcError::param_required(key))
}

/// A WindowParam; its "topRightCorner" is the top-left corner, as KMS uses it.
pub(super) fn window_param(v: Option<&Value>, name: &str) -> Result<Rect, RpcError> {
    let p = v
        .and_then(Value::as_object)
        .ok_or_else(|| RpcError::param_required(name))?;
    Ok(Rect {
        x: int(p, "topRightCornerX")?,
        y: int(p, "topRightCornerY")?,
        width: int(p, "width")?,
        height: int(p, "height")?,
    })
}

/// Fetches and decodes an image off the control plane; `done` gets it, or the element raises
/// Error (INVALID_URI) and the video goes on without it.
pub(super) fn fetch_picture<F>(reg: &Registry, obj: &MediaObject, uri: String, done: F)
where
    F: FnOnce(Arc<Picture>) + Send + 'static,
{
    if let Some(key) = obj.element.as_ref().map(|e| e.id) {
        fetch_picture_for(reg, key, obj.id.clone(), uri, done);
    }
}

/// fetch_picture for an element being created.
pub(super) fn fetch_picture_for<F>(
    reg: &Registry,
    key: ElementId,
    id: ObjectId,
    uri: String,
    done: F,
) where
    F: FnOnce(Arc<Picture>) + Send + 'static,
{
    fetch_image_for(reg, key, id, uri, move |image| {
        let picture = frames::decode_picture(&image)?;
        done(Arc::new(picture));
        Ok(())
    });
}
