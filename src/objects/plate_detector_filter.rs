//! PlateDetectorFilter (module platedetector): PlateDetected with the text of the licence plates
//! in view; setPlateWidthPercentage tells how wide a plate is in the frame.

use super::class::{self, ClassBehaviour, Created, NewObject};
use super::graph::MediaRole;
use super::vision_filter::{self, lock};
use super::{num, Outcome, Registry};
use crate::vision::plate::{self, PlateDetector};
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "PlateDetectorFilter",
    implements: |obj, m| class::state::<Shared>(obj).is_some() && m == "setPlateWidthPercentage",
    invoke,
    create: Some(create),
    role: Some(MediaRole::Adapter),
    ..ClassBehaviour::EMPTY
};

#[derive(Clone)]
struct Shared(Arc<Mutex<PlateDetector>>);

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    let (mut created, pd) = vision_filter::attach(reg, o, |events| {
        PlateDetector::new(events, Box::new(plate::tesseract))
    })?;
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
    let Some(Shared(pd)) = class::state::<Shared>(obj).cloned() else {
        return Err(super::unimplemented::method("PlateDetectorFilter", method));
    };
    match method {
        "setPlateWidthPercentage" => {
            let pct = num(p, "plateWidthPercentage")? as f32;
            lock(&pd)
                .set_width_percentage(pct)
                .map_err(|e| RpcError::new(ErrorKind::MarshallError, e))?;
            Outcome::null()
        }
        _ => Err(super::unimplemented::method("PlateDetectorFilter", method)),
    }
}
