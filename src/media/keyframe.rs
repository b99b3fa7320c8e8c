//! Keyframe-request merging: a source is asked at most once per interval; requests inside the
//! interval are merged into one sent when it ends. N viewers joining at once cost the presenter one
//! keyframe, and every joiner still gets one within the interval.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct KeyframeThrottle<K> {
    interval: Duration,
    last: HashMap<K, Instant>,
    deferred: HashSet<K>,
}

impl<K: Copy + Eq + Hash> KeyframeThrottle<K> {
    pub fn new(interval: Duration) -> Self {
        KeyframeThrottle {
            interval,
            last: HashMap::new(),
            deferred: HashSet::new(),
        }
    }

    /// True when the request must go out now; otherwise it is deferred.
    pub fn handle_request(&mut self, key: K, now: Instant) -> bool {
        if self
            .last
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < self.interval)
        {
            self.deferred.insert(key);
            return false;
        }
        self.last.insert(key, now);
        true
    }

    /// Deferred requests whose interval has ended, to send now (one per key).
    pub fn poll_due(&mut self, now: Instant) -> Vec<K> {
        let interval = self.interval;
        let due: Vec<K> = self
            .deferred
            .iter()
            .filter(|k| {
                self.last
                    .get(k)
                    .is_none_or(|t| now.duration_since(*t) >= interval)
            })
            .copied()
            .collect();
        for k in &due {
            self.deferred.remove(k);
            self.last.insert(*k, now);
        }
        due
    }

    pub fn has_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// When the earliest deferred request becomes due.
    pub fn next_due(&self) -> Option<Instant> {
        self.deferred
            .iter()
            .map(|k| {
                self.last
                    .get(k)
                    .map_or_else(Instant::now, |t| *t + self.interval)
            })
            .min()
    }

    pub fn forget(&mut self, pred: impl Fn(&K) -> bool) {
        self.last.retain(|k, _| !pred(k));
        self.deferred.retain(|k| !pred(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn first_request_goes_out_at_once() {
        let mut t = KeyframeThrottle::new(S);
        let now = Instant::now();
        assert!(t.handle_request(1, now));
        assert!(t.handle_request(2, now), "keys are independent");
    }

    #[test]
    fn a_burst_of_joiners_costs_one_more_keyframe_at_the_end_of_the_interval() {
        let mut t = KeyframeThrottle::new(S);
        let t0 = Instant::now();
        assert!(t.handle_request(1, t0));
        for i in 1..100 {
            assert!(!t.handle_request(1, t0 + Duration::from_millis(i)));
        }
        assert!(t.poll_due(t0 + Duration::from_millis(500)).is_empty());
        assert_eq!(t.poll_due(t0 + S), vec![1]);
        assert!(t.poll_due(t0 + S * 2).is_empty(), "merged into one");
        assert!(!t.has_deferred());
    }

    #[test]
    fn after_the_interval_a_request_goes_out_at_once_again() {
        let mut t = KeyframeThrottle::new(S);
        let t0 = Instant::now();
        assert!(t.handle_request(7, t0));
        assert!(t.handle_request(7, t0 + S));
    }

    #[test]
    fn forgetting_a_source_drops_its_pending_request() {
        let mut t = KeyframeThrottle::new(S);
        let t0 = Instant::now();
        t.handle_request(3, t0);
        t.handle_request(3, t0);
        t.forget(|k| *k == 3);
        assert!(t.poll_due(t0 + S).is_empty());
    }
}
