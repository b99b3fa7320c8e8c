//! Checking client JSON against kmd types, the way KMS's generated (de)serializers do: lenient
//! about number/boolean representations (jsoncpp `isConvertibleTo`), strict about enum values,
//! struct fields and remote object references.
//!
//! The output is the normalized value the server works with: ints as JSON integers, floats as
//! JSON numbers, structs with `__module__`/`__type__` and their defaults filled in, remote
//! objects as their id strings.

use super::{bare_name, model, module_prefix, Model, ParamDef, TypeDef, KURENTO_MODULE};
use crate::error::{ErrorKind, RpcError};
use serde_json::{Map, Value};

/// Looks up remote objects the caller may reference.
pub trait RefResolver {
    /// Bare class name (`WebRtcEndpoint`) of an existing object, `None` if there is no such object.
    fn class_of(&self, id: &str) -> Option<String>;
}

/// A resolver that knows no objects: for values whose types cannot contain references.
pub struct NoObjects;

impl RefResolver for NoObjects {
    fn class_of(&self, _id: &str) -> Option<String> {
        None
    }
}

/// Checks `given` against the declared params and returns every declared param that has a value:
/// the given one converted, else the kmd default. Missing required → 40001. `null` counts as
/// missing. Keys that are not declared are ignored.
pub fn unmarshal_params(
    params: &[ParamDef],
    given: Option<&Map<String, Value>>,
    refs: &dyn RefResolver,
) -> Result<Map<String, Value>, RpcError> {
    unmarshal_fields(model(), params, given, refs)
}

/// Converts one value of kmd type `ty` (`String`, `int`, `MediaType`, `IceCandidate`,
/// `MediaElement`, `String[]`, `Stats<>`...); `name` is used in error messages.
pub fn unmarshal_value(
    ty: &str,
    name: &str,
    v: &Value,
    refs: &dyn RefResolver,
) -> Result<Value, RpcError> {
    convert(model(), ty, name, v, refs)
}

/// A complex output value: `__module__` and `__type__` first, then the fields as given.
pub fn complex(type_name: &str, fields: Map<String, Value>) -> Value {
    let mut out = Map::with_capacity(fields.len() + 2);
    out.insert("__module__".into(), Value::from(KURENTO_MODULE));
    out.insert("__type__".into(), Value::from(bare_name(type_name)));
    for (k, v) in fields {
        if k != "__module__" && k != "__type__" {
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

fn required(name: &str) -> RpcError {
    RpcError::new(
        ErrorKind::MarshallError,
        format!("'{name}' parameter is required"),
    )
}

fn unmarshal_fields(
    m: &Model,
    params: &[ParamDef],
    given: Option<&Map<String, Value>>,
    refs: &dyn RefResolver,
) -> Result<Map<String, Value>, RpcError> {
    let mut out = Map::new();
    for p in params {
        match given.and_then(|g| g.get(&p.name)).filter(|v| !v.is_null()) {
            Some(v) => {
                out.insert(p.name.clone(), convert(m, &p.ty, &p.name, v, refs)?);
            }
            // A default applies even to params the kmd marks required (getUsedCpu's interval).
            None => match &p.default {
                Some(d) => {
                    out.insert(p.name.clone(), default_value(m, &p.ty, d));
                }
                None if p.optional => {}
                None => return Err(required(&p.name)),
            },
        }
    }
    Ok(out)
}

/// Defaults come from our own model; a struct default (`{}`) still gets its discriminators and
/// field defaults. A default that does not convert is passed through rather than failing a call
/// the client made correctly.
fn default_value(m: &Model, ty: &str, d: &Value) -> Value {
    convert(m, ty, "default", d, &NoObjects).unwrap_or_else(|_| d.clone())
}

/// What the error message calls a type: JSON words for primitives, the kmd name otherwise.
fn type_word(ty: &str) -> &str {
    match ty {
        "String" => "string",
        "int" | "int64" => "integer",
        "float" | "double" => "number",
        "boolean" => "boolean",
        other => other,
    }
}

fn convert(
    m: &Model,
    ty: &str,
    name: &str,
    v: &Value,
    refs: &dyn RefResolver,
) -> Result<Value, RpcError> {
    let mismatch = || RpcError::marshall(name, type_word(ty));
    if let Some(inner) = ty.strip_suffix("[]") {
        let Value::Array(items) = v else {
            return Err(mismatch());
        };
        return items
            .iter()
            .map(|x| convert(m, inner, name, x, refs))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Some(inner) = ty.strip_suffix("<>") {
        let Value::Object(entries) = v else {
            return Err(mismatch());
        };
        let mut out = Map::with_capacity(entries.len());
        for (k, x) in entries {
            out.insert(k.clone(), convert(m, inner, name, x, refs)?);
        }
        return Ok(Value::Object(out));
    }
    match ty {
        "String" => match v {
            Value::String(_) => Ok(v.clone()),
            // jsoncpp reads null as "" (only reachable inside lists and maps: a null param is absent).
            Value::Null => Ok(Value::from("")),
            _ => Err(mismatch()),
        },
        "int" => integer(v)
            .filter(|i| i32::try_from(*i).is_ok())
            .map(Value::from)
            .ok_or_else(mismatch),
        "int64" => integer(v).map(Value::from).ok_or_else(mismatch),
        "float" | "double" => match v {
            Value::Number(n) => n.as_f64().map(Value::from).ok_or_else(mismatch),
            Value::Bool(b) => Ok(Value::from(if *b { 1.0 } else { 0.0 })),
            _ => Err(mismatch()),
        },
        "boolean" => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::Number(n) => {
                let x = n.as_f64();
                if x == Some(0.0) {
                    Ok(Value::Bool(false))
                } else if x == Some(1.0) {
                    Ok(Value::Bool(true))
                } else {
                    Err(mismatch())
                }
            }
            _ => Err(mismatch()),
        },
        _ => {
            if let Some(t) = m.type_def(ty) {
                return match t {
                    TypeDef::Enum { values, .. } => match v {
                        Value::String(s) if values.iter().any(|x| x == s) => Ok(v.clone()),
                        _ => Err(mismatch()),
                    },
                    TypeDef::Struct { name: declared, .. } => structure(m, declared, name, v, refs),
                };
            }
            if m.class(ty).is_some() {
                return remote(m, ty, name, v, refs);
            }
            Err(RpcError::new(
                ErrorKind::UnexpectedError,
                format!("Unknown type '{ty}' for '{name}'"),
            ))
        }
    }
}

/// An integral JSON number (3.0 counts), or a boolean as 0/1.
fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            // The range check keeps the cast exact; i64::MAX itself is not representable as f64.
            (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
        }),
        _ => None,
    }
}

fn structure(
    m: &Model,
    declared: &str,
    name: &str,
    v: &Value,
    refs: &dyn RefResolver,
) -> Result<Value, RpcError> {
    let Value::Object(obj) = v else {
        return Err(RpcError::marshall(name, declared));
    };
    let actual = match obj.get("__type__") {
        None | Some(Value::Null) => declared.to_string(),
        Some(Value::String(t)) => {
            let module = match obj.get("__module__") {
                None | Some(Value::Null) => KURENTO_MODULE,
                Some(Value::String(s)) => s.as_str(),
                Some(_) => return Err(RpcError::marshall(name, declared)),
            };
            let known = match m.type_def(t) {
                Some(def @ TypeDef::Struct { .. }) => {
                    let owner = module_prefix(def.module());
                    // Optional modules repeat each other's types (WindowParam is chroma's and
                    // pointerdetector's); the model keeps the first.
                    let optional =
                        |x: &str| x != KURENTO_MODULE && m.modules.iter().any(|d| d.name == x);
                    owner == module || (optional(owner) && optional(module))
                }
                _ => false,
            };
            if !known {
                return Err(RpcError::new(
                    ErrorKind::UnexpectedError,
                    format!("Type '{module}.{t}' not found for '{name}'"),
                ));
            }
            if !m.struct_is_a(t, declared) {
                return Err(RpcError::marshall(name, declared));
            }
            t.clone()
        }
        Some(_) => return Err(RpcError::marshall(name, declared)),
    };
    let fields: Vec<ParamDef> = m.struct_fields(&actual).into_iter().cloned().collect();
    Ok(complex(
        &actual,
        unmarshal_fields(m, &fields, Some(obj), refs)?,
    ))
}

fn remote(
    m: &Model,
    ty: &str,
    name: &str,
    v: &Value,
    refs: &dyn RefResolver,
) -> Result<Value, RpcError> {
    let Value::String(id) = v else {
        return Err(RpcError::marshall(name, ty));
    };
    match refs.class_of(id) {
        None => Err(RpcError::object_not_found(id)),
        Some(class) if m.is_a(&class, ty) => Ok(v.clone()),
        Some(_) => Err(RpcError::marshall(name, ty)),
    }
}
