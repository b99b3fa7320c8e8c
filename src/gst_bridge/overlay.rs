//! Image overlays: FaceOverlayFilter (an image over every detected face, KMS's geometry) and
//! ImageOverlayFilter (images at fixed places of the frame). Both draw with gdkpixbufoverlay,
//! which alpha-blends PNGs; face detection is opencv's facedetect on a downscaled copy of the
//! video in its own thread behind a leaky queue, so the video keeps its frame rate whatever
//! detection costs.

use super::filter::FilterSpec;
use super::lock;
use super::transcoder::ChainHooks;
use super::uri::{self, Location};
use crate::media::MediaKind;
use gst::prelude::*;
use gstreamer as gst;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, info};

/// Faces overlaid at once (one gdkpixbufoverlay each).
const MAX_FACES: usize = 4;
/// Images an ImageOverlayFilter holds at once.
pub const MAX_IMAGES: usize = 8;
/// Detection runs on frames this size, at most this often.
const DETECT_WIDTH: u32 = 320;
const DETECT_HEIGHT: u32 = 240;
const DETECT_FPS: u32 = 15;
/// Faces stay overlaid this long after the detector stops seeing them (a missed detection
/// must not make the overlay flicker).
const HOLD: Duration = Duration::from_millis(400);
/// An overlay image's download: the whole transfer, and its largest size.
const FETCH_TIMEOUT: Duration = Duration::from_secs(4);
const MAX_IMAGE_BYTES: u64 = 16 * 1024 * 1024;

/// An image ready for gdkpixbufoverlay: a local file, deleted on drop when we downloaded it.
#[derive(Debug)]
pub struct OverlayImage {
    path: PathBuf,
    temporary: bool,
}

impl OverlayImage {
    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OverlayImage {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether the bytes start like an image gdk-pixbuf reads (PNG, JPEG, GIF, BMP); anything else
/// would make the overlay element fail the whole chain.
fn looks_like_image(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .map_err(|e| format!("cannot open {path:?}: {e}"))?
        .take(64 * 1024)
        .read_to_end(&mut head)
        .map_err(|e| format!("cannot read {path:?}: {e}"))?;
    let ok = head.starts_with(b"\x89PNG\r\n\x1a\n")
        || head.starts_with(&[0xff, 0xd8, 0xff])
        || head.starts_with(b"GIF8")
        || head.starts_with(b"BM");
    if !ok {
        return Err(format!("{path:?} is not a PNG, JPEG, GIF or BMP image"));
    }
    match declared_size(&head) {
        Some((w, h)) if w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE => Err(format!(
            "{path:?} is {w}×{h}: images up to {MAX_IMAGE_SIDE} pixels a side are used"
        )),
        _ => Ok(()),
    }
}

/// Larger images are refused before decoding: a small file can declare a huge picture (a
/// decompression bomb), and decoders allocate what the header says.
const MAX_IMAGE_SIDE: u64 = 8192;

/// The size an image's header declares (PNG IHDR, GIF screen, BMP header, JPEG SOF), if readable.
fn declared_size(head: &[u8]) -> Option<(u64, u64)> {
    let be32 = |i: usize| Some(u32::from_be_bytes(head.get(i..i + 4)?.try_into().ok()?) as u64);
    let le16 = |i: usize| Some(u16::from_le_bytes(head.get(i..i + 2)?.try_into().ok()?) as u64);
    let le32 = |i: usize| Some(i32::from_le_bytes(head.get(i..i + 4)?.try_into().ok()?));
    if head.starts_with(b"\x89PNG") {
        return Some((be32(16)?, be32(20)?));
    }
    if head.starts_with(b"GIF8") {
        return Some((le16(6)?, le16(8)?));
    }
    if head.starts_with(b"BM") {
        return Some((
            le32(18)?.unsigned_abs() as u64,
            le32(22)?.unsigned_abs() as u64,
        ));
    }
    // JPEG: walk the segments to the first start-of-frame.
    let mut i = 2;
    while i + 9 < head.len() {
        if head[i] != 0xff {
            return None;
        }
        let marker = head[i + 1];
        let len = u16::from_be_bytes([head[i + 2], head[i + 3]]) as usize;
        if (0xc0..=0xcf).contains(&marker) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
            let h = u16::from_be_bytes([head[i + 5], head[i + 6]]) as u64;
            let w = u16::from_be_bytes([head[i + 7], head[i + 8]]) as u64;
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Downloads an http(s) image with GStreamer's own HTTP source, within [`FETCH_TIMEOUT`].
fn download(url: &str) -> Result<PathBuf, String> {
    let path = std::env::temp_dir().join(format!(
        "kms-overlay-{}-{}",
        std::process::id(),
        NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    let src = gst::ElementFactory::make("souphttpsrc")
        .property("location", url)
        .property("timeout", 3u32)
        .property("ssl-strict", false)
        .build()
        .map_err(|e| format!("cannot fetch http images: {e}"))?;
    let sink = gst::ElementFactory::make("filesink")
        .property("location", path.to_string_lossy().as_ref())
        .property("sync", false)
        .build()
        .map_err(|e| e.to_string())?;
    let p = gst::Pipeline::new();
    p.add_many([&src, &sink]).map_err(|e| e.to_string())?;
    src.link(&sink).map_err(|e| e.to_string())?;
    let bus = p.bus().ok_or("no bus")?;
    p.set_state(gst::State::Playing)
        .map_err(|e| format!("cannot fetch {url}: {e}"))?;
    let deadline = Instant::now() + FETCH_TIMEOUT;
    let result = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(format!("{url}: no answer within {FETCH_TIMEOUT:?}"));
        }
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(left.as_millis() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => break Err(format!("{url}: {}", e.error())),
            _ => {}
        }
    };
    let _ = p.set_state(gst::State::Null);
    let cleanup = |e: String| {
        let _ = std::fs::remove_file(&path);
        e
    };
    result.map_err(cleanup)?;
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if len == 0 || len > MAX_IMAGE_BYTES {
        return Err(cleanup(format!("{url}: {len} bytes is not an image size")));
    }
    Ok(path)
}

/// Fetches an overlay image: file://, http(s):// or a plain path (relative to `default_path`,
/// KMS's UriEndpoint defaultPath). Blocking: call it off the control plane.
pub fn load_image(uri: &str, default_path: &str) -> Result<OverlayImage, String> {
    super::engine().map_err(str::to_string)?;
    let location = if uri.starts_with('/') {
        Location::File(PathBuf::from(uri))
    } else {
        uri::parse(uri, default_path)?
    };
    let image = match location {
        Location::File(path) => OverlayImage {
            path,
            temporary: false,
        },
        Location::Http(url) => OverlayImage {
            path: download(&url)?,
            temporary: true,
        },
        Location::Rtsp(_) => return Err(format!("'{uri}' is not an image URI")),
    };
    looks_like_image(&image.path)?;
    Ok(image)
}

/// Where an overlay goes, in pixels of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

/// setOverlayedImage's numbers, as fractions of the face's size (KMS's geometry).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceGeometry {
    pub offset_x: f64,
    pub offset_y: f64,
    pub width: f64,
    pub height: f64,
}

impl FaceGeometry {
    /// The overlay for a face, as KMS places it: offsets are relative to the face's width and
    /// height (a positive Y moves down); a zero size draws nothing.
    pub fn place(&self, face: Placement) -> Option<Placement> {
        if self.width == 0.0 || self.height == 0.0 {
            return None;
        }
        let p = Placement {
            x: face.x + (face.width as f64 * self.offset_x) as i32,
            y: face.y + (face.height as f64 * self.offset_y) as i32,
            width: (face.width as f64 * self.width) as i32,
            height: (face.height as f64 * self.height) as i32,
        };
        (p.width > 0 && p.height > 0).then_some(p)
    }
}

/// addImage's numbers: fractions of the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageGeometry {
    pub offset_x: f64,
    pub offset_y: f64,
    pub width: f64,
    pub height: f64,
    pub keep_aspect_ratio: bool,
    pub center: bool,
}

impl ImageGeometry {
    /// The image's box in a `frame` (w, h) for an image of `natural` (w, h): the box itself, or
    /// with keepAspectRatio the largest box of the image's shape inside it, centred when
    /// `center` is set. (KMS computes the kept ratio wrongly when the box is too narrow; this
    /// fits the image inside the box in both cases.)
    pub fn place(&self, frame: (i32, i32), natural: (i32, i32)) -> Option<Placement> {
        if self.width == 0.0 || self.height == 0.0 {
            return None;
        }
        let (fw, fh) = (frame.0 as f64, frame.1 as f64);
        let (bx, by) = ((fw * self.offset_x) as i32, (fh * self.offset_y) as i32);
        let (bw, bh) = ((fw * self.width) as i32, (fh * self.height) as i32);
        let (mut w, mut h) = (bw, bh);
        if self.keep_aspect_ratio && natural.0 > 0 && natural.1 > 0 {
            let scale = (bw as f64 / natural.0 as f64).min(bh as f64 / natural.1 as f64);
            w = (natural.0 as f64 * scale) as i32;
            h = (natural.1 as f64 * scale) as i32;
        }
        let (mut x, mut y) = (bx, by);
        if self.center && self.keep_aspect_ratio {
            x += (bw - w) / 2;
            y += (bh - h) / 2;
        }
        (w > 0 && h > 0).then_some(Placement {
            x,
            y,
            width: w,
            height: h,
        })
    }
}

fn overlay_name(prefix: &str, i: usize) -> String {
    format!("{prefix}{i}")
}

fn overlays_description(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "gdkpixbufoverlay name={} positioning-mode=pixels-absolute alpha=0",
                overlay_name(prefix, i)
            )
        })
        .collect::<Vec<_>>()
        .join(" ! ")
}

/// Shows `image` at `at` on overlay `el`, or hides it. `shown` remembers which file each
/// element holds, so the image is decoded once, not per frame.
fn show(el: &gst::Element, shown: &mut Option<PathBuf>, image: Option<(&Path, Placement)>) {
    let Some((path, at)) = image else {
        el.set_property("alpha", 0.0f64);
        return;
    };
    if shown.as_deref() != Some(path) {
        el.set_property("location", path.to_string_lossy().as_ref());
        *shown = Some(path.to_path_buf());
    }
    el.set_property("offset-x", at.x);
    el.set_property("offset-y", at.y);
    el.set_property("overlay-width", at.width);
    el.set_property("overlay-height", at.height);
    el.set_property("alpha", 1.0f64);
}

fn frame_size(pipeline: &gst::Pipeline, element: &str) -> Option<(i32, i32)> {
    let caps = pipeline
        .by_name(element)?
        .static_pad("sink")?
        .current_caps()?;
    let s = caps.structure(0)?;
    Some((s.get::<i32>("width").ok()?, s.get::<i32>("height").ok()?))
}

// ---------------------------------------------------------------------------------------------
// FaceOverlayFilter

struct FaceState {
    pipeline: Option<gst::glib::WeakRef<gst::Pipeline>>,
    image: Option<(Arc<OverlayImage>, FaceGeometry)>,
    /// Faces of the last detection that saw any, in frame pixels, and when.
    faces: Vec<Placement>,
    seen: Option<Instant>,
    shown: [Option<PathBuf>; MAX_FACES],
    /// Detections so far, and since when the rate in the logs is counted.
    detections: u64,
    rate_since: Option<(Instant, u64)>,
}

/// A FaceOverlayFilter's overlay: which image, and the faces it goes on.
#[derive(Clone)]
pub struct FaceOverlay {
    st: Arc<Mutex<FaceState>>,
}

impl Default for FaceOverlay {
    fn default() -> Self {
        FaceOverlay {
            st: Arc::new(Mutex::new(FaceState {
                pipeline: None,
                image: None,
                faces: Vec::new(),
                seen: None,
                shown: Default::default(),
                detections: 0,
                rate_since: None,
            })),
        }
    }
}

const FACE_PREFIX: &str = "kms_face";

impl FaceOverlay {
    /// The filter chain: a leaky branch to the detector, the overlays on the main branch.
    pub fn spec(&self) -> FilterSpec {
        let profile = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
        let description = format!(
            "tee name=kms_face_tee ! queue max-size-buffers=1 max-size-bytes=0 max-size-time=0 \
             leaky=downstream ! videoscale name=kms_face_scale \
             ! video/x-raw,width={DETECT_WIDTH},height={DETECT_HEIGHT} ! videoconvert \
             ! facedetect display=false profile={profile} min-size-width=24 min-size-height=24 \
             ! fakesink sync=false async=false \
             kms_face_tee. ! queue max-size-buffers=3 leaky=downstream ! videoconvert \
             ! {} ! videoconvert name=kms_face_out",
            overlays_description(FACE_PREFIX, MAX_FACES)
        );
        FilterSpec::custom(MediaKind::Video, description, Arc::new(self.clone()))
    }

    /// setOverlayedImage once the image is loaded; None: unsetOverlayedImage.
    pub fn set_image(&self, image: Option<(OverlayImage, FaceGeometry)>) {
        let mut st = lock(&self.st);
        st.image = image.map(|(i, g)| (Arc::new(i), g));
        self.apply(&mut st);
    }

    fn apply(&self, st: &mut FaceState) {
        let Some(p) = st.pipeline.as_ref().and_then(|w| w.upgrade()) else {
            return;
        };
        let held = st.seen.is_some_and(|t| t.elapsed() < HOLD);
        for i in 0..MAX_FACES {
            let Some(el) = p.by_name(&overlay_name(FACE_PREFIX, i)) else {
                continue;
            };
            let target = match (&st.image, st.faces.get(i)) {
                (Some((img, g)), Some(face)) if held => g.place(*face).map(|at| (img.clone(), at)),
                _ => None,
            };
            show(
                &el,
                &mut st.shown[i],
                target.as_ref().map(|(img, at)| (img.path.as_path(), *at)),
            );
        }
    }
}

/// Passes at most [`DETECT_FPS`] frames a second to the detector, by timestamp. (videorate
/// would do it, but GStreamer 1.22's asserts, and aborts the process, on decoded RTP video,
/// which has no buffer durations.)
fn throttle_detection(pipeline: &gst::Pipeline) {
    let Some(pad) = pipeline
        .by_name("kms_face_scale")
        .and_then(|e| e.static_pad("sink"))
    else {
        return;
    };
    let every = gst::ClockTime::from_nseconds(1_000_000_000 / u64::from(DETECT_FPS));
    let last = Mutex::new(None::<gst::ClockTime>);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(pts) = info.buffer().and_then(|b| b.pts()) else {
            return gst::PadProbeReturn::Ok;
        };
        let mut last = lock(&last);
        match *last {
            // A timestamp going back (a new stream) starts the count again.
            Some(t) if pts >= t && pts < t + every => gst::PadProbeReturn::Drop,
            _ => {
                *last = Some(pts);
                gst::PadProbeReturn::Ok
            }
        }
    });
}

impl ChainHooks for FaceOverlay {
    fn started(&self, pipeline: &gst::Pipeline) {
        throttle_detection(pipeline);
        let mut st = lock(&self.st);
        st.pipeline = Some(pipeline.downgrade());
        st.shown = Default::default();
        st.faces.clear();
        self.apply(&mut st);
    }

    fn message(&self, pipeline: &gst::Pipeline, s: &gst::StructureRef) {
        if s.name() != "facedetect" {
            return;
        }
        let Ok(list) = s.get::<gst::List>("faces") else {
            return;
        };
        let (fw, fh) = frame_size(pipeline, "kms_face_out").unwrap_or((640, 480));
        let (sx, sy) = (
            fw as f64 / DETECT_WIDTH as f64,
            fh as f64 / DETECT_HEIGHT as f64,
        );
        let faces: Vec<Placement> = list
            .iter()
            .filter_map(|v| v.get::<gst::Structure>().ok())
            .filter_map(|f| {
                let g = |k: &str| f.get::<u32>(k).ok().map(f64::from);
                Some(Placement {
                    x: (g("x")? * sx) as i32,
                    y: (g("y")? * sy) as i32,
                    width: (g("width")? * sx) as i32,
                    height: (g("height")? * sy) as i32,
                })
            })
            .collect();
        tracing::trace!(?faces, frame = ?(fw, fh), "faces detected");
        let mut st = lock(&self.st);
        st.detections += 1;
        let now = Instant::now();
        match st.rate_since {
            None => {
                info!("face detection running");
                st.rate_since = Some((now, st.detections));
            }
            Some((t, n)) if now.duration_since(t) >= Duration::from_secs(10) => {
                let rate = (st.detections - n) as f64 / now.duration_since(t).as_secs_f64();
                debug!("face detections: {rate:.1}/s");
                st.rate_since = Some((now, st.detections));
            }
            Some(_) => {}
        }
        if !faces.is_empty() {
            st.faces = faces;
            st.seen = Some(Instant::now());
        }
        self.apply(&mut st);
    }
}

// ---------------------------------------------------------------------------------------------
// ImageOverlayFilter

struct Image {
    id: String,
    image: Arc<OverlayImage>,
    natural: (i32, i32),
    geometry: ImageGeometry,
}

struct ImageState {
    pipeline: Option<gst::glib::WeakRef<gst::Pipeline>>,
    /// The frame size, from the caps reaching the overlays.
    frame: Option<(i32, i32)>,
    images: Vec<Image>,
    shown: [Option<PathBuf>; MAX_IMAGES],
}

/// An ImageOverlayFilter's images, in the order they were added.
#[derive(Clone)]
pub struct ImageOverlay {
    st: Arc<Mutex<ImageState>>,
}

impl Default for ImageOverlay {
    fn default() -> Self {
        ImageOverlay {
            st: Arc::new(Mutex::new(ImageState {
                pipeline: None,
                frame: None,
                images: Vec::new(),
                shown: Default::default(),
            })),
        }
    }
}

const IMAGE_PREFIX: &str = "kms_image";

/// An image's own size, read by decoding it once.
fn natural_size(path: &Path) -> Option<(i32, i32)> {
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! appsink name=s sync=false",
        path.to_string_lossy().replace('"', "")
    );
    let p = gst::parse::launch(&desc)
        .ok()?
        .downcast::<gst::Pipeline>()
        .ok()?;
    let sink = p.by_name("s")?;
    p.set_state(gst::State::Paused).ok()?;
    let (res, _, _) = p.state(gst::ClockTime::from_seconds(2));
    let size = res.ok().and_then(|_| {
        let caps = sink.static_pad("sink")?.current_caps()?;
        let s = caps.structure(0)?;
        Some((s.get::<i32>("width").ok()?, s.get::<i32>("height").ok()?))
    });
    let _ = p.set_state(gst::State::Null);
    size
}

impl ImageOverlay {
    pub fn spec(&self) -> FilterSpec {
        let description = format!(
            "videoconvert ! {} ! videoconvert name=kms_image_out",
            overlays_description(IMAGE_PREFIX, MAX_IMAGES)
        );
        FilterSpec::custom(MediaKind::Video, description, Arc::new(self.clone()))
    }

    /// addImage: replaces an image of the same id. Err when every slot is taken.
    pub fn add(
        &self,
        id: &str,
        image: OverlayImage,
        geometry: ImageGeometry,
    ) -> Result<(), String> {
        let natural = natural_size(&image.path).unwrap_or((0, 0));
        tracing::debug!(id, ?natural, "overlay image loaded");
        let mut st = lock(&self.st);
        let img = Image {
            id: id.to_string(),
            image: Arc::new(image),
            natural,
            geometry,
        };
        let full = st.images.len() >= MAX_IMAGES;
        match st.images.iter_mut().find(|i| i.id == id) {
            Some(old) => *old = img,
            None if full => {
                return Err(format!(
                    "an ImageOverlayFilter holds at most {MAX_IMAGES} images"
                ))
            }
            None => st.images.push(img),
        }
        Self::apply(&mut st);
        Ok(())
    }

    /// removeImage: whether the id was there.
    pub fn remove(&self, id: &str) -> bool {
        let mut st = lock(&self.st);
        let before = st.images.len();
        st.images.retain(|i| i.id != id);
        let removed = st.images.len() != before;
        Self::apply(&mut st);
        removed
    }

    fn apply(st: &mut ImageState) {
        let Some(p) = st.pipeline.as_ref().and_then(|w| w.upgrade()) else {
            return;
        };
        let Some(frame) = st.frame else {
            return;
        };
        for i in 0..MAX_IMAGES {
            let Some(el) = p.by_name(&overlay_name(IMAGE_PREFIX, i)) else {
                continue;
            };
            let target = st.images.get(i).and_then(|img| {
                img.geometry
                    .place(frame, img.natural)
                    .map(|at| (img.image.clone(), at))
            });
            show(
                &el,
                &mut st.shown[i],
                target.as_ref().map(|(img, at)| (img.path.as_path(), *at)),
            );
        }
    }
}

impl ChainHooks for ImageOverlay {
    fn started(&self, pipeline: &gst::Pipeline) {
        {
            let mut st = lock(&self.st);
            st.pipeline = Some(pipeline.downgrade());
            st.frame = None;
            st.shown = Default::default();
        }
        // The frame size is known once caps reach the overlays: place the images then (from the
        // event itself; the pad has not stored the caps yet when the probe runs).
        let Some(pad) = pipeline
            .by_name("kms_image_out")
            .and_then(|e| e.static_pad("sink"))
        else {
            return;
        };
        let st = Arc::downgrade(&self.st);
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            let Some(gst::PadProbeData::Event(ev)) = &info.data else {
                return gst::PadProbeReturn::Ok;
            };
            let gst::EventView::Caps(c) = ev.view() else {
                return gst::PadProbeReturn::Ok;
            };
            let size = c
                .caps()
                .structure(0)
                .and_then(|s| Some((s.get::<i32>("width").ok()?, s.get::<i32>("height").ok()?)));
            if let (Some(st), Some(size)) = (st.upgrade(), size) {
                let mut st = lock(&st);
                st.frame = Some(size);
                ImageOverlay::apply(&mut st);
            }
            gst::PadProbeReturn::Ok
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn face_geometry_is_kms_geometry() {
        let face = Placement {
            x: 200,
            y: 100,
            width: 100,
            height: 120,
        };
        let table = [
            // magic-mirror's hat: left of and above the face, larger than it.
            (
                (-0.35, -1.2, 1.6, 1.6),
                Some(Placement {
                    x: 165,
                    y: -44,
                    width: 160,
                    height: 192,
                }),
            ),
            (
                (0.0, 0.0, 1.0, 1.0),
                Some(Placement {
                    x: 200,
                    y: 100,
                    width: 100,
                    height: 120,
                }),
            ),
            // A positive Y moves down.
            (
                (0.5, 0.5, 0.5, 0.5),
                Some(Placement {
                    x: 250,
                    y: 160,
                    width: 50,
                    height: 60,
                }),
            ),
            ((0.0, 0.0, 0.0, 1.0), None),
            ((0.0, 0.0, 1.0, 0.0), None),
            ((0.0, 0.0, -1.0, 1.0), None),
        ];
        for ((ox, oy, w, h), want) in table {
            let g = FaceGeometry {
                offset_x: ox,
                offset_y: oy,
                width: w,
                height: h,
            };
            assert_eq!(g.place(face), want, "{ox} {oy} {w} {h}");
        }
    }

    #[test]
    fn image_geometry_fits_and_centres() {
        let g = |keep, center| ImageGeometry {
            offset_x: 0.5,
            offset_y: 0.25,
            width: 0.5,
            height: 0.5,
            keep_aspect_ratio: keep,
            center,
        };
        let frame = (640, 480);
        let wide = (200, 100);
        let table = [
            (g(false, false), wide, Some((320, 120, 320, 240))),
            // keepAspectRatio off: center is ignored, as in KMS.
            (g(false, true), wide, Some((320, 120, 320, 240))),
            (g(true, false), wide, Some((320, 120, 320, 160))),
            (g(true, true), wide, Some((320, 160, 320, 160))),
            // A tall image in the same box: height kept, width shrunk, centred across.
            (g(true, true), (100, 400), Some((450, 120, 60, 240))),
            // Unknown natural size: the box.
            (g(true, true), (0, 0), Some((320, 120, 320, 240))),
        ];
        for (geom, natural, want) in table {
            let got = geom
                .place(frame, natural)
                .map(|p| (p.x, p.y, p.width, p.height));
            assert_eq!(got, want, "{geom:?} {natural:?}");
        }
        let zero = ImageGeometry {
            width: 0.0,
            ..g(false, false)
        };
        assert_eq!(zero.place(frame, wide), None);
    }

    #[test]
    fn hostile_image_uris_are_refused_quickly() {
        if let Err(e) = super::super::engine() {
            kurento_protocol::test_skip::skipped("hostile_image_uris_are_refused_quickly", e, true);
            return;
        }
        let t = Instant::now();
        for uri in [
            "",
            "   ",
            "rtsp://127.0.0.1/x.png",
            "file://relative/x.png",
            "file:///no/such/dir/x.png",
            "/no/such/file.png",
            "file:///etc/hostname",
            "file:///tmp/%00x.png",
            "http://127.0.0.1:1/x.png",
            "http://[::1/x.png",
            "gopher://x/y",
            "x.png\n",
        ] {
            assert!(
                load_image(uri, "file:///var/lib/kurento/").is_err(),
                "{uri:?}"
            );
        }
        assert!(t.elapsed() < FETCH_TIMEOUT, "{:?}", t.elapsed());
    }

    #[test]
    fn images_declaring_huge_sizes_are_refused() {
        let dir = std::env::temp_dir().join(format!("kms-ov-bomb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let png = |w: u32, h: u32| {
            let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
            b.extend_from_slice(&w.to_be_bytes());
            b.extend_from_slice(&h.to_be_bytes());
            b
        };
        let jpeg = |w: u16, h: u16| {
            let mut b = vec![0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xc0, 0, 11, 8];
            b.extend_from_slice(&h.to_be_bytes());
            b.extend_from_slice(&w.to_be_bytes());
            b.extend_from_slice(&[3, 0, 0, 0, 0]);
            b
        };
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[0xff, 0xff, 0x10, 0]);
        let cases: [(&str, Vec<u8>, bool); 6] = [
            ("ok.png", png(640, 480), true),
            ("bomb.png", png(100_000, 100_000), false),
            ("wide.png", png(8193, 1), false),
            ("ok.jpg", jpeg(1920, 1080), true),
            ("bomb.jpg", jpeg(65_000, 65_000), false),
            ("bomb.gif", gif, false),
        ];
        for (name, bytes, ok) in cases {
            let p = dir.join(name);
            std::fs::write(&p, bytes).ok();
            assert_eq!(looks_like_image(&p).is_ok(), ok, "{name}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_images_are_overlaid() {
        let dir = std::env::temp_dir().join(format!("kms-ov-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let cases: [(&str, &[u8], bool); 5] = [
            ("a.png", b"\x89PNG\r\n\x1a\n....", true),
            ("b.jpg", &[0xff, 0xd8, 0xff, 0xe0, 0, 0], true),
            ("c.txt", b"hello world", false),
            ("d.empty", b"", false),
            ("e.html", b"<html></html>", false),
        ];
        for (name, bytes, ok) in cases {
            let p = dir.join(name);
            std::fs::write(&p, bytes).ok();
            assert_eq!(looks_like_image(&p).is_ok(), ok, "{name}");
        }
        assert!(looks_like_image(&dir.join("missing.png")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
