//! Bandwidth feedback through a pipeline router: viewers' REMB estimates reach the presenter as
//! the minimum over its viewers, clamped by the endpoints' bandwidth limits.

mod webrtc_common;

use std::time::Duration;

use kurento_media_server::media::{BitrateLimits, ElementId, MediaType, PipelineMedia, Route};
use webrtc_common::*;

/// Waits until the presenter (`legs[0]`) was last told `want` bps.
async fn expect_remb(legs: &mut [&mut Leg], want: u64, what: &str) {
    // REMB carries a mantissa and an exponent: a few per mille of rounding.
    let near = |v: Option<&u64>| v.is_some_and(|v| v.abs_diff(want) <= want / 100);
    run_legs(legs, Duration::from_secs(5), what, |l| {
        near(l[0].peer.remb.last())
    })
    .await;
}

fn video_routes(src: ElementId, sinks: &[ElementId]) -> Vec<Route> {
    sinks
        .iter()
        .map(|s| Route {
            source: src,
            media: MediaType::Video,
            sink: *s,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_remb_reaches_the_presenter_as_their_minimum_within_the_limits() {
    init_log();
    let media = PipelineMedia::spawn("remb".into(), |_| {});
    let mut p = Leg::new(&media).await;
    let mut v1 = Leg::new(&media).await;
    let mut v2 = Leg::new(&media).await;
    run_legs(
        &mut [&mut p, &mut v1, &mut v2],
        Duration::from_secs(10),
        "three connections",
        |l| l.iter().all(|l| l.peer.connected),
    )
    .await;
    media.set_routes(video_routes(p.key, &[v1.key, v2.key]));

    v1.peer.send_remb(300_000);
    v2.peer.send_remb(800_000);
    expect_remb(
        &mut [&mut p, &mut v1, &mut v2],
        300_000,
        "the slower viewer's estimate at the presenter",
    )
    .await;

    // The slow viewer leaves: the presenter may send more again.
    media.set_routes(video_routes(p.key, &[v2.key]));
    expect_remb(
        &mut [&mut p, &mut v1, &mut v2],
        800_000,
        "the remaining viewer's estimate",
    )
    .await;

    // maxVideoSendBandwidth on the viewer's endpoint caps what it passes on...
    media.set_bitrate_limits(
        v2.key,
        BitrateLimits {
            max_send: Some(600_000),
            ..Default::default()
        },
    );
    expect_remb(
        &mut [&mut p, &mut v1, &mut v2],
        600_000,
        "the viewer's send maximum",
    )
    .await;

    // ...and maxVideoRecvBandwidth on the presenter's endpoint caps the whole stream.
    media.set_bitrate_limits(
        p.key,
        BitrateLimits {
            max_recv: Some(450_000),
            ..Default::default()
        },
    );
    expect_remb(
        &mut [&mut p, &mut v1, &mut v2],
        450_000,
        "the presenter's receive maximum",
    )
    .await;
}
