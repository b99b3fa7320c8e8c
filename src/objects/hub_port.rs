//! HubPort: what leaves a port is what its hub routes to it (see the hubs' `hub_route`).

use super::class::ClassBehaviour;
use super::graph::MediaRole;

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "HubPort",
    role: Some(MediaRole::HubPort),
    ..ClassBehaviour::EMPTY
};
