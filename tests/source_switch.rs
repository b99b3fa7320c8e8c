//! A sink that switches sources (what Dispatcher and disconnect/connect do) keeps sending one
//! continuous stream: its peer sees the sequence numbers go on by one and the timestamps move
//! forward, however far apart the two sources' own numbers are.

mod webrtc_common;

use std::time::Duration;

use kurento_media_server::media::{ElementId, MediaType, PipelineMedia, Route};
use kurento_media_server::webrtc::MediaKind;
use webrtc_common::*;

fn video(source: ElementId, sink: ElementId) -> Vec<Route> {
    vec![Route {
        source,
        media: MediaType::Video,
        sink,
    }]
}

/// Sends `n` tagged VP8 frames (one packet each) from `from` while stepping everyone.
async fn send(legs: &mut [&mut Leg; 3], from: usize, n: usize, tag: u8) {
    for i in 0..n {
        let mut payload = vp8_payload(i, i == 0);
        payload.push(tag);
        legs[from].peer.send(MediaKind::Video, &payload, true);
        for l in legs.iter_mut() {
            l.peer.step(Duration::from_millis(1)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_sources_keeps_the_sinks_stream_continuous() {
    init_log();
    let media = PipelineMedia::spawn("switch".into(), |_| {});
    let mut a = Leg::new(&media).await;
    let mut b = Leg::new(&media).await;
    let mut sink = Leg::new(&media).await;
    let mut legs = [&mut a, &mut b, &mut sink];
    run_legs(
        &mut legs,
        Duration::from_secs(10),
        "three connections",
        |l| l.iter().all(|l| l.peer.connected),
    )
    .await;
    let (ka, kb, ks) = (legs[0].key, legs[1].key, legs[2].key);

    // Source A runs 300 packets ahead of B in its own numbering before the sink sees B.
    media.set_routes(video(ka, ks));
    send(&mut legs, 0, 300, b'A').await;
    send(&mut legs, 1, 5, b'-').await;
    media.set_routes(video(kb, ks));
    tokio::time::sleep(Duration::from_millis(20)).await;
    send(&mut legs, 1, 60, b'B').await;
    run_legs(
        &mut legs,
        Duration::from_secs(5),
        "B's video at the sink",
        |l| {
            l[2].peer
                .received_of(MediaKind::Video)
                .iter()
                .filter(|p| p.last() == Some(&b'B'))
                .count()
                >= 50
        },
    )
    .await;

    let sink = &legs[2].peer;
    let video_mid = sink.video_mid.unwrap();
    let seqs: Vec<(u64, u32)> = sink
        .received_seq
        .iter()
        .filter(|(m, _, _)| *m == video_mid)
        .map(|(_, s, t)| (*s, *t))
        .collect();
    let tags: Vec<u8> = sink
        .received_of(MediaKind::Video)
        .iter()
        .filter_map(|p| p.last().copied())
        .collect();
    let switch = tags.iter().position(|t| *t == b'B').unwrap();
    assert!(switch > 0, "A's video came first");
    for w in seqs.windows(2) {
        assert_eq!(w[1].0, w[0].0 + 1, "sequence numbers go on by one: {w:?}");
    }
    let (before, after) = (seqs[switch - 1].1, seqs[switch].1);
    assert!(
        after.wrapping_sub(before) < 90_000 && after != before,
        "the timestamp moves forward a little at the switch: {before} -> {after}"
    );
}
