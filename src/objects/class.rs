//! How a Kurento class's file registers its behaviour: one [`ClassBehaviour`] per class, listed
//! once in [`CLASSES`]. The kmd model decides which class declares an operation or property; the
//! registry asks that class's behaviour, and walks an object's hierarchy (most derived first) for
//! construction, media role and property changes. A class with no entry is a processor whose
//! media is not built: its own methods answer NOT_IMPLEMENTED with the reason, and media stops
//! at it (see [`MediaRole`]).

use super::graph::{MediaRole, MediaType};
use super::{ElementMedia, MediaObject, Outcome, Registry, ServerFacts};
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{Map, Value};
use std::any::Any;

/// Class-specific state of an object, owned and downcast by its class's file.
pub type State = Option<Box<dyn Any + Send>>;

/// What a constructor hook makes: the object's state and, for elements with a media side of
/// their own, its node in the pipeline's graph.
#[derive(Default)]
pub struct Created {
    pub state: State,
    pub element: Option<ElementMedia>,
}

/// A new object, as its constructor hook sees it.
pub struct NewObject<'a> {
    pub id: &'a ObjectId,
    pub pipeline: Option<&'a ObjectId>,
    /// The pipeline or hub it was created in.
    pub parent: Option<&'a ObjectId>,
    /// Constructor params (checked against the kmd), minus mediaPipeline/hub.
    pub props: &'a Map<String, Value>,
}

pub type Invoke =
    fn(&mut Registry, &ObjectId, &str, &Map<String, Value>) -> Result<Outcome, RpcError>;
pub type Create = fn(&mut Registry, &NewObject) -> Result<Created, RpcError>;
pub type HubRoute = fn(&Registry, &MediaObject, &ObjectId) -> Option<ObjectId>;
pub type Stats = fn(&Registry, &ObjectId, Option<MediaType>) -> Result<Outcome, RpcError>;
/// A setter with behaviour of its own (a seek): `None` lets the value be stored as usual.
pub type Set = fn(&mut Registry, &ObjectId, &str, &Value) -> Option<Result<Outcome, RpcError>>;
pub type Get = fn(&Registry, &MediaObject, &str, &ServerFacts) -> Option<Result<Outcome, RpcError>>;

pub struct ClassBehaviour {
    pub name: &'static str,
    /// Methods this class declares that have behaviour behind them for this object.
    pub implements: fn(&MediaObject, &str) -> bool,
    pub invoke: Invoke,
    /// Computed properties; `None` falls back to the stored value or the default.
    pub get: Get,
    /// Builds the state of a new object of this class (or of a class deriving from it).
    pub create: Option<Create>,
    /// Setters that act rather than store (the first class of the hierarchy that answers wins).
    pub set: Option<Set>,
    /// A setter changed a property (any class of the object's hierarchy may care).
    pub property_changed: fn(&mut Registry, &ObjectId, &str, &Value),
    /// What the element does with media; the first class of the hierarchy that says wins.
    pub role: Option<MediaRole>,
    /// For hubs: the port whose input reaches this port's output, if any.
    pub hub_route: Option<HubRoute>,
    /// MediaElement `getStats` for this class's elements.
    pub stats: Option<Stats>,
}

fn no_methods(_: &MediaObject, _: &str) -> bool {
    false
}
fn no_invoke(
    _: &mut Registry,
    id: &ObjectId,
    m: &str,
    _: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    Err(super::unimplemented::method(
        id.qualified_type().unwrap_or_default(),
        m,
    ))
}
fn no_get(
    _: &Registry,
    _: &MediaObject,
    _: &str,
    _: &ServerFacts,
) -> Option<Result<Outcome, RpcError>> {
    None
}
fn no_change(_: &mut Registry, _: &ObjectId, _: &str, _: &Value) {}

impl ClassBehaviour {
    /// A class that adds nothing; class files override what they implement.
    pub const EMPTY: ClassBehaviour = ClassBehaviour {
        name: "",
        implements: no_methods,
        invoke: no_invoke,
        get: no_get,
        create: None,
        set: None,
        property_changed: no_change,
        role: None,
        hub_route: None,
        stats: None,
    };
}

/// Every class with behaviour, one line each.
pub(super) static CLASSES: &[&ClassBehaviour] = &[
    &super::media_object::CLASS,
    &super::server_manager::CLASS,
    &super::media_pipeline::CLASS,
    &super::media_element::CLASS,
    &super::sdp_endpoint::CLASS,
    &super::base_rtp_endpoint::CLASS,
    &super::web_rtc_endpoint::CLASS,
    &super::rtp_endpoint::CLASS,
    &super::pass_through::CLASS,
    &super::hub::CLASS,
    &super::hub_port::CLASS,
    &super::dispatcher::CLASS,
    &super::dispatcher_one_to_many::CLASS,
    &super::uri_endpoint::CLASS,
    &super::player_endpoint::CLASS,
    &super::recorder_endpoint::CLASS,
    &super::http_post_endpoint::CLASS,
    &super::http_post_endpoint::POST_CLASS,
    &super::gstreamer_filter::CLASS,
    &super::zbar_filter::CLASS,
    &super::face_overlay_filter::CLASS,
    &super::image_overlay_filter::CLASS,
    &super::composite::CLASS,
    &super::alpha_blending::CLASS,
    &super::mixer::CLASS,
    &super::chroma_filter::CLASS,
    &super::crowd_detector_filter::CLASS,
    &super::plate_detector_filter::CLASS,
    &super::pointer_detector_filter::CLASS,
];

pub(super) fn behaviour(class: &str) -> Option<&'static ClassBehaviour> {
    CLASSES.iter().copied().find(|c| c.name == class)
}

/// The behaviours of a class's hierarchy, most derived first.
pub(super) fn hierarchy(class: &str) -> impl Iterator<Item = &'static ClassBehaviour> {
    kurento_protocol::model::model()
        .hierarchy(class)
        .into_iter()
        .filter_map(|c| behaviour(&c.name))
}

/// Downcasts an object's state to its class's type.
pub fn state<T: 'static>(obj: &MediaObject) -> Option<&T> {
    obj.state.as_ref().and_then(|s| s.downcast_ref::<T>())
}

pub fn state_mut<T: 'static>(obj: &mut MediaObject) -> Option<&mut T> {
    obj.state.as_mut().and_then(|s| s.downcast_mut::<T>())
}
