//! Object, session and subscription ids in KMS's exact string forms.
//!
//! A top-level object is `<uuid>_<module>.<Class>`; a child is `<parent id>/<uuid>_<module>.<Class>`.
//! kurento-client relies on both forms (it purges cached proxies by pipeline-id prefix), so the
//! format lives here and nowhere else. The uuid itself is supplied by the caller: this crate does
//! no randomness.

use std::fmt;

/// The fixed id of the ServerManager singleton; kurento-client hard-codes it.
pub const SERVER_MANAGER_ID: &str = "manager_ServerManager";

/// Prefix of a transaction-local reference to the result of an earlier operation.
pub const NEWREF_PREFIX: &str = "newref:";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(String);

impl ObjectId {
    pub fn new_root(uuid: &str, module: &str, class: &str) -> Self {
        ObjectId(format!("{uuid}_{module}.{class}"))
    }

    pub fn new_child(parent: &ObjectId, uuid: &str, module: &str, class: &str) -> Self {
        ObjectId(format!("{}/{uuid}_{module}.{class}", parent.0))
    }

    pub fn server_manager() -> Self {
        ObjectId(SERVER_MANAGER_ID.to_string())
    }

    /// Wraps an id received from a client. Any string is accepted: lookups decide whether it exists.
    pub fn from_wire(s: &str) -> Self {
        ObjectId(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `module.Class` of the last path segment, e.g. `kurento.WebRtcEndpoint`.
    pub fn qualified_type(&self) -> Option<&str> {
        let last = self.0.rsplit('/').next()?;
        let (_, ty) = last.rsplit_once('_')?;
        ty.contains('.').then_some(ty)
    }

    /// The id this one was created under (the pipeline of an element, the hub of a HubPort).
    pub fn parent(&self) -> Option<ObjectId> {
        self.0
            .rsplit_once('/')
            .map(|(p, _)| ObjectId(p.to_string()))
    }

    pub fn is_newref(&self) -> bool {
        self.0.starts_with(NEWREF_PREFIX)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A KMS session: a lower-case UUID v4 string that owns object references and subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    pub fn from_wire(s: &str) -> Self {
        SessionId(s.to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id returned by `subscribe` and passed back to `unsubscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(String);

impl SubscriptionId {
    pub fn from_wire(s: &str) -> Self {
        SubscriptionId(s.to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "6ba9067f-cdcf-4ea6-a6ee-d74519585acd";
    const U2: &str = "087b7777-aab5-4787-816f-f0de19e5b1d9";

    #[test]
    fn root_and_child_forms() {
        let p = ObjectId::new_root(U1, "kurento", "MediaPipeline");
        assert_eq!(p.as_str(), format!("{U1}_kurento.MediaPipeline"));
        let e = ObjectId::new_child(&p, U2, "kurento", "WebRtcEndpoint");
        assert_eq!(
            e.as_str(),
            format!("{U1}_kurento.MediaPipeline/{U2}_kurento.WebRtcEndpoint")
        );
        assert_eq!(e.parent(), Some(p.clone()));
        assert_eq!(e.qualified_type(), Some("kurento.WebRtcEndpoint"));
        assert_eq!(p.parent(), None);
    }

    #[test]
    fn hub_port_has_three_levels() {
        let p = ObjectId::new_root(U1, "kurento", "MediaPipeline");
        let h = ObjectId::new_child(&p, U2, "kurento", "Composite");
        let port = ObjectId::new_child(&h, U1, "kurento", "HubPort");
        assert_eq!(port.as_str().matches('/').count(), 2);
        assert_eq!(port.parent(), Some(h));
    }

    #[test]
    fn odd_ids_do_not_panic() {
        for s in [
            "",
            "/",
            "_",
            "a_b",
            "x/y_",
            "manager_ServerManager",
            "newref:0",
            "///__..",
            "é_ü.ß",
        ] {
            let id = ObjectId::from_wire(s);
            let _ = id.qualified_type();
            let _ = id.parent();
        }
        assert!(ObjectId::from_wire("newref:3").is_newref());
        assert_eq!(ObjectId::server_manager().qualified_type(), None);
    }
}
