//! Sequence numbers and timestamps of what an endpoint sends, rewritten per outgoing stream.
//!
//! A sink can change sources (Dispatcher, DispatcherOneToMany, disconnect + connect) while its
//! peer keeps one receiving stream. Passed through unchanged, the new source's numbers would jump
//! anywhere: a jump back looks like old packets to the receiver's jitter buffer, which drops them
//! until the numbers catch up (seconds of frozen video), and a timestamp jump upsets its playout
//! clock. So when the source changes, the new source's numbers are offset to continue where the
//! last source stopped: the next sequence number, and a timestamp advanced by the wall-clock time
//! since the last packet. Within one source, offsets stay fixed so reordering and gaps pass
//! through as they are (NACKs depend on them).

use std::time::Instant;

#[derive(Debug, Default)]
pub struct OutStream {
    /// SSRC of the source currently feeding this stream.
    source: Option<u32>,
    /// Highest extended sequence number received from that source.
    in_newest: u64,
    seq_offset: i64,
    ts_offset: u32,
    /// Highest extended sequence number sent, with its timestamp and when it was sent.
    out_newest: Option<(u64, u32, Instant)>,
}

/// The extended form of `s` closest to `last`.
pub fn extend_seq(last: Option<u64>, s: u16) -> u64 {
    match last {
        None => s as u64,
        Some(l) => {
            let delta = s.wrapping_sub(l as u16) as i16 as i64;
            (l as i64 + delta).max(0) as u64
        }
    }
}

impl OutStream {
    /// The (extended sequence number, timestamp) to send a packet of `source` with.
    pub fn rewrite(
        &mut self,
        source: u32,
        seq: u16,
        ts: u32,
        clock_rate: u32,
        now: Instant,
    ) -> (u64, u32) {
        if self.source != Some(source) {
            // The first stream starts at its own number: the extended number is also the SRTP
            // index, whose rollover counter the receiver assumes to start at 0.
            let first = u64::from(seq);
            match self.out_newest {
                Some((out_seq, out_ts, at)) => {
                    self.seq_offset = (out_seq + 1) as i64 - first as i64;
                    let elapsed = now.duration_since(at).as_secs_f64() * f64::from(clock_rate);
                    let ticks = (elapsed as u32).max(1);
                    self.ts_offset = out_ts.wrapping_add(ticks).wrapping_sub(ts);
                }
                None => {
                    self.seq_offset = 0;
                    self.ts_offset = 0;
                }
            }
            self.source = Some(source);
            self.in_newest = first;
        }
        let ext = extend_seq(Some(self.in_newest), seq);
        self.in_newest = self.in_newest.max(ext);
        let out_seq = (ext as i64 + self.seq_offset).max(0) as u64;
        let out_ts = ts.wrapping_add(self.ts_offset);
        if self.out_newest.is_none_or(|(n, _, _)| out_seq > n) {
            self.out_newest = Some((out_seq, out_ts, now));
        }
        (out_seq, out_ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn seq_extension_handles_wrap_and_reorder() {
        assert_eq!(extend_seq(None, 5), 5);
        assert_eq!(extend_seq(Some(65535), 0), 65536);
        assert_eq!(extend_seq(Some(65536), 65535), 65535);
        assert_eq!(extend_seq(Some(10), 8), 8);
        assert_eq!(extend_seq(Some(3), 65534), 0, "never below zero");
    }

    #[test]
    fn one_source_passes_through_with_its_gaps_and_reordering() {
        let mut o = OutStream::default();
        let t = Instant::now();
        let (s0, ts0) = o.rewrite(1, 100, 9000, 90000, t);
        assert_eq!(o.rewrite(1, 102, 9000, 90000, t), (s0 + 2, ts0));
        assert_eq!(o.rewrite(1, 101, 9000, 90000, t), (s0 + 1, ts0));
        assert_eq!(o.rewrite(1, 99, 6000, 90000, t), (s0 - 1, ts0 - 3000));
        // Across the 16-bit wrap.
        let mut o = OutStream::default();
        let (a, _) = o.rewrite(1, 65535, 0, 90000, t);
        let (b, _) = o.rewrite(1, 0, 0, 90000, t);
        assert_eq!(b, a + 1);
    }

    #[test]
    fn a_new_source_continues_where_the_last_one_stopped() {
        let mut o = OutStream::default();
        let t = Instant::now();
        let mut last = (0, 0);
        for i in 0..10u16 {
            last = o.rewrite(1, 40_000 + i, 1_000_000 + 3000 * u32::from(i), 90000, t);
        }
        // The second source's numbers are far behind the first's, and its clock elsewhere.
        let later = t + Duration::from_millis(100);
        let (seq, ts) = o.rewrite(2, 7, 5, 90000, later);
        assert_eq!(seq, last.0 + 1, "no jump back, no gap");
        assert_eq!(
            ts,
            last.1 + 9000,
            "timestamp advanced by the 100 ms that passed"
        );
        assert_eq!(o.rewrite(2, 8, 3005, 90000, later), (seq + 1, ts + 3000));
        // And back to the first source, which moved on meanwhile.
        let (seq1, _) = o.rewrite(1, 40_500, 2_000_000, 90000, later);
        assert_eq!(seq1, seq + 2);
    }
}
