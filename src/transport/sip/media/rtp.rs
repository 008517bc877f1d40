//! RTP packets (RFC 3550 §5.1): reading a received datagram's fixed header (version 2, CSRC list,
//! header extension and padding skipped or removed) and writing our own 12-byte header.
//!
//! Owns the byte layout only: no sequence state, no timing, no sockets. Parsing borrows the
//! datagram; nothing is allocated.

/// Size of the fixed header.
pub(crate) const HEADER_BYTES: usize = 12;

/// A received RTP packet, borrowing its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Packet<'a> {
    /// The marker bit.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub seq: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The payload, without CSRCs, extension or padding.
    pub payload: &'a [u8],
}

/// Why a datagram is not an RTP packet we can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RtpError {
    /// Shorter than its headers say.
    #[error("the datagram is shorter than its RTP headers")]
    Short,
    /// Not RTP version 2.
    #[error("not RTP version 2")]
    Version,
    /// The padding count is zero or runs into the headers.
    #[error("bad RTP padding")]
    Padding,
}

/// Reads an RTP packet. RTCP on the same port (payload types 72-76 with the marker, RFC 5761)
/// reads as RTP with an unexpected payload type, which the caller ignores.
pub(crate) fn parse(datagram: &[u8]) -> Result<Packet<'_>, RtpError> {
    let [first, second, s0, s1, t0, t1, t2, t3, c0, c1, c2, c3, ..] = *datagram else {
        return Err(RtpError::Short);
    };
    if first >> 6 != 2 {
        return Err(RtpError::Version);
    }
    let csrc_count = usize::from(first & 0x0F);
    let mut start = HEADER_BYTES + 4 * csrc_count;
    if first & 0x10 != 0 {
        // Extension: 16-bit profile, 16-bit length in 32-bit words, then the words.
        let words = datagram.get(start + 2..start + 4).ok_or(RtpError::Short)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    let mut end = datagram.len();
    if start > end {
        return Err(RtpError::Short);
    }
    if first & 0x20 != 0 {
        let padding = usize::from(datagram[end - 1]);
        if padding == 0 || padding > end - start {
            return Err(RtpError::Padding);
        }
        end -= padding;
    }
    Ok(Packet {
        marker: second & 0x80 != 0,
        payload_type: second & 0x7F,
        seq: u16::from_be_bytes([s0, s1]),
        timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
        ssrc: u32::from_be_bytes([c0, c1, c2, c3]),
        payload: &datagram[start..end],
    })
}

/// The fields of a header we send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The marker bit (first packet of a talkspurt).
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub seq: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

impl Header {
    /// The 12 header bytes: version 2, no padding, extension or CSRCs.
    pub(crate) fn to_bytes(self) -> [u8; HEADER_BYTES] {
        let mut bytes = [0; HEADER_BYTES];
        bytes[0] = 0x80;
        bytes[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        bytes[2..4].copy_from_slice(&self.seq.to_be_bytes());
        bytes[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        bytes[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> Header {
        Header {
            marker: true,
            payload_type: 8,
            seq: 0xBEEF,
            timestamp: 0x0102_0304,
            ssrc: 0xCAFE_F00D,
        }
    }

    #[test]
    fn a_written_header_reads_back_with_its_payload() {
        let mut datagram = header().to_bytes().to_vec();
        datagram.extend_from_slice(&[7; 160]);
        let packet = parse(&datagram).expect("packet");
        assert_eq!(
            (packet.marker, packet.payload_type, packet.seq),
            (true, 8, 0xBEEF)
        );
        assert_eq!((packet.timestamp, packet.ssrc), (0x0102_0304, 0xCAFE_F00D));
        assert_eq!(packet.payload, &[7; 160]);
    }

    #[test]
    fn short_datagrams_and_other_versions_are_refused() {
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::Short));
        let mut datagram = header().to_bytes();
        datagram[0] = 0x40; // version 1
        assert_eq!(parse(&datagram), Err(RtpError::Version));
        let mut csrcs = header().to_bytes().to_vec();
        csrcs[0] |= 0x03; // three CSRCs promised, none present
        assert_eq!(parse(&csrcs), Err(RtpError::Short));
    }

    #[test]
    fn csrcs_and_an_extension_are_skipped() {
        let mut datagram = header().to_bytes().to_vec();
        datagram[0] |= 0x10 | 0x02; // extension, two CSRCs
        datagram.extend_from_slice(&[1; 8]); // CSRCs
        datagram.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01]); // one extension word
        datagram.extend_from_slice(&[9; 4]);
        datagram.extend_from_slice(&[5; 3]);
        assert_eq!(parse(&datagram).expect("packet").payload, &[5; 3]);
        datagram.truncate(HEADER_BYTES + 8 + 6);
        assert_eq!(
            parse(&datagram),
            Err(RtpError::Short),
            "extension cut short"
        );
    }

    #[test]
    fn padding_is_removed_and_bad_padding_refused() {
        let mut datagram = header().to_bytes().to_vec();
        datagram[0] |= 0x20;
        datagram.extend_from_slice(&[5, 5, 0, 0, 3]);
        assert_eq!(parse(&datagram).expect("packet").payload, &[5, 5]);
        *datagram.last_mut().expect("byte") = 0;
        assert_eq!(parse(&datagram), Err(RtpError::Padding));
        *datagram.last_mut().expect("byte") = 6;
        assert_eq!(parse(&datagram), Err(RtpError::Padding));
    }

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(packet) = parse(&bytes) {
                prop_assert!(packet.payload.len() <= bytes.len() - HEADER_BYTES);
            }
        }

        #[test]
        fn version_2_datagrams_with_any_flags_never_panic(
            first in 0x80u8..0xC0, rest in proptest::collection::vec(any::<u8>(), 0..64)
        ) {
            let mut bytes = vec![first];
            bytes.extend(rest);
            let _ = parse(&bytes);
        }
    }
}
