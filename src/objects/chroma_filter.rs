//! ChromaFilter (module chroma): the key colour, learnt from `window` in the first frames, shows
//! the background image (`backgroundImage`, setBackground / unsetBackground) instead.

use super::class::{self, ClassBehaviour, Created, NewObject};
use super::graph::MediaRole;
use super::vision_filter::{self, fetch_picture, fetch_picture_for, lock, window_param};
use super::{opt_str, Outcome, Registry};
use crate::vision::chroma::Chroma;
use crate::vision::Picture;
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "ChromaFilter",
    implements: |obj, m| {
        class::state::<Shared>(obj).is_some() && matches!(m, "setBackground" | "unsetBackground")
    },
    invoke,
    create: Some(create),
    role: Some(MediaRole::Adapter),
    ..ClassBehaviour::EMPTY
};

#[derive(Clone)]
struct Shared(Arc<Mutex<Chroma>>);

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    let window = window_param(o.props.get("window"), "window")?;
    let (mut created, chroma) = vision_filter::attach(reg, o, |_| Chroma::new(window))?;
    let uri = opt_str(o.props, "backgroundImage").filter(|u| !u.is_empty());
    if let (Some(uri), Some(key)) = (uri, created.element.as_ref().map(|e| e.id)) {
        let c = chroma.clone();
        fetch_picture_for(reg, key, o.id.clone(), uri.to_string(), move |pic| {
            set(&c, Some(pic))
        });
    }
    created.state = Some(Box::new(Shared(chroma)));
    Ok(created)
}

fn set(chroma: &Mutex<Chroma>, picture: Option<Arc<Picture>>) {
    lock(chroma).set_background(picture);
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let obj = reg.require(id)?;
    let Some(Shared(chroma)) = class::state::<Shared>(obj).cloned() else {
        return Err(super::unimplemented::method("ChromaFilter", method));
    };
    match method {
        "setBackground" => {
            let uri = opt_str(p, "uri")
                .ok_or_else(|| RpcError::param_required("uri"))?
                .to_string();
            fetch_picture(reg, obj, uri, move |pic| set(&chroma, Some(pic)));
            Outcome::null()
        }
        "unsetBackground" => {
            set(&chroma, None);
            Outcome::null()
        }
        _ => Err(super::unimplemented::method("ChromaFilter", method)),
    }
}
