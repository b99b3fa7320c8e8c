//! RtpEndpoint: plain RTP (and SDES-SRTP) media in the graph, negotiated with SDP as KMS's
//! RtpEndpoint, for SIP gateways, IP cameras and RTP tools such as ffmpeg and GStreamer.

use super::class::{self, ClassBehaviour, Created, NewObject};
use super::graph::MediaRole;
use super::media_pipeline::PipelineState;
use super::{base_rtp_endpoint, ControlEvent, ElementMedia, Outcome, Registry};
use crate::media::{ElementId, MediaType};
use crate::rtp::{self, RtpEvent, RtpHandle, SrtpCrypto, SrtpSuite};
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{Map, Value};
use std::sync::Arc;

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "RtpEndpoint",
    create: Some(create),
    role: Some(MediaRole::Adapter),
    stats: Some(stats),
    ..ClassBehaviour::EMPTY
};

struct RtpState {
    handle: RtpHandle,
}

/// The constructor's `crypto` (SDES): a suite turns SRTP on; `key`/`keyBase64` fix the master key
/// and salt, otherwise one is made per endpoint.
fn crypto_of(props: &Map<String, Value>) -> Result<Option<SrtpCrypto>, RpcError> {
    let Some(sdes) = props.get("crypto").and_then(Value::as_object) else {
        return Ok(None);
    };
    let Some(name) = sdes.get("crypto").and_then(Value::as_str) else {
        return Ok(None);
    };
    let suite = match name {
        "AES_128_CM_HMAC_SHA1_32" => SrtpSuite::AesCm128HmacSha1_32,
        "AES_128_CM_HMAC_SHA1_80" => SrtpSuite::AesCm128HmacSha1_80,
        "AES_256_CM_HMAC_SHA1_32" => SrtpSuite::Aes256CmHmacSha1_32,
        "AES_256_CM_HMAC_SHA1_80" => SrtpSuite::Aes256CmHmacSha1_80,
        other => {
            return Err(RpcError::new(
                ErrorKind::MediaObjectIllegalParamError,
                format!("Unknown CryptoSuite '{other}'"),
            ))
        }
    };
    let key = if let Some(b64) = sdes.get("keyBase64").and_then(Value::as_str) {
        Some(rtp::srtp::base64_decode(b64).ok_or_else(|| {
            RpcError::new(
                ErrorKind::MediaObjectIllegalParamError,
                "SDES keyBase64 is not valid base64",
            )
        })?)
    } else {
        sdes.get("key")
            .and_then(Value::as_str)
            .map(|k| k.as_bytes().to_vec())
    };
    Ok(Some(SrtpCrypto { suite, key }))
}

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    let pipeline = o
        .pipeline
        .ok_or_else(|| RpcError::param_required("mediaPipeline"))?;
    let Some(p) = reg.get(pipeline).and_then(class::state::<PipelineState>) else {
        return Err(RpcError::object_not_found(pipeline.as_str()));
    };
    let media = p.media.clone();
    let mut cfg = reg.media.rtp.clone();
    cfg.crypto = crypto_of(o.props)?;
    let key = ElementId::next();
    let _media_workers = reg.media.runtime.enter();
    let events = reg.media.reporter(move |e| ControlEvent::Rtp(key, e));
    let handle = rtp::spawn_rtp_endpoint(cfg, media.inbox(key), events).map_err(|e| {
        RpcError::new(
            ErrorKind::NotEnoughResources,
            format!("Cannot create RtpEndpoint: {e}"),
        )
    })?;
    let element = ElementMedia::attach(key, &media, Arc::new(handle.clone()))
        .with_sdp(Arc::new(handle.clone()));
    Ok(Created {
        state: Some(Box::new(RtpState { handle })),
        element: Some(element),
    })
}

// Offer/answer through the endpoint's task.
super::sdp_endpoint::sdp_agent_for!(RtpHandle);

fn stats(reg: &Registry, id: &ObjectId, ty: Option<MediaType>) -> Result<Outcome, RpcError> {
    let h = reg
        .require(id)?
        .state
        .as_ref()
        .and_then(|s| s.downcast_ref::<RtpState>())
        .map(|s| s.handle.clone())
        .ok_or_else(|| RpcError::object_not_found(id.as_str()))?;
    let fetch = async move { h.stats().await.map_err(|e| e.to_string()) };
    super::stats::endpoint(reg, id, ty, fetch, super::stats::rtp_to_kurento)
}

/// Turns one signalling event of an RTP endpoint into Kurento events and state.
pub(super) fn on_event(reg: &mut Registry, key: ElementId, ev: RtpEvent) {
    let Some(id) = reg.endpoints.get(&key).cloned() else {
        return;
    };
    if let RtpEvent::CodecNotNegotiated {
        kind,
        codec,
        accepts,
    } = &ev
    {
        if let Some((name, f)) =
            base_rtp_endpoint::codec_not_negotiated(reg, &id, *kind, codec, accepts)
        {
            reg.raise(&id, name, f);
        }
        return;
    }
    let Some(element) = reg.get_mut(&id).and_then(|o| o.element.as_mut()) else {
        return;
    };
    let raise = match ev {
        RtpEvent::ConnectionStateChanged { connected } => {
            base_rtp_endpoint::connection_changed(element, connected)
        }
        RtpEvent::CodecNotNegotiated { .. } => None,
        RtpEvent::Closed => base_rtp_endpoint::media_ended(element),
    };
    if let Some((name, f)) = raise {
        reg.raise(&id, name, f);
    }
}
