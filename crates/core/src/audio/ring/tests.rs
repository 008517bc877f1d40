//! Tests for the caller-audio ring: positions, wraparound and overwritten audio.

use super::*;

/// 10 ms at 8 kHz: 80 samples.
fn small_ring() -> AudioRing {
    AudioRing::new(SampleRate::Hz8k, 10)
}

fn ramp(from: i16, count: i16) -> Vec<i16> {
    (from..from + count).collect()
}

#[test]
fn a_new_ring_is_empty_at_position_zero() {
    let ring = small_ring();
    assert_eq!(ring.capacity(), 80);
    assert_eq!((ring.mark(), ring.oldest(), ring.len_ms()), (0, 0, 0));
    assert!(ring.is_empty());
    let excerpt = ring.since(0).expect("position 0 is the end");
    assert!(excerpt.samples.is_empty());
    assert!(excerpt.is_complete());
}

#[test]
fn audio_within_capacity_is_returned_whole() {
    let mut ring = small_ring();
    ring.push(&ramp(0, 30));
    ring.push(&ramp(30, 30));
    assert_eq!(ring.mark(), 60);
    assert_eq!(ring.len_ms(), 7);
    let excerpt = ring.since(0).expect("in range");
    assert_eq!(excerpt.samples, ramp(0, 60));
    assert_eq!((excerpt.start, excerpt.lost_samples), (0, 0));
}

#[test]
fn since_a_mark_returns_only_later_audio() {
    let mut ring = small_ring();
    ring.push(&ramp(0, 40));
    let turn = ring.mark();
    ring.push(&ramp(40, 25));
    let excerpt = ring.since(turn).expect("in range");
    assert_eq!(excerpt.samples, ramp(40, 25));
    assert_eq!(excerpt.start, 40);
    assert!(excerpt.is_complete());
    assert!(ring.since(ring.mark()).expect("the end").samples.is_empty());
}

#[test]
fn wrapping_keeps_the_newest_samples_in_order() {
    let mut ring = small_ring();
    for start in (0..150).step_by(50) {
        ring.push(&ramp(start, 50));
    }
    assert_eq!((ring.mark(), ring.oldest(), ring.len()), (150, 70, 80));
    assert_eq!(ring.len_ms(), 10);
    let recent = ring.since(100).expect("retained");
    assert_eq!(recent.samples, ramp(100, 50));
    assert!(recent.is_complete());
}

#[test]
fn an_overwritten_position_reports_how_much_was_lost() {
    let mut ring = small_ring();
    for start in (0..150).step_by(50) {
        ring.push(&ramp(start, 50));
    }
    let excerpt = ring.since(10).expect("not ahead");
    assert_eq!(excerpt.lost_samples, 60);
    assert_eq!(excerpt.start, 70);
    assert_eq!(excerpt.samples, ramp(70, 80));
    assert!(!excerpt.is_complete());
}

#[test]
fn a_chunk_longer_than_the_ring_keeps_its_tail() {
    let mut ring = small_ring();
    ring.push(&ramp(0, 5));
    ring.push(&ramp(5, 200));
    assert_eq!(ring.mark(), 205);
    let excerpt = ring.since(0).expect("not ahead");
    assert_eq!(excerpt.samples, ramp(125, 80));
    assert_eq!(excerpt.lost_samples, 125);
}

#[test]
fn a_position_ahead_of_the_stream_is_an_error() {
    let mut ring = small_ring();
    ring.push(&[1; 10]);
    assert_eq!(
        ring.since(11),
        Err(PositionAhead {
            position: 11,
            end: 10
        })
    );
    assert!(ring.since_ms(2).is_err());
}

#[test]
fn milliseconds_address_the_stream_from_its_start() {
    let mut ring = AudioRing::new(SampleRate::Hz16k, 100);
    ring.push(&ramp(0, 16 * 30));
    let excerpt = ring.since_ms(20).expect("in range");
    assert_eq!(excerpt.start, 320);
    assert_eq!(excerpt.samples, ramp(320, 160));
}

#[test]
fn last_ms_returns_the_most_recent_window() {
    let mut ring = small_ring();
    ring.push(&ramp(0, 50));
    assert_eq!(ring.last_ms(2).samples, ramp(34, 16));
    let whole = ring.last_ms(1_000);
    assert_eq!(whole.samples, ramp(0, 50));
    assert!(
        whole.is_complete(),
        "audio before the stream began was never lost"
    );
    ring.push(&ramp(50, 50));
    let wider = ring.last_ms(1_000);
    assert_eq!(wider.samples, ramp(20, 80));
    assert_eq!(wider.lost_samples, 20);
}

#[test]
fn a_zero_capacity_ring_counts_positions_and_loses_everything() {
    let mut ring = AudioRing::new(SampleRate::Hz8k, 0);
    ring.push(&[1, 2, 3]);
    ring.push(&[]);
    assert_eq!((ring.mark(), ring.len()), (3, 0));
    let excerpt = ring.since(1).expect("not ahead");
    assert_eq!((excerpt.start, excerpt.lost_samples), (3, 2));
    assert!(excerpt.samples.is_empty());
}

#[test]
fn any_chunking_matches_a_plain_record_of_the_stream() {
    let mut ring = AudioRing::new(SampleRate::Hz8k, 25);
    let mut record: Vec<i16> = Vec::new();
    let mut next = 0i16;
    for round in 0..60usize {
        let chunk: Vec<i16> = (0..(round * 37) % 230)
            .map(|_| {
                next = next.wrapping_add(1);
                next
            })
            .collect();
        ring.push(&chunk);
        record.extend_from_slice(&chunk);
        let oldest = record.len().saturating_sub(200);
        for position in [0, oldest / 2, oldest, record.len() / 2, record.len()] {
            let excerpt = ring.since(position as u64).expect("not ahead");
            let start = position.max(oldest);
            assert_eq!(
                excerpt.samples,
                record[start..],
                "round {round} from {position}"
            );
            assert_eq!(excerpt.lost_samples, (start - position) as u64);
        }
    }
}
