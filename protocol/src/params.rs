//! Typed access to a request's `params` with KMS's error messages for missing or mistyped members.

use crate::error::RpcError;
use serde_json::{Map, Value};

/// The `params` object of a request. Methods that require params build it with [`Params::required`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(pub Map<String, Value>);

impl Params {
    /// `params` must be an object; absent or `null` → -32602 "'params' is required".
    pub fn required(params: Option<&Value>) -> Result<Params, RpcError> {
        match params {
            Some(Value::Object(m)) => Ok(Params(m.clone())),
            None | Some(Value::Null) => Err(RpcError::params_required()),
            Some(_) => Err(RpcError::new(
                crate::error::ErrorKind::InvalidParams,
                "'params' should be an object",
            )),
        }
    }

    /// For `connect` and `ping`, whose params are optional.
    pub fn optional(params: Option<&Value>) -> Params {
        match params {
            Some(Value::Object(m)) => Params(m.clone()),
            _ => Params::default(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Result<&str, RpcError> {
        self.opt_str(name)?
            .ok_or_else(|| RpcError::param_required(name))
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(RpcError::param_type(name, "string")),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(RpcError::param_type(name, "boolean")),
        }
    }

    pub fn array(&self, name: &str) -> Result<&Vec<Value>, RpcError> {
        match self.get(name) {
            None => Err(RpcError::param_required(name)),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(RpcError::param_type(name, "array")),
        }
    }

    pub fn opt_object(&self, name: &str) -> Result<Option<&Map<String, Value>>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(_) => Err(RpcError::param_type(name, "object")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_and_mistyped() {
        assert_eq!(Params::required(None).unwrap_err().code(), -32602);
        let p = Params::required(Some(&json!({"object": 5, "n": null}))).unwrap();
        assert_eq!(
            p.str("object").unwrap_err().message,
            "'object' parameter should be a string"
        );
        assert_eq!(p.str("n").unwrap_err().message, "'n' parameter is required");
        assert_eq!(p.opt_str("n").unwrap(), None);
    }
}
