//! The whole JSON-RPC dispatcher (`Dispatcher::handle_text`) behind a fake connection: what any
//! WebSocket client can send.
//!
//! Byte 0: bit 0 picks the mode, bit 1 disables the request cache.
//! - Raw mode: the rest is text frames separated by `\n`.
//! - Structured mode: the rest drives a generator of Kurento requests that follow the model
//!   (creatable classes, their operations and events, params of the declared types, ids of
//!   objects and subscriptions the server returned earlier, transactions with `newref:`), with
//!   some fields replaced by arbitrary JSON. This reaches deep into the object model, which raw
//!   text rarely does.
//!
//! Media events raised by endpoints are pumped into the dispatcher as the server does. At the end
//! the socket closes and two GC passes release everything. Invariants: every frame we get back is
//! a JSON-RPC 2.0 object; a well-formed request with an id gets a reply with that id; nothing
//! hangs (see [`super::webrtc_common::CALL_TIMEOUT`]).

use super::bytes::Bytes;
use super::ice_candidate::OFFER;
use super::webrtc_common::endpoint_config;
use kurento_media_server::objects::MediaEnv;
use kurento_media_server::objects::Registry;
use kurento_media_server::rpc::dispatch::{DispatchConfig, Dispatcher};
use kurento_media_server::rpc::session::{ConnHandle, ConnId};
use kurento_protocol::ids::{NEWREF_PREFIX, SERVER_MANAGER_ID};
use kurento_protocol::model::{model, ParamDef, TypeDef};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Upper bound on frames per input: each WebRtcEndpoint binds sockets and spawns a task.
const MAX_FRAMES: usize = 24;

/// A request may legitimately wait up to 10 s (`getUsedCpu` sleeps for its `interval`, capped at
/// 10 000 ms by the server), so only a longer wait is a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// No new frame is sent after this much time, so that several legitimate waits in one input stay
/// below libFuzzer's per-input timeout (`-timeout=60` in scripts/fuzz.sh).
const INPUT_BUDGET: Duration = Duration::from_secs(12);

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let rt = super::runtime();
    rt.block_on(async {
        let (media_tx, mut media_rx) = mpsc::unbounded_channel();
        let mut opts = kurento_media_server::setup::default_options();
        opts.webrtc = endpoint_config();
        let env = Arc::new(MediaEnv {
            runtime: tokio::runtime::Handle::current(),
            rtp: kurento_media_server::objects::rtp_config(&opts.webrtc),
            webrtc: opts.webrtc,
            property_defaults: opts.property_defaults,
            uri_default_path: opts.uri_default_path,
            transcoding: opts.transcoding,
            http: Arc::new(
                kurento_media_server::http_endpoint::HttpEndpointServer::new(opts.http_endpoint),
            ),
            events: media_tx,
        });
        let d = Dispatcher::new(
            Registry::new(env),
            DispatchConfig {
                request_cache_ttl: if mode & 2 != 0 {
                    std::time::Duration::ZERO
                } else {
                    kurento_media_server::rpc::dispatch::REQUEST_CACHE_TTL
                },
                limits: kurento_media_server::config::Limits::default(),
            },
        );
        let (tx, mut rx) = mpsc::channel::<String>(4096);
        let conn = ConnHandle::new(ConnId(1), tx);
        let mut replies = Vec::new();
        let started = Instant::now();

        if mode & 1 == 0 {
            let text = String::from_utf8_lossy(rest).into_owned();
            for frame in text.split('\n').take(MAX_FRAMES) {
                if started.elapsed() > INPUT_BUDGET {
                    break;
                }
                step(&d, &conn, frame).await;
                pump(&d, &mut media_rx);
                collect(&mut rx, &mut replies, None);
            }
        } else {
            let mut g = Gen::new(rest);
            for _ in 0..MAX_FRAMES {
                if g.b.is_empty() || started.elapsed() > INPUT_BUDGET {
                    break;
                }
                let (frame, id) = g.next_frame();
                // A generated string is a raw frame, not a JSON string literal.
                let text = match &frame {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                step(&d, &conn, &text).await;
                pump(&d, &mut media_rx);
                let got = collect(&mut rx, &mut replies, id);
                for r in got {
                    g.learn(&r);
                }
            }
        }
        d.connection_closed(&conn);
        d.collect_garbage();
        d.collect_garbage();
        pump(&d, &mut media_rx);
        collect(&mut rx, &mut replies, None);
    });
}

async fn step(d: &Dispatcher, conn: &ConnHandle, frame: &str) {
    if trace() {
        eprintln!("-> {frame}");
    }
    tokio::time::timeout(REQUEST_TIMEOUT, d.handle_text(conn, frame))
        .await
        .unwrap_or_else(|_| panic!("no answer within {REQUEST_TIMEOUT:?} to {frame}"));
    // Let endpoint tasks run, so that what they raise is delivered as the server's pump does.
    tokio::task::yield_now().await;
}

/// `KMS_FUZZ_TRACE=1` prints every frame in and out, to see what a saved input does.
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("KMS_FUZZ_TRACE").is_some())
}

fn pump(
    d: &Dispatcher,
    media_rx: &mut mpsc::UnboundedReceiver<kurento_media_server::objects::ControlEvent>,
) {
    while let Ok(ev) = media_rx.try_recv() {
        d.media_event(ev);
    }
}

/// Reads what the server sent, checks it, and returns the replies (not events) among it.
fn collect(
    rx: &mut mpsc::Receiver<String>,
    all: &mut Vec<Value>,
    expect: Option<u64>,
) -> Vec<Value> {
    let mut got = Vec::new();
    while let Ok(text) = rx.try_recv() {
        if trace() {
            eprintln!("<- {text}");
        }
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("server sent a frame that is not JSON ({e}): {text}"));
        assert!(v.is_object(), "server sent a non-object: {text}");
        assert_eq!(
            v.get("jsonrpc"),
            Some(&json!("2.0")),
            "not JSON-RPC 2.0: {text}"
        );
        if v.get("method").is_none() {
            assert!(
                v.get("result").is_some() != v.get("error").is_some(),
                "a reply needs exactly one of result/error: {text}"
            );
            got.push(v.clone());
        }
        if all.len() < 256 {
            all.push(v);
        }
    }
    if let Some(id) = expect {
        assert!(
            got.iter().any(|r| r.get("id") == Some(&json!(id))),
            "no reply to request {id}; got {got:?}"
        );
    }
    got
}

/// Generates Kurento requests from fuzzer bytes, remembering what the server handed out.
struct Gen<'a> {
    b: Bytes<'a>,
    next_id: u64,
    /// (object id, bare class name) of objects the server created, plus the ServerManager.
    objects: Vec<(String, String)>,
    subscriptions: Vec<String>,
    sessions: Vec<String>,
    /// Request id → class of a pending `create`, to learn the id it returns.
    creating: Vec<(u64, String)>,
    subscribing: Vec<u64>,
}

const SAMPLE_STRINGS: &[&str] = &[
    "",
    "candidate:1 1 UDP 2122260223 127.0.0.1 54321 typ host",
    "candidate:2 1 TCP 1518280447 127.0.0.1 9 typ host tcptype active",
    "0",
    "1",
    "audio",
    "video",
    "VIDEO",
    "AUDIO",
    "DATA",
    "file:///dev/null",
    "127.0.0.1",
    "u:p@127.0.0.1:3478",
    "newref:0",
    "kurento.WebRtcEndpoint",
    "\u{0}",
    "\u{feff}é😀",
];

impl<'a> Gen<'a> {
    fn new(data: &'a [u8]) -> Self {
        Gen {
            b: Bytes::new(data),
            next_id: 0,
            objects: vec![(SERVER_MANAGER_ID.to_owned(), "ServerManager".to_owned())],
            subscriptions: Vec::new(),
            sessions: Vec::new(),
            creating: Vec::new(),
            subscribing: Vec::new(),
        }
    }

    fn learn(&mut self, reply: &Value) {
        let Some(id) = reply.get("id").and_then(Value::as_u64) else {
            return;
        };
        let result = reply.get("result");
        if let Some(sid) = result
            .and_then(|r| r.get("sessionId"))
            .and_then(Value::as_str)
        {
            if !self.sessions.iter().any(|s| s == sid) {
                self.sessions.push(sid.to_owned());
            }
        }
        let value = result.and_then(|r| r.get("value")).and_then(Value::as_str);
        if let Some(pos) = self.creating.iter().position(|(i, _)| *i == id) {
            let (_, class) = self.creating.remove(pos);
            if let Some(v) = value {
                self.objects.push((v.to_owned(), class));
            }
        }
        if let Some(pos) = self.subscribing.iter().position(|i| *i == id) {
            self.subscribing.remove(pos);
            if let Some(v) = value {
                self.subscriptions.push(v.to_owned());
            }
        }
    }

    fn string(&mut self) -> String {
        if self.b.u8() < 160 {
            self.b
                .pick(SAMPLE_STRINGS)
                .copied()
                .unwrap_or("")
                .to_owned()
        } else {
            self.b.string(40)
        }
    }

    /// Arbitrary JSON, depth-limited.
    fn any(&mut self, depth: u32) -> Value {
        match self.b.u8() % if depth == 0 { 6 } else { 8 } {
            0 => Value::Null,
            1 => Value::Bool(self.b.bool()),
            2 => json!(self.b.u64() as i64),
            3 => self
                .b
                .pick(&[
                    json!(0),
                    json!(-1),
                    json!(i32::MAX),
                    json!(i64::MIN),
                    json!(u64::MAX),
                    json!(0.5),
                    json!(1e300),
                    json!(-0.0),
                    json!(3.0),
                ])
                .unwrap_or(&Value::Null)
                .clone(),
            4 | 5 => Value::String(self.string()),
            6 => Value::Array((0..self.b.below(4)).map(|_| self.any(depth - 1)).collect()),
            _ => {
                let mut m = Map::new();
                for _ in 0..self.b.below(4) {
                    let k = self.string();
                    let v = self.any(depth - 1);
                    m.insert(k, v);
                }
                Value::Object(m)
            }
        }
    }

    fn object_of(&mut self, class: &str) -> Value {
        let m = model();
        let fitting: Vec<&(String, String)> = self
            .objects
            .iter()
            .filter(|(_, c)| m.is_a(c, class))
            .collect();
        match (self.b.u8() % 8, fitting.is_empty()) {
            (0, _) | (_, true) => match self.b.pick(&self.objects) {
                Some((id, _)) => Value::String(id.clone()),
                None => Value::String(self.string()),
            },
            _ => {
                let i = self.b.below(fitting.len());
                Value::String(fitting[i].0.clone())
            }
        }
    }

    /// A value for kmd type `ty`, mostly well-typed.
    fn value(&mut self, ty: &str, name: &str, depth: u32) -> Value {
        if depth == 0 || self.b.u8() < 20 {
            return self.any(depth.min(2));
        }
        if let Some(inner) = ty.strip_suffix("[]") {
            return Value::Array(
                (0..self.b.below(4))
                    .map(|_| self.value(inner, name, depth - 1))
                    .collect(),
            );
        }
        if let Some(inner) = ty.strip_suffix("<>") {
            let mut m = Map::new();
            for _ in 0..self.b.below(3) {
                let k = self.string();
                let v = self.value(inner, name, depth - 1);
                m.insert(k, v);
            }
            return Value::Object(m);
        }
        match ty {
            "String" => match name {
                "offer" | "answer" if self.b.bool() => Value::String(OFFER.replace('\n', "\r\n")),
                _ => Value::String(self.string()),
            },
            // getUsedCpu sleeps for `interval` ms: keep generated inputs fast.
            "int" if name == "interval" => json!(self.b.u8() % 50),
            "int" | "int64" => match self.b.u8() % 4 {
                0 => json!(self.b.u8()),
                1 => json!(self.b.u32() as i32),
                2 => json!(self.b.u64() as i64),
                _ => json!(self.b.u16()),
            },
            "float" | "double" => json!(f64::from(self.b.u32() as i32) / 16.0),
            "boolean" => Value::Bool(self.b.bool()),
            _ => {
                let m = model();
                match m.type_def(ty) {
                    Some(TypeDef::Enum { values, .. }) => {
                        let values = values.clone();
                        match self.b.pick(&values) {
                            Some(v) if self.b.u8() > 10 => Value::String(v.clone()),
                            _ => Value::String(self.string()),
                        }
                    }
                    Some(TypeDef::Struct { name: sname, .. }) => {
                        let sname = sname.clone();
                        let fields: Vec<ParamDef> =
                            m.struct_fields(&sname).into_iter().cloned().collect();
                        let mut obj = Map::new();
                        if self.b.u8() < 40 {
                            obj.insert("__type__".into(), Value::String(sname.clone()));
                            obj.insert("__module__".into(), json!("kurento"));
                        }
                        for f in &fields {
                            if f.optional && self.b.bool() {
                                continue;
                            }
                            let v = self.value(&f.ty, &f.name, depth - 1);
                            obj.insert(f.name.clone(), v);
                        }
                        Value::Object(obj)
                    }
                    None if m.class(ty).is_some() => self.object_of(ty),
                    None => self.any(1),
                }
            }
        }
    }

    fn params_for(&mut self, params: &[ParamDef]) -> Value {
        let mut obj = Map::new();
        for p in params {
            if p.optional && self.b.u8() < 100 {
                continue;
            }
            if !p.optional && self.b.u8() < 8 {
                continue;
            }
            let v = self.value(&p.ty, &p.name, 4);
            obj.insert(p.name.clone(), v);
        }
        Value::Object(obj)
    }

    fn session_field(&mut self, params: &mut Map<String, Value>) {
        match self.b.u8() % 4 {
            0 => {}
            1 => {
                params.insert("sessionId".into(), Value::String(self.string()));
            }
            _ => {
                if let Some(s) = self.b.pick(&self.sessions).cloned() {
                    params.insert("sessionId".into(), Value::String(s));
                }
            }
        }
    }

    fn create_params(&mut self) -> (String, Map<String, Value>) {
        let m = model();
        let classes: Vec<&str> = m
            .creatable_classes()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let class = if self.b.u8() < 12 {
            self.string()
        } else {
            self.b
                .pick(&classes)
                .copied()
                .unwrap_or("MediaPipeline")
                .to_owned()
        };
        let ctor: Vec<ParamDef> = m
            .class(&class)
            .and_then(|c| c.constructor.clone())
            .unwrap_or_default();
        let mut p = Map::new();
        p.insert("type".into(), Value::String(class.clone()));
        p.insert("constructorParams".into(), self.params_for(&ctor));
        if self.b.u8() < 30 {
            p.insert("properties".into(), self.any(2));
        }
        (class, p)
    }

    fn invoke_params(&mut self) -> Map<String, Value> {
        let m = model();
        let (object, class) = self
            .b
            .pick(&self.objects)
            .cloned()
            .unwrap_or_else(|| (SERVER_MANAGER_ID.to_owned(), "ServerManager".to_owned()));
        let mut ops: Vec<String> = Vec::new();
        for c in m.hierarchy(&class) {
            ops.extend(c.methods.iter().map(|x| x.name.clone()));
            ops.extend(c.properties.iter().map(|x| x.getter_name()));
            ops.extend(
                c.properties
                    .iter()
                    .filter(|x| x.settable())
                    .map(|x| x.setter_name()),
            );
        }
        let op = match self.b.pick(&ops) {
            Some(o) if self.b.u8() > 8 => o.clone(),
            _ => self.string(),
        };
        let params = m
            .find_operation(&class, &op)
            .map(|o| o.params())
            .unwrap_or_default();
        let mut p = Map::new();
        p.insert("object".into(), Value::String(object));
        p.insert("operation".into(), Value::String(op));
        if !params.is_empty() || self.b.bool() {
            p.insert("operationParams".into(), self.params_for(&params));
        }
        p
    }

    fn subscribe_params(&mut self) -> Map<String, Value> {
        let m = model();
        let (object, class) = self
            .b
            .pick(&self.objects)
            .cloned()
            .unwrap_or_else(|| (SERVER_MANAGER_ID.to_owned(), "ServerManager".to_owned()));
        let events: Vec<String> = m
            .hierarchy(&class)
            .iter()
            .flat_map(|c| c.events.clone())
            .collect();
        let ty = match self.b.pick(&events) {
            Some(e) if self.b.u8() > 8 => e.clone(),
            _ => self.string(),
        };
        let mut p = Map::new();
        p.insert("object".into(), Value::String(object));
        p.insert("type".into(), Value::String(ty));
        p
    }

    /// The next request frame, and the id a reply must carry (None when it was mangled).
    fn next_frame(&mut self) -> (Value, Option<u64>) {
        let id = self.next_id;
        self.next_id += 1;
        let (method, mut params) = match self.b.u8() % 16 {
            0..=2 => {
                let (class, p) = self.create_params();
                self.creating.push((id, class));
                ("create", p)
            }
            3..=7 => ("invoke", self.invoke_params()),
            8 => {
                self.subscribing.push(id);
                ("subscribe", self.subscribe_params())
            }
            9 => {
                let mut p = Map::new();
                if let Some(s) = self.b.pick(&self.subscriptions).cloned() {
                    p.insert("subscription".into(), Value::String(s));
                }
                if let Some((o, _)) = self.b.pick(&self.objects).cloned() {
                    p.insert("object".into(), Value::String(o));
                }
                ("unsubscribe", p)
            }
            10 => {
                let mut p = Map::new();
                if let Some((o, _)) = self.b.pick(&self.objects).cloned() {
                    p.insert("object".into(), Value::String(o));
                }
                let method = *self
                    .b
                    .pick(&["release", "ref", "unref", "describe"])
                    .unwrap_or(&"release");
                (method, p)
            }
            11 => {
                let method = *self
                    .b
                    .pick(&["ping", "connect", "keepAlive", "closeSession"])
                    .unwrap_or(&"ping");
                let mut p = Map::new();
                if self.b.bool() {
                    p.insert("interval".into(), self.value("int", "interval", 1));
                }
                (method, p)
            }
            12 => ("transaction", self.transaction()),
            13 => {
                // A raw frame from the input, no id expectations.
                let text = self.b.string(200);
                return (Value::String(text), None);
            }
            _ => {
                let (frame, _) = self.next_frame_plain();
                let mut frame = frame;
                self.mangle(&mut frame, 3);
                return (frame, None);
            }
        };
        self.session_field(&mut params);
        (
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
            Some(id),
        )
    }

    /// A create or invoke, to be mangled.
    fn next_frame_plain(&mut self) -> (Value, Option<u64>) {
        let id = self.next_id;
        self.next_id += 1;
        let (method, params) = if self.b.bool() {
            let (class, p) = self.create_params();
            self.creating.push((id, class));
            ("create", p)
        } else {
            ("invoke", self.invoke_params())
        };
        (
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
            Some(id),
        )
    }

    fn transaction(&mut self) -> Map<String, Value> {
        let n = self.b.below(5);
        let mut ops = Vec::new();
        for i in 0..n {
            let (method, mut p) = match self.b.u8() % 3 {
                0 => ("create", self.create_params().1),
                1 => ("invoke", self.invoke_params()),
                _ => ("release", Map::new()),
            };
            if i > 0 && self.b.bool() {
                // Refer to an earlier operation's result.
                let k = self.b.below(i);
                let field = if method == "create" {
                    "constructorParams"
                } else {
                    "object"
                };
                let r = Value::String(format!("{NEWREF_PREFIX}{k}"));
                match p.get_mut(field) {
                    Some(Value::Object(cp)) => {
                        cp.insert("mediaPipeline".into(), r);
                    }
                    _ => {
                        p.insert(field.into(), r);
                    }
                }
            }
            let op_id = if self.b.u8() < 8 {
                self.any(0)
            } else {
                json!(i)
            };
            ops.push(json!({"jsonrpc": "2.0", "id": op_id, "method": method, "params": p}));
        }
        let mut p = Map::new();
        p.insert("operations".into(), Value::Array(ops));
        p
    }

    /// Replaces, removes or retypes a few spots of `v`.
    fn mangle(&mut self, v: &mut Value, times: u32) {
        for _ in 0..times {
            self.mangle_once(v, 6);
        }
    }

    fn mangle_once(&mut self, v: &mut Value, depth: u32) {
        match v {
            Value::Object(m) if depth > 0 && !m.is_empty() && self.b.u8() < 200 => {
                let keys: Vec<String> = m.keys().cloned().collect();
                let k = keys[self.b.below(keys.len())].clone();
                match self.b.u8() % 4 {
                    0 => {
                        m.remove(&k);
                    }
                    1 => {
                        let x = self.any(2);
                        m.insert(k, x);
                    }
                    _ => {
                        if let Some(child) = m.get_mut(&k) {
                            self.mangle_once(child, depth - 1);
                        }
                    }
                }
            }
            Value::Array(a) if depth > 0 && !a.is_empty() && self.b.u8() < 200 => {
                let i = self.b.below(a.len());
                self.mangle_once(&mut a[i], depth - 1);
            }
            _ => *v = self.any(2),
        }
    }
}
