//! CrowdDetectorFilter (module crowddetector): occupancy, fluidity and direction of the regions
//! of interest (`rois`), as CrowdDetectorOccupancy / Fluidity / Direction events;
//! `processingWidth` sets the analysis size.

use super::class::{self, ClassBehaviour, Created, NewObject};
use super::graph::MediaRole;
use super::vision_filter::{self, lock};
use super::{opt_str, Outcome, Registry, ServerFacts};
use crate::vision::crowd::{CrowdDetector, Roi, RoiConfig};
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::Value;
use std::sync::{Arc, Mutex};

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "CrowdDetectorFilter",
    create: Some(create),
    get,
    set: Some(set),
    role: Some(MediaRole::Adapter),
    ..ClassBehaviour::EMPTY
};

#[derive(Clone)]
struct Shared(Arc<Mutex<CrowdDetector>>);

/// A RegionOfInterest (the marshaller has checked its shape and filled the config's defaults).
fn roi_of(v: &Value) -> Result<Roi, RpcError> {
    let p = v
        .as_object()
        .ok_or_else(|| RpcError::param_required("rois"))?;
    let id = opt_str(p, "id")
        .ok_or_else(|| RpcError::param_required("id"))?
        .to_string();
    let points = p
        .get("points")
        .and_then(Value::as_array)
        .ok_or_else(|| RpcError::param_required("points"))?
        .iter()
        .map(|pt| {
            let c = |k: &str| pt.get(k).and_then(Value::as_f64).map(|v| v as f32);
            c("x")
                .zip(c("y"))
                .ok_or_else(|| RpcError::param_required("points"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !(3..=MAX_POINTS).contains(&points.len()) {
        return Err(RpcError::new(
            ErrorKind::MarshallError,
            format!("region of interest '{id}' needs 3 to {MAX_POINTS} points"),
        ));
    }
    if points.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return Err(RpcError::new(
            ErrorKind::MarshallError,
            format!("region of interest '{id}' has a point that is not a number"),
        ));
    }
    // Relative points: what lies beyond the frame is its edge.
    let points = points
        .into_iter()
        .map(|(x, y)| (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)))
        .collect();
    let c = p.get("regionOfInterestConfig").and_then(Value::as_object);
    let d = RoiConfig::default();
    let int = |k: &str, default: i32| {
        c.and_then(|c| c.get(k))
            .and_then(Value::as_i64)
            .map_or(default, |v| {
                v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
            })
    };
    let config = RoiConfig {
        occupancy_level_min: int("occupancyLevelMin", d.occupancy_level_min),
        occupancy_level_med: int("occupancyLevelMed", d.occupancy_level_med),
        occupancy_level_max: int("occupancyLevelMax", d.occupancy_level_max),
        occupancy_num_frames_to_event: int(
            "occupancyNumFramesToEvent",
            d.occupancy_num_frames_to_event,
        ),
        fluidity_level_min: int("fluidityLevelMin", d.fluidity_level_min),
        fluidity_level_med: int("fluidityLevelMed", d.fluidity_level_med),
        fluidity_level_max: int("fluidityLevelMax", d.fluidity_level_max),
        fluidity_num_frames_to_event: int(
            "fluidityNumFramesToEvent",
            d.fluidity_num_frames_to_event,
        ),
        send_optical_flow_event: c
            .and_then(|c| c.get("sendOpticalFlowEvent"))
            .and_then(Value::as_bool)
            .unwrap_or(d.send_optical_flow_event),
        optical_flow_num_frames_to_event: int(
            "opticalFlowNumFramesToEvent",
            d.optical_flow_num_frames_to_event,
        ),
        optical_flow_num_frames_to_reset: int(
            "opticalFlowNumFramesToReset",
            d.optical_flow_num_frames_to_reset,
        ),
        optical_flow_angle_offset: int("opticalFlowAngleOffset", d.optical_flow_angle_offset),
    };
    Ok(Roi { id, points, config })
}

/// Bounds that keep a region's set-up (a point-in-polygon test per pixel) cheap.
const MAX_POINTS: usize = 256;
const MAX_ROIS: usize = 64;

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    let rois = o
        .props
        .get("rois")
        .and_then(Value::as_array)
        .ok_or_else(|| RpcError::param_required("rois"))?
        .iter()
        .map(roi_of)
        .collect::<Result<Vec<_>, _>>()?;
    if rois.len() > MAX_ROIS {
        return Err(RpcError::new(
            ErrorKind::MarshallError,
            format!("at most {MAX_ROIS} regions of interest"),
        ));
    }
    let (mut created, crowd) =
        vision_filter::attach(reg, o, |events| CrowdDetector::new(rois, events))?;
    created.state = Some(Box::new(Shared(crowd)));
    Ok(created)
}

fn get(
    _: &Registry,
    obj: &super::MediaObject,
    prop: &str,
    _: &ServerFacts,
) -> Option<Result<Outcome, RpcError>> {
    let Shared(c) = class::state::<Shared>(obj)?;
    (prop == "processingWidth").then(|| Outcome::value(lock(c).processing_width()))
}

fn set(
    reg: &mut Registry,
    id: &ObjectId,
    prop: &str,
    v: &Value,
) -> Option<Result<Outcome, RpcError>> {
    if prop != "processingWidth" {
        return None;
    }
    let Shared(c) = class::state::<Shared>(reg.get(id)?)?;
    let w = v
        .as_i64()
        .unwrap_or(0)
        .clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    Some(
        lock(c)
            .set_processing_width(w)
            .map_err(|e| RpcError::new(ErrorKind::MarshallError, e))
            .and_then(|()| Outcome::null()),
    )
}
