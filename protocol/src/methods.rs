//! The 13 methods KMS registers (kurento-media-server ServerMethods.cpp). Anything else is -32601.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Connect,
    Create,
    Invoke,
    Subscribe,
    Unsubscribe,
    Release,
    Ref,
    Unref,
    KeepAlive,
    Describe,
    Transaction,
    Ping,
    CloseSession,
}

impl Method {
    pub const ALL: [Method; 13] = [
        Method::Connect,
        Method::Create,
        Method::Invoke,
        Method::Subscribe,
        Method::Unsubscribe,
        Method::Release,
        Method::Ref,
        Method::Unref,
        Method::KeepAlive,
        Method::Describe,
        Method::Transaction,
        Method::Ping,
        Method::CloseSession,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Connect => "connect",
            Method::Create => "create",
            Method::Invoke => "invoke",
            Method::Subscribe => "subscribe",
            Method::Unsubscribe => "unsubscribe",
            Method::Release => "release",
            Method::Ref => "ref",
            Method::Unref => "unref",
            Method::KeepAlive => "keepAlive",
            Method::Describe => "describe",
            Method::Transaction => "transaction",
            Method::Ping => "ping",
            Method::CloseSession => "closeSession",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Methods that KMS answers without requiring a `params` object.
    pub fn params_optional(self) -> bool {
        matches!(self, Method::Connect | Method::Ping)
    }
}

/// Name of the notification the server pushes; the client ignores any other.
pub const ON_EVENT: &str = "onEvent";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::from_name(m.name()), Some(m));
        }
        assert_eq!(Method::from_name("Ping"), None);
        assert_eq!(Method::from_name("createMediaPipeline"), None);
    }
}
