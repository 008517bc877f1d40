//! G.711 companding (ITU-T G.711): μ-law (North America, Japan) and A-law (elsewhere) between
//! 8-bit codes and 16-bit linear PCM.
//!
//! Decoding is a lookup in 256-entry tables built at compile time. Encoding is a few integer
//! operations per sample:
//!
//! - μ-law follows the classic sign-magnitude formulation (bias `0x84`, clip at 32635): the input
//!   magnitude is used at full 16-bit precision, so `encode(-x) == encode(x) ^ 0x80`. It agrees
//!   with Python's `audioop.lin2ulaw` (Sun's `g711.c`) on every non-negative input and every
//!   negative multiple of 4; on other negative inputs, Sun first floors to 14 bits, which can move
//!   a sample at a decision boundary one code away from zero.
//! - A-law follows Sun's `g711.c` bit for bit (13-bit input, one's complement for negatives,
//!   even bits inverted with `0x55`), which is also what `audioop.lin2alaw` does.
//!
//! μ-law has two codes for silence (`0xFF` and `0x7F`, positive and negative zero); both decode to
//! 0 and 0 encodes to `0xFF`. A-law has no zero: 0 encodes to `0xD5`, which decodes to +8.

/// μ-law bias added to the magnitude before the segment search.
const ULAW_BIAS: i32 = 0x84;
/// Largest μ-law magnitude before bias; anything louder encodes as the top code.
const ULAW_CLIP: i32 = 32_635;
/// A-law inverts the even bits of every code.
const ALAW_TOGGLE: u8 = 0x55;

static ULAW_DECODE: [i16; 256] = ulaw_table();
static ALAW_DECODE: [i16; 256] = alaw_table();

/// Encodes one linear sample as a μ-law code.
pub const fn ulaw_encode(sample: i16) -> u8 {
    let (sign, magnitude) = if sample < 0 {
        (0x80, -(sample as i32))
    } else {
        (0x00, sample as i32)
    };
    let magnitude = if magnitude > ULAW_CLIP {
        ULAW_CLIP
    } else {
        magnitude
    };
    // 132..=32767: the top set bit is bit 7..=14, and its position picks the segment.
    let biased = (magnitude + ULAW_BIAS) as u32;
    let segment = 31 - biased.leading_zeros() - 7;
    let step = (biased >> (segment + 3)) & 0x0F;
    !(sign | (segment << 4) as u8 | step as u8)
}

/// Decodes one μ-law code to a linear sample (the midpoint of its quantisation interval).
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// Encodes one linear sample as an A-law code.
pub const fn alaw_encode(sample: i16) -> u8 {
    let linear = (sample >> 3) as i32;
    let (mask, magnitude) = if linear >= 0 {
        (0xD5, linear)
    } else {
        (ALAW_TOGGLE, -linear - 1)
    };
    // 0..=4095. Segment 0 covers 0..32; above it the top set bit (5..=11) picks the segment.
    let segment = if magnitude < 32 {
        0
    } else {
        31 - (magnitude as u32).leading_zeros() - 4
    };
    let shift = if segment < 2 { 1 } else { segment };
    let step = (magnitude >> shift) & 0x0F;
    ((segment << 4) as u8 | step as u8) ^ mask
}

/// Decodes one A-law code to a linear sample (the midpoint of its quantisation interval).
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

/// Appends the linear samples of μ-law `codes` to `out`.
pub fn ulaw_decode_into(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&code| ulaw_decode(code)));
}

/// Appends the μ-law codes of linear `samples` to `out`.
pub fn ulaw_encode_into(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|&sample| ulaw_encode(sample)));
}

/// Appends the linear samples of A-law `codes` to `out`.
pub fn alaw_decode_into(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&code| alaw_decode(code)));
}

/// Appends the A-law codes of linear `samples` to `out`.
pub fn alaw_encode_into(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|&sample| alaw_encode(sample)));
}

/// The linear value of a μ-law code, computed (the tables are built from this).
const fn ulaw_expand(code: u8) -> i16 {
    let bits = !code;
    let segment = (bits >> 4) & 0x07;
    let step = (bits & 0x0F) as i32;
    let magnitude = (((step << 3) + ULAW_BIAS) << segment) - ULAW_BIAS;
    if bits & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// The linear value of an A-law code, computed (the tables are built from this).
const fn alaw_expand(code: u8) -> i16 {
    let bits = code ^ ALAW_TOGGLE;
    let segment = (bits >> 4) & 0x07;
    let step = ((bits & 0x0F) as i32) << 4;
    let magnitude = match segment {
        0 => step + 8,
        1 => step + 0x108,
        _ => (step + 0x108) << (segment - 1),
    };
    if bits & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn ulaw_table() -> [i16; 256] {
    let mut table = [0; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = ulaw_expand(code as u8);
        code += 1;
    }
    table
}

const fn alaw_table() -> [i16; 256] {
    let mut table = [0; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = alaw_expand(code as u8);
        code += 1;
    }
    table
}

#[cfg(test)]
mod tests;
