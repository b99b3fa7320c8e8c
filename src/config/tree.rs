//! The merged configuration tree, built the way KMS builds its boost `ptree`, plus the origin of every
//! leaf so that a bad value can be reported as "this file, this key".
//!
//! Values read from INI files are strings, and KMS's own JSON files quote numbers (`"exceptionLimit":
//! "0.8"`), because boost stores everything as text. The typed getters therefore accept a number or
//! boolean written either bare or as a string. An empty value counts as "not set".

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::error::{ConfigError, ValueSource};

/// Where one leaf of the tree came from, and how the user spelled its key there.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub(crate) source: ValueSource,
    pub(crate) key: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ConfigTree {
    root: Value,
    origins: HashMap<String, Origin>,
}

impl Default for ConfigTree {
    fn default() -> Self {
        ConfigTree {
            root: Value::Object(Map::new()),
            origins: HashMap::new(),
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

impl ConfigTree {
    /// Merges `value` (an object) into the tree at dotted `prefix`, like KMS's `mergePropertyTrees`:
    /// objects merge key by key, scalars and arrays replace. Keys in `origins` are recorded relative to
    /// the file, i.e. without `prefix`.
    pub(crate) fn merge_at(&mut self, prefix: &str, value: Value, source: &ValueSource) {
        self.record_origins(prefix, "", &value, source);
        let mut wrapped = value;
        for part in prefix.split('.').filter(|p| !p.is_empty()).rev() {
            let mut map = Map::new();
            map.insert(part.to_owned(), wrapped);
            wrapped = Value::Object(map);
        }
        merge_values(&mut self.root, wrapped);
    }

    fn record_origins(&mut self, prefix: &str, key: &str, value: &Value, source: &ValueSource) {
        // Objects are recorded too, so a user who wrote an object where a number belongs still gets
        // told which file it is in.
        if !key.is_empty() {
            self.origins.insert(
                join(prefix, key),
                Origin {
                    source: source.clone(),
                    key: key.to_owned(),
                },
            );
        }
        if let Value::Object(map) = value {
            for (k, v) in map {
                self.record_origins(prefix, &join(key, k), v, source);
            }
        }
    }

    /// Sets one leaf, e.g. from an environment variable.
    pub(crate) fn set(&mut self, path: &str, value: Value, origin: Origin) {
        let (prefix, last) = match path.rsplit_once('.') {
            Some((prefix, last)) => (prefix, last),
            None => ("", path),
        };
        let mut map = Map::new();
        map.insert(last.to_owned(), value);
        let mut wrapped = Value::Object(map);
        for part in prefix.split('.').filter(|p| !p.is_empty()).rev() {
            let mut map = Map::new();
            map.insert(part.to_owned(), wrapped);
            wrapped = Value::Object(map);
        }
        merge_values(&mut self.root, wrapped);
        self.origins.insert(path.to_owned(), origin);
    }

    /// The raw value at a dotted path, if any.
    pub(crate) fn get(&self, path: &str) -> Option<&Value> {
        path.split('.')
            .try_fold(&self.root, |node, part| node.as_object()?.get(part))
    }

    /// Where the value at `path` came from.
    pub(crate) fn origin(&self, path: &str) -> Origin {
        self.origins.get(path).cloned().unwrap_or(Origin {
            source: ValueSource::BuiltIn,
            key: path.to_owned(),
        })
    }

    /// An error about the value at `path`, naming its file/variable and key.
    pub(crate) fn invalid(&self, path: &str, problem: String) -> ConfigError {
        let Origin { source, key } = self.origin(path);
        ConfigError::InvalidValue {
            source,
            key,
            problem,
        }
    }

    /// The value at `path`, with null and empty strings treated as absent.
    fn present(&self, path: &str) -> Option<&Value> {
        match self.get(path)? {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            v => Some(v),
        }
    }

    /// A scalar as text (numbers and booleans are accepted, boost would hold them as text too).
    pub(crate) fn string(&self, path: &str) -> Result<Option<String>, ConfigError> {
        match self.present(path) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => {
                Err(self.invalid(path, format!("expected a string, got {}", kind(other))))
            }
        }
    }

    /// An unsigned integer in `min..=max`.
    pub(crate) fn uint(&self, path: &str, min: u64, max: u64) -> Result<Option<u64>, ConfigError> {
        let Some(value) = self.present(path) else {
            return Ok(None);
        };
        let parsed = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(self.invalid(
                path,
                format!("expected an integer {min}-{max}, got {}", shown(value)),
            )),
        }
    }

    /// A port number 0-65535.
    pub(crate) fn port(&self, path: &str) -> Result<Option<u16>, ConfigError> {
        let Some(value) = self.present(path) else {
            return Ok(None);
        };
        let parsed = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match parsed.and_then(|n| u16::try_from(n).ok()) {
            Some(port) => Ok(Some(port)),
            None => Err(self.invalid(
                path,
                format!("expected a port number 0-65535, got {}", shown(value)),
            )),
        }
    }

    /// A finite, non-negative number.
    pub(crate) fn fraction(&self, path: &str) -> Result<Option<f64>, ConfigError> {
        let Some(value) = self.present(path) else {
            return Ok(None);
        };
        let parsed = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match parsed {
            Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(f)),
            _ => Err(self.invalid(
                path,
                format!(
                    "expected a non-negative number such as 0.8, got {}",
                    shown(value)
                ),
            )),
        }
    }

    /// A boolean: `true`/`false`, `1`/`0` (what boost's `get<bool>` accepts), any case.
    pub(crate) fn boolean(&self, path: &str) -> Result<Option<bool>, ConfigError> {
        let Some(value) = self.present(path) else {
            return Ok(None);
        };
        let parsed = match value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_u64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| {
            self.invalid(
                path,
                format!("expected true/false or 1/0, got {}", shown(value)),
            )
        })
    }
}

/// KMS's `mergePropertyTrees`: objects merge recursively, everything else replaces.
pub(crate) fn merge_values(dst: &mut Value, src: Value) {
    match (dst, src) {
        (Value::Object(dst_map), Value::Object(src_map)) => {
            for (k, v) in src_map {
                match dst_map.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_values(existing, v)
                    }
                    _ => {
                        dst_map.insert(k, v);
                    }
                }
            }
        }
        (dst, src) => *dst = src,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The offending value as the user would recognise it, shortened so a huge array cannot flood the log.
pub(crate) fn shown(value: &Value) -> String {
    match value {
        Value::Array(_) | Value::Object(_) => kind(value).to_owned(),
        other => {
            let text = other.to_string();
            if text.chars().count() > 80 {
                let cut: String = text.chars().take(77).collect();
                format!("{cut}...")
            } else {
                text
            }
        }
    }
}
