//! PointerDetectorFilter (module pointerdetector): a pointer of the colour learnt from
//! `calibrationRegion` (trackColorFromCalibrationRegion) is tracked through windows
//! (`windows`, addWindow / removeWindow / clearWindows), raising WindowIn / WindowOut.

use super::class::{self, ClassBehaviour, Created, NewObject};
use super::graph::MediaRole;
use super::vision_filter::{self, fetch_picture_for, int, lock, window_param};
use super::{opt_str, Outcome, Registry};
use crate::media::ElementId;
use crate::vision::pointer::{PointerDetector, Window};
use crate::vision::{Picture, Rect};
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "PointerDetectorFilter",
    implements: |obj, m| {
        class::state::<Shared>(obj).is_some()
            && matches!(
                m,
                "addWindow" | "removeWindow" | "clearWindows" | "trackColorFromCalibrationRegion"
            )
    },
    invoke,
    create: Some(create),
    role: Some(MediaRole::Adapter),
    ..ClassBehaviour::EMPTY
};

#[derive(Clone)]
struct Shared(Arc<Mutex<PointerDetector>>);

/// A PointerDetectorWindowMediaParam ("upperRight" is the top-left corner, as KMS uses it), and
/// the URIs of its images.
fn window_of(v: &Value) -> Result<(Window, Option<String>, Option<String>), RpcError> {
    let p = v
        .as_object()
        .ok_or_else(|| RpcError::param_required("window"))?;
    let id = opt_str(p, "id")
        .ok_or_else(|| RpcError::param_required("id"))?
        .to_string();
    let window = Window {
        id,
        rect: Rect {
            x: int(p, "upperRightX")?,
            y: int(p, "upperRightY")?,
            width: int(p, "width")?,
            height: int(p, "height")?,
        },
        image: None,
        active_image: None,
        transparency: p
            .get("imageTransparency")
            .and_then(Value::as_f64)
            .unwrap_or(0.0) as f32,
    };
    let uri = |k| opt_str(p, k).filter(|u| !u.is_empty()).map(str::to_string);
    Ok((window, uri("image"), uri("activeImage")))
}

/// Adds the window now and its images once fetched (if it is still there).
fn add(
    reg: &Registry,
    key: ElementId,
    id: &ObjectId,
    pd: &Arc<Mutex<PointerDetector>>,
    v: &Value,
) -> Result<(), RpcError> {
    let (window, image, active) = window_of(v)?;
    let wid = window.id.clone();
    lock(pd).add_window(window);
    for (uri, active) in [(image, false), (active, true)] {
        let Some(uri) = uri else { continue };
        let (pd, wid) = (pd.clone(), wid.clone());
        fetch_picture_for(reg, key, id.clone(), uri, move |pic: Arc<Picture>| {
            lock(&pd).set_window_image(&wid, active, pic);
        });
    }
    Ok(())
}

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    let calibration = window_param(o.props.get("calibrationRegion"), "calibrationRegion")?;
    let (mut created, pd) = vision_filter::attach(reg, o, |events| {
        PointerDetector::new(calibration, Vec::new(), events)
    })?;
    if let Some(key) = created.element.as_ref().map(|e| e.id) {
        for w in o
            .props
            .get("windows")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add(reg, key, o.id, &pd, w)?;
        }
    }
    created.state = Some(Box::new(Shared(pd)));
    Ok(created)
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let obj = reg.require(id)?;
    let (Some(Shared(pd)), Some(key)) = (
        class::state::<Shared>(obj).cloned(),
        obj.element.as_ref().map(|e| e.id),
    ) else {
        return Err(super::unimplemented::method(
            "PointerDetectorFilter",
            method,
        ));
    };
    match method {
        "addWindow" => {
            let w = p
                .get("window")
                .ok_or_else(|| RpcError::param_required("window"))?;
            add(reg, key, id, &pd, w)?;
        }
        "removeWindow" => {
            let wid = opt_str(p, "windowId").ok_or_else(|| RpcError::param_required("windowId"))?;
            lock(&pd).remove_window(wid);
        }
        "clearWindows" => lock(&pd).clear_windows(),
        "trackColorFromCalibrationRegion" => lock(&pd).track_colour_from_calibration_region(),
        _ => {
            return Err(super::unimplemented::method(
                "PointerDetectorFilter",
                method,
            ))
        }
    }
    Outcome::null()
}
