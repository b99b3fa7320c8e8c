//! The Kurento interface model: classes, methods, properties, events and complex types, as KMS's
//! kmd files declare them (6.18, plus what 7.x adds), loaded from `kmd-model.json`, a doc-free
//! digest generated from the kmd files (see `generate`).
//!
//! Lookups follow kurento-module-creator's dispatch: a class first, then its ancestors; at each
//! level methods by exact name, then `get<Prop>` / `set<Prop>` (first letter upper-cased).

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod marshal;

/// One module (`core`, `elements`, `filters`) as ServerInfo lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModuleDef {
    pub name: String,
    pub version: String,
    /// Bare names of the module's non-abstract classes, sorted.
    pub factories: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassDef {
    pub name: String,
    /// Module that declares it: `core`, `elements` or `filters`.
    pub module: String,
    pub extends: Option<String>,
    #[serde(rename = "abstract")]
    pub is_abstract: bool,
    /// Constructor params; `None` for classes without a constructor.
    pub constructor: Option<Vec<ParamDef>>,
    pub methods: Vec<MethodDef>,
    pub properties: Vec<PropertyDef>,
    /// Event names declared on this class (not inherited ones).
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParamDef {
    pub name: String,
    /// Type as written in the kmd: `String`, `int`, `IceCandidate`, `String[]`, `Stats<>`...
    #[serde(rename = "type")]
    pub ty: String,
    pub optional: bool,
    /// kmd `defaultValue`, already as JSON.
    pub default: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodDef {
    pub name: String,
    pub params: Vec<ParamDef>,
    /// Return type, `None` for void.
    pub ret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PropertyDef {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub read_only: bool,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub default: Option<Value>,
}

impl PropertyDef {
    /// `set<Name>` exists only for properties that are neither readOnly nor final.
    pub fn settable(&self) -> bool {
        !self.read_only && !self.is_final
    }
    pub fn getter_name(&self) -> String {
        accessor("get", &self.name)
    }
    pub fn setter_name(&self) -> String {
        accessor("set", &self.name)
    }
}

/// `get` + `ICECandidatePairs` → `getICECandidatePairs`; `get` + `name` → `getName`.
pub fn accessor(prefix: &str, prop: &str) -> String {
    let mut chars = prop.chars();
    match chars.next() {
        Some(c) => format!("{prefix}{}{}", c.to_uppercase(), chars.as_str()),
        None => prefix.to_string(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum TypeDef {
    Enum { name: String, module: String, values: Vec<String> },
    Struct { name: String, module: String, extends: Option<String>, fields: Vec<ParamDef> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventDef {
    pub name: String,
    pub extends: Option<String>,
    pub properties: Vec<ParamDef>,
}

/// The whole model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    pub modules: Vec<ModuleDef>,
    pub classes: Vec<ClassDef>,
    pub types: Vec<TypeDef>,
    pub events: Vec<EventDef>,
}

/// What an `invoke` operation name resolved to.
#[derive(Debug, Clone, Copy)]
pub enum Operation<'a> {
    Method { class: &'a ClassDef, method: &'a MethodDef },
    Get { class: &'a ClassDef, property: &'a PropertyDef },
    Set { class: &'a ClassDef, property: &'a PropertyDef },
}
