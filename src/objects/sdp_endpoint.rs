//! SdpEndpoint: offer/answer, for every endpoint whose media side negotiates with SDP (WebRTC,
//! plain RTP). The adapter behind it implements [`SdpAgent`].

use super::class::ClassBehaviour;
use super::{opt_str, BoxFuture, MediaObject, Outcome, Registry};
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// An adapter's offer/answer machinery; every call runs on the media side, without the
/// registry lock. Errors are texts for the Kurento error the caller picks.
pub trait SdpAgent: Send + Sync {
    fn process_offer(&self, sdp: String) -> BoxFuture<Result<String, String>>;
    fn process_answer(&self, sdp: String) -> BoxFuture<Result<String, String>>;
    fn generate_offer(&self, audio: bool, video: bool) -> BoxFuture<Result<String, String>>;
    fn local_sdp(&self) -> BoxFuture<Option<String>>;
    fn remote_sdp(&self) -> BoxFuture<Option<String>>;
}

/// Implements [`SdpAgent`] on an adapter handle whose offer/answer methods have the shape both
/// adapters share (`async fn process_offer(&self, String) -> Result<String, E: Display>`, ...).
macro_rules! sdp_agent_for {
    ($handle:ty) => {
        impl $crate::objects::sdp_endpoint::SdpAgent for $handle {
            fn process_offer(
                &self,
                sdp: String,
            ) -> $crate::objects::BoxFuture<Result<String, String>> {
                let h = self.clone();
                Box::pin(async move { h.process_offer(sdp).await.map_err(|e| e.to_string()) })
            }
            fn process_answer(
                &self,
                sdp: String,
            ) -> $crate::objects::BoxFuture<Result<String, String>> {
                let h = self.clone();
                Box::pin(async move { h.process_answer(sdp).await.map_err(|e| e.to_string()) })
            }
            fn generate_offer(
                &self,
                audio: bool,
                video: bool,
            ) -> $crate::objects::BoxFuture<Result<String, String>> {
                let h = self.clone();
                Box::pin(async move {
                    h.generate_offer(audio, video)
                        .await
                        .map_err(|e| e.to_string())
                })
            }
            fn local_sdp(&self) -> $crate::objects::BoxFuture<Option<String>> {
                let h = self.clone();
                Box::pin(async move { h.local_sdp().await })
            }
            fn remote_sdp(&self) -> $crate::objects::BoxFuture<Option<String>> {
                let h = self.clone();
                Box::pin(async move { h.remote_sdp().await })
            }
        }
    };
}
pub(super) use sdp_agent_for;

fn agent(obj: &MediaObject) -> Option<Arc<dyn SdpAgent>> {
    obj.element.as_ref().and_then(|e| e.sdp.clone())
}

fn pending(f: BoxFuture<Result<String, String>>, kind: ErrorKind) -> Result<Outcome, RpcError> {
    Ok(Outcome::Pending(Box::pin(async move {
        f.await
            .map(Value::String)
            .map_err(|e| RpcError::new(kind, e))
    })))
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let obj = reg.require(id)?;
    let Some(a) = agent(obj) else {
        return Err(super::unimplemented::method(&obj.class.name, method));
    };
    let sdp_param = |name: &str| opt_str(p, name).unwrap_or_default().to_string();
    match method {
        "processOffer" => {
            let sdp = sdp_param("offer");
            if sdp.trim().is_empty() {
                return Err(RpcError::new(ErrorKind::SdpParseError, "Empty SDP offer"));
            }
            pending(
                a.process_offer(sdp),
                ErrorKind::SdpEndPointProcessOfferError,
            )
        }
        "processAnswer" => {
            let sdp = sdp_param("answer");
            if sdp.trim().is_empty() {
                return Err(RpcError::new(ErrorKind::SdpParseError, "Empty SDP answer"));
            }
            pending(
                a.process_answer(sdp),
                ErrorKind::SdpEndPointProcessAnswerError,
            )
        }
        "generateOffer" => {
            let opts = p.get("options").and_then(Value::as_object);
            let flag = |k: &str| {
                opts.and_then(|o| o.get(k))
                    .and_then(Value::as_bool)
                    .unwrap_or(true)
            };
            pending(
                a.generate_offer(flag("offerToReceiveAudio"), flag("offerToReceiveVideo")),
                ErrorKind::SdpEndPointGenerateOfferError,
            )
        }
        "getLocalSessionDescriptor" => {
            let f = a.local_sdp();
            Ok(Outcome::Pending(Box::pin(async move {
                f.await.map(Value::String).ok_or_else(|| {
                    RpcError::new(
                        ErrorKind::SdpEndPointNoLocalSdpError,
                        "No local SDP: generate or process an offer first",
                    )
                })
            })))
        }
        "getRemoteSessionDescriptor" => {
            let f = a.remote_sdp();
            Ok(Outcome::Pending(Box::pin(async move {
                f.await.map(Value::String).ok_or_else(|| {
                    RpcError::new(
                        ErrorKind::SdpEndPointNoRemoteSdpError,
                        "No remote SDP: process an offer or answer first",
                    )
                })
            })))
        }
        _ => Err(super::unimplemented::method("SdpEndpoint", method)),
    }
}

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "SdpEndpoint",
    implements: |obj, _| agent(obj).is_some(),
    invoke,
    ..ClassBehaviour::EMPTY
};
