//! `model::marshal` against every parameter list of the model (constructors, methods, setters,
//! event and struct fields) and every type name, with arbitrary JSON.
//!
//! Input: two bytes pick the list (or, past the lists, a single type for `unmarshal_value`); the
//! rest is the JSON text. Remote-object ids resolve to a class when they end in `.<ClassName>`
//! (KMS ids look like `<uuid>_kurento.WebRtcEndpoint`), so references can succeed as well as fail.
//!
//! Invariant: a value the marshaller accepted, fed back in, is accepted again unchanged (the output
//! is the normalized form the server stores and returns).

use kurento_protocol::model::marshal::{unmarshal_params, unmarshal_value, RefResolver};
use kurento_protocol::model::{model, ParamDef, TypeDef};
use serde_json::Value;
use std::sync::OnceLock;

struct Targets {
    lists: Vec<(String, Vec<ParamDef>)>,
    types: Vec<String>,
}

fn targets() -> &'static Targets {
    static T: OnceLock<Targets> = OnceLock::new();
    T.get_or_init(|| {
        let m = model();
        let mut lists = Vec::new();
        let mut types: Vec<String> = ["String", "int", "int64", "float", "double", "boolean"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for c in &m.classes {
            if let Some(ctor) = &c.constructor {
                lists.push((format!("{}()", c.name), ctor.clone()));
            }
            for meth in &c.methods {
                lists.push((format!("{}.{}", c.name, meth.name), meth.params.clone()));
                for p in &meth.params {
                    types.push(p.ty.clone());
                }
            }
            for p in &c.properties {
                if p.settable() {
                    if let Some(op) = m.find_operation(&c.name, &p.setter_name()) {
                        lists.push((format!("{}.{}", c.name, p.setter_name()), op.params()));
                    }
                }
                types.push(p.ty.clone());
            }
            types.push(c.name.clone());
        }
        for e in &m.events {
            lists.push((format!("event {}", e.name), e.properties.clone()));
        }
        for t in &m.types {
            if let TypeDef::Struct { name, fields, .. } = t {
                lists.push((format!("struct {name}"), fields.clone()));
            }
            types.push(t.name().to_string());
        }
        types.sort();
        types.dedup();
        let arrays: Vec<String> = types.iter().map(|t| format!("{t}[]")).collect();
        let maps: Vec<String> = types.iter().map(|t| format!("{t}<>")).collect();
        types.extend(arrays);
        types.extend(maps);
        Targets { lists, types }
    })
}

struct SuffixResolver;

impl RefResolver for SuffixResolver {
    fn class_of(&self, id: &str) -> Option<String> {
        let class = id.rsplit('.').next()?;
        model().class(class).map(|c| c.name.clone())
    }
}

pub fn run(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let t = targets();
    let sel = usize::from(u16::from_be_bytes([data[0], data[1]])) % (t.lists.len() + t.types.len());
    let Ok(v) = serde_json::from_slice::<Value>(&data[2..]) else {
        return;
    };
    if let Some((name, params)) = t.lists.get(sel) {
        let given = v.as_object();
        if let Ok(out) = unmarshal_params(params, given, &SuffixResolver) {
            let again = unmarshal_params(params, Some(&out), &SuffixResolver).unwrap_or_else(|e| {
                panic!("{name}: normalized params rejected: {e:?}\nin:  {v}\nout: {out:?}")
            });
            assert_eq!(
                again, out,
                "{name}: normalizing twice changed the params\nin: {v}"
            );
        }
    } else {
        let ty = &t.types[sel - t.lists.len()];
        if let Ok(out) = unmarshal_value(ty, "fuzz", &v, &SuffixResolver) {
            let again = unmarshal_value(ty, "fuzz", &out, &SuffixResolver).unwrap_or_else(|e| {
                panic!("{ty}: normalized value rejected: {e:?}\nin:  {v}\nout: {out}")
            });
            assert_eq!(
                again, out,
                "{ty}: normalizing twice changed the value\nin: {v}"
            );
        }
    }
}
