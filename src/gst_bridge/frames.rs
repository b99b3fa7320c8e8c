//! Raw frames for the vision filters (KMS's optional modules): the chain converts the video to
//! RGBA and every frame passes, in place, through a [`FrameProcessor`] on its way to the encoder.
//! The processors are our own code (`crate::vision`) and never see a GStreamer type.

use super::filter::FilterSpec;
use super::lock;
use super::transcoder::ChainHooks;
use crate::media::MediaKind;
use crate::vision::{Frame, FrameProcessor, Picture};
use gst::prelude::*;
use gstreamer as gst;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FRAMES_NAME: &str = "kms_frames";

/// A filter whose video goes through `processor`.
pub fn spec(processor: Arc<Mutex<dyn FrameProcessor>>) -> FilterSpec {
    let description = format!(
        "videoconvert ! video/x-raw,format=RGBA ! identity name={FRAMES_NAME} ! videoconvert"
    );
    FilterSpec::custom(
        MediaKind::Video,
        description,
        Arc::new(FrameHooks { processor }),
    )
}

struct FrameHooks {
    processor: Arc<Mutex<dyn FrameProcessor>>,
}

impl ChainHooks for FrameHooks {
    fn started(&self, pipeline: &gst::Pipeline) {
        let Some(pad) = pipeline
            .by_name(FRAMES_NAME)
            .and_then(|e| e.static_pad("src"))
        else {
            return;
        };
        let processor = self.processor.clone();
        let size: Mutex<Option<(usize, usize)>> = Mutex::new(None);
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                if let Some(gst::PadProbeData::Event(ev)) = &info.data {
                    if let gst::EventView::Caps(c) = ev.view() {
                        *lock(&size) = c.caps().structure(0).and_then(|s| {
                            let w = s.get::<i32>("width").ok()?;
                            let h = s.get::<i32>("height").ok()?;
                            Some((usize::try_from(w).ok()?, usize::try_from(h).ok()?))
                        });
                    }
                    return gst::PadProbeReturn::Ok;
                }
                let Some((width, height)) = *lock(&size) else {
                    return gst::PadProbeReturn::Ok;
                };
                let Some(buffer) = info.buffer_mut() else {
                    return gst::PadProbeReturn::Ok;
                };
                let buffer = buffer.make_mut();
                let pts = buffer.pts().map(|t| Duration::from_nanos(t.nseconds()));
                let Ok(mut map) = buffer.map_writable() else {
                    return gst::PadProbeReturn::Ok;
                };
                // RGBA rows are never padded (4-byte pixels), so the size says it all.
                if let Some(mut frame) = Frame::new(width, height, map.as_mut_slice()) {
                    lock(&processor).process(&mut frame, pts);
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
}

/// A fetched image decoded to RGBA at its own size (a chroma background, a pointer window's
/// icon). Err for what does not decode as an image.
pub fn decode_picture(image: &super::overlay::OverlayImage) -> Result<Picture, String> {
    super::engine().map_err(str::to_string)?;
    let location = image.path().to_string_lossy().replace('"', "");
    let desc = format!(
        "filesrc location=\"{location}\" ! decodebin ! videoconvert ! video/x-raw,format=RGBA ! appsink name=s sync=false"
    );
    let p = gst::parse::launch(&desc)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    let result = (|| {
        let sink = p
            .by_name("s")
            .and_then(|s| s.downcast::<gstreamer_app::AppSink>().ok())
            .ok_or("no sink")?;
        p.set_state(gst::State::Paused)
            .map_err(|_| "the image does not decode".to_string())?;
        let sample = sink
            .try_pull_preroll(gst::ClockTime::from_seconds(4))
            .ok_or("the image does not decode")?;
        let s = sample
            .caps()
            .and_then(|c| c.structure(0).map(|s| s.to_owned()))
            .ok_or("no caps")?;
        let w = s.get::<i32>("width").map_err(|e| e.to_string())?;
        let h = s.get::<i32>("height").map_err(|e| e.to_string())?;
        let buffer = sample.buffer().ok_or("no buffer")?;
        let map = buffer.map_readable().map_err(|e| e.to_string())?;
        let (w, h) = (w.max(0) as usize, h.max(0) as usize);
        Picture::new(w, h, map.as_slice().to_vec())
            .ok_or_else(|| "unexpected image layout".to_string())
    })();
    let _ = p.set_state(gst::State::Null);
    result
}
