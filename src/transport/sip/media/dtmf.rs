//! RFC 4733 telephone-events (DTMF sent as RTP) turned into one digit per key press.
//!
//! A sender repeats an event's packet every 50 ms or so while the key is held and sends its end
//! packet three times; every packet of one event carries the same RTP timestamp. So a digit is
//! reported on the first packet of a timestamp newer than the last event's (compared with RTP
//! wrap-around), and the rest, including late reordered packets of earlier events, are dropped.
//! Owns only that de-duplication; the leg decides what the digit becomes.

/// Reads digits out of telephone-event payloads, one per event.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DtmfReceiver {
    /// The RTP timestamp of the last event reported.
    last_event: Option<u32>,
}

impl DtmfReceiver {
    /// A telephone-event packet's payload and RTP timestamp; the digit if this starts a new
    /// event. Events other than 0-9, `*`, `#`, A-D (e.g. fax tones) are ignored.
    pub(crate) fn receive(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let &[event, ..] = payload else {
            return None;
        };
        let newer = self
            .last_event
            .is_none_or(|last| timestamp.wrapping_sub(last) as i32 > 0);
        if payload.len() < 4 || !newer {
            return None;
        }
        let digit = digit(event)?;
        self.last_event = Some(timestamp);
        Some(digit)
    }
}

/// The key of an RFC 4733 §3.2 DTMF event code.
fn digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A telephone-event payload: event, end bit, volume 10, duration.
    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let [d0, d1] = duration.to_be_bytes();
        [event, (u8::from(end) << 7) | 10, d0, d1]
    }

    #[test]
    fn one_digit_per_event_despite_repeats_and_triple_end_packets() {
        let mut receiver = DtmfReceiver::default();
        let mut digits = Vec::new();
        let presses = [(1, 8000u32), (1, 16_000), (11, 24_000)];
        for (event, timestamp) in presses {
            for duration in [400u16, 800, 1200] {
                digits.extend(receiver.receive(timestamp, &payload(event, false, duration)));
            }
            for _ in 0..3 {
                digits.extend(receiver.receive(timestamp, &payload(event, true, 1600)));
            }
        }
        assert_eq!(digits, vec!['1', '1', '#']);
    }

    #[test]
    fn every_key_maps_and_other_events_and_short_payloads_are_ignored() {
        let mut receiver = DtmfReceiver::default();
        let keys: String = (0..16u32)
            .filter_map(|event| receiver.receive(event * 800, &payload(event as u8, false, 160)))
            .collect();
        assert_eq!(keys, "0123456789*#ABCD");
        assert_eq!(receiver.receive(99_999, &payload(32, false, 160)), None);
        assert_eq!(receiver.receive(99_998, &[5, 0]), None);
    }

    #[test]
    fn a_late_packet_of_an_earlier_event_is_not_a_new_digit_even_across_wrap_around() {
        let mut receiver = DtmfReceiver::default();
        let first = u32::MAX - 400;
        let second = first.wrapping_add(8000);
        assert_eq!(receiver.receive(first, &payload(1, false, 400)), Some('1'));
        assert_eq!(receiver.receive(second, &payload(2, false, 400)), Some('2'));
        assert_eq!(receiver.receive(first, &payload(1, true, 1600)), None);
        let third = second.wrapping_add(8000);
        assert_eq!(receiver.receive(third, &payload(3, false, 400)), Some('3'));
    }
}
