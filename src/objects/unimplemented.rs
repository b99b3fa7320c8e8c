//! The one place that words "this operation has no media behind it yet": never a silent success.

use kurento_protocol::{ErrorKind, RpcError};

/// Why a class's methods are not available, in words a Kurento user can act on.
fn reason(class: &str) -> &'static str {
    match class {
        "OpenCVFilter" => "OpenCVFilter runs C++ plugins built against KMS, which cannot load here",
        _ => "it is not built yet",
    }
}

pub(crate) fn method(class: &str, method: &str) -> RpcError {
    RpcError::new(
        ErrorKind::NotImplemented,
        format!(
            "{class}.{method} is not implemented by kurento-media-server-rs: {}",
            reason(class)
        ),
    )
}
