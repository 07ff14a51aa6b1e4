//! Product bug reproducer, against the relay binary and a slow fake Teams
//! (no kills needed): a resolved event routed while its firing card is still
//! waiting in the send queue found no delivery record, got no job, and was
//! dropped: the card stayed "firing" forever. Happens whenever firing and
//! resolved arrive in one batch (an agent flushing its outbox after an
//! outage) or Teams is slow / throttling.

mod common;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::events::{batch, deliver, event};
use common::fake_teams::FakeTeams;
use common::relay_proc::RelayProc;
use common::teams_verdict::{everything, verdict};
use edgetherm_proto::EventKind;

/// The one personal conversation (a user installed the app).
const CONV: &str = "a:1restart-dana";
const GATEWAY: &str = "gw1";
/// How long the fake Bot Connector takes to answer: the card is still
/// queued or in flight when its resolved event is routed.
const TEAMS_DELAY: Duration = Duration::from_millis(300);

#[test]
fn resolved_while_its_card_is_queued_still_resolves_it() {
    let fake = FakeTeams::start();
    fake.set_answer_delay(TEAMS_DELAY);
    let mut relay = RelayProc::new().with_teams(&fake);
    relay.start();
    relay.install_conversation(&fake, CONV);
    let token = relay.add_gateway(GATEWAY);

    let events = vec![event(0, EventKind::Firing), event(0, EventKind::Resolved)];
    let batch = batch(GATEWAY, events, None);
    let never = AtomicBool::new(false);
    assert_eq!(
        deliver(relay.port(), &token, &batch, &never, &never).map(|p| p.attempts),
        Ok(1)
    );
    fake.settle(Duration::from_secs(15), |c| everything(c, 1));
    let (problems, duplicates) = verdict(&fake.calls(), CONV, 1, &[]);
    assert!(
        problems.is_empty(),
        "{}\n{duplicates:?}\n{}",
        problems.join("\n"),
        relay.log_text()
    );
}
