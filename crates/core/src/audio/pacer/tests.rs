//! Pacing on virtual time: one real instant, everything after it `t0 + n * 20 ms`.

use super::*;

const MS: Duration = Duration::from_millis(1);
/// Small frames keep the expectations readable.
const FRAME: usize = 4;

struct Clock {
    t0: Instant,
}

impl Clock {
    fn new() -> Self {
        #[allow(clippy::disallowed_methods)] // the one real instant; everything after is virtual
        let t0 = Instant::now();
        Self { t0 }
    }

    fn at(&self, ms: u32) -> Instant {
        self.t0 + MS * ms
    }
}

fn ramp(from: i16, len: usize) -> Vec<i16> {
    (from..).take(len).collect()
}

#[test]
fn one_frame_goes_out_per_tick_on_a_twenty_millisecond_grid() {
    let clock = Clock::new();
    let mut pacer = Pacer::new(FRAME);
    assert_eq!(pacer.next_tick(), None, "idle");
    pacer.push(&ramp(0, 3 * FRAME), None);
    assert_eq!(pacer.queued_ms(), 60);

    let first = pacer.tick(clock.at(0));
    assert_eq!(first.frame, Some(ramp(0, FRAME)));
    assert_eq!(pacer.next_tick(), Some(clock.at(20)));
    assert_eq!(
        pacer.tick(clock.at(5)).frame,
        None,
        "early: nothing to send yet"
    );
    assert_eq!(
        pacer.tick(clock.at(21)).frame,
        Some(ramp(4, FRAME)),
        "1 ms of timer jitter"
    );
    assert_eq!(pacer.next_tick(), Some(clock.at(40)), "the grid holds");
    assert_eq!(pacer.tick(clock.at(40)).frame, Some(ramp(8, FRAME)));
    assert_eq!(pacer.queued_ms(), 0);
    assert_eq!(pacer.next_tick(), None);
    assert_eq!(pacer.tick(clock.at(60)), Tick::default());
}

#[test]
fn a_mark_is_reported_exactly_when_its_audio_has_been_sent() {
    let clock = Clock::new();
    let mut pacer = Pacer::new(FRAME);
    pacer.push(&ramp(0, 2 * FRAME), Some(1));
    pacer.push(&ramp(0, FRAME), Some(2));

    let tick = pacer.tick(clock.at(0));
    assert!(tick.frame.is_some());
    assert!(
        tick.played.is_empty(),
        "half of mark 1's audio is still queued"
    );
    let tick = pacer.tick(clock.at(20));
    assert!(tick.frame.is_some());
    assert_eq!(tick.played, [1]);
    let tick = pacer.tick(clock.at(40));
    assert_eq!(tick.played, [2]);
    assert_eq!(pacer.next_tick(), None);
}

#[test]
fn a_mark_with_nothing_queued_before_it_is_reported_at_the_next_tick() {
    let clock = Clock::new();
    let mut pacer = Pacer::new(FRAME);
    pacer.tick(clock.at(0));
    pacer.push(&[], Some(7));
    assert_eq!(pacer.next_tick(), Some(clock.at(0)), "due at once");
    assert_eq!(
        pacer.tick(clock.at(3)),
        Tick {
            frame: None,
            played: vec![7],
            slot: None,
        }
    );
}

#[test]
fn marks_pushed_back_to_back_are_reported_together_in_order() {
    let clock = Clock::new();
    let mut pacer = Pacer::new(FRAME);
    pacer.push(&ramp(0, FRAME), Some(1));
    pacer.push(&[], Some(2));
    assert_eq!(pacer.tick(clock.at(0)).played, [1, 2]);
}

#[test]
fn clear_drops_the_queue_and_returns_the_pending_marks() {
    let clock = Clock::new();
    let mut pacer = Pacer::new(FRAME);
    pacer.push(&ramp(0, FRAME), Some(1));
    pacer.push(&ramp(0, 2 * FRAME), Some(2));
    pacer.push(&ramp(0, FRAME + 1), None);
    pacer.push(&ramp(0, FRAME), Some(3));
    assert_eq!(pacer.tick(clock.at(0)).played, [1]);

    assert_eq!(pacer.clear(), [2, 3]);
    assert_eq!(pacer.queued_ms(), 0);
    assert_eq!(pacer.next_tick(), None);
    assert_eq!(
        pacer.tick(clock.at(20)),
        Tick::default(),
        "nothing left to send or report"
    );

    pacer.push(&ramp(100, FRAME), Some(4));
    let tick = pacer.tick(clock.at(40));
    assert_eq!(
        tick.frame,
        Some(ramp(100, FRAME)),
        "new audio plays from its start"
    );
    assert_eq!(tick.played, [4]);
}

#[test]
fn a_late_tick_sends_one_frame_and_restarts_the_grid_without_a_burst() {
    let clock = Clock::new();
    let mut pacer = Pacer::new(FRAME);
    pacer.push(&ramp(0, 5 * FRAME), None);
    assert_eq!(pacer.tick(clock.at(0)).slot, Some(clock.at(0)));
    assert_eq!(
        pacer.tick(clock.at(27)).slot,
        Some(clock.at(20)),
        "on the grid"
    );
    // The shell stalls: ticks at 40..=80 never happen.
    let late = pacer.tick(clock.at(100));
    assert!(late.frame.is_some());
    assert_eq!(late.slot, Some(clock.at(100)), "a late frame's slot is now");
    assert_eq!(pacer.next_tick(), Some(clock.at(120)), "restarted from now");
    assert_eq!(pacer.tick(clock.at(101)).frame, None, "no catching up");
    assert_eq!(pacer.queued_ms(), 40);
    assert!(pacer.tick(clock.at(120)).frame.is_some());
}

#[test]
fn audio_after_an_idle_spell_goes_out_at_once() {
    let clock = Clock::new();
    let mut pacer = Pacer::new(FRAME);
    pacer.push(&ramp(0, FRAME), None);
    assert!(pacer.tick(clock.at(0)).frame.is_some());
    pacer.tick(clock.at(20));
    pacer.push(&ramp(0, FRAME), None);
    assert_eq!(pacer.next_tick(), Some(clock.at(20)), "overdue");
    assert!(pacer.tick(clock.at(500)).frame.is_some());
    assert_eq!(pacer.next_tick(), None);
}

#[test]
fn partial_frames_are_carried_over_and_padded_only_before_a_mark() {
    let clock = Clock::new();
    let mut pacer = Pacer::new(FRAME);
    pacer.push(&[1, 2, 3], None);
    assert_eq!(pacer.next_tick(), None, "less than a frame");
    assert_eq!(pacer.tick(clock.at(0)).frame, None);
    pacer.push(&[4, 5, 6], None);
    assert_eq!(pacer.tick(clock.at(1)).frame, Some(vec![1, 2, 3, 4]));
    pacer.push(&[7], Some(9));
    let tick = pacer.tick(clock.at(21));
    assert_eq!(tick.frame, Some(vec![5, 6, 7, 0]), "padded with silence");
    assert_eq!(tick.played, [9]);
}

#[test]
fn flush_pads_a_trailing_partial_frame_so_it_is_sent() {
    let clock = Clock::new();
    let mut pacer = Pacer::new(FRAME);
    pacer.push(&[1, 2], None);
    pacer.flush();
    assert_eq!(pacer.queued_ms(), 20);
    assert_eq!(pacer.tick(clock.at(0)).frame, Some(vec![1, 2, 0, 0]));
    pacer.flush();
    assert_eq!(pacer.queued_ms(), 0, "nothing to pad");
}

#[test]
fn queued_time_counts_whole_and_partial_frames_at_48_khz() {
    let mut pacer = Pacer::new(960);
    pacer.push(&[0; 960 * 2 + 480], None);
    assert_eq!(pacer.queued_ms(), 50);
}
