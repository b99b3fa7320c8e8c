//! ZBarFilter: GStreamer's zbar element on the video; a CodeFound event each time the code in
//! view changes (KMS raises it once per new code, not per frame).

use super::class::{ClassBehaviour, Created, NewObject};
use super::graph::MediaRole;
use super::gstreamer_filter;
use super::{ControlEvent, Registry};
use crate::gst_bridge::filter::FilterSpec;
use crate::media::{ElementId, MediaKind};
use kurento_protocol::RpcError;
use serde_json::Map;

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "ZBarFilter",
    create: Some(create),
    role: Some(MediaRole::Adapter),
    ..ClassBehaviour::EMPTY
};

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    let tx = reg.media.events.clone();
    gstreamer_filter::attach_filter(reg, o, move |key| {
        FilterSpec::watched(MediaKind::Video, "zbar", move |name, fields| {
            if name == "barcode" {
                let get = |k: &str| {
                    fields
                        .iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let _ = tx.send(ControlEvent::Code(key, get("type"), get("symbol")));
            }
        })
    })
}

/// Last code reported per ZBarFilter element.
#[derive(Default)]
pub(super) struct LastCodes(std::collections::HashMap<ElementId, (String, String)>);

/// A code zbar saw: CodeFound when it is not the one reported last.
pub(super) fn on_code(reg: &mut Registry, key: ElementId, code_type: String, value: String) {
    let Some(id) = reg.endpoints.get(&key).cloned() else {
        return;
    };
    let code = (code_type, value);
    if reg.last_codes.0.get(&key) == Some(&code) {
        return;
    }
    reg.last_codes.0.insert(key, code.clone());
    let mut f = Map::new();
    f.insert("codeType".into(), code.0.into());
    f.insert("value".into(), code.1.into());
    reg.raise(&id, "CodeFound", f);
}
