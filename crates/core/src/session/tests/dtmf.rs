//! Caller key presses reach the model as one user item per burst, then a response.

use super::*;

fn seeds_and_creates(outputs: &[Output]) -> (Vec<String>, usize) {
    let seeds = outputs
        .iter()
        .filter_map(|output| match output {
            Output::Provider(ProviderCommand::SeedItem {
                role: Role::User,
                text,
            }) => Some(text.clone()),
            _ => None,
        })
        .collect();
    let creates = outputs
        .iter()
        .filter(|o| matches!(o, Output::Provider(ProviderCommand::CreateResponse { .. })))
        .count();
    (seeds, creates)
}

#[test]
fn a_burst_of_digits_becomes_one_user_item_after_a_quiet_gap() {
    let mut h = Harness::new(SessionConfig::default());
    h.at(0).client(ClientEvent::Dtmf('1'));
    h.at(400).client(ClientEvent::Dtmf('2'));
    h.at(900).client(ClientEvent::Dtmf('3'));
    assert_eq!(
        seeds_and_creates(&h.take()),
        (vec![], 0),
        "still collecting"
    );
    h.at(2399);
    h.session.handle_timeout(h.now);
    h.drain();
    assert_eq!(
        seeds_and_creates(&h.take()),
        (vec![], 0),
        "1.5 s not yet over"
    );
    h.at(2400);
    h.session.handle_timeout(h.now);
    h.drain();
    let outputs = h.take();
    let text = "[The caller pressed 1 2 3]".to_owned();
    assert_eq!(seeds_and_creates(&outputs), (vec![text.clone()], 1));
    assert_eq!(persisted_items(&outputs), vec![(0, Role::User, text, None)]);
}

#[test]
fn hash_ends_the_burst_at_once() {
    let mut h = Harness::new(SessionConfig::default());
    h.at(0).client(ClientEvent::Dtmf('4'));
    h.at(100).client(ClientEvent::Dtmf('#'));
    let (seeds, creates) = seeds_and_creates(&h.take());
    assert_eq!(seeds, vec!["[The caller pressed 4 #]".to_owned()]);
    assert_eq!(creates, 1);
}

#[test]
fn digits_during_an_answer_wait_for_it_to_finish_before_asking_for_a_response() {
    let mut h = Harness::new(SessionConfig::default());
    h.answer("item_a", "Please enter your account number.", 1);
    h.client(ClientEvent::Dtmf('9'))
        .client(ClientEvent::Dtmf('#'));
    let (seeds, creates) = seeds_and_creates(&h.take());
    assert_eq!(seeds.len(), 1, "the item is added at once");
    assert_eq!(creates, 0, "no second response while one is running");
    h.done(ResponseStatus::Completed);
    assert_eq!(seeds_and_creates(&h.take()).1, 1);
}
