//! SdpEndpoint: offer/answer. Only WebRtcEndpoint has media behind it today.

use super::{opt_str, ClassState, Outcome, Registry};
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{Map, Value};

pub(super) fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let obj = reg.require(id)?;
    let ClassState::WebRtc(w) = &obj.state else {
        return Err(super::unimplemented::method(&obj.class.name, method));
    };
    let w = w.handle_for_sdp();
    match method {
        "processOffer" => Ok(w.process_offer(opt_str(p, "offer").unwrap_or_default().to_string())),
        "processAnswer" => {
            Ok(w.process_answer(opt_str(p, "answer").unwrap_or_default().to_string()))
        }
        "generateOffer" => {
            let opts = p.get("options").and_then(Value::as_object);
            let flag = |k: &str| {
                opts.and_then(|o| o.get(k))
                    .and_then(Value::as_bool)
                    .unwrap_or(true)
            };
            Ok(w.generate_offer(flag("offerToReceiveAudio"), flag("offerToReceiveVideo")))
        }
        "getLocalSessionDescriptor" => Ok(w.local_sdp()),
        "getRemoteSessionDescriptor" => Ok(w.remote_sdp()),
        _ => Err(super::unimplemented::method("SdpEndpoint", method)),
    }
}
