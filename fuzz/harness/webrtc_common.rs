//! One WebRTC endpoint per input, on loopback, in its own runtime (see [`super::runtime`]).

use kurento_media_server::media::{ElementId, GraphInbox};
use kurento_media_server::webrtc::{spawn_endpoint, EndpointConfig, WebRtcEvent, WebRtcHandle};
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;

/// A call into the endpoint that takes longer than this is a hang (the actor answers commands
/// without network round trips).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub fn endpoint_config() -> EndpointConfig {
    EndpointConfig {
        network_interfaces: Some(vec!["lo".to_owned()]),
        port_range: (0, 0),
        ..EndpointConfig::default()
    }
}

/// Runs `f` with a fresh endpoint, then closes it and waits for its task to end.
pub fn with_endpoint<F, Fut>(f: F)
where
    F: FnOnce(WebRtcHandle) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = super::runtime();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel::<WebRtcEvent>();
        // The graph side is drained by nobody: a full queue drops media, as in a stalled pipeline.
        let (graph_tx, _graph_rx) = mpsc::channel(1024);
        let inbox = GraphInbox::new(ElementId::next(), graph_tx);
        let h = spawn_endpoint(endpoint_config(), inbox, move |e| {
            let _ = tx.send(e);
        })
        .unwrap_or_else(|e| panic!("cannot spawn a loopback endpoint: {e}"));
        f(h.clone()).await;
        h.close();
        // The actor reports Closed as it ends; a panic inside it would instead drop the sender
        // without that event, which is a finding (tokio swallows task panics otherwise).
        let closed = tokio::time::timeout(CALL_TIMEOUT, async {
            while let Some(ev) = rx.recv().await {
                if ev == WebRtcEvent::Closed {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or_else(|_| panic!("endpoint did not close within {CALL_TIMEOUT:?}"));
        assert!(closed, "endpoint task ended without Closed (did it panic?)");
    });
}

/// Awaits a call into the endpoint; hanging is a finding.
pub async fn call<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(CALL_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within {CALL_TIMEOUT:?}"))
}
