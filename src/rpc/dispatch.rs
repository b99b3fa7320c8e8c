//! Request dispatch: decodes a frame, runs one of the 13 methods with KMS's semantics, binds the
//! socket to the session of the result, caches replies by (session, request id), and delivers
//! the events the operation raised. Errors of every layer become wire errors here.

use super::events::Subscriptions;
use super::session::{ConnHandle, Sessions};
use crate::objects::{Outcome, RaisedEvent, Registry, ServerFacts};
use kurento_protocol::methods::Method;
use kurento_protocol::model::marshal::{unmarshal_params, unmarshal_value, RefResolver};
use kurento_protocol::model::{self, Operation};
use kurento_protocol::params::Params;
use kurento_protocol::{ids, jsonrpc, ErrorKind, ObjectId, RpcError, SessionId, SubscriptionId};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// How long a reply stays in the duplicate-request cache by default (KMS: 20 s).
pub const REQUEST_CACHE_TTL: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// How long replies are kept for retries; zero disables the cache.
    pub request_cache_ttl: Duration,
    pub limits: crate::config::Limits,
}

pub struct State {
    limits: crate::config::Limits,
    pub sessions: Sessions,
    pub registry: Registry,
    pub subscriptions: Subscriptions,
    /// (session, request id) → (when, the request as received, the reply).
    cache: HashMap<CacheKey, (Instant, String, String)>,
    /// Cache keys in insertion order, so expiry pops from the front instead of scanning the map.
    cache_order: VecDeque<(Instant, CacheKey)>,
    /// Objects were released or cached replies expired since the garbage collector last ran.
    freed: bool,
}

type CacheKey = (SessionId, String);

pub struct Dispatcher {
    state: Mutex<State>,
    server_id: String,
    cfg: DispatchConfig,
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

struct Resolver<'a>(&'a Registry);

impl RefResolver for Resolver<'_> {
    fn class_of(&self, id: &str) -> Option<String> {
        self.0
            .get(&ObjectId::from_wire(id))
            .map(|o| o.class.name.clone())
    }
}

/// What a method produced before the registry lock was released.
enum Step {
    Done(Result<Value, RpcError>),
    /// Waits on the media side; the closure builds the result object from the operation's value.
    Wait(
        crate::objects::BoxFuture<Result<Value, RpcError>>,
        SessionId,
    ),
}

impl Dispatcher {
    pub fn new(registry: Registry, cfg: DispatchConfig) -> Arc<Self> {
        Arc::new(Dispatcher {
            state: Mutex::new(State {
                limits: cfg.limits,
                sessions: Sessions::default(),
                registry,
                subscriptions: Subscriptions::default(),
                cache: HashMap::new(),
                cache_order: VecDeque::new(),
                freed: false,
            }),
            server_id: new_uuid(),
            cfg,
        })
    }

    /// The state lock. A panic while it was held is a bug, but must not take every later request
    /// down with it, so a poisoned lock is recovered.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What exists now, for the metrics.
    pub fn census(&self) -> crate::metrics::Census {
        let st = self.lock();
        let (pipelines, elements, transcoders) = st.registry.census();
        crate::metrics::Census {
            sessions: st.sessions.len(),
            pipelines,
            elements,
            transcoders,
        }
    }

    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// Handles one text frame from a connection.
    pub async fn handle_text(&self, conn: &ConnHandle, text: &str) {
        if tracing::enabled!(tracing::Level::TRACE) {
            tracing::trace!(conn = conn.id.0, "<- {}", redact_credentials(text));
        }
        let req = match jsonrpc::Request::decode(text) {
            Ok(r) => r,
            Err(e) => {
                debug!(code = e.error.code(), "undecodable request");
                crate::metrics::request("", Some(e.error.code()));
                conn.send_value(&jsonrpc::response_err(e.id.as_ref(), &e.error));
                return;
            }
        };
        let reply = self
            .handle_request(conn, req.id.clone(), &req.method, req.params)
            .await;
        match &reply {
            Some(Ok(_)) => crate::metrics::request(&req.method, None),
            Some(Err(e)) => crate::metrics::request(&req.method, Some(e.code())),
            None => {}
        }
        if let (Some(id), Some(reply)) = (req.id, reply) {
            let v = match reply {
                Ok(result) => jsonrpc::response_ok(&id, result),
                Err(e) => jsonrpc::response_err(Some(&id), &e),
            };
            conn.send_value(&v);
        }
    }

    /// Answers a request that arrived while the connection already had `limit` in flight.
    pub fn refuse_in_flight(&self, conn: &ConnHandle, text: &str, limit: usize) {
        let err = limit_error("maxRequestsInFlight", limit);
        match jsonrpc::Request::decode(text) {
            // A notification has no reply to carry the refusal.
            Ok(req) => {
                if let Some(id) = req.id {
                    conn.send_value(&jsonrpc::response_err(Some(&id), &err));
                }
            }
            Err(e) => conn.send_value(&jsonrpc::response_err(e.id.as_ref(), &e.error)),
        }
    }

    async fn handle_request(
        &self,
        conn: &ConnHandle,
        id: Option<Value>,
        method_name: &str,
        params: Option<Value>,
    ) -> Option<Result<Value, RpcError>> {
        let Some(method) = Method::from_name(method_name) else {
            return Some(Err(RpcError::method_not_found()));
        };
        let mut params = if method.params_optional() {
            Params::optional(params.as_ref())
        } else {
            match Params::required(params.as_ref()) {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            }
        };
        // KMS puts the connection's session into requests that carry none (except a bare connect).
        if params.get("sessionId").is_none() && method != Method::Connect {
            if let Some(sid) = self.lock().sessions.session_of_conn(conn.id).cloned() {
                params.0.insert("sessionId".into(), sid.as_str().into());
            }
        }
        let cache_key = match (&id, params.get("sessionId").and_then(Value::as_str)) {
            (Some(rid), Some(sid))
                if !self.cfg.request_cache_ttl.is_zero() && method != Method::Ping =>
            {
                Some((SessionId::from_wire(sid), rid.to_string()))
            }
            _ => None,
        };
        // A retry repeats the request exactly; a new request that merely reuses an id (a second
        // client adopting the session counts from 0 again) must not be answered from the cache.
        let fingerprint = format!("{method_name}{}", Value::Object(params.0.clone()));
        if let Some(key) = &cache_key {
            let mut st = self.lock();
            st.expire_cache(self.cfg.request_cache_ttl);
            if let Some((_, _, cached)) =
                st.cache.get(key).filter(|(_, req, _)| *req == fingerprint)
            {
                debug!(
                    method = method_name,
                    "duplicate request answered from the cache"
                );
                return Some(serde_json::from_str(cached).map_err(RpcError::internal));
            }
        }
        let result = self.execute(conn, method, params).await;
        if let Ok(r) = &result {
            if let Some(sid) = r.get("sessionId").and_then(Value::as_str) {
                let mut st = self.lock();
                st.sessions.bind(conn, &SessionId::from_wire(sid));
            }
            if let Some(key) = cache_key {
                let now = Instant::now();
                let mut st = self.lock();
                st.cache_order.push_back((now, key.clone()));
                st.cache.insert(key, (now, fingerprint, r.to_string()));
            }
        }
        Some(result)
    }

    /// Runs one method. Boxed because transactions run methods recursively.
    fn execute<'a>(
        &'a self,
        conn: &'a ConnHandle,
        method: Method,
        params: Params,
    ) -> crate::objects::BoxFutureRef<'a, Result<Value, RpcError>> {
        Box::pin(async move {
            if method == Method::Transaction {
                return self.transaction(conn, params).await;
            }
            let step = {
                let mut st = self.lock();
                let step = st.run(self, conn, method, &params);
                st.flush_events();
                step
            };
            match step {
                Step::Done(r) => r,
                Step::Wait(fut, sid) => {
                    let value = fut.await;
                    let mut st = self.lock();
                    st.flush_events();
                    value.map(|v| json!({"value": v, "sessionId": sid.as_str()}))
                }
            }
        })
    }

    async fn transaction(&self, conn: &ConnHandle, params: Params) -> Result<Value, RpcError> {
        let ops = params.array("operations")?.clone();
        let sid = match params.opt_str("sessionId")? {
            Some(s) => SessionId::from_wire(s),
            None => SessionId::from_wire(&new_uuid()),
        };
        self.lock().sessions.get_or_create(&sid);
        let mut responses: Vec<Value> = Vec::with_capacity(ops.len());
        for (i, op) in ops.into_iter().enumerate() {
            let req = jsonrpc::Request::from_value(op).map_err(|e| e.error)?;
            if req.id.as_ref().and_then(Value::as_u64) != Some(i as u64) {
                return Err(RpcError::new(
                    ErrorKind::MalformedTransaction,
                    format!("Id of request '{i}' should be '{i}'"),
                ));
            }
            let mut p = req.params.unwrap_or_else(|| Value::Object(Map::new()));
            replace_newrefs(&mut p, &responses)?;
            let Value::Object(mut pm) = p else {
                return Err(RpcError::new(
                    ErrorKind::MalformedTransaction,
                    format!("Params of request '{i}' should be an object"),
                ));
            };
            pm.insert("sessionId".into(), sid.as_str().into());
            let result = match Method::from_name(&req.method) {
                Some(Method::Transaction) | None => Err(RpcError::method_not_found()),
                Some(m) => self.execute(conn, m, Params(pm)).await,
            };
            let failed = result.is_err();
            responses.push(match result {
                Ok(r) => jsonrpc::response_ok(&json!(i), r),
                Err(e) => jsonrpc::response_err(Some(&json!(i)), &e),
            });
            if failed {
                break;
            }
        }
        Ok(json!({"value": responses, "sessionId": sid.as_str()}))
    }

    /// A socket closed: its session stays (for reconnect and GC) but is no longer bound.
    pub fn connection_closed(&self, conn: &ConnHandle) {
        self.lock().sessions.unbind_conn(conn.id);
    }

    /// One garbage-collector pass: releases what sessions nobody used for a whole period held.
    /// Returns whether objects were released or replies expired since the previous run (so freed
    /// memory can be handed back to the system).
    pub fn collect_garbage(&self) -> bool {
        let mut st = self.lock();
        st.expire_cache(self.cfg.request_cache_ttl);
        let stale = st.sessions.collect();
        for s in stale {
            info!(session = %s.id, objects = s.objects.len(), "garbage collector: releasing an abandoned session");
            st.subscriptions.remove_session(&s.id);
            for obj in s.objects.iter().rev() {
                let gone = st.registry.unref(obj, &s.id);
                st.forget(&gone);
            }
        }
        st.flush_events();
        std::mem::take(&mut st.freed)
    }

    /// Feeds a media event to the object model and delivers what it raised.
    pub fn media_event(&self, ev: crate::objects::ControlEvent) {
        let mut st = self.lock();
        crate::objects::on_media_event(&mut st.registry, ev);
        st.flush_events();
    }
}

/// Wire traffic in trace logs, minus TURN credentials (setTurnUrl, turnUrl getter replies).
pub(crate) fn redact_credentials(text: &str) -> std::borrow::Cow<'_, str> {
    // A getTurnUrl reply carries `user:password@host:port` with no key naming it.
    let url_with_credentials = text.split('"').any(|v| {
        v.split_once('@')
            .is_some_and(|(cred, _)| cred.contains(':') && !cred.contains(char::is_whitespace))
    });
    if url_with_credentials
        || text.contains("turnUrl")
        || text.contains("turnURL")
        || text.contains("assword")
    {
        std::borrow::Cow::Owned(format!(
            "({} bytes carrying credentials, not logged)",
            text.len()
        ))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn limit_error(key: &str, value: usize) -> RpcError {
    RpcError::new(
        ErrorKind::NotEnoughResources,
        format!("Limit reached: mediaServer.resources.limits.{key} = {value}"),
    )
}

/// Replaces every `newref:<k>` string inside `v` with the value of response k.
fn replace_newrefs(v: &mut Value, responses: &[Value]) -> Result<(), RpcError> {
    match v {
        Value::String(s) if s.starts_with(ids::NEWREF_PREFIX) => {
            let idx = &s[ids::NEWREF_PREFIX.len()..];
            let value = idx
                .parse::<usize>()
                .ok()
                .and_then(|k| responses.get(k))
                .and_then(|r| r.get("result"))
                .and_then(|r| r.get("value"))
                .cloned()
                .ok_or_else(|| {
                    RpcError::new(
                        ErrorKind::MalformedTransaction,
                        format!("Invalid reference '{s}' in transaction"),
                    )
                })?;
            *v = value;
        }
        Value::Array(a) => {
            for x in a {
                replace_newrefs(x, responses)?;
            }
        }
        Value::Object(o) => {
            for x in o.values_mut() {
                replace_newrefs(x, responses)?;
            }
        }
        _ => {}
    }
    Ok(())
}

impl State {
    fn flush_events(&mut self) {
        let events: Vec<RaisedEvent> = self.registry.take_events();
        for ev in &events {
            self.subscriptions
                .deliver(&self.sessions, &self.registry, ev);
            if ev.name == "ObjectDestroyed" {
                if let Some(id) = ev.fields.get("objectId").and_then(Value::as_str) {
                    self.subscriptions.remove_object(&ObjectId::from_wire(id));
                }
            }
        }
    }

    /// Drops cached replies older than `ttl`.
    fn expire_cache(&mut self, ttl: Duration) {
        while let Some((t, _)) = self.cache_order.front() {
            if t.elapsed() < ttl {
                break;
            }
            if let Some((_, key)) = self.cache_order.pop_front() {
                // A key re-inserted later (same session and id) belongs to its newer entry.
                if self
                    .cache
                    .get(&key)
                    .is_some_and(|(t, _, _)| t.elapsed() >= ttl)
                {
                    self.cache.remove(&key);
                    self.freed = true;
                }
            }
        }
    }

    /// Drops released objects from every session.
    fn forget(&mut self, gone: &[ObjectId]) {
        if gone.is_empty() {
            return;
        }
        self.freed = true;
        for s in self.sessions.all_mut() {
            for g in gone {
                s.objects.remove(g);
            }
        }
    }

    fn session(&mut self, params: &Params) -> Result<SessionId, RpcError> {
        let sid = match params.opt_str("sessionId")? {
            Some(s) => SessionId::from_wire(s),
            None => SessionId::from_wire(&new_uuid()),
        };
        self.admit_session(&sid)?;
        self.sessions.get_or_create(&sid);
        Ok(sid)
    }

    /// A session that does not exist yet may be born only below `limits.maxSessions`.
    fn admit_session(&self, sid: &SessionId) -> Result<(), RpcError> {
        if !self.sessions.contains(sid) && self.sessions.len() >= self.limits.max_sessions {
            return Err(limit_error("maxSessions", self.limits.max_sessions));
        }
        Ok(())
    }

    /// Checks the create limits for a new object of `class` under `parent`.
    fn admit_object(
        &self,
        sid: &SessionId,
        class: &str,
        parent: Option<&ObjectId>,
    ) -> Result<(), RpcError> {
        let l = &self.limits;
        if self
            .sessions
            .get(sid)
            .is_some_and(|s| s.objects.len() >= l.max_objects_per_session)
        {
            return Err(limit_error(
                "maxObjectsPerSession",
                l.max_objects_per_session,
            ));
        }
        if class == "MediaPipeline" && self.registry.pipelines().len() >= l.max_pipelines {
            return Err(limit_error("maxPipelines", l.max_pipelines));
        }
        let pipeline = parent
            .and_then(|p| self.registry.get(p))
            .and_then(|o| o.pipeline.clone());
        if let Some(p) = pipeline {
            if self.registry.elements_in(&p) >= l.max_elements_per_pipeline {
                return Err(limit_error(
                    "maxElementsPerPipeline",
                    l.max_elements_per_pipeline,
                ));
            }
        }
        Ok(())
    }

    fn object_param(&self, params: &Params) -> Result<ObjectId, RpcError> {
        Ok(ObjectId::from_wire(params.str("object")?))
    }

    fn run(&mut self, d: &Dispatcher, conn: &ConnHandle, method: Method, params: &Params) -> Step {
        match self.run_inner(d, conn, method, params) {
            Ok(s) => s,
            Err(e) => Step::Done(Err(e)),
        }
    }

    fn run_inner(
        &mut self,
        d: &Dispatcher,
        conn: &ConnHandle,
        method: Method,
        params: &Params,
    ) -> Result<Step, RpcError> {
        let ok = |v: Value| Ok(Step::Done(Ok(v)));
        match method {
            Method::Ping => {
                let sid = params
                    .get("sessionId")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| {
                        self.sessions
                            .session_of_conn(conn.id)
                            .map(|s| s.to_string())
                    });
                if let Some(s) = sid
                    .as_ref()
                    .and_then(|s| self.sessions.get_mut(&SessionId::from_wire(s)))
                {
                    s.in_use = true;
                }
                match sid {
                    Some(s) => ok(json!({"sessionId": s, "value": "pong"})),
                    None => ok(json!({"value": "pong"})),
                }
            }
            Method::Connect => match params.opt_str("sessionId")? {
                Some(s) => {
                    let sid = SessionId::from_wire(s);
                    if !self.sessions.contains(&sid) {
                        return Err(RpcError::invalid_session());
                    }
                    self.sessions.get_or_create(&sid);
                    ok(json!({"sessionId": s, "serverId": d.server_id}))
                }
                None => {
                    let sid = SessionId::from_wire(&new_uuid());
                    self.admit_session(&sid)?;
                    self.sessions.get_or_create(&sid);
                    ok(json!({"sessionId": sid.as_str(), "serverId": d.server_id}))
                }
            },
            Method::KeepAlive => {
                let sid = SessionId::from_wire(params.str("sessionId")?);
                match self.sessions.get_mut(&sid) {
                    Some(s) => {
                        s.in_use = true;
                        ok(json!({"sessionId": sid.as_str()}))
                    }
                    None => Err(RpcError::invalid_session()),
                }
            }
            Method::Create => {
                let ty = params.str("type")?;
                let sid = self.session(params)?;
                let m = model::model();
                // Factories exist for concrete classes only, under the bare and the qualified name.
                let class = m
                    .class(ty)
                    .filter(|c| !c.is_abstract)
                    .ok_or_else(|| RpcError::factory_not_found(ty))?;
                let given = params.opt_object("constructorParams")?;
                let parent = given
                    .and_then(|g| g.get("mediaPipeline").or_else(|| g.get("hub")))
                    .and_then(Value::as_str)
                    .map(ObjectId::from_wire);
                self.admit_object(&sid, &class.name, parent.as_ref())?;
                let ctor = class.constructor.as_deref().unwrap_or(&[]);
                let checked = unmarshal_params(ctor, given, &Resolver(&self.registry))?;
                let (id, chain) = self.registry.create(class, checked, &new_uuid(), &sid)?;
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.objects.extend(chain);
                }
                info!(session = %sid, object = %id, "created {}", class.name);
                ok(json!({"value": id.as_str(), "sessionId": sid.as_str()}))
            }
            Method::Invoke => {
                let oid = self.object_param(params)?;
                let op_name = params.str("operation")?;
                let sid = self.session(params)?;
                let given = params.opt_object("operationParams")?;
                let obj = self.registry.require(&oid)?;
                let m = model::model();
                let op = m.find_operation(&obj.class.name, op_name).ok_or_else(|| {
                    RpcError::method_with_params_not_found(op_name, given.map_or(0, |g| g.len()))
                })?;
                if let Operation::Method { class, method } = op {
                    if !self
                        .registry
                        .method_implemented(&oid, &class.name, &method.name)
                    {
                        return Err(crate::objects::not_implemented(
                            &obj.class.name,
                            &method.name,
                        ));
                    }
                }
                let refs = Resolver(&self.registry);
                let checked = match op {
                    Operation::Method { method, .. } => {
                        unmarshal_params(&method.params, given, &refs)?
                    }
                    Operation::Set { property, .. } => {
                        let v = given
                            .and_then(|g| g.get(&property.name))
                            .filter(|v| !v.is_null());
                        let v = v.ok_or_else(|| {
                            RpcError::new(
                                ErrorKind::MarshallError,
                                format!("'{}' parameter is required", property.name),
                            )
                        })?;
                        let mut map = Map::new();
                        map.insert(
                            property.name.clone(),
                            unmarshal_value(&property.ty, &property.name, v, &refs)?,
                        );
                        map
                    }
                    Operation::Get { .. } => Map::new(),
                };
                let facts = if obj.class.name == "ServerManager" {
                    ServerFacts {
                        sessions: self
                            .sessions
                            .ids()
                            .into_iter()
                            .map(|s| s.to_string())
                            .collect(),
                    }
                } else {
                    ServerFacts::default()
                };
                debug!(object = %oid, operation = op_name, "invoke");
                match self.registry.invoke(&oid, op, checked, &facts)? {
                    Outcome::Ready(v) => ok(json!({"value": v, "sessionId": sid.as_str()})),
                    Outcome::Pending(f) => Ok(Step::Wait(f, sid)),
                }
            }
            Method::Subscribe => {
                let oid = self.object_param(params)?;
                let ev = params.str("type")?;
                let sid = self.session(params)?;
                let obj = self.registry.require(&oid)?;
                if !model::model().event_supported(&obj.class.name, ev) {
                    return Err(RpcError::event_not_supported());
                }
                let sub = SubscriptionId::from_wire(&new_uuid());
                self.subscriptions.add(sub.clone(), &sid, &oid, ev);
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.subscriptions.insert(sub.clone(), (oid, ev.to_string()));
                }
                ok(json!({"value": sub.as_str(), "sessionId": sid.as_str()}))
            }
            Method::Unsubscribe => {
                let _ = self.object_param(params)?;
                let sub = SubscriptionId::from_wire(params.str("subscription")?);
                let sid = self.session(params)?;
                self.subscriptions.remove(&sub);
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.subscriptions.remove(&sub);
                }
                ok(json!({"sessionId": sid.as_str()}))
            }
            Method::Release => {
                let oid = self.object_param(params)?;
                let sid = self.session(params)?;
                if oid.is_newref() {
                    self.registry.require(&oid)?;
                }
                let gone = self.registry.release(&oid);
                if !gone.is_empty() {
                    info!(session = %sid, object = %oid, released = gone.len(), "released");
                }
                self.forget(&gone);
                ok(json!({"sessionId": sid.as_str()}))
            }
            Method::Describe => {
                let oid = self.object_param(params)?;
                let sid = self.session(params)?;
                let class = self.registry.require(&oid)?.class;
                let chain = self.registry.add_ref(&oid, &sid);
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.objects.extend(chain);
                }
                let m = model::model();
                ok(json!({
                    "hierarchy": m.qualified_hierarchy(&class.name),
                    "qualifiedType": m.class(&class.name).map(|c| c.qualified_name()),
                    "sessionId": sid.as_str(),
                    "type": class.name,
                }))
            }
            Method::Ref => {
                let oid = self.object_param(params)?;
                let sid = self.session(params)?;
                self.registry.require(&oid)?;
                let chain = self.registry.add_ref(&oid, &sid);
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.objects.extend(chain);
                }
                ok(json!({"sessionId": sid.as_str()}))
            }
            Method::Unref => {
                let oid = self.object_param(params)?;
                let sid = self.session(params)?;
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.objects.remove(&oid);
                }
                let gone = self.registry.unref(&oid, &sid);
                self.forget(&gone);
                ok(json!({"sessionId": sid.as_str()}))
            }
            Method::CloseSession => {
                let sid = SessionId::from_wire(params.str("sessionId")?);
                let release = params.opt_bool("release")?.unwrap_or(false);
                let Some(session) = self.sessions.remove(&sid) else {
                    return Err(RpcError::invalid_session());
                };
                self.subscriptions.remove_session(&sid);
                for obj in session.objects.iter().rev() {
                    let gone = if release {
                        self.registry.release(obj)
                    } else {
                        self.registry.unref(obj, &sid)
                    };
                    self.forget(&gone);
                }
                ok(Value::Null)
            }
            Method::Transaction => {
                warn!("nested transaction refused");
                Err(RpcError::method_not_found())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_credentials;

    #[test]
    fn turn_credentials_never_reach_the_trace_log() {
        let set = r#"{"method":"invoke","params":{"operation":"setTurnUrl","operationParams":{"turnUrl":"u:pw@1.2.3.4:3478"}}}"#;
        let reply =
            r#"{"jsonrpc":"2.0","id":4,"result":{"value":"u:pw@1.2.3.4:3478","sessionId":"x"}}"#;
        for t in [set, reply] {
            assert!(!redact_credentials(t).contains("pw@"), "{t}");
        }
        let ping = r#"{"jsonrpc":"2.0","method":"ping","id":1}"#;
        assert_eq!(redact_credentials(ping), ping);
    }
}
