//! Mapping between str0m payload parameters and our `CodecId`.

use str0m::format::{Codec, PayloadParams};

use super::{CodecId, MediaKind};

pub fn kind_of(k: str0m::media::MediaKind) -> MediaKind {
    match k {
        str0m::media::MediaKind::Audio => MediaKind::Audio,
        str0m::media::MediaKind::Video => MediaKind::Video,
    }
}

pub fn codec_id(p: &PayloadParams) -> CodecId {
    let spec = p.spec();
    CodecId::new(
        &spec.codec.to_string(),
        spec.clock_rate.get(),
        spec.channels,
        &spec.format.to_string(),
    )
}

fn fmtp_value<'a>(fmtp: &'a str, key: &str) -> Option<&'a str> {
    fmtp.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then_some(v.trim())
    })
}

/// How well `p` (one of our negotiated payload types) fits the incoming `c`; None = unusable.
pub fn match_score(c: &CodecId, p: &PayloadParams) -> Option<u32> {
    let spec = p.spec();
    if matches!(
        spec.codec,
        Codec::Rtx | Codec::Red | Codec::Null | Codec::Unknown
    ) {
        return None;
    }
    if !spec.codec.to_string().eq_ignore_ascii_case(&c.name)
        || spec.clock_rate.get() != c.clock_rate
    {
        return None;
    }
    let mut score = 10;
    match spec.codec {
        Codec::H264 => {
            // packetization-mode decides how FU-A/STAP-A are allowed; it must agree.
            let theirs: u8 = fmtp_value(&c.fmtp, "packetization-mode")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if spec.format.packetization_mode.unwrap_or(0) != theirs {
                return None;
            }
            // profile_idc + constraint flags (first 4 hex digits) identify the profile; the
            // level (last 2) may differ without breaking decoding.
            let their_profile = fmtp_value(&c.fmtp, "profile-level-id")
                .and_then(|v| u32::from_str_radix(v, 16).ok())
                .map(|v| v >> 8);
            let our_profile = spec.format.profile_level_id.map(|v| v >> 8);
            if their_profile.is_some() && their_profile == our_profile {
                score += 5;
            }
        }
        Codec::Vp9 => {
            let theirs: u32 = fmtp_value(&c.fmtp, "profile-id")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if spec.format.profile_id.unwrap_or(0) == theirs {
                score += 5;
            }
        }
        _ => {
            if spec.channels == c.channels {
                score += 1;
            }
        }
    }
    Some(score)
}

pub fn is_keyframe(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::Vp8 => str0m::format::detect_vp8_keyframe(payload),
        Codec::Vp9 => str0m::format::detect_vp9_keyframe(payload),
        Codec::H264 => str0m::format::detect_h264_keyframe(payload),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::format::{CodecSpec, FormatParams};

    fn h264(pt: u8, fmtp: &str) -> PayloadParams {
        PayloadParams::new(
            pt.into(),
            None,
            CodecSpec {
                codec: Codec::H264,
                clock_rate: str0m::media::Frequency::NINETY_KHZ,
                channels: None,
                format: FormatParams::parse_line(fmtp),
            },
        )
    }

    #[test]
    fn h264_matching_respects_packetization_and_prefers_profile() {
        let base = h264(
            102,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        );
        let base0 = h264(
            103,
            "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
        );
        let high = h264(
            104,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f",
        );
        let c = CodecId::new(
            "H264",
            90000,
            None,
            "packetization-mode=1;profile-level-id=42e034",
        );
        assert!(match_score(&c, &base0).is_none());
        assert!(match_score(&c, &base).unwrap() > match_score(&c, &high).unwrap());
        let vp8 = CodecId::new("VP8", 90000, None, "");
        assert!(match_score(&vp8, &base).is_none());
        assert_eq!(&*codec_id(&base).name, "H264");
        assert!(codec_id(&base).fmtp.contains("packetization-mode=1"));
    }
}
