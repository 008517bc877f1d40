//! Round trips through the codec, checked for likeness to the input after aligning for the codec
//! delay; concealment, packet shapes and rejected input.

use super::*;
use crate::audio::{Resampler, SampleRate, rms_dbfs, tone::tone};
use std::{ops::Range, path::PathBuf};

/// Lags searched for the codec delay: around [`OPUS_DELAY_SAMPLES`], less than one period of the
/// test tone either side so a periodic signal cannot match a period off.
const LAGS: Range<usize> = OPUS_DELAY_SAMPLES - 48..OPUS_DELAY_SAMPLES + 48;

/// Encodes `signal` (whole 20 ms frames) and decodes every packet.
fn round_trip(signal: &[i16], bitrate: u32, complexity: u8) -> Vec<i16> {
    let mut encoder = OpusEncoder::new(bitrate, complexity).expect("valid settings");
    let mut decoder = OpusDecoder::new().expect("decoder");
    let mut decoded = Vec::with_capacity(signal.len());
    for frame in signal.chunks_exact(OPUS_FRAME_SAMPLES) {
        let packet = encoder.encode(frame).expect("encodes");
        let appended = decoder.decode(&packet, &mut decoded).expect("decodes");
        assert_eq!(appended, OPUS_FRAME_SAMPLES);
    }
    decoded
}

/// Likeness of `decoded` to `input` once shifted by the best lag in `lags`.
struct Likeness {
    lag: usize,
    correlation: f64,
    snr_db: f64,
    level_difference_db: f64,
}

fn likeness(input: &[i16], decoded: &[i16], lags: Range<usize>) -> Likeness {
    let len = input.len().min(decoded.len()) - lags.end;
    let dot = |a: &[i16], b: &[i16]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum()
    };
    let reference = &input[..len];
    let reference_energy = dot(reference, reference);
    let (lag, correlation) = lags
        .map(|lag| {
            let shifted = &decoded[lag..lag + len];
            let energy = dot(shifted, shifted);
            (
                lag,
                dot(reference, shifted) / (reference_energy * energy).sqrt().max(1.0),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("at least one lag");
    let shifted = &decoded[lag..lag + len];
    let noise: f64 = reference
        .iter()
        .zip(shifted)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    Likeness {
        lag,
        correlation,
        snr_db: 10.0 * (reference_energy / noise.max(1.0)).log10(),
        level_difference_db: f64::from(rms_dbfs(shifted) - rms_dbfs(reference)),
    }
}

#[allow(clippy::disallowed_methods)] // tests find their own fixtures
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The shared test audio: `VOXGATE_TEST_FIXTURES`, else `../shared/fixtures` beside the
/// workspace, else `/work/shared/fixtures`. Missing audio is a printed skip, and a failure under
/// `VOXGATE_TEST_REQUIRE_PEERS=1` (CI), as for the server's peers.
fn fixture(name: &str) -> Option<Vec<u8>> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        env("VOXGATE_TEST_FIXTURES").map(PathBuf::from),
        Some(workspace.join("../shared/fixtures")),
        Some(PathBuf::from("/work/shared/fixtures")),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find_map(|dir| std::fs::read(dir.join(name)).ok());
    if found.is_none() {
        let required = env("VOXGATE_TEST_REQUIRE_PEERS").is_some_and(|value| value != "0");
        assert!(
            !required,
            "VOXGATE_TEST_REQUIRE_PEERS is set but fixture {name} is missing"
        );
        eprintln!("SKIPPED: fixture {name} not found (set VOXGATE_TEST_FIXTURES)");
    }
    found
}

/// The rate and samples of a mono PCM16 WAV file.
fn parse_wav(bytes: &[u8]) -> (u32, Vec<i16>) {
    assert!(bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE");
    let (mut rate, mut rest) = (None, &bytes[12..]);
    while rest.len() >= 8 {
        let size = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes")) as usize;
        let body = &rest[8..(8 + size).min(rest.len())];
        match &rest[..4] {
            b"fmt " => {
                assert_eq!(body[..4], [1, 0, 1, 0], "PCM, mono");
                assert_eq!(body[14..16], [16, 0], "16-bit");
                rate = Some(u32::from_le_bytes(body[4..8].try_into().expect("4 bytes")));
            }
            b"data" => {
                let samples = body
                    .chunks_exact(2)
                    .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                    .collect();
                return (rate.expect("fmt before data"), samples);
            }
            _ => {}
        }
        rest = &rest[(8 + size + size % 2).min(rest.len())..];
    }
    panic!("no data chunk");
}

/// `seconds` of the fixture speech at 48 kHz, or `None` (skipped) without the fixture.
fn speech_48k(seconds: usize) -> Option<Vec<i16>> {
    let (hz, samples) = parse_wav(&fixture("speech-16k.wav")?);
    let rate = SampleRate::from_hz(hz).expect("a supported rate");
    let mut resampler = Resampler::new(rate, SampleRate::Hz48k).expect("supported ratio");
    let mut speech = Vec::new();
    resampler.process(&samples, &mut speech);
    speech.truncate(seconds * 48_000);
    Some(speech)
}

#[test]
fn a_tone_comes_back_at_the_same_level_and_in_phase_after_the_codec_delay() {
    let input = tone(440.0, 10_000, SampleRate::Hz48k, 48_000);
    let decoded = round_trip(&input, 24_000, 5);
    let like = likeness(&input, &decoded, LAGS);
    eprintln!(
        "tone: lag {} corr {:.3} snr {:.1} dB level {:+.2} dB",
        like.lag, like.correlation, like.snr_db, like.level_difference_db
    );
    assert!(like.snr_db > 20.0, "SNR {:.1} dB", like.snr_db);
    assert!(like.correlation > 0.99);
    assert!(like.level_difference_db.abs() < 1.0);
    assert!(
        like.lag.abs_diff(OPUS_DELAY_SAMPLES) <= 8,
        "lag {}",
        like.lag
    );
}

#[test]
fn fixture_speech_survives_the_codec_at_voip_bitrates() {
    let Some(input) = speech_48k(4) else { return };
    // Measured (opus-rs 0.1.40, CBR): correlation 0.875 / 0.953 / 0.963, SNR 6.2 / 10.3 / 11.4 dB.
    let cases = [(16_000, 0, 0.8), (24_000, 5, 0.9), (32_000, 10, 0.9)];
    for (bitrate, complexity, min_correlation) in cases {
        let decoded = round_trip(&input, bitrate, complexity);
        let like = likeness(&input, &decoded, LAGS);
        eprintln!(
            "speech {bitrate} b/s c{complexity}: lag {} corr {:.3} snr {:.1} dB level {:+.2} dB",
            like.lag, like.correlation, like.snr_db, like.level_difference_db
        );
        assert!(
            like.correlation > min_correlation,
            "correlation {:.3}",
            like.correlation
        );
        assert!(like.level_difference_db.abs() < 1.5);
        assert!(
            like.lag.abs_diff(OPUS_DELAY_SAMPLES) <= 8,
            "lag {}",
            like.lag
        );
    }
}

#[test]
fn the_bitrate_is_held_exactly_whatever_the_signal() {
    let loud = tone(1_000.0, 20_000, SampleRate::Hz48k, OPUS_FRAME_SAMPLES * 5);
    let silence = vec![0; OPUS_FRAME_SAMPLES * 5];
    for bitrate in [16_000, 24_000, 32_000] {
        let mut encoder = OpusEncoder::new(bitrate, 5).expect("encoder");
        for frame in loud
            .chunks_exact(OPUS_FRAME_SAMPLES)
            .chain(silence.chunks_exact(960))
        {
            let packet = encoder.encode(frame).expect("encodes");
            assert_eq!(packet.len(), bitrate as usize / 400, "{bitrate} b/s");
        }
    }
}

#[test]
fn concealment_appends_one_frame_before_and_after_packets() {
    let mut decoder = OpusDecoder::new().expect("decoder");
    let mut out = vec![7];
    assert_eq!(decoder.conceal(&mut out), OPUS_FRAME_SAMPLES);
    assert_eq!(out.len(), 1 + OPUS_FRAME_SAMPLES);
    assert!(out[1..].iter().all(|&sample| sample == 0), "silence first");

    let mut encoder = OpusEncoder::new(24_000, 5).expect("encoder");
    let input = tone(300.0, 8_000, SampleRate::Hz48k, OPUS_FRAME_SAMPLES * 10);
    for frame in input.chunks_exact(OPUS_FRAME_SAMPLES) {
        let packet = encoder.encode(frame).expect("encodes");
        decoder.decode(&packet, &mut out).expect("decodes");
    }
    let mut concealed = Vec::new();
    assert_eq!(decoder.conceal(&mut concealed), OPUS_FRAME_SAMPLES);
    assert_eq!(concealed.len(), OPUS_FRAME_SAMPLES);
    assert!(rms_dbfs(&concealed) > -40.0, "the tone carries on, fading");
}

#[test]
fn a_packet_of_two_frames_decodes_to_forty_milliseconds() {
    let mut encoder = OpusEncoder::new(24_000, 5).expect("encoder");
    let input = tone(300.0, 8_000, SampleRate::Hz48k, OPUS_FRAME_SAMPLES * 2);
    let first = encoder.encode(&input[..960]).expect("encodes");
    let second = encoder.encode(&input[960..]).expect("encodes");
    assert_eq!(first[0], second[0], "same configuration");
    assert!(first.len() - 1 < 252, "one-byte frame length");
    // RFC 6716 §3.2.5, code 3: TOC, frame count with the VBR flag, first frame's length.
    let mut packet = vec![first[0] | 0x03, 0x80 | 2, (first.len() - 1) as u8];
    packet.extend_from_slice(&first[1..]);
    packet.extend_from_slice(&second[1..]);
    let mut out = Vec::new();
    let decoded = OpusDecoder::new()
        .expect("decoder")
        .decode(&packet, &mut out);
    assert_eq!(decoded, Ok(1_920));
    assert_eq!(out.len(), 1_920);
}

#[test]
fn frames_other_than_twenty_milliseconds_are_refused() {
    let mut encoder = OpusEncoder::new(24_000, 5).expect("encoder");
    for len in [0, 480, 959, 961, 1_920] {
        let error = encoder.encode(&vec![0; len]).expect_err("not 960");
        assert_eq!(error.code(), "opus.bad_frame_length");
        assert_eq!(error.kind(), OpusErrorKind::FrameLength);
    }
    assert!(encoder.encode(&[0; 960]).is_ok(), "still usable");
}

#[test]
fn out_of_range_settings_are_configuration_errors() {
    for (bitrate, complexity) in [(0, 5), (5_999, 5), (510_001, 5), (24_000, 11)] {
        let error = OpusEncoder::new(bitrate, complexity).expect_err("out of range");
        assert_eq!(error.code(), "opus.bad_config");
    }
    assert!(OpusEncoder::new(6_000, 0).is_ok());
    assert!(OpusEncoder::new(510_000, 10).is_ok());
}

#[test]
fn empty_and_malformed_packets_are_the_peers_fault_and_append_nothing() {
    let mut decoder = OpusDecoder::new().expect("decoder");
    let mut out = Vec::new();
    assert_eq!(
        decoder.decode(&[], &mut out).map_err(|e| e.code()),
        Err("opus.bad_packet")
    );
    // Code 1 (two equal frames) with an odd payload length.
    let error = decoder.decode(&[0x01, 1, 2, 3], &mut out).expect_err("odd");
    assert_eq!(error.kind(), OpusErrorKind::Packet);
    // Code 3 declaring 49 frames, more than 120 ms.
    assert!(decoder.decode(&[0x03, 49, 0, 0], &mut out).is_err());
    assert!(out.is_empty());
}

#[test]
fn arbitrary_bytes_never_panic_the_decoder() {
    let mut decoder = OpusDecoder::new().expect("decoder");
    let mut state = 0x2545_f491_u32;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let mut out = Vec::new();
    for _ in 0..2_000 {
        let len = 1 + (next() % 200) as usize;
        let packet: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        out.clear();
        if let Err(error) = decoder.decode(&packet, &mut out) {
            assert_eq!(error.kind(), OpusErrorKind::Packet, "{error}");
        }
        assert!(out.len() <= MAX_PACKET_SAMPLES);
    }
}

#[test]
fn a_24_khz_stream_round_trips_and_conceals_in_24_khz_frames() {
    let mut encoder = OpusEncoder::with_rate(SampleRate::Hz24k, 32_000, 5).expect("encoder");
    let mut decoder = OpusDecoder::with_rate(SampleRate::Hz24k).expect("decoder");
    let signal = crate::audio::tone::tone(440.0, 8000, SampleRate::Hz24k, 480 * 25);
    let mut out = Vec::new();
    for frame in signal.chunks(480) {
        let packet = encoder
            .encode(frame)
            .expect("20 ms at 24 kHz is 480 samples");
        assert_eq!(decoder.decode(&packet, &mut out).expect("decodes"), 480);
    }
    assert!(
        crate::audio::rms_dbfs(&out[480 * 5..]) > -20.0,
        "the tone survives"
    );
    assert_eq!(decoder.conceal(&mut out), 480);
    assert!(
        encoder.encode(&signal[..960]).is_err(),
        "48 kHz frames are refused"
    );
}
