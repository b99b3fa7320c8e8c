//! The GStreamer bridge: every element that decodes, encodes, muxes or demuxes runs here, on
//! KMS's own engine, so recorder profiles and player URIs behave as KMS's.
//!
//! The graph's media enters and leaves through appsrc/appsink carrying RTP ([`RtpPacket`]s in,
//! RTP out). No GStreamer type, thread or bus message leaves this module: callers see
//! [`recorder::RecorderHandle`] and [`player::PlayerHandle`] (both [`ElementPort`]s), their
//! configuration, and [`UriEvent`]s. Forwarding between endpoints never enters GStreamer.
//!
//! [`RtpPacket`]: crate::media::RtpPacket
//! [`ElementPort`]: crate::media::ElementPort

pub mod filter;
pub mod frames;
pub mod http_post;
pub mod mixer;
pub mod overlay;
pub mod player;
pub mod recorder;
mod rtp;
pub mod transcoder;
pub mod uri;

use gst::prelude::*;
use gstreamer as gst;
use std::sync::OnceLock;

/// What a player or recorder tells the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriEvent {
    /// The recorder wrote its first media.
    Recording,
    Paused,
    /// The recorder's file is complete (finalised and closed).
    Stopped,
    /// The player reached the end of its media.
    EndOfStream,
    Error {
        kind: ErrorType,
        message: String,
    },
}

/// Kurento's `type` of an Error event raised by a URI endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The URI cannot be opened: no such file, host unknown or refusing, no answer in time.
    InvalidUri,
    /// The URI opens but what it holds cannot be played (not a media file, unknown codec).
    InvalidMedia,
    /// Writing or processing failed (disk full, a missing GStreamer plugin...).
    Unexpected,
}

/// An element factory we use, and what a Kurento user loses without it.
struct Needed {
    factory: &'static str,
    package: &'static str,
    disables: &'static str,
}

const NEEDED: &[Needed] = &[
    Needed {
        factory: "appsrc",
        package: "gstreamer1.0-plugins-base",
        disables: "every RecorderEndpoint and PlayerEndpoint",
    },
    Needed {
        factory: "appsink",
        package: "gstreamer1.0-plugins-base",
        disables: "every PlayerEndpoint",
    },
    Needed {
        factory: "uridecodebin",
        package: "gstreamer1.0-plugins-base",
        disables: "every PlayerEndpoint",
    },
    Needed {
        factory: "rtpvp8depay",
        package: "gstreamer1.0-plugins-good",
        disables: "recording VP8",
    },
    Needed {
        factory: "rtpvp8pay",
        package: "gstreamer1.0-plugins-good",
        disables: "playing video",
    },
    Needed {
        factory: "rtpopusdepay",
        package: "gstreamer1.0-plugins-good",
        disables: "recording Opus",
    },
    Needed {
        factory: "rtpopuspay",
        package: "gstreamer1.0-plugins-good",
        disables: "playing audio",
    },
    Needed {
        factory: "rtph264depay",
        package: "gstreamer1.0-plugins-good",
        disables: "recording H.264",
    },
    Needed {
        factory: "rtph264pay",
        package: "gstreamer1.0-plugins-good",
        disables: "playing H.264 with useEncodedMedia",
    },
    Needed {
        factory: "webmmux",
        package: "gstreamer1.0-plugins-good",
        disables: "the WEBM recording profiles",
    },
    Needed {
        factory: "matroskamux",
        package: "gstreamer1.0-plugins-good",
        disables: "the MKV recording profiles",
    },
    Needed {
        factory: "mp4mux",
        package: "gstreamer1.0-plugins-good",
        disables: "the MP4 recording profiles",
    },
    Needed {
        factory: "flvmux",
        package: "gstreamer1.0-plugins-good",
        disables: "the FLV recording profile",
    },
    Needed {
        factory: "jpegenc",
        package: "gstreamer1.0-plugins-good",
        disables: "the JPEG_VIDEO_ONLY recording profile",
    },
    Needed {
        factory: "vp8enc",
        package: "gstreamer1.0-plugins-good",
        disables: "playing video, and recording WEBM from H.264",
    },
    Needed {
        factory: "vp8dec",
        package: "gstreamer1.0-plugins-good",
        disables: "recording MP4/FLV/JPEG from VP8",
    },
    Needed {
        factory: "opusenc",
        package: "gstreamer1.0-plugins-base",
        disables: "playing audio",
    },
    Needed {
        factory: "opusdec",
        package: "gstreamer1.0-plugins-base",
        disables: "recording MP4/FLV audio from Opus",
    },
    Needed {
        factory: "x264enc",
        package: "gstreamer1.0-plugins-ugly",
        disables: "recording MP4/MKV/FLV from VP8",
    },
    Needed {
        factory: "avdec_h264",
        package: "gstreamer1.0-libav",
        disables: "recording WEBM/JPEG from H.264",
    },
    Needed {
        factory: "avenc_aac",
        package: "gstreamer1.0-libav",
        disables: "audio in the MP4 and FLV recording profiles",
    },
    Needed {
        factory: "h264parse",
        package: "gstreamer1.0-plugins-bad",
        disables: "recording and playing H.264",
    },
    Needed {
        factory: "souphttpsrc",
        package: "gstreamer1.0-plugins-good",
        disables: "playing http(s):// URIs",
    },
    Needed {
        factory: "curlhttpsink",
        package: "gstreamer1.0-plugins-bad",
        disables: "recording to http(s):// URIs",
    },
    Needed {
        factory: "rtspsrc",
        package: "gstreamer1.0-plugins-good",
        disables: "playing rtsp:// URIs",
    },
    Needed {
        factory: "zbar",
        package: "gstreamer1.0-plugins-bad",
        disables: "ZBarFilter",
    },
    Needed {
        factory: "facedetect",
        package: "gstreamer1.0-opencv",
        disables: "FaceOverlayFilter",
    },
    Needed {
        factory: "gdkpixbufoverlay",
        package: "gstreamer1.0-plugins-good",
        disables: "FaceOverlayFilter and ImageOverlayFilter",
    },
    Needed {
        factory: "compositor",
        package: "gstreamer1.0-plugins-base",
        disables: "Composite and AlphaBlending",
    },
    Needed {
        factory: "audiomixer",
        package: "gstreamer1.0-plugins-base",
        disables: "audio mixing in Composite, Mixer and AlphaBlending",
    },
];

/// The engine as found at start-up.
#[derive(Debug, Clone)]
pub struct Engine {
    pub version: String,
    /// (factory, package, what it disables) for every element that is not installed.
    pub missing: Vec<(&'static str, &'static str, &'static str)>,
}

/// A bridge mutex's guard; a panicked holder leaves state that is still usable (overlay and
/// mixer tables), so a poisoned lock is taken over rather than spread.
pub(super) fn lock<T: ?Sized>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// Initialises GStreamer once and checks for the elements we use. Start-up logs the result;
/// every player and recorder calls it, so library users need no set-up.
pub fn engine() -> Result<&'static Engine, &'static str> {
    ENGINE
        .get_or_init(|| {
            gst::init().map_err(|e| format!("GStreamer did not initialise: {e}"))?;
            let missing = NEEDED
                .iter()
                .filter(|n| gst::ElementFactory::find(n.factory).is_none())
                .map(|n| (n.factory, n.package, n.disables))
                .collect();
            Ok(Engine {
                version: gst::version_string().to_string(),
                missing,
            })
        })
        .as_ref()
        .map_err(String::as_str)
}

/// `Err` names the first missing element among `factories` and what installs it.
pub(crate) fn require(factories: &[&str]) -> Result<(), String> {
    let e = engine().map_err(str::to_string)?;
    match e.missing.iter().find(|(f, _, _)| factories.contains(f)) {
        Some((f, pkg, _)) => Err(format!(
            "the GStreamer element '{f}' is not installed (Debian package {pkg})"
        )),
        None => Ok(()),
    }
}

/// Logs the engine once at start-up: its version, and each missing element with what it
/// disables.
pub fn log_engine() {
    match engine() {
        Ok(e) => {
            tracing::info!("GStreamer: {}", e.version);
            for (f, pkg, disables) in &e.missing {
                tracing::warn!(
                    "GStreamer element '{f}' not found (install {pkg}): {disables} will answer an error"
                );
            }
        }
        Err(msg) => tracing::error!("{msg}: players and recorders will answer an error"),
    }
}

/// Kurento's error type for a GStreamer error message.
fn classify(msg: &gst::message::Error) -> ErrorType {
    let err = msg.error();
    // A source that fails after opening (a refused HTTP connection surfaces this way) posts a
    // generic stream error: the URI is at fault, not the media.
    let from_source = msg.src().is_some_and(|s| {
        s.downcast_ref::<gst::Element>()
            .and_then(|e| e.factory())
            .is_some_and(|f| f.klass().contains("Source"))
    });
    if from_source
        && matches!(
            err.kind::<gst::StreamError>(),
            Some(gst::StreamError::Failed)
        )
    {
        return ErrorType::InvalidUri;
    }
    if err.is::<gst::ResourceError>() {
        match err.kind::<gst::ResourceError>() {
            Some(gst::ResourceError::NoSpaceLeft | gst::ResourceError::Write) => {
                ErrorType::Unexpected
            }
            _ => ErrorType::InvalidUri,
        }
    } else if err.is::<gst::StreamError>()
        || matches!(
            err.kind::<gst::CoreError>(),
            Some(gst::CoreError::MissingPlugin)
        )
    {
        ErrorType::InvalidMedia
    } else {
        ErrorType::Unexpected
    }
}
