//! ServerManager (`manager_ServerManager`): server info, pipelines, sessions, kmd, CPU and memory.

use super::class::ClassBehaviour;
use super::{MediaObject, Outcome, Registry, ServerFacts};
use kurento_protocol::model::{self, marshal::complex};
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{json, Map, Value};

/// The version reported to clients: the KMS generation whose protocol we implement.
pub const KMS_VERSION: &str = "6.18.1";

fn invoke(
    reg: &mut Registry,
    _id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    match method {
        "getKmd" => {
            let name = p
                .get("moduleName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let m = model::model();
            if !m.modules.iter().any(|x| x.name == name) {
                return Err(RpcError::new(
                    ErrorKind::ServerManagerErrorKmdNotFound,
                    format!("Kmd file for module '{name}' not found"),
                ));
            }
            // Our digest of the module's interface (classes it declares), as JSON text.
            let classes: Vec<&model::ClassDef> =
                m.classes.iter().filter(|c| c.module == name).collect();
            let text = serde_json::to_string(
                &json!({"name": name, "version": KMS_VERSION, "remoteClasses": classes}),
            )
            .map_err(RpcError::internal)?;
            Outcome::value(text)
        }
        "getCpuCount" => Outcome::value(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as i64,
        ),
        "getUsedCpu" => {
            let interval = p
                .get("interval")
                .and_then(Value::as_i64)
                .unwrap_or(1000)
                .clamp(0, 10_000) as u64;
            Ok(Outcome::Pending(Box::pin(async move {
                let before = crate::sysinfo::process_cpu_seconds();
                let t0 = std::time::Instant::now();
                tokio::time::sleep(std::time::Duration::from_millis(interval.max(10))).await;
                let after = crate::sysinfo::process_cpu_seconds();
                let cores = std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1) as f64;
                let wall = t0.elapsed().as_secs_f64().max(1e-3);
                Ok(json!(((after - before) / wall / cores * 100.0) as f32))
            })))
        }
        "getUsedMemory" => Outcome::value(crate::sysinfo::rss_kib()),
        _ => {
            let _ = reg;
            Err(super::unimplemented::method("ServerManager", method))
        }
    }
}

pub(crate) fn server_info() -> Value {
    let m = model::model();
    let modules: Vec<Value> = m
        .modules
        .iter()
        .map(|md| {
            let mut f = Map::new();
            f.insert("version".into(), KMS_VERSION.into());
            f.insert("name".into(), md.name.clone().into());
            f.insert("generationTime".into(), "Nov 24 2026 00:00:00".into());
            f.insert("factories".into(), json!(md.factories));
            complex("ModuleInfo", f)
        })
        .collect();
    let mut f = Map::new();
    f.insert("version".into(), KMS_VERSION.into());
    f.insert("modules".into(), Value::Array(modules));
    f.insert("type".into(), "KMS".into());
    f.insert("capabilities".into(), json!(["transactions"]));
    complex("ServerInfo", f)
}

fn get(
    reg: &Registry,
    _obj: &MediaObject,
    prop: &str,
    facts: &ServerFacts,
) -> Option<Result<Outcome, RpcError>> {
    Some(Outcome::value(match prop {
        "info" => server_info(),
        "pipelines" => Value::Array(
            reg.pipelines()
                .into_iter()
                .map(|p| p.as_str().into())
                .collect(),
        ),
        "sessions" => json!(facts.sessions),
        "metadata" => {
            json!({"server": "kurento-media-server-rs", "version": env!("CARGO_PKG_VERSION")})
                .to_string()
                .into()
        }
        _ => return None,
    }))
}

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "ServerManager",
    implements: |_, _| true,
    invoke,
    get,
    ..ClassBehaviour::EMPTY
};
