//! `jsonrpc::Request::decode` on arbitrary text, plus the envelopes built from what it returns.

use kurento_protocol::jsonrpc::{self, Request};
use serde_json::Value;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Request::decode(text) {
        Ok(req) => {
            // What we decoded must encode to a request that decodes again to the same method
            // (ids and params are compared loosely: float text may not round-trip bit for bit).
            let again = Request::decode(&req.to_value().to_string())
                .unwrap_or_else(|e| panic!("re-encoded request does not decode: {e:?}"));
            assert_eq!(again.method, req.method);
            assert_eq!(again.id.is_some(), req.id.is_some());
            assert_eq!(again.params.is_some(), req.params.is_some());
            if let Some(id) = &req.id {
                reparse(&jsonrpc::response_ok(id, Value::Null));
            }
        }
        Err(e) => reparse(&jsonrpc::response_err(e.id.as_ref(), &e.error)),
    }
}

/// Every reply we would send must be a JSON object again.
fn reparse(v: &Value) {
    let text = v.to_string();
    let back: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {text}"));
    assert!(back.is_object(), "reply is not an object: {text}");
}
