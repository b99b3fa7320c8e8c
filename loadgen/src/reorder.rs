//! Receive-side reorder buffer: packets are released in sequence order; a missing packet is
//! waited for (a NACK retransmission or a packet the network reordered) before it is counted
//! lost. In-order packets pass straight through, so a clean link behaves as without it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Long enough for a NACK round trip and a second attempt on a jittery link.
pub const DEFAULT_WAIT: Duration = Duration::from_millis(500);
/// Held packets beyond this give up the oldest gap at once (bounds memory on a dead stream).
const MAX_HELD: usize = 4096;

/// What comes out of the buffer, in sequence order.
#[derive(Debug, PartialEq, Eq)]
pub enum Out<T> {
    Packet(T),
    /// This many packets just before the next released one were given up as lost.
    Gap(u64),
}

pub struct Reorder<T> {
    wait: Duration,
    /// Next sequence number to release.
    next: Option<u64>,
    /// Packets after a gap: (arrival, packet) by extended sequence number.
    held: BTreeMap<u64, (Instant, T)>,
    pub lost: u64,
    /// Packets that filled a gap: arrived after a later-numbered one, in time to be used.
    pub recovered: u64,
    /// Duplicates, and packets that arrived after their gap had been given up.
    pub late: u64,
}

impl<T> Reorder<T> {
    pub fn new(wait: Duration) -> Self {
        Reorder {
            wait,
            next: None,
            held: BTreeMap::new(),
            lost: 0,
            recovered: 0,
            late: 0,
        }
    }

    /// Takes packet `seq` (extended sequence number) that arrived at `now`; appends to `out`
    /// whatever can now be released, then gives up gaps older than the wait.
    pub fn push(&mut self, seq: u64, now: Instant, pkt: T, out: &mut Vec<Out<T>>) {
        let next = *self.next.get_or_insert(seq);
        if seq < next || self.held.contains_key(&seq) {
            self.late += 1;
        } else if seq == next {
            if !self.held.is_empty() {
                self.recovered += 1;
            }
            out.push(Out::Packet(pkt));
            self.next = Some(seq + 1);
            self.release_run(out);
        } else {
            // A packet numbered below the highest held one fills (part of) a later gap.
            if self.held.last_key_value().is_some_and(|(&k, _)| k > seq) {
                self.recovered += 1;
            }
            self.held.insert(seq, (now, pkt));
        }
        self.poll(now, out);
    }

    /// Gives up every gap whose first later packet has waited `wait`; appends what that releases.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<Out<T>>) {
        while let Some(d) = self.deadline() {
            if d > now && self.held.len() <= MAX_HELD {
                break;
            }
            self.skip_gap(out);
        }
    }

    /// Releases everything held, counting every remaining gap lost (end of stream).
    pub fn flush(&mut self, out: &mut Vec<Out<T>>) {
        while !self.held.is_empty() {
            self.skip_gap(out);
        }
    }

    /// When the oldest held packet has waited long enough to give up the gap before it.
    pub fn deadline(&self) -> Option<Instant> {
        // The gap ahead of the held packets is as old as the earliest of them to arrive.
        self.held
            .values()
            .map(|(t, _)| *t)
            .min()
            .map(|t| t + self.wait)
    }

    fn skip_gap(&mut self, out: &mut Vec<Out<T>>) {
        let (Some(next), Some((&first, _))) = (self.next, self.held.first_key_value()) else {
            return;
        };
        let n = first.saturating_sub(next);
        if n > 0 {
            self.lost += n;
            out.push(Out::Gap(n));
        }
        self.next = Some(first);
        self.release_run(out);
    }

    /// Releases held packets that continue the sequence without a gap.
    fn release_run(&mut self, out: &mut Vec<Out<T>>) {
        while let Some(next) = self.next {
            match self.held.first_key_value() {
                Some((&k, _)) if k == next => {
                    if let Some((_, (_, p))) = self.held.pop_first() {
                        out.push(Out::Packet(p));
                    }
                    self.next = Some(next + 1);
                }
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &mut Reorder<u64>, seqs: &[u64], now: Instant) -> Vec<Out<u64>> {
        let mut out = Vec::new();
        for &s in seqs {
            r.push(s, now, s, &mut out);
        }
        out
    }

    fn packets(out: &[Out<u64>]) -> Vec<u64> {
        out.iter()
            .filter_map(|o| match o {
                Out::Packet(p) => Some(*p),
                Out::Gap(_) => None,
            })
            .collect()
    }

    #[test]
    fn in_order_packets_pass_at_once() {
        let mut r = Reorder::new(DEFAULT_WAIT);
        let out = run(&mut r, &[5, 6, 7, 8], Instant::now());
        assert_eq!(packets(&out), vec![5, 6, 7, 8]);
        assert_eq!((r.lost, r.recovered, r.late), (0, 0, 0));
        assert_eq!(r.deadline(), None);
    }

    #[test]
    fn a_gap_filled_in_time_is_recovered_not_lost() {
        let t0 = Instant::now();
        let mut r = Reorder::new(Duration::from_millis(500));
        let mut out = run(&mut r, &[1, 2, 4, 5], t0);
        assert_eq!(packets(&out), vec![1, 2], "held behind the gap");
        assert_eq!(r.deadline(), Some(t0 + Duration::from_millis(500)));
        r.poll(t0 + Duration::from_millis(200), &mut out);
        assert_eq!(packets(&out), vec![1, 2]);
        // The retransmission of 3 arrives 300 ms later.
        r.push(3, t0 + Duration::from_millis(300), 3, &mut out);
        assert_eq!(packets(&out), vec![1, 2, 3, 4, 5]);
        assert!(!out.iter().any(|o| matches!(o, Out::Gap(_))));
        assert_eq!((r.lost, r.recovered, r.late), (0, 1, 0));
        assert_eq!(r.deadline(), None);
    }

    #[test]
    fn a_gap_not_filled_in_time_is_lost_and_its_late_packet_ignored() {
        let t0 = Instant::now();
        let mut r = Reorder::new(Duration::from_millis(500));
        let mut out = run(&mut r, &[1, 4, 5], t0);
        r.poll(t0 + Duration::from_millis(499), &mut out);
        assert_eq!(packets(&out), vec![1]);
        r.poll(t0 + Duration::from_millis(500), &mut out);
        assert_eq!(
            out,
            vec![Out::Packet(1), Out::Gap(2), Out::Packet(4), Out::Packet(5)]
        );
        assert_eq!(r.lost, 2);
        r.push(2, t0 + Duration::from_millis(600), 2, &mut out);
        assert_eq!((r.lost, r.recovered, r.late), (2, 0, 1));
        assert_eq!(packets(&out), vec![1, 4, 5]);
    }

    #[test]
    fn gaps_time_out_one_after_another_and_partial_fills_count() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut r = Reorder::new(ms(100));
        let mut out = Vec::new();
        r.push(10, t0, 10, &mut out);
        r.push(13, t0, 13, &mut out); // 11, 12 missing
        r.push(16, t0 + ms(50), 16, &mut out); // 14, 15 missing
        r.push(12, t0 + ms(60), 12, &mut out); // fills half of the first gap
        r.push(16, t0 + ms(60), 16, &mut out); // duplicate
        assert_eq!(packets(&out), vec![10]);
        r.poll(t0 + ms(100), &mut out);
        // 11 is given up (13 has waited 100 ms); 12 and 13 go; 16 came at 50 ms, so the
        // 14-15 gap still has 50 ms to go.
        assert_eq!(packets(&out), vec![10, 12, 13]);
        r.poll(t0 + ms(150), &mut out);
        assert_eq!(packets(&out), vec![10, 12, 13, 16]);
        assert_eq!((r.lost, r.recovered, r.late), (3, 1, 1));
    }

    #[test]
    fn flush_releases_everything_and_counts_the_gaps() {
        let mut r = Reorder::new(DEFAULT_WAIT);
        let mut out = run(&mut r, &[1, 3, 6], Instant::now());
        r.flush(&mut out);
        assert_eq!(packets(&out), vec![1, 3, 6]);
        assert_eq!(r.lost, 3);
        assert_eq!(r.deadline(), None);
    }

    #[test]
    fn zero_wait_declares_gaps_at_once() {
        let mut r = Reorder::new(Duration::ZERO);
        let out = run(&mut r, &[1, 3, 2, 4], Instant::now());
        assert_eq!(
            out,
            vec![Out::Packet(1), Out::Gap(1), Out::Packet(3), Out::Packet(4)]
        );
        assert_eq!((r.lost, r.recovered, r.late), (1, 0, 1));
    }
}
