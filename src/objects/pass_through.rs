//! PassThrough: its input leaves its output unchanged, so the graph routes through it.

use super::class::ClassBehaviour;
use super::graph::MediaRole;

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "PassThrough",
    role: Some(MediaRole::PassThrough),
    ..ClassBehaviour::EMPTY
};
