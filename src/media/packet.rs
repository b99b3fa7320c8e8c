//! What flows on the graph's pads: RTP packets of audio and video, and data-channel messages.

use std::sync::Arc;

/// The kind of an RTP stream. DATA has no RTP packets; see [`MediaType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MediaKind {
    Audio,
    Video,
}

/// The media type of a pad and of a connection: Kurento's AUDIO, VIDEO and DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MediaType {
    Audio,
    Video,
    Data,
}

impl MediaType {
    pub const ALL: [MediaType; 3] = [MediaType::Audio, MediaType::Video, MediaType::Data];

    /// The RTP kind carried by pads of this type; `None` for DATA.
    pub fn rtp_kind(self) -> Option<MediaKind> {
        match self {
            MediaType::Audio => Some(MediaKind::Audio),
            MediaType::Video => Some(MediaKind::Video),
            MediaType::Data => None,
        }
    }

    /// Index into per-type arrays (`[T; 3]`).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl From<MediaKind> for MediaType {
    fn from(k: MediaKind) -> Self {
        match k {
            MediaKind::Audio => MediaType::Audio,
            MediaKind::Video => MediaType::Video,
        }
    }
}

/// Codec identity as negotiated in SDP. Cheap to clone (shared strings).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodecId {
    /// Encoding name as in `a=rtpmap`, e.g. "opus", "VP8", "VP9", "H264", "PCMU".
    pub name: Arc<str>,
    pub clock_rate: u32,
    pub channels: Option<u8>,
    /// `a=fmtp` parameters, e.g. "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f".
    pub fmtp: Arc<str>,
}

impl CodecId {
    pub fn new(name: &str, clock_rate: u32, channels: Option<u8>, fmtp: &str) -> Self {
        CodecId {
            name: name.into(),
            clock_rate,
            channels,
            fmtp: fmtp.into(),
        }
    }
}

/// One RTP packet, header fields split out, payload shared (forwarding to N sinks clones an Arc).
#[derive(Debug, Clone)]
pub struct RtpPacket {
    pub kind: MediaKind,
    pub codec: CodecId,
    pub payload_type: u8,
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub payload: Arc<[u8]>,
    /// Best-effort: the payload starts a VP8/VP9/H.264 keyframe. Always false for audio.
    pub is_keyframe_hint: bool,
    pub ext: MediaExtensions,
    /// When the packet reached the server (for the pipeline's latency statistics).
    pub arrival: std::time::Instant,
}

impl PartialEq for RtpPacket {
    fn eq(&self, o: &Self) -> bool {
        self.kind == o.kind
            && self.codec == o.codec
            && self.payload_type == o.payload_type
            && self.ssrc == o.ssrc
            && self.seq == o.seq
            && self.timestamp == o.timestamp
            && self.marker == o.marker
            && self.payload == o.payload
    }
}
impl Eq for RtpPacket {}

/// Header extension values that describe the media itself, so they travel from a source to its
/// sinks. Per-hop ones (transport-cc numbers, send times) belong to each hop and are not copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaExtensions {
    /// RFC 6464 audio level (-dBov) and voice activity flag.
    pub audio_level: Option<i8>,
    pub voice_activity: Option<bool>,
    /// Rotation as the 2-bit value of `urn:3gpp:video-orientation` (phones send it instead of
    /// rotating frames; without it a viewer sees the video sideways).
    pub video_orientation: Option<u8>,
}

/// One data-channel message. `label` names the channel it came in on; a sink sends it on its own
/// channel of that label, or on its first open channel when it has none of that name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMessage {
    pub label: Arc<str>,
    pub binary: bool,
    pub data: Arc<[u8]>,
}
