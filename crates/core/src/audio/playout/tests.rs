//! Playout order, losses, late and duplicate packets, wrap-around, overflow and underrun, and a
//! property: any reordering within the target window plays back in order with nothing lost.

use super::*;
use proptest::prelude::*;

/// Pops `n` ticks.
fn pops(buffer: &mut PlayoutBuffer<u16>, n: usize) -> Vec<Playout<u16>> {
    (0..n).map(|_| buffer.pop()).collect()
}

/// Pops until nothing is held.
fn drain(buffer: &mut PlayoutBuffer<u16>) -> Vec<Playout<u16>> {
    std::iter::from_fn(|| (!buffer.is_empty()).then(|| buffer.pop())).collect()
}

fn frames(seqs: &[u16]) -> Vec<Playout<u16>> {
    seqs.iter().map(|&seq| Playout::Frame(seq)).collect()
}

/// A buffer of `target` 3 fed `seqs` one per tick, each push followed by a pop.
fn one_per_tick(seqs: &[u16]) -> (PlayoutBuffer<u16>, Vec<Playout<u16>>) {
    let mut buffer = PlayoutBuffer::new(3, 16);
    let out = seqs
        .iter()
        .map(|&seq| {
            buffer.push(seq, seq);
            buffer.pop()
        })
        .collect();
    (buffer, out)
}

#[test]
fn playout_waits_for_the_target_depth_then_plays_in_order() {
    let (mut buffer, out) = one_per_tick(&[10, 11, 12, 13, 14]);
    assert_eq!(out[..2], [Playout::Waiting, Playout::Waiting]);
    assert_eq!(out[2..], frames(&[10, 11, 12]));
    assert_eq!(pops(&mut buffer, 2), frames(&[13, 14]));
    assert_eq!(buffer.stats(), PlayoutStats::default());
}

#[test]
fn reordering_within_the_target_depth_is_repaired() {
    let (mut buffer, out) = one_per_tick(&[2, 0, 1, 5, 3, 4, 6]);
    let mut played: Vec<_> = out.into_iter().filter(|p| *p != Playout::Waiting).collect();
    played.extend(drain(&mut buffer));
    assert_eq!(played, frames(&[0, 1, 2, 3, 4, 5, 6]));
    assert_eq!(buffer.stats(), PlayoutStats::default());
}

#[test]
fn a_loss_yields_exactly_one_lost_and_playout_continues() {
    let (mut buffer, out) = one_per_tick(&[0, 1, 2, 3, 5, 6, 7]);
    let mut played: Vec<_> = out.into_iter().skip(2).collect();
    played.extend(drain(&mut buffer));
    let mut expected = frames(&[0, 1, 2, 3]);
    expected.push(Playout::Lost);
    expected.extend(frames(&[5, 6, 7]));
    assert_eq!(played, expected);
    assert_eq!(buffer.stats().lost, 1);
}

#[test]
fn a_gap_is_held_open_while_the_buffer_is_shallower_than_its_target() {
    let mut buffer = PlayoutBuffer::new(3, 16);
    for seq in 0..3 {
        buffer.push(seq, seq);
    }
    assert_eq!(pops(&mut buffer, 3), frames(&[0, 1, 2]));
    buffer.push(4, 4);
    assert_eq!(buffer.pop(), Playout::Waiting, "3 may still come");
    buffer.push(3, 3);
    assert_eq!(pops(&mut buffer, 2), frames(&[3, 4]));
    assert_eq!(buffer.stats(), PlayoutStats::default());
}

#[test]
fn late_packets_are_dropped_and_counted() {
    let (mut buffer, _) = one_per_tick(&[0, 1, 2, 4, 5]);
    assert_eq!(pops(&mut buffer, 1), [Playout::Lost], "3 is concealed");
    assert!(!buffer.push(3, 3));
    assert!(!buffer.push(0, 0));
    assert_eq!(pops(&mut buffer, 2), frames(&[4, 5]));
    assert_eq!(buffer.stats().late, 1);
    assert_eq!(
        buffer.stats().duplicate,
        1,
        "0 was played: a duplicate, not late"
    );
}

#[test]
fn duplicates_are_ignored_whether_held_or_played() {
    let mut buffer = PlayoutBuffer::new(2, 16);
    assert!(buffer.push(0, 0));
    assert!(!buffer.push(0, 99));
    assert!(buffer.push(1, 1));
    assert_eq!(pops(&mut buffer, 1), frames(&[0]));
    assert!(!buffer.push(0, 98));
    assert_eq!(buffer.len(), 1);
    assert_eq!(pops(&mut buffer, 1), frames(&[1]));
    assert_eq!(buffer.stats().duplicate, 2);
    assert_eq!(buffer.stats().late, 0);
}

#[test]
fn sequence_numbers_wrap_from_65535_to_0() {
    let (mut buffer, out) = one_per_tick(&[65_533, 65_535, 65_534, 0, 2, 1]);
    let mut played: Vec<_> = out.into_iter().filter(|p| *p != Playout::Waiting).collect();
    played.extend(drain(&mut buffer));
    assert_eq!(played, frames(&[65_533, 65_534, 65_535, 0, 1, 2]));
    assert!(!buffer.push(65_535, 7), "played before the wrap");
    assert_eq!(buffer.stats().duplicate, 1);
}

#[test]
fn capacity_overflow_drops_the_oldest() {
    let mut buffer = PlayoutBuffer::new(2, 4);
    for seq in 0..6 {
        assert!(buffer.push(seq, seq));
    }
    assert_eq!(buffer.len(), 4);
    assert_eq!(buffer.stats().overflowed, 2);
    assert_eq!(pops(&mut buffer, 4), frames(&[2, 3, 4, 5]));
    assert!(!buffer.push(1, 1), "dropped by overflow, now behind");
}

#[test]
fn overflow_while_playing_moves_playout_up_and_counts_the_skipped_gap() {
    let mut buffer = PlayoutBuffer::new(1, 4);
    buffer.push(0, 0);
    assert_eq!(pops(&mut buffer, 1), frames(&[0]));
    buffer.push(2, 2);
    buffer.push(10, 10);
    assert_eq!(buffer.stats().overflowed, 1, "2 is more than 4 behind 10");
    assert_eq!(buffer.stats().lost, 5, "1 and 3..=6 never came");
    assert_eq!(
        pops(&mut buffer, 4),
        [Playout::Lost, Playout::Lost, Playout::Lost]
            .into_iter()
            .chain(frames(&[10]))
            .collect::<Vec<_>>()
    );
}

#[test]
fn underrun_answers_waiting_then_refills_to_the_target() {
    let mut buffer = PlayoutBuffer::new(2, 16);
    buffer.push(0, 0);
    buffer.push(1, 1);
    assert_eq!(
        pops(&mut buffer, 3),
        [Playout::Frame(0), Playout::Frame(1), Playout::Waiting]
    );
    assert_eq!(buffer.stats().underruns, 1);
    buffer.push(2, 2);
    assert_eq!(
        buffer.pop(),
        Playout::Waiting,
        "one frame is below the target of two"
    );
    buffer.push(3, 3);
    assert_eq!(
        pops(&mut buffer, 3),
        [Playout::Frame(2), Playout::Frame(3), Playout::Waiting]
    );
    assert!(buffer.is_empty());
}

#[test]
fn after_an_underrun_sequence_numbers_that_never_came_are_skipped_not_concealed() {
    let mut buffer = PlayoutBuffer::new(2, 16);
    buffer.push(0, 0);
    buffer.push(1, 1);
    pops(&mut buffer, 3);
    buffer.push(5, 5);
    buffer.push(6, 6);
    assert_eq!(pops(&mut buffer, 2), frames(&[5, 6]));
    assert_eq!(buffer.stats().lost, 3, "2, 3 and 4");
    assert!(!buffer.push(3, 3), "late");
}

proptest! {
    #[test]
    fn any_reordering_within_the_target_window_plays_in_order_without_loss(
        target in 1_usize..6,
        start: u16,
        shuffles in proptest::collection::vec(any::<u64>(), 1..20),
    ) {
        // Chunks of `target` consecutive packets, each chunk in an arbitrary order.
        let mut arrivals = Vec::new();
        for (chunk, key) in shuffles.iter().enumerate() {
            let base = (chunk * target) as u16;
            let mut seqs: Vec<u16> = (0..target as u16)
                .map(|i| start.wrapping_add(base + i))
                .collect();
            let mut state = *key | 1;
            for i in (1..seqs.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                seqs.swap(i, (state % (i as u64 + 1)) as usize);
            }
            arrivals.extend(seqs);
        }
        let mut buffer = PlayoutBuffer::new(target, target * 2);
        let mut played = Vec::new();
        for &seq in &arrivals {
            prop_assert!(buffer.push(seq, seq));
            played.push(buffer.pop());
        }
        played.extend(drain(&mut buffer));
        let played: Vec<_> = played.into_iter().filter(|p| *p != Playout::Waiting).collect();
        let expected: Vec<_> = (0..arrivals.len() as u16)
            .map(|i| Playout::Frame(start.wrapping_add(i)))
            .collect();
        prop_assert_eq!(played, expected);
        prop_assert_eq!(buffer.stats(), PlayoutStats::default());
    }
}
