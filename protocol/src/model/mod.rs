//! The Kurento interface model: classes, methods, properties, events and complex types, as KMS's
//! kmd files declare them (6.18, plus what 7.x adds), loaded from `kmd-model.json`, a doc-free
//! digest generated from the kmd files (see `generate`).
//!
//! Lookups follow kurento-module-creator's dispatch: a class first, then its ancestors; at each
//! level methods by exact name, then `get<Prop>` / `set<Prop>` (first letter upper-cased).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::OnceLock;

pub mod generate;
pub mod marshal;

/// Module prefix of qualified class names (`kurento.WebRtcEndpoint`) for core/elements/filters.
pub const KURENTO_MODULE: &str = "kurento";

/// Ancestor chains are a handful of levels deep; a bound keeps a malformed model from looping.
const MAX_DEPTH: usize = 32;

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodDef {
    pub name: String,
    pub params: Vec<ParamDef>,
    /// Return type, `None` for void.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    Enum {
        name: String,
        module: String,
        values: Vec<String>,
    },
    Struct {
        name: String,
        module: String,
        extends: Option<String>,
        fields: Vec<ParamDef>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventDef {
    pub name: String,
    pub extends: Option<String>,
    pub properties: Vec<ParamDef>,
}

/// The whole model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Model {
    pub modules: Vec<ModuleDef>,
    pub classes: Vec<ClassDef>,
    pub types: Vec<TypeDef>,
    pub events: Vec<EventDef>,
    /// What each kmd generation declares on its own (before merging), for coverage reports.
    #[serde(default)]
    pub versions: Vec<VersionDigest>,
}

/// A kmd generation: the 6.18 files (KMS 6.18, kurento-client 6.18) or the 7.x files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KmdVersion {
    #[serde(rename = "6.18")]
    V6,
    #[serde(rename = "7")]
    V7,
}

/// Names declared by one generation, without docs or signatures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionDigest {
    pub version: KmdVersion,
    /// (module name, version as in the kmd file).
    pub modules: Vec<(String, String)>,
    pub classes: Vec<ClassDigest>,
    /// Every event type, including the abstract bases.
    pub event_types: Vec<String>,
    /// Event types other events extend (RaiseBase, Media): not subscribable.
    pub abstract_events: Vec<String>,
    pub enums: Vec<String>,
    pub structs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassDigest {
    pub name: String,
    #[serde(rename = "abstract")]
    pub is_abstract: bool,
    pub methods: Vec<String>,
    pub getters: Vec<String>,
    pub setters: Vec<String>,
    pub events: Vec<String>,
}

impl ClassDigest {
    /// Every invoke operation name the class itself declares: methods, getters, setters.
    pub fn operations(&self) -> impl Iterator<Item = &String> {
        self.methods
            .iter()
            .chain(&self.getters)
            .chain(&self.setters)
    }
}

/// Counts for one generation (kurento-protocol.md §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VersionTotals {
    pub remote_classes: usize,
    pub creatable_classes: usize,
    pub abstract_classes: usize,
    /// Declared methods, counted per class (`connect` on MediaElement and on Dispatcher are two).
    pub methods: usize,
    pub properties: usize,
    pub getters: usize,
    pub setters: usize,
    /// methods + getters + setters.
    pub operations: usize,
    /// Event types including the abstract bases.
    pub event_types: usize,
    /// Distinct event names a client can subscribe to.
    pub subscribable_events: usize,
    /// (class, event) declarations.
    pub class_event_declarations: usize,
    pub enums: usize,
    pub structs: usize,
}

/// Totals of both generations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelTotals {
    pub v6_18: VersionTotals,
    pub v7: VersionTotals,
}

static MODEL: OnceLock<Model> = OnceLock::new();

/// The committed model (6.18 merged with 7.x additions).
pub fn model() -> &'static Model {
    MODEL.get_or_init(
        || match serde_json::from_str(include_str!("kmd-model.json")) {
            Ok(m) => m,
            // The file is generated and checked by this crate's tests; failing here is a build defect.
            Err(e) => panic!("kurento-protocol: committed kmd-model.json does not parse: {e}"),
        },
    )
}

/// The prefix of a module's qualified names: `kurento` for KMS's built-in modules (core, elements,
/// filters), the module's own name for the optional ones (`chroma.ChromaFilter`).
pub fn module_prefix(module: &str) -> &str {
    match module {
        "core" | "elements" | "filters" => KURENTO_MODULE,
        other => other,
    }
}

/// `kurento.WebRtcEndpoint` → `WebRtcEndpoint`; bare names pass through.
pub fn bare_name(name: &str) -> &str {
    name.strip_prefix(KURENTO_MODULE)
        .and_then(|r| r.strip_prefix('.'))
        .unwrap_or(name)
}

impl TypeDef {
    pub fn name(&self) -> &str {
        match self {
            TypeDef::Enum { name, .. } | TypeDef::Struct { name, .. } => name,
        }
    }
    pub fn module(&self) -> &str {
        match self {
            TypeDef::Enum { module, .. } | TypeDef::Struct { module, .. } => module,
        }
    }
}

impl ClassDef {
    pub fn method(&self, name: &str) -> Option<&MethodDef> {
        self.methods.iter().find(|m| m.name == name)
    }
    pub fn property(&self, name: &str) -> Option<&PropertyDef> {
        self.properties.iter().find(|p| p.name == name)
    }
    /// `kurento.<Name>`, or `<module>.<Name>` for an optional module's class.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", module_prefix(&self.module), self.name)
    }
}

impl Operation<'_> {
    /// Declared params: a method's, a setter's single `{<property>: value}`, none for getters.
    pub fn params(&self) -> Vec<ParamDef> {
        match self {
            Operation::Method { method, .. } => method.params.clone(),
            Operation::Get { .. } => Vec::new(),
            Operation::Set { property, .. } => vec![ParamDef {
                name: property.name.clone(),
                ty: property.ty.clone(),
                optional: false,
                default: None,
            }],
        }
    }
    /// The class (self or ancestor) that declares the operation.
    pub fn declaring_class(&self) -> &ClassDef {
        match self {
            Operation::Method { class, .. }
            | Operation::Get { class, .. }
            | Operation::Set { class, .. } => class,
        }
    }
    /// Return type; `None` for void methods and setters.
    pub fn return_type(&self) -> Option<&str> {
        match self {
            Operation::Method { method, .. } => method.ret.as_deref(),
            Operation::Get { property, .. } => Some(&property.ty),
            Operation::Set { .. } => None,
        }
    }
}

impl Model {
    /// A class by bare (`WebRtcEndpoint`) or qualified (`kurento.WebRtcEndpoint`) name.
    /// A class by its bare or qualified name (`WebRtcEndpoint`, `kurento.WebRtcEndpoint`,
    /// `chroma.ChromaFilter`).
    pub fn class(&self, name: &str) -> Option<&ClassDef> {
        match name.split_once('.') {
            None => self.classes.iter().find(|c| c.name == name),
            Some((prefix, bare)) => self
                .classes
                .iter()
                .find(|c| c.name == bare && module_prefix(&c.module) == prefix),
        }
    }

    /// The class itself, then its ancestors, nearest first. Empty for unknown classes.
    pub fn hierarchy(&self, class: &str) -> Vec<&ClassDef> {
        let mut out: Vec<&ClassDef> = Vec::new();
        let mut next = self.class(class);
        while let Some(c) = next {
            if out.len() >= MAX_DEPTH || out.iter().any(|x| x.name == c.name) {
                break;
            }
            out.push(c);
            next = c.extends.as_deref().and_then(|p| self.class(p));
        }
        out
    }

    /// Qualified ancestors, nearest first, self excluded: what `describe` returns as `hierarchy`.
    pub fn qualified_hierarchy(&self, class: &str) -> Vec<String> {
        self.hierarchy(class)
            .iter()
            .skip(1)
            .map(|c| c.qualified_name())
            .collect()
    }

    /// Whether `class` is `ancestor` or derives from it (names bare or qualified).
    pub fn is_a(&self, class: &str, ancestor: &str) -> bool {
        let ancestor = bare_name(ancestor);
        self.hierarchy(class).iter().any(|c| c.name == ancestor)
    }

    /// Resolves an invoke operation as KMS does: the class, then each ancestor; at each level
    /// methods by exact name, then `get<Prop>`, then `set<Prop>` of settable properties.
    pub fn find_operation(&self, class: &str, op: &str) -> Option<Operation<'_>> {
        for c in self.hierarchy(class) {
            if let Some(method) = c.method(op) {
                return Some(Operation::Method { class: c, method });
            }
            if let Some(property) = c.properties.iter().find(|p| p.getter_name() == op) {
                return Some(Operation::Get { class: c, property });
            }
            if let Some(property) = c
                .properties
                .iter()
                .find(|p| p.settable() && p.setter_name() == op)
            {
                return Some(Operation::Set { class: c, property });
            }
        }
        None
    }

    /// Whether the class or an ancestor declares the event (exact, case-sensitive name).
    pub fn event_supported(&self, class: &str, event: &str) -> bool {
        self.hierarchy(class)
            .iter()
            .any(|c| c.events.iter().any(|e| e == event))
    }

    /// A complex type (enum or struct) by bare or qualified name.
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        let bare = bare_name(name);
        self.types.iter().find(|t| t.name() == bare)
    }

    pub fn event_def(&self, name: &str) -> Option<&EventDef> {
        self.events.iter().find(|e| e.name == name)
    }

    /// Classes `create` can instantiate (non-abstract), in declaration order.
    pub fn creatable_classes(&self) -> Vec<&ClassDef> {
        self.classes.iter().filter(|c| !c.is_abstract).collect()
    }

    /// An event's data fields, the furthest ancestor's first (RaiseBase, Media, the event).
    pub fn event_fields(&self, event: &str) -> Vec<&ParamDef> {
        let mut chain: Vec<&EventDef> = Vec::new();
        let mut next = self.event_def(event);
        while let Some(e) = next {
            if chain.len() >= MAX_DEPTH || chain.iter().any(|x| x.name == e.name) {
                break;
            }
            chain.push(e);
            next = e.extends.as_deref().and_then(|p| self.event_def(p));
        }
        chain
            .iter()
            .rev()
            .flat_map(|e| e.properties.iter())
            .collect()
    }

    /// A struct's fields including inherited ones, the furthest ancestor's first. Empty for
    /// enums and unknown names.
    pub fn struct_fields(&self, name: &str) -> Vec<&ParamDef> {
        let mut chain: Vec<&[ParamDef]> = Vec::new();
        let mut next = Some(name.to_string());
        while let Some(n) = next.take() {
            if chain.len() >= MAX_DEPTH {
                break;
            }
            if let Some(TypeDef::Struct {
                fields, extends, ..
            }) = self.type_def(&n)
            {
                chain.push(fields);
                next = extends.clone();
            }
        }
        chain.iter().rev().flat_map(|f| f.iter()).collect()
    }

    /// Whether struct `ty` is `ancestor` or extends it.
    pub fn struct_is_a(&self, ty: &str, ancestor: &str) -> bool {
        let ancestor = bare_name(ancestor);
        let mut next = Some(bare_name(ty).to_string());
        for _ in 0..MAX_DEPTH {
            let Some(n) = next.take() else { return false };
            if n == ancestor {
                return true;
            }
            match self.type_def(&n) {
                Some(TypeDef::Struct { extends, .. }) => next = extends.clone(),
                _ => return false,
            }
        }
        false
    }

    pub fn version_digest(&self, v: KmdVersion) -> Option<&VersionDigest> {
        self.versions.iter().find(|d| d.version == v)
    }

    /// Every (class, operation) pair one generation declares, classes in declaration order.
    pub fn version_operations(&self, v: KmdVersion) -> Vec<(String, String)> {
        let Some(d) = self.version_digest(v) else {
            return Vec::new();
        };
        d.classes
            .iter()
            .flat_map(|c| c.operations().map(|op| (c.name.clone(), op.clone())))
            .collect()
    }

    /// Every (class, event) declaration of one generation.
    pub fn version_events(&self, v: KmdVersion) -> Vec<(String, String)> {
        let Some(d) = self.version_digest(v) else {
            return Vec::new();
        };
        d.classes
            .iter()
            .flat_map(|c| c.events.iter().map(|e| (c.name.clone(), e.clone())))
            .collect()
    }

    /// Distinct subscribable event names of one generation (abstract bases excluded).
    pub fn version_event_names(&self, v: KmdVersion) -> Vec<String> {
        let Some(d) = self.version_digest(v) else {
            return Vec::new();
        };
        d.event_types
            .iter()
            .filter(|e| !d.abstract_events.contains(e))
            .cloned()
            .collect()
    }

    /// Non-abstract class names of one generation, in declaration order.
    pub fn version_creatable_classes(&self, v: KmdVersion) -> Vec<String> {
        let Some(d) = self.version_digest(v) else {
            return Vec::new();
        };
        d.classes
            .iter()
            .filter(|c| !c.is_abstract)
            .map(|c| c.name.clone())
            .collect()
    }

    pub fn version_totals(&self, v: KmdVersion) -> VersionTotals {
        let Some(d) = self.version_digest(v) else {
            return VersionTotals::default();
        };
        let sum = |f: fn(&ClassDigest) -> usize| d.classes.iter().map(f).sum::<usize>();
        let methods = sum(|c| c.methods.len());
        let getters = sum(|c| c.getters.len());
        let setters = sum(|c| c.setters.len());
        let creatable = d.classes.iter().filter(|c| !c.is_abstract).count();
        VersionTotals {
            remote_classes: d.classes.len(),
            creatable_classes: creatable,
            abstract_classes: d.classes.len() - creatable,
            methods,
            properties: getters,
            getters,
            setters,
            operations: methods + getters + setters,
            event_types: d.event_types.len(),
            subscribable_events: self.version_event_names(v).len(),
            class_event_declarations: sum(|c| c.events.len()),
            enums: d.enums.len(),
            structs: d.structs.len(),
        }
    }

    pub fn totals(&self) -> ModelTotals {
        ModelTotals {
            v6_18: self.version_totals(KmdVersion::V6),
            v7: self.version_totals(KmdVersion::V7),
        }
    }
}

/// What an `invoke` operation name resolved to.
#[derive(Debug, Clone, Copy)]
pub enum Operation<'a> {
    Method {
        class: &'a ClassDef,
        method: &'a MethodDef,
    },
    Get {
        class: &'a ClassDef,
        property: &'a PropertyDef,
    },
    Set {
        class: &'a ClassDef,
        property: &'a PropertyDef,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_model_parses() {
        let parsed: Result<Model, _> = serde_json::from_str(include_str!("kmd-model.json"));
        let m = parsed.map_err(|e| e.to_string());
        assert!(
            m.as_ref()
                .is_ok_and(|m| m.classes.len() == 33 && m.versions.len() == 2),
            "{:?}",
            m.err()
        );
    }

    #[test]
    fn accessor_names() {
        assert_eq!(accessor("get", "ICECandidatePairs"), "getICECandidatePairs");
        assert_eq!(accessor("set", "name"), "setName");
        assert_eq!(accessor("get", ""), "get");
        assert_eq!(bare_name("kurento.MediaPipeline"), "MediaPipeline");
        assert_eq!(
            bare_name("kurentoX.MediaPipeline"),
            "kurentoX.MediaPipeline"
        );
    }
}
