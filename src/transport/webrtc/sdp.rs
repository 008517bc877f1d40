//! Checks on the caller's SDP offer before any call exists, and what the answer settled on.
//!
//! str0m parses and negotiates; this module only decides whether an offer is worth a call: small
//! enough, text, parseable, with an audio section voxgate can speak (Opus, else PCMU or PCMA).
//! Pure functions over text, tested without a peer.

use super::codec::AudioCodec;
use str0m::change::SdpOffer;

/// Largest accepted offer. Browser offers are 3-10 KiB.
pub(super) const MAX_SDP_BYTES: usize = 64 * 1024;

/// Why an offer was refused; each maps to a 400 with a stable code.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum OfferProblem {
    /// Over [`MAX_SDP_BYTES`].
    #[error("the SDP offer is larger than 64 KiB")]
    TooLarge,
    /// Not UTF-8, or str0m could not parse it.
    #[error("the SDP offer is not valid SDP: {0}")]
    Malformed(String),
    /// No active `m=audio` section.
    #[error("the SDP offer has no audio section (m=audio)")]
    NoAudio,
    /// Audio, but in none of voxgate's codecs.
    #[error("the SDP offer's audio has no codec voxgate speaks (Opus, PCMU or PCMA)")]
    NoCommonCodec,
}

impl OfferProblem {
    /// The stable error code.
    pub(super) fn code(&self) -> &'static str {
        match self {
            Self::TooLarge | Self::Malformed(_) => "webrtc.bad_sdp",
            Self::NoAudio => "webrtc.no_audio",
            Self::NoCommonCodec => "webrtc.no_common_codec",
        }
    }
}

/// What an acceptable offer holds.
#[derive(Debug)]
pub(super) struct Offer {
    /// The parsed offer, for str0m.
    pub sdp: SdpOffer,
    /// Whether it has an `m=application` section (so data channels can open).
    pub data_channel: bool,
}

/// Checks an offer's bytes.
pub(super) fn check_offer(bytes: &[u8]) -> Result<Offer, OfferProblem> {
    if bytes.len() > MAX_SDP_BYTES {
        return Err(OfferProblem::TooLarge);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| OfferProblem::Malformed("it is not UTF-8 text".to_owned()))?;
    if !text.trim_start().starts_with("v=0") {
        return Err(OfferProblem::Malformed(
            "it must start with `v=0`".to_owned(),
        ));
    }
    let sdp = SdpOffer::from_sdp_string(text)
        .map_err(|error| OfferProblem::Malformed(error.to_string()))?;
    let sections = sections(text);
    let audio: Vec<&Section> = sections
        .iter()
        .filter(|s| s.kind == "audio" && s.active)
        .collect();
    if audio.is_empty() {
        return Err(OfferProblem::NoAudio);
    }
    if !audio.iter().any(|section| !section.codecs().is_empty()) {
        return Err(OfferProblem::NoCommonCodec);
    }
    let data_channel = sections.iter().any(|s| s.kind == "application" && s.active);
    Ok(Offer { sdp, data_channel })
}

/// The codecs of the answer's active audio section, in its order (the first is preferred).
pub(super) fn answer_codecs(answer: &str) -> Vec<AudioCodec> {
    sections(answer)
        .iter()
        .find(|s| s.kind == "audio" && s.active)
        .map(Section::codecs)
        .unwrap_or_default()
}

/// One `m=` section: its media kind, whether its port is not zero, its payload types and
/// `a=rtpmap` lines.
struct Section<'a> {
    kind: &'a str,
    active: bool,
    payload_types: Vec<&'a str>,
    rtpmaps: Vec<(&'a str, &'a str)>,
}

impl Section<'_> {
    /// Voxgate's codecs among the section's payload types, in the section's order. Static types
    /// 0 (PCMU) and 8 (PCMA) count without an rtpmap.
    fn codecs(&self) -> Vec<AudioCodec> {
        let mut codecs = Vec::new();
        for pt in &self.payload_types {
            let name = self
                .rtpmaps
                .iter()
                .find(|(mapped, _)| mapped == pt)
                .map(|(_, encoding)| encoding.split('/').next().unwrap_or_default());
            let codec = match (name.map(str::to_ascii_lowercase).as_deref(), *pt) {
                (Some("opus"), _) => Some(AudioCodec::Opus),
                (Some("pcmu"), _) | (None, "0") => Some(AudioCodec::Pcmu),
                (Some("pcma"), _) | (None, "8") => Some(AudioCodec::Pcma),
                _ => None,
            };
            if let Some(codec) = codec.filter(|codec| !codecs.contains(codec)) {
                codecs.push(codec);
            }
        }
        codecs
    }
}

fn sections(text: &str) -> Vec<Section<'_>> {
    let mut sections: Vec<Section<'_>> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            let mut fields = media.split_whitespace();
            let kind = fields.next().unwrap_or_default();
            let port = fields.next().unwrap_or_default();
            let _proto = fields.next();
            sections.push(Section {
                kind,
                active: port.split('/').next() != Some("0"),
                payload_types: fields.collect(),
                rtpmaps: Vec::new(),
            });
        } else if let (Some(rtpmap), Some(section)) =
            (line.strip_prefix("a=rtpmap:"), sections.last_mut())
            && let Some((pt, encoding)) = rtpmap.split_once(' ')
        {
            section.rtpmaps.push((pt, encoding.trim()));
        }
    }
    sections
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A browser-like offer; `audio` is the audio section's format list and rtpmaps.
    pub(in crate::transport::webrtc) fn offer(audio: &str, application: bool) -> String {
        let mut sdp = String::from(
            "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
             a=group:BUNDLE 0",
        );
        sdp.push_str(if application { " 1\r\n" } else { "\r\n" });
        sdp.push_str("a=msid-semantic: WMS\r\n");
        let (m_line, rtpmaps) = audio.split_once("\r\n").unwrap_or((audio, ""));
        sdp.push_str(m_line);
        sdp.push_str("\r\nc=IN IP4 0.0.0.0\r\n");
        sdp.push_str(rtpmaps);
        sdp.push_str(
            "a=ice-ufrag:abcd\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\n\
             a=fingerprint:sha-256 \
             6B:8B:5D:EA:59:04:20:23:29:C8:87:1C:CC:87:32:BE:DD:8C:66:A5:8E:50:55:EA:8C:D3:B6:5C:09:5E:D6:BC\r\n\
             a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n",
        );
        if application {
            sdp.push_str(
                "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
                 a=ice-ufrag:abcd\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\n\
                 a=fingerprint:sha-256 \
                 6B:8B:5D:EA:59:04:20:23:29:C8:87:1C:CC:87:32:BE:DD:8C:66:A5:8E:50:55:EA:8C:D3:B6:5C:09:5E:D6:BC\r\n\
                 a=setup:actpass\r\na=mid:1\r\na=sctp-port:5000\r\n",
            );
        }
        sdp
    }

    pub(in crate::transport::webrtc) const OPUS: &str = "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n";

    #[test]
    fn an_opus_offer_with_a_data_channel_is_accepted() {
        let checked = check_offer(offer(OPUS, true).as_bytes()).expect("acceptable");
        assert!(checked.data_channel);
        let checked = check_offer(offer(OPUS, false).as_bytes()).expect("acceptable");
        assert!(!checked.data_channel);
    }

    #[test]
    fn bad_offers_are_refused_with_their_code() {
        let g711 = "m=audio 9 UDP/TLS/RTP/SAVPF 8\r\n";
        assert!(
            check_offer(offer(g711, false).as_bytes()).is_ok(),
            "static PCMA"
        );
        let video = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
        let g722 = "m=audio 9 UDP/TLS/RTP/SAVPF 9\r\na=rtpmap:9 G722/8000\r\n";
        let rejected = "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
        let cases: [(Vec<u8>, &str); 6] = [
            (offer(video, true).into_bytes(), "webrtc.no_audio"),
            (offer(rejected, false).into_bytes(), "webrtc.no_audio"),
            (offer(g722, false).into_bytes(), "webrtc.no_common_codec"),
            (b"hello".to_vec(), "webrtc.bad_sdp"),
            (vec![0xff, 0xfe, 0x00], "webrtc.bad_sdp"),
            (vec![b'v'; MAX_SDP_BYTES + 1], "webrtc.bad_sdp"),
        ];
        for (bytes, code) in cases {
            let problem = check_offer(&bytes).expect_err(code);
            assert_eq!(problem.code(), code, "{problem}");
        }
    }

    #[test]
    fn the_answer_codecs_keep_their_order() {
        let answer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 8\r\na=rtpmap:111 opus/48000/2\r\n\
                      a=rtpmap:8 PCMA/8000\r\n";
        assert_eq!(
            answer_codecs(answer),
            vec![AudioCodec::Opus, AudioCodec::Pcma]
        );
        assert!(answer_codecs("v=0\r\nm=video 9 RTP/AVP 96\r\n").is_empty());
    }
}
