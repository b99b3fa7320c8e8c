//! A minimal Kurento JSON-RPC client over one WebSocket: concurrent requests matched by id,
//! `onEvent` notifications routed to a channel per object id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, warn};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;
type Subscribers = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Value>>>>;

/// Same limit as kurento-client's default `request_timeout`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Rpc {
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    subscribers: Subscribers,
    next_id: AtomicU64,
    session: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking holder cannot leave these maps inconsistent (single insert/remove calls).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Rpc {
    pub async fn connect(url: &str) -> Result<Arc<Rpc>, String> {
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(url),
        )
        .await
        .map_err(|_| format!("{url}: WebSocket connect timed out"))?
        .map_err(|e| format!("{url}: {e}"))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let pending: Pending = Arc::default();
        let subscribers: Subscribers = Arc::default();

        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                let close = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || close {
                    break;
                }
            }
        });
        let (p, s) = (pending.clone(), subscribers.clone());
        tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                let Message::Text(t) = m else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&t) else {
                    warn!("unparsable message from server: {t}");
                    continue;
                };
                if v.get("method").and_then(Value::as_str) == Some("onEvent") {
                    let value = &v["params"]["value"];
                    if let Some(obj) = value["object"].as_str() {
                        if let Some(tx) = lock(&s).get(obj) {
                            let _ = tx.send(value.clone());
                        }
                    }
                    continue;
                }
                let Some(id) = v.get("id").and_then(Value::as_u64) else {
                    continue;
                };
                let Some(tx) = lock(&p).remove(&id) else {
                    continue;
                };
                let r = match (v.get("result"), v.get("error")) {
                    (Some(r), _) => Ok(r.clone()),
                    (_, Some(e)) => Err(e.to_string()),
                    _ => Err(format!("malformed response {v}")),
                };
                let _ = tx.send(r);
            }
            // Dropping the senders fails every outstanding call at once.
            lock(&p).clear();
            debug!("WebSocket closed");
        });
        Ok(Arc::new(Rpc {
            out,
            pending,
            subscribers,
            next_id: AtomicU64::new(0),
            session: Mutex::new(None),
        }))
    }

    pub async fn call(
        &self,
        method: &str,
        mut params: Map<String, Value>,
    ) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = lock(&self.session).clone() {
            params.insert("sessionId".into(), Value::String(s));
        }
        let req = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id});
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        self.out
            .send(Message::text(req.to_string()))
            .map_err(|_| "WebSocket closed".to_string())?;
        let r = tokio::time::timeout(REQUEST_TIMEOUT, rx).await;
        lock(&self.pending).remove(&id);
        let result = match r {
            Err(_) => return Err(format!("{method}: request timed out")),
            Ok(Err(_)) => return Err(format!("{method}: WebSocket closed")),
            Ok(Ok(r)) => r.map_err(|e| format!("{method}: {e}"))?,
        };
        if let Some(s) = result.get("sessionId").and_then(Value::as_str) {
            let mut cur = lock(&self.session);
            if cur.as_deref() != Some(s) {
                *cur = Some(s.to_string());
            }
        }
        Ok(result)
    }

    pub async fn create(&self, ty: &str, ctor: Value) -> Result<String, String> {
        let mut p = Map::new();
        p.insert("type".into(), ty.into());
        p.insert("constructorParams".into(), ctor);
        p.insert("properties".into(), json!({}));
        let r = self.call("create", p).await?;
        r["value"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("create {ty}: no object id in {r}"))
    }

    pub async fn invoke(
        &self,
        object: &str,
        op: &str,
        params: Option<Value>,
    ) -> Result<Value, String> {
        let mut p = Map::new();
        p.insert("object".into(), object.into());
        p.insert("operation".into(), op.into());
        if let Some(op_params) = params {
            p.insert("operationParams".into(), op_params);
        }
        let r = self.call("invoke", p).await?;
        Ok(r.get("value").cloned().unwrap_or(Value::Null))
    }

    /// Routes `onEvent` notifications of `object` to the returned channel, then subscribes.
    pub async fn subscribe(
        &self,
        object: &str,
        ty: &str,
    ) -> Result<mpsc::UnboundedReceiver<Value>, String> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.subscribers).insert(object.to_string(), tx);
        let mut p = Map::new();
        p.insert("object".into(), object.into());
        p.insert("type".into(), ty.into());
        self.call("subscribe", p).await?;
        Ok(rx)
    }

    pub async fn release(&self, object: &str) -> Result<(), String> {
        lock(&self.subscribers).retain(|k, _| !k.starts_with(object));
        let mut p = Map::new();
        p.insert("object".into(), object.into());
        self.call("release", p).await.map(|_| ())
    }

    pub fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }
}
