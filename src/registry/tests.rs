//! The outbox bounds, close requests and connection slots.

use std::task::{Context, Poll};

use futures_util::task::noop_waker_ref;

use super::*;

fn frame(bytes: usize) -> Frame {
    Frame::from("x".repeat(bytes))
}

fn poll(outbox: &Outbox) -> Poll<Next> {
    outbox.poll_next(&mut Context::from_waker(noop_waker_ref()), true)
}

#[test]
fn the_outbox_is_bounded_in_frames() {
    let outbox = Outbox::new(3, usize::MAX);
    for _ in 0..3 {
        assert!(outbox.push(&frame(1)));
    }
    assert!(!outbox.push(&frame(1)), "a fourth frame is refused");
    assert!(matches!(
        poll(&outbox),
        Poll::Ready(Next::Close(Close::SlowConsumer))
    ));
}

#[test]
fn the_outbox_is_bounded_in_bytes() {
    let outbox = Outbox::new(1024, 1000);
    assert!(outbox.push(&frame(600)));
    assert!(outbox.push(&frame(400)), "exactly the bound fits");
    assert!(!outbox.push(&frame(1)), "one byte more is a slow consumer");
    assert!(matches!(
        poll(&outbox),
        Poll::Ready(Next::Close(Close::SlowConsumer))
    ));
}

#[test]
fn taken_frames_no_longer_count_against_the_bytes() {
    let outbox = Outbox::new(1024, 1000);
    assert!(outbox.push(&frame(900)));
    assert!(
        matches!(poll(&outbox), Poll::Ready(Next::Frames(frames)) if frames.len() == 1),
        "the connection task takes the frame"
    );
    assert!(outbox.push(&frame(900)), "the queue is empty again");
    assert_eq!(outbox.take_all().len(), 1);
    assert!(outbox.push(&frame(900)));
    assert_eq!(outbox.queued(), 1);
}

#[test]
fn an_empty_outbox_takes_one_frame_larger_than_the_bound() {
    let outbox = Outbox::new(1024, 1000);
    assert!(outbox.push(&frame(5000)));
    assert!(!outbox.push(&frame(1)));
    assert!(matches!(
        poll(&outbox),
        Poll::Ready(Next::Close(Close::SlowConsumer))
    ));
}

#[test]
fn the_first_close_request_wins_and_refuses_later_frames() {
    let outbox = Outbox::new(8, 1000);
    assert!(outbox.push(&frame(10)));
    outbox.close(Close::GoingAway);
    outbox.close(Close::SlowConsumer);
    assert!(
        !outbox.push(&frame(10)),
        "nothing is queued after a close request"
    );
    assert!(matches!(
        poll(&outbox),
        Poll::Ready(Next::Close(Close::GoingAway))
    ));
    assert_eq!(
        outbox.take_all().len(),
        1,
        "what was queued before stays for the goodbye"
    );
}

#[test]
fn an_idle_outbox_waits() {
    let outbox = Outbox::new(8, 1000);
    assert!(poll(&outbox).is_pending());
}

#[test]
fn slots_are_capped_per_user_and_freed_on_drop() {
    let registry = Registry::new();
    let first = registry.claim_slot(UserId(7), Some(2));
    let second = registry.claim_slot(UserId(7), Some(2));
    assert!(first.is_some() && second.is_some());
    assert!(
        registry.claim_slot(UserId(7), Some(2)).is_none(),
        "the cap holds"
    );
    assert!(
        registry.claim_slot(UserId(8), Some(2)).is_some(),
        "per user"
    );
    drop(first);
    let third = registry.claim_slot(UserId(7), Some(2));
    assert!(third.is_some(), "a freed slot can be taken again");
    assert!(
        registry.claim_slot(UserId(7), None).is_some(),
        "no cap: always"
    );
    drop((second, third));
    assert!(
        registry.slots.shard(UserId(7)).is_empty(),
        "no entry is left behind"
    );
}
