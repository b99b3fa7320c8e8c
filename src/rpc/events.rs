//! Event subscriptions: one delivery per (session, object, event name) however many times the
//! session subscribed, as KMS keeps one handler per triple; delivery goes to the socket bound to
//! the session now (none bound: dropped, as in KMS).

use super::session::Sessions;
use crate::objects::{RaisedEvent, Registry};
use kurento_protocol::{events, jsonrpc, ObjectId, SessionId, SubscriptionId};
use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct Subscriptions {
    /// (object, event name) → session → number of live subscriptions.
    targets: HashMap<(ObjectId, String), BTreeMap<SessionId, usize>>,
    by_id: HashMap<SubscriptionId, (SessionId, ObjectId, String)>,
}

impl Subscriptions {
    pub fn add(
        &mut self,
        sub: SubscriptionId,
        session: &SessionId,
        object: &ObjectId,
        event: &str,
    ) {
        *self
            .targets
            .entry((object.clone(), event.to_string()))
            .or_default()
            .entry(session.clone())
            .or_default() += 1;
        self.by_id
            .insert(sub, (session.clone(), object.clone(), event.to_string()));
    }

    /// Unknown ids are not an error (KMS never fails an unsubscribe).
    pub fn remove(&mut self, sub: &SubscriptionId) {
        let Some((s, o, e)) = self.by_id.remove(sub) else {
            return;
        };
        let key = (o, e);
        if let Some(sessions) = self.targets.get_mut(&key) {
            if let Some(n) = sessions.get_mut(&s) {
                *n -= 1;
                if *n == 0 {
                    sessions.remove(&s);
                }
            }
            if sessions.is_empty() {
                self.targets.remove(&key);
            }
        }
    }

    pub fn remove_object(&mut self, object: &ObjectId) {
        self.targets.retain(|(o, _), _| o != object);
        self.by_id.retain(|_, (_, o, _)| o != object);
    }

    pub fn remove_session(&mut self, session: &SessionId) {
        let ids: Vec<SubscriptionId> = self
            .by_id
            .iter()
            .filter(|(_, (s, _, _))| s == session)
            .map(|(k, _)| k.clone())
            .collect();
        for id in ids {
            self.remove(&id);
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Sends one raised event to every session subscribed to any of its names.
    pub fn deliver(&self, sessions: &Sessions, reg: &Registry, ev: &RaisedEvent) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let tags: &[(String, String)] = match reg.get(&ev.source) {
            Some(o) if o.send_tags_in_events => &o.tags,
            _ => &[],
        };
        for name in events::names_for(ev.name) {
            let Some(subscribers) = self.targets.get(&(ev.source.clone(), name.to_string())) else {
                continue;
            };
            let data = events::event_data(name, ev.source.as_str(), &ev.fields, tags, now_ms);
            let text = jsonrpc::on_event(ev.source.as_str(), name, data).to_string();
            for sid in subscribers.keys() {
                if let Some(conn) = sessions.get(sid).and_then(|s| s.conn.as_ref()) {
                    conn.send(text.clone());
                }
            }
        }
    }
}
