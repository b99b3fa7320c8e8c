//! Builds the [`Model`] from KMS's kmd files: the 6.18 files are the base, and whatever the 7.x
//! files add (methods, properties, events, constructor params, types, enum values) is merged in,
//! so that both client generations are accepted. Per-version digests are kept alongside so that
//! coverage can be reported against either generation.
//!
//! The kmd files are "JSON with extras": doc strings carry raw control characters and
//! `elements.WebRtcEndpoint.kmd.json` (6.18) has `//` line comments, so they are cleaned before
//! parsing. Docs are dropped.

use super::{
    ClassDef, ClassDigest, EventDef, KmdVersion, MethodDef, Model, ModuleDef, ParamDef,
    PropertyDef, TypeDef, VersionDigest,
};
use serde_json::Value;
use std::path::Path;

/// Modules served as ServerInfo lists them, in this order; other modules follow alphabetically.
const MODULE_ORDER: [&str; 3] = ["core", "elements", "filters"];

/// KMS's optional modules that the server implements, read from `<kmd_dir>/modules/`. Their
/// client packages (`kurento-module-<name>`) are the same interface for both generations, so they
/// are part of both.
pub const OPTIONAL_MODULES: [&str; 4] = [
    "chroma",
    "crowddetector",
    "platedetector",
    "pointerdetector",
];

/// Reads `<kmd_dir>/*.kmd.json` (6.18), `<kmd_dir>/v7/*.kmd.json` (7.x) and the optional modules,
/// and returns the merged model with per-version digests.
pub fn generate(kmd_dir: &Path) -> Result<Model, String> {
    let modules = read_generation(&kmd_dir.join("modules"), Some(&OPTIONAL_MODULES))?;
    let v6 = merge(&read_generation(kmd_dir, None)?, &modules);
    let v7 = merge(&read_generation(&kmd_dir.join("v7"), None)?, &modules);
    let mut merged = merge(&v6, &v7);
    merged.versions = vec![digest(KmdVersion::V6, &v6), digest(KmdVersion::V7, &v7)];
    Ok(merged)
}

/// Removes `//` line comments (outside strings) and escapes raw control characters inside strings,
/// which is all that separates the kmd files from strict JSON.
pub fn clean_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    out.push(c);
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '/' && chars.peek() == Some(&'/') {
            for n in chars.by_ref() {
                if n == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_file(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&clean_json(&text)).map_err(|e| format!("{}: {e}", path.display()))
}

/// One generation (a directory of kmd files, or only the named modules of it) read into a model
/// without merging.
fn read_generation(dir: &Path, only: Option<&[&str]>) -> Result<Model, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // (module, is_part, file name): the module file (`elements.kmd.json`) comes before its parts.
    let mut files: Vec<(String, bool, String)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".kmd.json") else {
            continue;
        };
        let (module, is_part) = match stem.split_once('.') {
            Some((m, _)) => (m.to_string(), true),
            None => (stem.to_string(), false),
        };
        if only.is_some_and(|names| !names.contains(&module.as_str())) {
            continue;
        }
        files.push((module, is_part, name));
    }
    let rank = |m: &str| {
        MODULE_ORDER
            .iter()
            .position(|x| *x == m)
            .unwrap_or(MODULE_ORDER.len())
    };
    files.sort_by(|a, b| (rank(&a.0), &a.0, a.1, &a.2).cmp(&(rank(&b.0), &b.0, b.1, &b.2)));
    if files.is_empty() {
        return Err(format!("{}: no *.kmd.json files", dir.display()));
    }

    let mut model = Model::default();
    for (module, _, file) in &files {
        let doc = parse_file(&dir.join(file))?;
        let ctx = |what: &str| format!("{file}: {what}");
        if let Some(version) = doc.get("version").and_then(Value::as_str) {
            if !model.modules.iter().any(|m| &m.name == module) {
                model.modules.push(ModuleDef {
                    name: module.clone(),
                    version: version.to_string(),
                    factories: Vec::new(),
                });
            }
        }
        for c in array(&doc, "remoteClasses") {
            model
                .classes
                .push(read_class(c, module).map_err(|e| ctx(&e))?);
        }
        for t in array(&doc, "complexTypes") {
            let t = read_type(t, module).map_err(|e| ctx(&e))?;
            // Modules repeat shared types (chroma's and pointerdetector's WindowParam).
            if !model.types.iter().any(|x| x.name() == t.name()) {
                model.types.push(t);
            }
        }
        for e in array(&doc, "events") {
            model.events.push(read_event(e).map_err(|e| ctx(&e))?);
        }
    }
    for m in &mut model.modules {
        m.factories = factories(&model.classes, &m.name);
    }
    Ok(model)
}

fn factories(classes: &[ClassDef], module: &str) -> Vec<String> {
    let mut f: Vec<String> = classes
        .iter()
        .filter(|c| c.module == module && !c.is_abstract)
        .map(|c| c.name.clone())
        .collect();
    f.sort();
    f
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("missing string '{key}' in {v}"))
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn read_class(c: &Value, module: &str) -> Result<ClassDef, String> {
    let name = string(c, "name")?;
    let in_class = |e: String| format!("class {name}: {e}");
    let constructor = match c.get("constructor") {
        Some(ctor) => Some(read_params(array(ctor, "params")).map_err(in_class)?),
        None => None,
    };
    let mut methods = Vec::new();
    for m in array(c, "methods") {
        methods.push(MethodDef {
            name: string(m, "name").map_err(in_class)?,
            params: read_params(array(m, "params")).map_err(in_class)?,
            ret: m
                .get("return")
                .and_then(|r| r.get("type"))
                .and_then(Value::as_str)
                .map(str::to_string),
        });
    }
    let mut properties = Vec::new();
    for p in array(c, "properties") {
        let ty = string(p, "type").map_err(in_class)?;
        properties.push(PropertyDef {
            name: string(p, "name").map_err(in_class)?,
            default: p.get("defaultValue").map(|d| normalize_default(&ty, d)),
            ty,
            read_only: flag(p, "readOnly"),
            is_final: flag(p, "final"),
        });
    }
    let events = array(c, "events")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    Ok(ClassDef {
        extends: c.get("extends").and_then(Value::as_str).map(str::to_string),
        is_abstract: flag(c, "abstract"),
        module: module.to_string(),
        name,
        constructor,
        methods,
        properties,
        events,
    })
}

fn read_params(list: &[Value]) -> Result<Vec<ParamDef>, String> {
    list.iter()
        .map(|p| {
            let ty = string(p, "type")?;
            Ok(ParamDef {
                name: string(p, "name")?,
                default: p.get("defaultValue").map(|d| normalize_default(&ty, d)),
                ty,
                optional: flag(p, "optional"),
            })
        })
        .collect()
}

fn read_type(t: &Value, module: &str) -> Result<TypeDef, String> {
    let name = string(t, "name")?;
    match t.get("typeFormat").and_then(Value::as_str) {
        Some("ENUM") => Ok(TypeDef::Enum {
            values: array(t, "values")
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            module: module.to_string(),
            name,
        }),
        Some("REGISTER") => Ok(TypeDef::Struct {
            fields: read_params(array(t, "properties")).map_err(|e| format!("type {name}: {e}"))?,
            extends: t.get("extends").and_then(Value::as_str).map(str::to_string),
            module: module.to_string(),
            name,
        }),
        other => Err(format!("type {name}: unknown typeFormat {other:?}")),
    }
}

fn read_event(e: &Value) -> Result<EventDef, String> {
    let name = string(e, "name")?;
    Ok(EventDef {
        properties: read_params(array(e, "properties"))
            .map_err(|err| format!("event {name}: {err}"))?,
        extends: e.get("extends").and_then(Value::as_str).map(str::to_string),
        name,
    })
}

/// kmd defaults come as JSON values or as strings (enums, and in some generations numbers or
/// `"{}"`); returns the value a client would have sent.
fn normalize_default(ty: &str, d: &Value) -> Value {
    let Value::String(s) = d else {
        return d.clone();
    };
    let trimmed = s.trim();
    match ty {
        "int" | "int64" => trimmed
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| d.clone()),
        "float" | "double" => trimmed
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| d.clone()),
        "boolean" => match trimmed {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => d.clone(),
        },
        "String" => d.clone(),
        _ if trimmed.starts_with('{') || trimmed.starts_with('[') => {
            serde_json::from_str(trimmed).unwrap_or_else(|_| d.clone())
        }
        _ => d.clone(),
    }
}

/// 6.18 is the base; 7.x additions are appended by name at every level.
fn merge(base: &Model, add: &Model) -> Model {
    let mut out = base.clone();
    out.versions.clear();
    for m in &mut out.modules {
        // ServerInfo reports the release, not the `-dev` build the kmd files were taken from.
        if let Some((release, _)) = m.version.split_once('-') {
            m.version = release.to_string();
        }
    }
    for c in &add.classes {
        match out.classes.iter_mut().find(|x| x.name == c.name) {
            None => out.classes.push(c.clone()),
            Some(x) => {
                match (&mut x.constructor, &c.constructor) {
                    (None, Some(p)) => x.constructor = Some(p.clone()),
                    (Some(mine), Some(theirs)) => merge_params(mine, theirs),
                    _ => {}
                }
                for m in &c.methods {
                    match x.methods.iter_mut().find(|y| y.name == m.name) {
                        None => x.methods.push(m.clone()),
                        Some(y) => merge_params(&mut y.params, &m.params),
                    }
                }
                for p in &c.properties {
                    if !x.properties.iter().any(|y| y.name == p.name) {
                        x.properties.push(p.clone());
                    }
                }
                for e in &c.events {
                    if !x.events.contains(e) {
                        x.events.push(e.clone());
                    }
                }
            }
        }
    }
    for t in &add.types {
        match out.types.iter_mut().find(|x| x.name() == t.name()) {
            None => out.types.push(t.clone()),
            Some(x) => match (x, t) {
                (TypeDef::Enum { values: mine, .. }, TypeDef::Enum { values: theirs, .. }) => {
                    for v in theirs {
                        if !mine.contains(v) {
                            mine.push(v.clone());
                        }
                    }
                }
                (TypeDef::Struct { fields: mine, .. }, TypeDef::Struct { fields: theirs, .. }) => {
                    merge_params(mine, theirs)
                }
                _ => {}
            },
        }
    }
    for e in &add.events {
        match out.events.iter_mut().find(|x| x.name == e.name) {
            None => out.events.push(e.clone()),
            Some(x) => merge_params(&mut x.properties, &e.properties),
        }
    }
    for m in &add.modules {
        if !out.modules.iter().any(|x| x.name == m.name) {
            out.modules.push(m.clone());
        }
    }
    let classes = out.classes.clone();
    for m in &mut out.modules {
        m.factories = factories(&classes, &m.name);
    }
    out
}

/// Params a newer generation adds are appended; a 6.18 client never sends them, so they must not
/// become required.
fn merge_params(mine: &mut Vec<ParamDef>, theirs: &[ParamDef]) {
    for p in theirs {
        if !mine.iter().any(|x| x.name == p.name) {
            let mut p = p.clone();
            p.optional = true;
            mine.push(p);
        }
    }
}

fn digest(version: KmdVersion, g: &Model) -> VersionDigest {
    let classes = g
        .classes
        .iter()
        .map(|c| ClassDigest {
            name: c.name.clone(),
            is_abstract: c.is_abstract,
            methods: c.methods.iter().map(|m| m.name.clone()).collect(),
            getters: c.properties.iter().map(PropertyDef::getter_name).collect(),
            setters: c
                .properties
                .iter()
                .filter(|p| p.settable())
                .map(PropertyDef::setter_name)
                .collect(),
            events: c.events.clone(),
        })
        .collect();
    let mut enums = Vec::new();
    let mut structs = Vec::new();
    for t in &g.types {
        match t {
            TypeDef::Enum { name, .. } => enums.push(name.clone()),
            TypeDef::Struct { name, .. } => structs.push(name.clone()),
        }
    }
    VersionDigest {
        version,
        modules: g
            .modules
            .iter()
            .map(|m| (m.name.clone(), m.version.clone()))
            .collect(),
        classes,
        event_types: g.events.iter().map(|e| e.name.clone()).collect(),
        abstract_events: g
            .events
            .iter()
            .filter(|e| {
                g.events
                    .iter()
                    .any(|x| x.extends.as_deref() == Some(e.name.as_str()))
            })
            .map(|e| e.name.clone())
            .collect(),
        enums,
        structs,
    }
}

/// Where the committed digest lives, relative to the crate.
pub const MODEL_JSON_PATH: &str = "src/model/kmd-model.json";

/// The digest as committed: pretty JSON plus a final newline.
pub fn to_committed_json(model: &Model) -> Result<String, String> {
    serde_json::to_string_pretty(model)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;
    use std::path::PathBuf;

    fn kmd_dir() -> PathBuf {
        match std::env::var_os("KURENTO_KMD_DIR") {
            Some(d) => PathBuf::from(d),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/kurento-kmd"),
        }
    }

    #[test]
    fn kmd_model_is_current() {
        let dir = kmd_dir();
        if !dir.join("core.kmd.json").is_file() {
            // KMS's kmd files are not in this repository (only the model made from them).
            crate::test_skip::skipped(
                "kmd_model_is_current",
                &format!(
                    "no kmd files at {} (set KURENTO_KMD_DIR to check {MODEL_JSON_PATH})",
                    dir.display()
                ),
                false,
            );
            return;
        }
        let model = generate(&dir).unwrap();
        let json = to_committed_json(&model).unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(MODEL_JSON_PATH);
        if std::env::var("UPDATE_KMD_MODEL").as_deref() == Ok("1") {
            std::fs::write(&path, &json).unwrap();
            eprintln!("wrote {}", path.display());
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == json,
            "{MODEL_JSON_PATH} is stale: run `UPDATE_KMD_MODEL=1 cargo test -p kurento-protocol kmd_model_is_current`"
        );
    }

    #[test]
    fn cleaning_handles_comments_and_control_chars() {
        let raw = "{\"a\": \"x\ny\t\", // comment \"quoted\"\n \"b\": [\"//not a comment\", \"\\\"\"] // end\n}";
        let v: Value = serde_json::from_str(&clean_json(raw)).unwrap();
        assert_eq!(v["a"], "x\ny\t");
        assert_eq!(v["b"][0], "//not a comment");
        assert_eq!(v["b"][1], "\"");
    }

    #[test]
    fn defaults_are_normalized() {
        assert_eq!(
            normalize_default("int", &Value::from("2000")),
            Value::from(2000)
        );
        assert_eq!(
            normalize_default("float", &Value::from("0.5")),
            Value::from(0.5)
        );
        assert_eq!(
            normalize_default("boolean", &Value::from("true")),
            Value::Bool(true)
        );
        assert_eq!(
            normalize_default("SDES", &Value::from("{}")),
            Value::Object(Map::new())
        );
        assert_eq!(
            normalize_default("MediaProfileSpecType", &Value::from("WEBM")),
            Value::from("WEBM")
        );
        assert_eq!(
            normalize_default("String", &Value::from("")),
            Value::from("")
        );
        assert_eq!(normalize_default("int", &Value::from(-1)), Value::from(-1));
    }
}
