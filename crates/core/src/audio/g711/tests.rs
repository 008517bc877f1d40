//! Tests for G.711: reference vectors from Python's `audioop` (Sun's `g711.c`), exhaustive error
//! bounds, and code/sample round trips.

use super::*;

/// FNV-1a over bytes: lets one literal stand for a whole reference table.
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn every_sample() -> impl Iterator<Item = i16> {
    i16::MIN..=i16::MAX
}

#[test]
fn ulaw_matches_known_vectors() {
    let vectors: [(i16, u8); 14] = [
        (0, 0xFF),
        (1, 0xFF),
        (-1, 0x7F),
        (8, 0xFE),
        (-8, 0x7E),
        (100, 0xF2),
        (-100, 0x72),
        (1000, 0xCE),
        (-1000, 0x4E),
        (4096, 0xAF),
        (-4096, 0x2F),
        (30000, 0x82),
        (i16::MAX, 0x80),
        (i16::MIN, 0x00),
    ];
    for (sample, code) in vectors {
        assert_eq!(ulaw_encode(sample), code, "encode {sample}");
    }
    assert_eq!(ulaw_decode(0xFF), 0);
    assert_eq!(ulaw_decode(0x7F), 0);
    assert_eq!(ulaw_decode(0x80), 32124);
    assert_eq!(ulaw_decode(0x00), -32124);
    assert_eq!(ulaw_decode(0xC0), 1884);
    assert_eq!(ulaw_decode(0x7E), -8);
}

#[test]
fn alaw_matches_known_vectors() {
    let vectors: [(i16, u8); 14] = [
        (0, 0xD5),
        (-1, 0x55),
        (-8, 0x55),
        (8, 0xD5),
        (100, 0xD3),
        (-100, 0x53),
        (1000, 0xFA),
        (-1000, 0x7A),
        (4096, 0x85),
        (-4096, 0x1A),
        (30000, 0xA8),
        (-30000, 0x28),
        (i16::MAX, 0xAA),
        (i16::MIN, 0x2A),
    ];
    for (sample, code) in vectors {
        assert_eq!(alaw_encode(sample), code, "encode {sample}");
    }
    assert_eq!(alaw_decode(0xD5), 8);
    assert_eq!(alaw_decode(0x55), -8);
    assert_eq!(alaw_decode(0xAA), 32256);
    assert_eq!(alaw_decode(0x2A), -32256);
    assert_eq!(alaw_decode(0x80), 5504);
    assert_eq!(alaw_decode(0x7F), -848);
}

#[test]
fn decode_tables_equal_audioop_tables() {
    let ulaw = (0..=255).flat_map(|code| ulaw_decode(code).to_le_bytes());
    let alaw = (0..=255).flat_map(|code| alaw_decode(code).to_le_bytes());
    // FNV-1a of `audioop.ulaw2lin(bytes(range(256)), 2)` and of `alaw2lin`, Python 3.11.
    assert_eq!(fnv1a(ulaw), 0xb91e_65d6_8481_a1a8);
    assert_eq!(fnv1a(alaw), 0x693a_40ca_62a3_d2a5);
}

#[test]
fn alaw_encoder_equals_audioop_on_every_sample() {
    // FNV-1a of `audioop.lin2alaw` over -32768..=32767, Python 3.11.
    assert_eq!(
        fnv1a(every_sample().map(alaw_encode)),
        0xf030_666e_b780_cf25
    );
}

#[test]
fn ulaw_encoder_equals_audioop_where_both_keep_full_precision() {
    // audioop floors negatives to 14 bits first; on 0..=32767 and negative multiples of 4 the
    // two formulations must agree. FNV-1a of `audioop.lin2ulaw` over those inputs, Python 3.11.
    let inputs = (0..=i16::MAX).chain((i16::MIN..0).step_by(4));
    assert_eq!(fnv1a(inputs.map(ulaw_encode)), 0x0244_d0f2_46fb_3a63);
}

#[test]
fn ulaw_is_symmetric_in_sign() {
    for sample in 1..=i16::MAX {
        assert_eq!(ulaw_encode(-sample), ulaw_encode(sample) ^ 0x80, "{sample}");
    }
}

#[test]
fn ulaw_round_trip_error_is_within_half_a_step_of_its_segment() {
    for sample in every_sample() {
        let code = ulaw_encode(sample);
        let decoded = ulaw_decode(code);
        let error = (i32::from(decoded) - i32::from(sample)).abs();
        if i32::from(sample).abs() > ULAW_CLIP {
            assert_eq!(i32::from(decoded).abs(), 32124, "clipped {sample}");
            continue;
        }
        let segment = u32::from((!code >> 4) & 0x07);
        assert!(
            error <= 1 << (segment + 2),
            "{sample}: {decoded} in segment {segment}"
        );
        assert!(decoded.signum() * sample.signum() >= 0, "sign of {sample}");
    }
}

#[test]
fn alaw_round_trip_error_is_within_half_a_step_of_its_segment() {
    for sample in every_sample() {
        let code = alaw_encode(sample);
        let decoded = alaw_decode(code);
        let error = (i32::from(decoded) - i32::from(sample)).abs();
        let segment = u32::from(((code ^ ALAW_TOGGLE) >> 4) & 0x07).max(1);
        assert!(
            error <= 1 << (segment + 2),
            "{sample}: {decoded} in segment {segment}"
        );
    }
}

#[test]
fn every_code_survives_decode_then_encode() {
    for code in 0..=255u8 {
        let ulaw_expected = if code == 0x7F { 0xFF } else { code };
        assert_eq!(
            ulaw_encode(ulaw_decode(code)),
            ulaw_expected,
            "μ-law {code:#04x}"
        );
        assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
    }
}

#[test]
fn decoded_magnitude_rises_strictly_with_the_code_magnitude() {
    for sign in [0x00u8, 0x80] {
        // Code magnitude = segment and step bits once the line inversion is undone.
        let ulaw: Vec<i32> = (0..0x80u8)
            .map(|level| i32::from(ulaw_decode(!(sign | level))).abs())
            .collect();
        let alaw: Vec<i32> = (0..0x80u8)
            .map(|level| i32::from(alaw_decode((sign | level) ^ ALAW_TOGGLE)).abs())
            .collect();
        assert!(
            ulaw.windows(2).all(|pair| pair[0] < pair[1]),
            "μ-law {sign:#x}"
        );
        assert!(
            alaw.windows(2).all(|pair| pair[0] < pair[1]),
            "A-law {sign:#x}"
        );
    }
}

#[test]
fn slice_helpers_append_one_value_per_input() {
    let samples = [0, 1000, -1000, i16::MAX, i16::MIN];
    let mut ulaw = vec![0xAB];
    ulaw_encode_into(&samples, &mut ulaw);
    assert_eq!(ulaw, [0xAB, 0xFF, 0xCE, 0x4E, 0x80, 0x00]);
    let mut alaw = Vec::new();
    alaw_encode_into(&samples, &mut alaw);
    assert_eq!(alaw, [0xD5, 0xFA, 0x7A, 0xAA, 0x2A]);

    let mut decoded = vec![7];
    ulaw_decode_into(&ulaw[1..], &mut decoded);
    assert_eq!(decoded, [7, 0, 988, -988, 32124, -32124]);
    decoded.clear();
    alaw_decode_into(&alaw, &mut decoded);
    assert_eq!(decoded, [8, 1008, -1008, 32256, -32256]);
    alaw_decode_into(&[], &mut decoded);
    assert_eq!(decoded.len(), 5);
}
