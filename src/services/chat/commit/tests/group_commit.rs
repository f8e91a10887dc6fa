//! The group commit, end to end: batch order, racing retries, refusals beside stored messages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_stored_acked_and_fanned_out_in_queue_order() {
    let (chat, _dir) = fixture().await;
    let alice = user(&chat, "alice").await;
    let bob = user(&chat, "bob").await;
    let carol = user(&chat, "carol").await;
    let dave = user(&chat, "dave").await;
    let thread = group(&chat, alice, &[alice, bob, carol]).await;
    let a1 = connect(&chat, alice, 1);
    let a2 = connect(&chat, alice, 2);
    let b1 = connect(&chat, bob, 3);
    let c1 = connect(&chat, carol, 4);
    let c2 = connect(&chat, carol, 5);
    let d1 = connect(&chat, dave, 6);

    // Wave 1: alice's sends queue up behind a (held) commit and form one batch.
    const WAVE: usize = 24;
    let stripe = stripe_of(thread);
    hold(&chat, stripe);
    let mut wave1 = Vec::new();
    for i in 0..WAVE {
        let chat = chat.clone();
        wave1.push(tokio::spawn(async move {
            let cmid = format!("a{i}");
            let input = text(thread, &cmid, Some(&cmid));
            chat.send(alice, input, origin(alice, 1, json!(cmid))).await
        }));
    }
    let order = queued(&chat, stripe, WAVE).await;
    assert_eq!(order.len(), WAVE, "all of wave 1 is in one batch");
    assert!(history(&chat, alice, thread).await.is_empty());
    assert_eq!(a1.queued() + b1.queued() + c1.queued(), 0);

    // Waves 2 and 3 (bob over a connection, carol without one, as over HTTP) race the
    // commit of wave 1 and the batches after it.
    release(&chat, stripe);
    let mut later = Vec::new();
    for i in 0..WAVE {
        let for_bob = chat.clone();
        later.push(tokio::spawn(async move {
            let cmid = format!("b{i}");
            let input = text(thread, &cmid, Some(&cmid));
            for_bob.send(bob, input, origin(bob, 3, json!(cmid))).await
        }));
        let for_carol = chat.clone();
        later.push(tokio::spawn(async move {
            let cmid = format!("c{i}");
            let input = text(thread, &cmid, Some(&cmid));
            for_carol.send(carol, input, None).await
        }));
    }

    let mut by_cmid = std::collections::HashMap::new();
    for task in wave1.into_iter().chain(later) {
        let (message, created) = task.await.unwrap().unwrap();
        assert!(created);
        by_cmid.insert(message.client_msg_id.clone().unwrap(), message.id);
    }
    assert_eq!(by_cmid.len(), 3 * WAVE);

    // ids follow the order the committer took wave 1
    let wave1_ids: Vec<MessageId> = order
        .iter()
        .map(|cmid| by_cmid[cmid.as_deref().unwrap()])
        .collect();
    assert!(
        strictly_ascending(&wave1_ids),
        "ids in queue order: {wave1_ids:?}"
    );
    let bob_ids: BTreeSet<MessageId> = (0..WAVE).map(|i| by_cmid[&format!("b{i}")]).collect();
    let all: BTreeSet<MessageId> = by_cmid.values().copied().collect();

    let stored: Vec<MessageId> = history(&chat, alice, thread)
        .await
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(stored, all.iter().copied().collect::<Vec<_>>());

    // The sending connection: each of its messages as an ack, in queue order, and the
    // others' messages as events, all in id order.
    let a1 = seen(&a1);
    assert!(strictly_ascending(&ids(&a1)), "{a1:?}");
    assert_eq!(ids(&a1).into_iter().collect::<BTreeSet<_>>(), all);
    let acks: Vec<&Value> = a1
        .iter()
        .filter_map(|s| match s {
            Seen::Ack { request, .. } => Some(request),
            Seen::Message(_) => None,
        })
        .collect();
    let expected: Vec<Value> = order.iter().map(|c| json!(c)).collect();
    assert_eq!(acks, expected.iter().collect::<Vec<_>>());
    for s in &a1 {
        if let Seen::Ack { request, id } = s {
            assert_eq!(by_cmid[request.as_str().unwrap()], *id);
        }
    }

    // bob's connection: its acks and everyone else's messages, in id order
    let b1 = seen(&b1);
    assert!(strictly_ascending(&ids(&b1)), "{b1:?}");
    assert_eq!(ids(&b1).into_iter().collect::<BTreeSet<_>>(), all);
    let b1_acked: BTreeSet<MessageId> = b1
        .iter()
        .filter(|s| matches!(s, Seen::Ack { .. }))
        .map(Seen::id)
        .collect();
    assert_eq!(b1_acked, bob_ids);

    // Every other member connection (alice's second one too): every message once, in order.
    for (name, outbox) in [("a2", &a2), ("c1", &c1), ("c2", &c2)] {
        let frames = seen(outbox);
        assert!(
            frames.iter().all(|s| matches!(s, Seen::Message(_))),
            "{name}: {frames:?}"
        );
        let ids = ids(&frames);
        assert!(strictly_ascending(&ids), "{name}: {ids:?}");
        assert_eq!(ids, all.iter().copied().collect::<Vec<_>>(), "{name}");
    }
    assert!(seen(&d1).is_empty(), "no frame reaches a non-member");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_in_the_same_batch_or_later_returns_the_original() {
    let (chat, _dir) = fixture().await;
    let alice = user(&chat, "alice").await;
    let bob = user(&chat, "bob").await;
    let thread = chat
        .db()
        .run(move |c| queries::get_or_create_direct(c, alice, bob))
        .await
        .unwrap()
        .0
        .id;
    let a1 = connect(&chat, alice, 1);
    let b1 = connect(&chat, bob, 2);

    // Both copies race inside one batch: neither finds the other before the transaction.
    let stripe = stripe_of(thread);
    hold(&chat, stripe);
    let sends: Vec<_> = [1, 2]
        .into_iter()
        .map(|request| {
            let chat = chat.clone();
            tokio::spawn(async move {
                chat.send(
                    alice,
                    text(thread, "hello", Some("same")),
                    origin(alice, 1, json!(request)),
                )
                .await
            })
        })
        .collect();
    assert_eq!(queued(&chat, stripe, 2).await.len(), 2);
    release(&chat, stripe);
    let mut answers = Vec::new();
    for send in sends {
        answers.push(send.await.unwrap().unwrap());
    }
    let original = answers[0].0.id;
    assert_eq!(answers[1].0.id, original, "both get the same message");
    let mut created: Vec<bool> = answers.iter().map(|(_, c)| *c).collect();
    created.sort();
    assert_eq!(created, [false, true], "one stored it, one found it");

    let stored = history(&chat, alice, thread).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, original);

    let a1_frames = seen(&a1);
    assert_eq!(a1_frames.len(), 2, "{a1_frames:?}");
    assert!(a1_frames
        .iter()
        .all(|s| matches!(s, Seen::Ack { id, .. } if *id == original)));
    assert_eq!(seen(&b1), [Seen::Message(original)], "delivered once");

    // A retry after the original committed.
    let (message, created) = chat
        .send(
            alice,
            text(thread, "hello", Some("same")),
            origin(alice, 1, json!(3)),
        )
        .await
        .unwrap();
    assert_eq!((message.id, created), (original, false));
    assert_eq!(
        seen(&a1),
        [Seen::Ack {
            request: json!(3),
            id: original
        }]
    );
    assert!(seen(&b1).is_empty(), "a retry is not delivered again");

    // The key is per sender: bob's "same" is a message of its own.
    let (message, created) = chat
        .send(bob, text(thread, "hi", Some("same")), None)
        .await
        .unwrap();
    assert!(created);
    assert_ne!(message.id, original);
    assert_eq!(history(&chat, bob, thread).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_send_leaves_the_rest_of_its_batch_stored() {
    let (chat, _dir) = fixture().await;
    let alice = user(&chat, "alice").await;
    let bob = user(&chat, "bob").await;
    let dave = user(&chat, "dave").await;
    let thread = group(&chat, alice, &[alice, bob]).await;
    // no such thread, and in the same stripe, so in the same batch
    let missing = ThreadId(thread.0 + THREAD_LOCK_STRIPES as i64);
    let a1 = connect(&chat, alice, 1);
    let b1 = connect(&chat, bob, 2);
    let d1 = connect(&chat, dave, 3);

    let stripe = stripe_of(thread);
    assert_eq!(stripe_of(missing), stripe);
    hold(&chat, stripe);
    let spawn_send = |sender: UserId, conn: u64, thread_id: ThreadId, cmid: &str| {
        let chat = chat.clone();
        let input = text(thread_id, cmid, Some(cmid));
        let origin = origin(sender, conn, json!(cmid));
        tokio::spawn(async move { chat.send(sender, input, origin).await })
    };
    let before = spawn_send(alice, 1, thread, "before");
    let outsider = spawn_send(dave, 3, thread, "outsider");
    let nowhere = spawn_send(alice, 1, missing, "nowhere");
    let after = spawn_send(alice, 1, thread, "after");
    let order = queued(&chat, stripe, 4).await;
    assert_eq!(order.len(), 4, "one batch: {order:?}");
    release(&chat, stripe);

    let before = before
        .await
        .unwrap()
        .expect("a member's send beside a refused one");
    let after = after
        .await
        .unwrap()
        .expect("a member's send beside a refused one");
    assert!(before.1 && after.1, "both are new");
    let outsider = outsider.await.unwrap();
    assert!(matches!(outsider, Err(Error::NotMember)), "{outsider:?}");
    let nowhere = nowhere.await.unwrap();
    assert!(matches!(nowhere, Err(Error::NotFound(_))), "{nowhere:?}");

    // in the order the committer took them
    let expected: Vec<MessageId> = order
        .iter()
        .filter_map(|cmid| match cmid.as_deref() {
            Some("before") => Some(before.0.id),
            Some("after") => Some(after.0.id),
            _ => None,
        })
        .collect();
    assert!(strictly_ascending(&expected), "{order:?} {expected:?}");
    let stored: Vec<MessageId> = history(&chat, alice, thread)
        .await
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(stored, expected, "the batch's other messages are stored");
    assert_eq!(
        ids(&seen(&b1)),
        expected,
        "and delivered, in order, once each"
    );
    let a1_frames = seen(&a1);
    assert_eq!(ids(&a1_frames), expected, "{a1_frames:?}");
    assert!(a1_frames.iter().all(|s| matches!(s, Seen::Ack { .. })));
    assert!(seen(&d1).is_empty(), "a refused sender gets no ack here");
}
