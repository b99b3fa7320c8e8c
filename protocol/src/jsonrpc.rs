//! JSON-RPC 2.0 envelopes as KMS reads and writes them: one object per WebSocket text frame,
//! ids echoed verbatim, compact output, `onEvent` notifications without id.

use crate::error::RpcError;
use serde_json::{json, Map, Value};

/// A decoded request. `id` is `None` for a notification (no reply is sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Option<Value>,
    pub method: String,
    /// `None` when absent or `null`.
    pub params: Option<Value>,
}

/// Why a frame could not become a request: the error to answer, with the id if one was readable.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub id: Option<Value>,
    pub error: RpcError,
}

impl Request {
    /// Decodes one text frame. Arrays (batches) are invalid requests, as in KMS.
    pub fn decode(text: &str) -> Result<Request, DecodeError> {
        let value: Value = serde_json::from_str(text).map_err(|_| DecodeError {
            id: None,
            error: RpcError::parse_error(),
        })?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Request, DecodeError> {
        let invalid = |id: Option<Value>| DecodeError {
            id,
            error: RpcError::invalid_request(),
        };
        let Value::Object(mut obj) = value else {
            return Err(invalid(None));
        };
        let id = match obj.remove("id") {
            None | Some(Value::Null) => None,
            Some(Value::Array(_)) | Some(Value::Object(_)) => return Err(invalid(None)),
            Some(v) => Some(v),
        };
        // KMS answers every invalid request with id null, even when the id was readable.
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(invalid(None));
        }
        let method = match obj.remove("method") {
            Some(Value::String(m)) => m,
            _ => return Err(invalid(None)),
        };
        let params = match obj.remove("params") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        };
        Ok(Request { id, method, params })
    }

    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("jsonrpc".into(), "2.0".into());
        if let Some(id) = &self.id {
            obj.insert("id".into(), id.clone());
        }
        obj.insert("method".into(), self.method.clone().into());
        if let Some(p) = &self.params {
            obj.insert("params".into(), p.clone());
        }
        Value::Object(obj)
    }
}

/// A successful response.
pub fn response_ok(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error response; `id` is `null` when the request's id could not be read.
pub fn response_err(id: Option<&Value>, error: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": error.to_json()})
}

/// The `onEvent` notification that carries one event to one session.
pub fn on_event(object: &str, event_type: &str, data: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": "onEvent", "params": {"value": {
        "data": data, "object": object, "type": event_type}}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn decodes_kurento_client_ping() {
        let r = Request::decode(
            r#"{"jsonrpc":"2.0","method":"ping","params":{"interval":5000},"id":0}"#,
        )
        .unwrap();
        assert_eq!(r.id, Some(json!(0)));
        assert_eq!(r.method, "ping");
        assert_eq!(r.params, Some(json!({"interval":5000})));
        let r = Request::decode(r#"{"jsonrpc":"2.0","method":"ping","id":7}"#).unwrap();
        assert_eq!(r.params, None);
    }

    #[test]
    fn rejects_what_kms_rejects() {
        let cases = [
            ("[1,2]", ErrorKind::InvalidRequest, None),
            ("42", ErrorKind::InvalidRequest, None),
            (
                r#"{"jsonrpc":"1.0","method":"ping","id":3}"#,
                ErrorKind::InvalidRequest,
                None,
            ),
            (
                r#"{"method":"ping","id":"a"}"#,
                ErrorKind::InvalidRequest,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","method":5,"id":4}"#,
                ErrorKind::InvalidRequest,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"ping","id":[1]}"#,
                ErrorKind::InvalidRequest,
                None,
            ),
            ("{not json", ErrorKind::ParseError, None),
            ("", ErrorKind::ParseError, None),
        ];
        for (text, kind, id) in cases {
            let e = Request::decode(text).unwrap_err();
            assert_eq!(e.error.kind, kind, "{text}");
            assert_eq!(e.id, id, "{text}");
        }
    }

    #[test]
    fn response_shapes() {
        assert_eq!(
            response_ok(&json!(0), json!({"value":"pong"})).to_string(),
            r#"{"jsonrpc":"2.0","id":0,"result":{"value":"pong"}}"#
        );
        assert_eq!(
            response_err(None, &RpcError::parse_error()).to_string(),
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error.","data":{"type":"PARSE_ERROR"}}}"#
        );
        let ev = on_event("o", "IceGatheringDone", json!({}));
        assert_eq!(ev["params"]["value"]["object"], "o");
        assert!(ev.get("id").is_none());
    }
}
