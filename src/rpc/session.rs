//! Sessions as KMS keeps them (kms-core MediaSet): a session id owns object references and event
//! subscriptions, is bound to at most one socket at a time, survives a dropped socket, and is
//! collected by the garbage collector when nobody marked it for a whole period.

use kurento_protocol::{jsonrpc, ObjectId, RpcError, SessionId, SubscriptionId};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};
use tracing::warn;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(pub u64);

/// The sending half of one WebSocket connection.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    pub id: ConnId,
    tx: mpsc::Sender<String>,
    closed: Arc<AtomicBool>,
    shutdown: Arc<Notify>,
}

impl ConnHandle {
    pub fn new(id: ConnId, tx: mpsc::Sender<String>) -> Self {
        ConnHandle {
            id,
            tx,
            closed: Arc::new(AtomicBool::new(false)),
            shutdown: Arc::new(Notify::new()),
        }
    }

    /// Queues a frame. A client that stopped reading fills its queue; it is then disconnected
    /// rather than allowed to grow our memory (its session stays for a reconnect).
    pub fn send(&self, text: String) {
        if self.is_closed() {
            return;
        }
        if tracing::enabled!(tracing::Level::TRACE) {
            tracing::trace!(
                conn = self.id.0,
                "-> {}",
                super::dispatch::redact_credentials(&text)
            );
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(text) {
            warn!(
                conn = self.id.0,
                "outbound queue full: closing the connection of a client that does not read"
            );
            self.close();
        }
    }

    pub fn send_value(&self, v: &Value) {
        self.send(v.to_string());
    }

    pub fn send_error_text(&self, id: Option<&Value>, e: RpcError) {
        self.send_value(&jsonrpc::response_err(id, &e));
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        // notify_one stores a permit, so a waiter that is not yet waiting still sees it; two
        // waiters (reader and writer) need two permits.
        self.shutdown.notify_waiters();
        self.shutdown.notify_one();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    pub fn shutdown_signal(&self) -> Arc<Notify> {
        self.shutdown.clone()
    }
}

#[derive(Debug)]
pub struct Session {
    pub id: SessionId,
    pub conn: Option<ConnHandle>,
    /// Set by any request of the session or while a socket is bound; cleared by each GC pass.
    pub in_use: bool,
    pub objects: BTreeSet<ObjectId>,
    pub subscriptions: HashMap<SubscriptionId, (ObjectId, String)>,
}

impl Session {
    fn new(id: SessionId) -> Self {
        Session {
            id,
            conn: None,
            in_use: true,
            objects: BTreeSet::new(),
            subscriptions: HashMap::new(),
        }
    }
}

#[derive(Debug, Default)]
pub struct Sessions {
    sessions: HashMap<SessionId, Session>,
    /// The session each connection is bound to now.
    bound: HashMap<ConnId, SessionId>,
}

impl Sessions {
    pub fn get(&self, id: &SessionId) -> Option<&Session> {
        self.sessions.get(id)
    }

    pub fn get_mut(&mut self, id: &SessionId) -> Option<&mut Session> {
        self.sessions.get_mut(id)
    }

    pub fn contains(&self, id: &SessionId) -> bool {
        self.sessions.contains_key(id)
    }

    /// KMS accepts a session id it never saw on create/invoke/...: the session is born implicitly.
    pub fn get_or_create(&mut self, id: &SessionId) -> &mut Session {
        let s = self
            .sessions
            .entry(id.clone())
            .or_insert_with(|| Session::new(id.clone()));
        s.in_use = true;
        s
    }

    pub fn ids(&self) -> Vec<SessionId> {
        let mut v: Vec<_> = self.sessions.keys().cloned().collect();
        v.sort();
        v
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn session_of_conn(&self, conn: ConnId) -> Option<&SessionId> {
        self.bound.get(&conn)
    }

    /// Binds a socket to a session, replacing any previous binding of either side, so that the
    /// session's events go to the socket used last.
    pub fn bind(&mut self, conn: &ConnHandle, sid: &SessionId) {
        if self.bound.get(&conn.id) == Some(sid) {
            if let Some(s) = self.sessions.get_mut(sid) {
                if s.conn.as_ref().map(|c| c.id) != Some(conn.id) {
                    s.conn = Some(conn.clone());
                }
            }
            return;
        }
        if let Some(old) = self.bound.insert(conn.id, sid.clone()) {
            if let Some(s) = self.sessions.get_mut(&old) {
                if s.conn.as_ref().is_some_and(|c| c.id == conn.id) {
                    s.conn = None;
                }
            }
        }
        let s = self.get_or_create(sid);
        if let Some(prev) = s.conn.replace(conn.clone()) {
            if prev.id != conn.id {
                self.bound.remove(&prev.id);
            }
        }
    }

    /// A closed socket only unbinds: objects and subscriptions stay until GC or reconnect.
    pub fn unbind_conn(&mut self, conn: ConnId) {
        if let Some(sid) = self.bound.remove(&conn) {
            if let Some(s) = self.sessions.get_mut(&sid) {
                if s.conn.as_ref().is_some_and(|c| c.id == conn) {
                    s.conn = None;
                }
            }
        }
    }

    pub fn remove(&mut self, sid: &SessionId) -> Option<Session> {
        let s = self.sessions.remove(sid)?;
        if let Some(c) = &s.conn {
            self.bound.remove(&c.id);
        }
        Some(s)
    }

    /// One GC pass: returns the sessions nobody marked since the previous pass (they are removed),
    /// and clears the mark of the others. Sessions with a bound socket are re-marked, as KMS's
    /// transport does every period/4.
    pub fn collect(&mut self) -> Vec<Session> {
        let stale: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| !s.in_use && s.conn.as_ref().is_none_or(|c| c.is_closed()))
            .map(|s| s.id.clone())
            .collect();
        for s in self.sessions.values_mut() {
            s.in_use = s.conn.as_ref().is_some_and(|c| !c.is_closed());
        }
        stale
            .into_iter()
            .filter_map(|id| self.remove(&id))
            .collect()
    }

    pub fn all(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut Session> {
        self.sessions.values_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(n: u64) -> (ConnHandle, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(8);
        (ConnHandle::new(ConnId(n), tx), rx)
    }

    #[test]
    fn rebinding_moves_events_to_the_new_socket() {
        let mut s = Sessions::default();
        let sid = SessionId::from_wire("s1");
        let (c1, _r1) = conn(1);
        let (c2, _r2) = conn(2);
        s.bind(&c1, &sid);
        assert_eq!(
            s.get(&sid).and_then(|x| x.conn.as_ref()).map(|c| c.id),
            Some(ConnId(1))
        );
        s.bind(&c2, &sid);
        assert_eq!(
            s.get(&sid).and_then(|x| x.conn.as_ref()).map(|c| c.id),
            Some(ConnId(2))
        );
        assert_eq!(s.session_of_conn(ConnId(1)), None);
        s.unbind_conn(ConnId(1));
        assert!(s.get(&sid).is_some_and(|x| x.conn.is_some()));
        s.unbind_conn(ConnId(2));
        assert!(s.get(&sid).is_some_and(|x| x.conn.is_none()));
    }

    #[test]
    fn gc_needs_two_unmarked_passes() {
        let mut s = Sessions::default();
        let sid = SessionId::from_wire("s1");
        s.get_or_create(&sid);
        assert!(s.collect().is_empty(), "fresh sessions are marked");
        let gone = s.collect();
        assert_eq!(gone.len(), 1);
        assert!(!s.contains(&sid));
    }

    #[test]
    fn bound_sessions_survive_gc() {
        let mut s = Sessions::default();
        let sid = SessionId::from_wire("s1");
        let (c1, _r) = conn(1);
        s.bind(&c1, &sid);
        for _ in 0..3 {
            assert!(s.collect().is_empty());
        }
    }

    #[test]
    fn full_queue_closes_connection() {
        let (c, _r) = conn(1);
        for i in 0..9 {
            c.send(format!("{i}"));
        }
        assert!(c.is_closed());
    }
}
