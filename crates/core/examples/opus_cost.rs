//! What Opus costs per 20 ms frame on this machine: encodes the fixture speech (resampled to
//! 48 kHz, or RATE) at complexities 0, 1, 2, 5 and 10 and bitrates 16, 24 and 32 kb/s, decodes it, conceals
//! a lost frame after each packet, and prints microseconds per 20 ms frame. A measurement for
//! sizing, not a test: nothing asserts.
//!
//! ```text
//! cargo run --release -p voxgate-core --example opus_cost [-- WAV [SECONDS [RATE]]]
//! ```
//!
//! WAV is a mono PCM16 file at 8, 16, 24 or 48 kHz (default: `speech-16k.wav` from the shared
//! fixtures beside the workspace, else `/work/shared/fixtures`); SECONDS limits how much of it is
//! used (default: all of it); RATE is the codec's sample rate, 8000, 16000, 24000 or 48000
//! (default 48000; voxgate's WebRTC leg runs at 24000).

use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};
use voxgate_core::audio::{OpusDecoder, OpusEncoder, Resampler, SampleRate, rms_dbfs};

const BITRATES: [u32; 3] = [16_000, 24_000, 32_000];
const COMPLEXITIES: [u8; 5] = [0, 1, 2, 5, 10];
/// Each measurement is repeated and the fastest run kept, to shed scheduler noise on a shared
/// machine.
const RUNS: usize = 3;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("opus_cost: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let path = args.next().map_or_else(default_fixture, PathBuf::from);
    let seconds: Option<usize> = args
        .next()
        .map(|text| text.parse().map_err(|_| format!("bad SECONDS: {text}")))
        .transpose()?;
    let codec_rate = match args.next().as_deref() {
        None | Some("48000") => SampleRate::Hz48k,
        Some("24000") => SampleRate::Hz24k,
        Some("16000") => SampleRate::Hz16k,
        Some("8000") => SampleRate::Hz8k,
        Some(other) => return Err(format!("bad RATE: {other}")),
    };
    let hz = codec_rate.hz() as usize;
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (rate, samples) = parse_wav(&bytes)?;
    let mut resampler = Resampler::new(rate, codec_rate).map_err(|e| e.to_string())?;
    let mut speech = Vec::new();
    resampler.process(&samples, &mut speech);
    if let Some(seconds) = seconds {
        speech.truncate(seconds * hz);
    }
    let frames: Vec<&[i16]> = speech.chunks_exact(hz / 50).collect();
    println!(
        "{}: {} frames ({:.1} s) at {} kHz, {:.1} dBFS; best of {RUNS} runs",
        path.display(),
        frames.len(),
        frames.len() as f64 / 50.0,
        hz / 1000,
        rms_dbfs(&speech),
    );
    println!(
        "bitrate  cplx  encode µs/frame  decode µs/frame  bytes/packet  real-time load (enc+dec)"
    );
    for bitrate in BITRATES {
        for complexity in COMPLEXITIES {
            measure(&frames, codec_rate, bitrate, complexity)?;
        }
    }
    let conceal = measure_concealment(&frames, codec_rate)?;
    println!("conceal (one lost frame after each 24 kb/s packet): {conceal:.1} µs/frame");
    Ok(())
}

fn measure(
    frames: &[&[i16]],
    rate: SampleRate,
    bitrate: u32,
    complexity: u8,
) -> Result<(), String> {
    let mut packets = Vec::new();
    let encode = best_of(|| {
        let mut encoder =
            OpusEncoder::with_rate(rate, bitrate, complexity).map_err(|e| e.to_string())?;
        packets.clear();
        let started = now();
        for frame in frames {
            packets.push(encoder.encode(frame).map_err(|e| e.to_string())?);
        }
        Ok(started.elapsed())
    })?;
    let decode = best_of(|| {
        let mut decoder = OpusDecoder::with_rate(rate).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(frames.first().map_or(0, |f| f.len()));
        let started = now();
        for packet in &packets {
            out.clear();
            decoder
                .decode(packet, &mut out)
                .map_err(|e| e.to_string())?;
        }
        Ok(started.elapsed())
    })?;
    let (encode, decode) = (
        per_frame(encode, frames.len()),
        per_frame(decode, frames.len()),
    );
    let bytes = packets.iter().map(Vec::len).sum::<usize>() as f64 / packets.len().max(1) as f64;
    println!(
        "{:>7}  {complexity:>4}  {encode:>15.1}  {decode:>15.1}  {bytes:>12.1}  {:>23.2} %",
        bitrate,
        (encode + decode) / 20_000.0 * 100.0,
    );
    Ok(())
}

/// Concealment as it happens in a call: a frame lost after real audio, so the codec has pitch
/// and spectrum to continue (before any packet it is just silence). Only the concealment is timed.
fn measure_concealment(frames: &[&[i16]], rate: SampleRate) -> Result<f64, String> {
    let mut encoder = OpusEncoder::with_rate(rate, 24_000, 5).map_err(|e| e.to_string())?;
    let packets = frames
        .iter()
        .map(|frame| encoder.encode(frame))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let elapsed = best_of(|| {
        let mut decoder = OpusDecoder::with_rate(rate).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(frames.first().map_or(0, |f| f.len() * 2));
        let mut concealing = Duration::ZERO;
        for packet in &packets {
            out.clear();
            decoder
                .decode(packet, &mut out)
                .map_err(|e| e.to_string())?;
            let started = now();
            decoder.conceal(&mut out);
            concealing += started.elapsed();
        }
        Ok(concealing)
    })?;
    Ok(per_frame(elapsed, packets.len()))
}

fn best_of(mut run: impl FnMut() -> Result<Duration, String>) -> Result<Duration, String> {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        best = best.min(run()?);
    }
    Ok(best)
}

#[allow(clippy::disallowed_methods)] // an example measuring wall time, not core library code
fn now() -> Instant {
    Instant::now()
}

fn per_frame(elapsed: Duration, frames: usize) -> f64 {
    elapsed.as_secs_f64() * 1e6 / frames.max(1) as f64
}

fn default_fixture() -> PathBuf {
    let beside_workspace =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/speech-16k.wav");
    if beside_workspace.exists() {
        beside_workspace
    } else {
        PathBuf::from("/work/shared/fixtures/speech-16k.wav")
    }
}

/// The rate and samples of a mono PCM16 WAV file.
fn parse_wav(bytes: &[u8]) -> Result<(SampleRate, Vec<i16>), String> {
    let le32 = |at: &[u8]| {
        at.get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if bytes.get(..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err("not a RIFF/WAVE file".into());
    }
    let (mut rate, mut rest) = (None, &bytes[12..]);
    while rest.len() >= 8 {
        let size = le32(&rest[4..]).ok_or("truncated chunk")? as usize;
        let body = &rest[8..(8 + size).min(rest.len())];
        match &rest[..4] {
            b"fmt "
                if body.get(..4) == Some(&[1, 0, 1, 0]) && body.get(14..16) == Some(&[16, 0]) =>
            {
                let hz = le32(&body[4..]).ok_or("truncated fmt")?;
                rate = Some(SampleRate::from_hz(hz).ok_or(format!("unsupported rate {hz}"))?);
            }
            b"fmt " => return Err("not mono 16-bit PCM".into()),
            b"data" => {
                let samples = body
                    .chunks_exact(2)
                    .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                    .collect();
                return Ok((rate.ok_or("data before fmt")?, samples));
            }
            _ => {}
        }
        rest = &rest[(8 + size + size % 2).min(rest.len())..];
    }
    Err("no data chunk".into())
}
