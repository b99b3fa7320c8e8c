//! The Kurento object model: every MediaObject the server holds, its parent/child tree, the
//! element graph (`connect`/`disconnect`), and the translation of Kurento operations into media
//! commands. One file per Kurento class holds that class's methods and computed properties; the
//! kmd model (kurento-protocol) decides which class declares an operation, and [`Registry::invoke`]
//! sends it to that class's file.
//!
//! Nothing here knows sessions, sockets or JSON-RPC framing: operations return values and
//! queue [`RaisedEvent`]s that the RPC layer delivers to subscribers.

mod alpha_blending;
mod base_rtp_endpoint;
mod chroma_filter;
pub mod class;
mod composite;
mod crowd_detector_filter;
mod dispatcher;
mod dispatcher_one_to_many;
mod env;
mod face_overlay_filter;
mod graph;
mod gstreamer_filter;
mod http_post_endpoint;
mod hub;
mod hub_port;
mod image_overlay_filter;
mod media_element;
mod media_object;
mod media_pipeline;
mod mixer;
mod pass_through;
mod plate_detector_filter;
mod player_endpoint;
mod pointer_detector_filter;
mod recorder_endpoint;
mod rtp_endpoint;
mod sdp_endpoint;
mod server_manager;
pub(crate) mod stats;
mod transcoding;
mod unimplemented;
mod uri_endpoint;
mod vision_filter;
mod web_rtc_endpoint;
mod zbar_filter;

pub use env::{rtp_config, ControlEvent, MediaEnv, DEFAULT_URI_PATH};
pub use graph::Connection;
pub use media_element::ElementMedia;

use crate::media::ElementId;
use kurento_protocol::model::{self, module_prefix, ClassDef, Operation};
use kurento_protocol::{ErrorKind, ObjectId, RpcError, SessionId};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Every event name this server delivers today (current names and the aliases KMS raises with
/// them), for the coverage report.
pub const EMITTED_EVENTS: &[&str] = &[
    "Error",
    "ObjectCreated",
    "ObjectDestroyed",
    "ElementConnected",
    "ElementDisconnected",
    "IceCandidateFound",
    "OnIceCandidate",
    "IceGatheringDone",
    "OnIceGatheringDone",
    "IceComponentStateChanged",
    "IceComponentStateChange",
    "OnIceComponentStateChanged",
    "NewCandidatePairSelected",
    "ConnectionStateChanged",
    "DtlsConnectionStateChange",
    "MediaStateChanged",
    "MediaSessionStarted",
    "MediaSessionTerminated",
    "MediaFlowInStateChanged",
    "MediaFlowInStateChange",
    "MediaFlowOutStateChanged",
    "MediaFlowOutStateChange",
    "DataChannelOpened",
    "DataChannelOpen",
    "OnDataChannelOpened",
    "DataChannelClosed",
    "DataChannelClose",
    "OnDataChannelClosed",
    "UriEndpointStateChanged",
    "EndOfStream",
    "Recording",
    "Paused",
    "Stopped",
    "MediaTranscodingStateChanged",
    "CodeFound",
    "WindowIn",
    "WindowOut",
    "CrowdDetectorOccupancy",
    "CrowdDetectorFluidity",
    "CrowdDetectorDirection",
    "PlateDetected",
];

/// An event raised by an object, before it is fanned out to subscribers under its names.
#[derive(Debug, Clone)]
pub struct RaisedEvent {
    pub source: ObjectId,
    /// Current name; aliases are added at delivery (kurento_protocol::events::names_for).
    pub name: &'static str,
    pub fields: Map<String, Value>,
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub type BoxFutureRef<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The result of an operation: ready now, or pending on the media side (awaited without the
/// registry lock).
pub enum Outcome {
    Ready(Value),
    Pending(BoxFuture<Result<Value, RpcError>>),
}

impl Outcome {
    pub fn null() -> Result<Outcome, RpcError> {
        Ok(Outcome::Ready(Value::Null))
    }
    pub fn value(v: impl Into<Value>) -> Result<Outcome, RpcError> {
        Ok(Outcome::Ready(v.into()))
    }
}

pub struct MediaObject {
    pub id: ObjectId,
    /// Bare class name, e.g. `WebRtcEndpoint`.
    pub class: &'static ClassDef,
    pub parent: Option<ObjectId>,
    pub pipeline: Option<ObjectId>,
    pub children: Vec<ObjectId>,
    pub name: Option<String>,
    pub tags: Vec<(String, String)>,
    pub send_tags_in_events: bool,
    pub creation_time: i64,
    /// Property values set by clients or constructors, by kmd property name.
    pub props: Map<String, Value>,
    /// Sessions holding a reference; the object is released when the last one lets go.
    pub sessions: BTreeSet<SessionId>,
    /// The element's node in the media graph, for elements with a media side of their own.
    pub element: Option<ElementMedia>,
    /// MediaElement's flow states (in, out) per media type; all false for other objects.
    pub flow: media_element::FlowState,
    /// Class-specific state, owned by the class's file (see [`class::state`]).
    pub state: class::State,
}

impl MediaObject {
    pub fn is_a(&self, class: &str) -> bool {
        model::model().is_a(&self.class.name, class)
    }
}

/// Facts about the server process that some getters report.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    pub sessions: Vec<String>,
}

pub struct Registry {
    objects: HashMap<ObjectId, MediaObject>,
    graph: graph::Graph,
    events: Vec<RaisedEvent>,
    /// Elements with a media side, by their id in the media core.
    pub(crate) endpoints: HashMap<ElementId, ObjectId>,
    pub(crate) media: Arc<MediaEnv>,
    transcoders: transcoding::Transcoders,
    last_codes: zbar_filter::LastCodes,
    started: std::time::Instant,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Registry {
    /// Pipelines, elements by class and running transcoders, for the metrics.
    pub fn census(&self) -> (usize, Vec<(String, usize)>, usize) {
        let mut pipelines = 0;
        let mut elements = std::collections::BTreeMap::<&str, usize>::new();
        for o in self.objects.values() {
            if o.class.name == "MediaPipeline" {
                pipelines += 1;
            } else if o.is_a("MediaElement") {
                *elements.entry(o.class.name.as_str()).or_default() += 1;
            }
        }
        let elements = elements
            .into_iter()
            .map(|(c, n)| (c.to_string(), n))
            .collect();
        (pipelines, elements, self.transcoders.running())
    }

    pub fn new(media: Arc<MediaEnv>) -> Self {
        let mut r = Registry {
            objects: HashMap::new(),
            graph: graph::Graph::default(),
            events: Vec::new(),
            endpoints: HashMap::new(),
            media,
            transcoders: transcoding::Transcoders::default(),
            last_codes: zbar_filter::LastCodes::default(),
            started: std::time::Instant::now(),
        };
        if let Some(class) = model::model().class("ServerManager") {
            let id = ObjectId::server_manager();
            r.objects.insert(
                id.clone(),
                MediaObject {
                    id,
                    class,
                    parent: None,
                    pipeline: None,
                    children: Vec::new(),
                    name: None,
                    tags: Vec::new(),
                    send_tags_in_events: false,
                    creation_time: now_secs(),
                    props: Map::new(),
                    sessions: BTreeSet::new(),
                    element: None,
                    flow: Default::default(),
                    state: None,
                },
            );
        }
        r
    }

    pub fn get(&self, id: &ObjectId) -> Option<&MediaObject> {
        self.objects.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &ObjectId) -> Option<&mut MediaObject> {
        self.objects.get_mut(id)
    }

    /// Looks an object up for an operation: `newref:` ids outside a transaction and unknown ids get
    /// KMS's errors.
    pub fn require(&self, id: &ObjectId) -> Result<&MediaObject, RpcError> {
        if id.is_newref() {
            return Err(RpcError::new(
                ErrorKind::MediaObjectNotFoundTransactionNoCommit,
                format!(
                    "Object '{id}' not found: 'newref:' ids are only valid inside a transaction"
                ),
            ));
        }
        self.objects
            .get(id)
            .ok_or_else(|| RpcError::object_not_found(id.as_str()))
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Events raised since the last call, in order.
    pub fn take_events(&mut self) -> Vec<RaisedEvent> {
        std::mem::take(&mut self.events)
    }

    pub(crate) fn raise(
        &mut self,
        source: &ObjectId,
        name: &'static str,
        fields: Map<String, Value>,
    ) {
        self.events.push(RaisedEvent {
            source: source.clone(),
            name,
            fields,
        });
    }

    /// Elements (and hub ports) living in a pipeline.
    pub fn elements_in(&self, pipeline: &ObjectId) -> usize {
        self.objects
            .values()
            .filter(|o| o.pipeline.as_ref() == Some(pipeline) && &o.id != pipeline)
            .count()
    }

    pub fn pipelines(&self) -> Vec<ObjectId> {
        let mut v: Vec<&MediaObject> = self
            .objects
            .values()
            .filter(|o| o.class.name == "MediaPipeline")
            .collect();
        v.sort_by(|a, b| a.creation_time.cmp(&b.creation_time).then(a.id.cmp(&b.id)));
        v.into_iter().map(|o| o.id.clone()).collect()
    }

    /// Creates an object of a creatable class. `params` were already checked against the
    /// constructor by the caller. `uuid` is the random part of the new id. Returns the id and the
    /// chain (the object and its parents) that the session now references.
    pub fn create(
        &mut self,
        class: &'static ClassDef,
        params: Map<String, Value>,
        uuid: &str,
        session: &SessionId,
    ) -> Result<(ObjectId, Vec<ObjectId>), RpcError> {
        let parent = match (params.get("mediaPipeline"), params.get("hub")) {
            (Some(Value::String(p)), _) | (None, Some(Value::String(p))) => {
                Some(ObjectId::from_wire(p))
            }
            _ => None,
        };
        let (id, pipeline) = match &parent {
            Some(p) => {
                let parent_obj = self.require(p)?;
                let pipeline = parent_obj
                    .pipeline
                    .clone()
                    .unwrap_or_else(|| parent_obj.id.clone());
                (
                    ObjectId::new_child(p, uuid, module_prefix(&class.module), &class.name),
                    Some(pipeline),
                )
            }
            None => (
                ObjectId::new_root(uuid, module_prefix(&class.module), &class.name),
                None,
            ),
        };
        let mut props = Map::new();
        for p in class.constructor.iter().flatten() {
            if let Some(v) = params.get(&p.name) {
                if p.name != "mediaPipeline" && p.name != "hub" {
                    props.insert(p.name.clone(), v.clone());
                }
            }
        }
        let created = match class::hierarchy(&class.name).find_map(|b| b.create) {
            Some(create) => create(
                self,
                &class::NewObject {
                    id: &id,
                    pipeline: pipeline.as_ref(),
                    parent: parent.as_ref(),
                    props: &props,
                },
            )?,
            None => class::Created::default(),
        };
        if let Some(e) = &created.element {
            self.endpoints.insert(e.id, id.clone());
        }
        let obj = MediaObject {
            id: id.clone(),
            class,
            parent: parent.clone(),
            pipeline: pipeline
                .clone()
                .or_else(|| (class.name == "MediaPipeline").then(|| id.clone())),
            children: Vec::new(),
            name: None,
            tags: Vec::new(),
            send_tags_in_events: false,
            creation_time: now_secs(),
            props,
            sessions: BTreeSet::new(),
            element: created.element,
            flow: Default::default(),
            state: created.state,
        };
        if let Some(p) = &parent {
            if let Some(po) = self.objects.get_mut(p) {
                po.children.push(id.clone());
            }
        }
        self.objects.insert(id.clone(), obj);
        let chain = self.add_ref(&id, session);
        let mut f = Map::new();
        f.insert("object".into(), id.as_str().into());
        self.raise(&ObjectId::server_manager(), "ObjectCreated", f);
        Ok((id, chain))
    }

    /// Adds a session reference to an object and its parent chain (as KMS's MediaSet does).
    pub fn add_ref(&mut self, id: &ObjectId, session: &SessionId) -> Vec<ObjectId> {
        let mut chain = Vec::new();
        let mut cur = Some(id.clone());
        while let Some(c) = cur {
            match self.objects.get_mut(&c) {
                Some(o) if o.class.name != "ServerManager" => {
                    o.sessions.insert(session.clone());
                    cur = o.parent.clone();
                    chain.push(c);
                }
                _ => break,
            }
        }
        chain
    }

    /// Drops one session's reference; objects nobody refers to any more are released. Returns the
    /// ids destroyed.
    pub fn unref(&mut self, id: &ObjectId, session: &SessionId) -> Vec<ObjectId> {
        let orphan = match self.objects.get_mut(id) {
            Some(o) if o.class.name != "ServerManager" => {
                o.sessions.remove(session);
                o.sessions.is_empty()
            }
            _ => false,
        };
        if orphan {
            self.release(id)
        } else {
            Vec::new()
        }
    }

    /// Releases an object and everything under it, for every session. Unknown ids are not an error.
    /// Returns the destroyed ids, children before parents.
    pub fn release(&mut self, id: &ObjectId) -> Vec<ObjectId> {
        if id.as_str() == kurento_protocol::ids::SERVER_MANAGER_ID || !self.objects.contains_key(id)
        {
            return Vec::new();
        }
        let mut order = Vec::new();
        self.collect_subtree(id, &mut order);
        order.reverse();
        let doomed: BTreeSet<ObjectId> = order.iter().cloned().collect();
        for gone in &order {
            let pipeline = self.objects.get(gone).and_then(|o| o.pipeline.clone());
            // Links of a released element go away with it; the survivors' routes are rebuilt.
            let removed = self.graph.remove_element(gone);
            for c in removed {
                if !doomed.contains(&c.source) {
                    graph::raise_disconnected(self, &c);
                }
            }
            if let Some(obj) = self.objects.remove(gone) {
                if let Some(p) = &obj.parent {
                    if let Some(po) = self.objects.get_mut(p) {
                        po.children.retain(|c| c != gone);
                    }
                }
                if let Some(e) = &obj.element {
                    self.endpoints.remove(&e.id);
                    e.detach();
                }
            }
            if let Some(p) = pipeline {
                if !doomed.contains(&p) {
                    self.update_routes(&p);
                }
            }
            let mut f = Map::new();
            f.insert("objectId".into(), gone.as_str().into());
            self.raise(&ObjectId::server_manager(), "ObjectDestroyed", f);
        }
        order
    }

    fn collect_subtree(&self, id: &ObjectId, out: &mut Vec<ObjectId>) {
        out.push(id.clone());
        if let Some(o) = self.objects.get(id) {
            for c in &o.children {
                self.collect_subtree(c, out);
            }
        }
    }

    /// Whether a declared method has behaviour behind it for this object. Checked before its
    /// params are, so a method we lack answers NOT_IMPLEMENTED whatever it was given.
    pub fn method_implemented(&self, id: &ObjectId, declaring: &str, method: &str) -> bool {
        let Some(obj) = self.objects.get(id) else {
            return true;
        };
        class::behaviour(declaring).is_some_and(|b| (b.implements)(obj, method))
    }

    /// Runs an operation resolved by the model on an object.
    pub fn invoke(
        &mut self,
        id: &ObjectId,
        op: Operation<'static>,
        params: Map<String, Value>,
        facts: &ServerFacts,
    ) -> Result<Outcome, RpcError> {
        match op {
            Operation::Get { class, property } => {
                self.get_property(id, &class.name, &property.name, facts)
            }
            Operation::Set { property, .. } => {
                let v = params.get(&property.name).cloned().unwrap_or(Value::Null);
                self.set_property(id, &property.name, v)
            }
            Operation::Method { class, method } => match class::behaviour(&class.name) {
                Some(b) => (b.invoke)(self, id, &method.name, &params),
                None => Err(unimplemented::method(&class.name, &method.name)),
            },
        }
    }

    fn get_property(
        &self,
        id: &ObjectId,
        declaring: &str,
        prop: &str,
        facts: &ServerFacts,
    ) -> Result<Outcome, RpcError> {
        let obj = self.require(id)?;
        let computed = class::behaviour(declaring).and_then(|b| (b.get)(self, obj, prop, facts));
        if let Some(c) = computed {
            return c;
        }
        if let Some(v) = obj.props.get(prop) {
            return Outcome::value(v.clone());
        }
        Outcome::value(self.default_of(obj, prop))
    }

    /// The configured or kmd default of a property nobody set.
    fn default_of(&self, obj: &MediaObject, prop: &str) -> Value {
        if let Some(v) = self.media.property_default(&obj.class.name, prop) {
            return v;
        }
        model::model()
            .hierarchy(&obj.class.name)
            .into_iter()
            .flat_map(|c| c.properties.iter())
            .find(|p| p.name == prop)
            .and_then(|p| p.default.clone().or_else(|| zero_of(&p.ty)))
            .unwrap_or(Value::Null)
    }

    fn set_property(&mut self, id: &ObjectId, prop: &str, v: Value) -> Result<Outcome, RpcError> {
        self.require(id)?;
        match prop {
            "name" => {
                if let Some(o) = self.objects.get_mut(id) {
                    o.name = v.as_str().map(str::to_string);
                }
                return Outcome::null();
            }
            "sendTagsInEvents" => {
                if let Some(o) = self.objects.get_mut(id) {
                    o.send_tags_in_events = v.as_bool().unwrap_or(false);
                }
                return Outcome::null();
            }
            _ => {}
        }
        let class = self.require(id)?.class.name.clone();
        if let Some(done) =
            class::hierarchy(&class).find_map(|b| b.set.and_then(|f| f(self, id, prop, &v)))
        {
            return done;
        }
        let class = match self.objects.get_mut(id) {
            Some(o) => {
                o.props.insert(prop.to_string(), v.clone());
                o.class.name.clone()
            }
            None => return Outcome::null(),
        };
        for b in class::hierarchy(&class) {
            (b.property_changed)(self, id, prop, &v);
        }
        Outcome::null()
    }

    /// Rebuilds the packet routes of a pipeline after its graph changed.
    pub(crate) fn update_routes(&mut self, pipeline: &ObjectId) {
        transcoding::plan(self, pipeline);
        media_element::update_flows(self, pipeline);
        let routes = graph::routes_of(self, pipeline);
        if let Some(p) = self
            .objects
            .get(pipeline)
            .and_then(class::state::<media_pipeline::PipelineState>)
        {
            p.set_routes(routes);
        }
    }
}

/// The NOT_IMPLEMENTED error for a method of a class, with the reason.
pub fn not_implemented(class: &str, method: &str) -> RpcError {
    unimplemented::method(class, method)
}

/// Turns a report of the media side into object state and Kurento events.
pub fn on_media_event(reg: &mut Registry, ev: ControlEvent) {
    match ev {
        ControlEvent::WebRtc(id, e) => web_rtc_endpoint::on_media_event(reg, id, e),
        ControlEvent::Graph(e) => media_element::on_graph_event(reg, e),
        ControlEvent::Rtp(id, e) => rtp_endpoint::on_event(reg, id, e),
        ControlEvent::Uri(id, e) => uri_endpoint::on_event(reg, id, e),
        ControlEvent::Code(id, t, v) => zbar_filter::on_code(reg, id, t, v),
        ControlEvent::Vision(id, e) => vision_filter::on_event(reg, id, e),
        ControlEvent::ElementError(key, kind, message) => {
            if let Some(id) = reg.endpoints.get(&key).cloned() {
                reg.raise(&id, "Error", uri_endpoint::error_fields(kind, &message));
            }
        }
    }
}

/// What a getter answers for a property nobody set and the kmd gives no default for.
fn zero_of(ty: &str) -> Option<Value> {
    Some(match ty {
        t if t.ends_with("[]") => Value::Array(Vec::new()),
        t if t.ends_with("<>") => Value::Object(Map::new()),
        "int" | "int64" => 0.into(),
        "float" | "double" => 0.0.into(),
        "boolean" => false.into(),
        "String" => "".into(),
        _ => return None,
    })
}

/// Reads an optional enum-string param (already validated by the marshaller).
pub(crate) fn opt_str<'a>(p: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    p.get(name).and_then(Value::as_str)
}

/// A required float param, as kurento-client sends it (a JSON number).
pub(crate) fn num(p: &Map<String, Value>, key: &str) -> Result<f64, RpcError> {
    p.get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| RpcError::param_required(key))
}
