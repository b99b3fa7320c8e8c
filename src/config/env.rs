//! The `KMS_*` variables of the official Docker image.
//!
//! Its entrypoint (kurento-docker, `entrypoint.sh`) rewrites
//! `/etc/kurento/modules/kurento/{BaseRtpEndpoint,WebRtcEndpoint}.conf.ini` before starting KMS, so
//! these variables override the module files. We apply them to the same keys of the merged tree
//! instead of editing files. As in the script, an empty variable is ignored, and `KMS_STUN_IP` /
//! `KMS_STUN_PORT` are only applied when both are set.

use serde_json::Value;

use super::error::ValueSource;
use super::tree::{ConfigTree, Origin};

/// Tree prefix of `BaseRtpEndpoint.conf.ini`.
pub(crate) const BASE_RTP: &str = "modules.kurento.BaseRtpEndpoint";
/// Tree prefix of `WebRtcEndpoint.conf.ini`.
pub(crate) const WEBRTC: &str = "modules.kurento.WebRtcEndpoint";

/// Variable → (section, key). `KMS_EXTERNAL_ADDRESS` is from older images (deprecated `externalAddress`).
const SIMPLE: &[(&str, &str, &str)] = &[
    ("KMS_MIN_PORT", BASE_RTP, "minPort"),
    ("KMS_MAX_PORT", BASE_RTP, "maxPort"),
    ("KMS_MTU", BASE_RTP, "mtu"),
    ("KMS_EXTERNAL_IPV4", WEBRTC, "externalIPv4"),
    ("KMS_EXTERNAL_IPV6", WEBRTC, "externalIPv6"),
    ("KMS_EXTERNAL_ADDRESS", WEBRTC, "externalAddress"),
    ("KMS_NETWORK_INTERFACES", WEBRTC, "networkInterfaces"),
    ("KMS_ICE_TCP", WEBRTC, "iceTcp"),
    ("KMS_SHARED_UDP_PORT", WEBRTC, "sharedUdpPort"),
    ("KMS_TURN_URL", WEBRTC, "turnURL"),
    ("KMS_PEM_CERTIFICATE_RSA", WEBRTC, "pemCertificateRSA"),
    ("KMS_PEM_CERTIFICATE_ECDSA", WEBRTC, "pemCertificateECDSA"),
    ("KMS_METRICS_PORT", super::METRICS, "port"),
    ("KMS_METRICS_ADDRESS", super::METRICS, "address"),
];

fn non_empty(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Option<String> {
    env(var).filter(|v| !v.trim().is_empty())
}

fn set(tree: &mut ConfigTree, var: &str, section: &str, key: &str, value: String) {
    tree.set(
        &format!("{section}.{key}"),
        Value::String(value.trim().to_owned()),
        Origin {
            source: ValueSource::Env(var.to_owned()),
            key: key.to_owned(),
        },
    );
}

/// Applies every set `KMS_*` variable to the tree.
pub(crate) fn apply(tree: &mut ConfigTree, env: &dyn Fn(&str) -> Option<String>) {
    for (var, section, key) in SIMPLE {
        if let Some(value) = non_empty(env, var) {
            set(tree, var, section, key, value);
        }
    }
    if let (Some(ip), Some(port)) = (
        non_empty(env, "KMS_STUN_IP"),
        non_empty(env, "KMS_STUN_PORT"),
    ) {
        set(tree, "KMS_STUN_IP", WEBRTC, "stunServerAddress", ip);
        set(tree, "KMS_STUN_PORT", WEBRTC, "stunServerPort", port);
    }
}
