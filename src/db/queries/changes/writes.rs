//! The writes of one change (send, edit, delete, react), each on a connection inside the batch's
//! transaction, checked against the message and the membership they depend on.

use diesel::prelude::*;

use super::{NewMessageInput, Refusal, RemovedUpload, Step, Tx, MAX_DISTINCT_EMOJI};
use crate::db::models::*;
use crate::db::queries::thread_lock::LockThread;
use crate::db::schema::{attachments, messages, reactions, thread_members, threads};
use crate::domain::feed::Seq;
use crate::domain::ids::{MessageId, ThreadId, UserId};

/// The parts of a stored message a change is judged by.
#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct Target {
    sender_id: UserId,
    body: Option<String>,
    deleted: bool,
}

/// The writes of one change, on a connection inside the batch's transaction. Written once and
/// implemented for each backend's connection type by the macro below (diesel's queries are
/// typed by backend, and the transaction hands out the concrete connection).
pub(super) trait ChangeWrites {
    fn insert_message(&mut self, input: &NewMessageInput, seq: Seq) -> Tx<Step>;
    fn edit_message(
        &mut self,
        actor: UserId,
        thread_id: ThreadId,
        message_id: MessageId,
        text: &str,
        seq: Seq,
    ) -> Tx<Step>;
    fn delete_message(
        &mut self,
        actor: UserId,
        thread_id: ThreadId,
        message_id: MessageId,
        seq: Seq,
    ) -> Tx<Step>;
    fn react_to_message(
        &mut self,
        actor: UserId,
        thread_id: ThreadId,
        message_id: MessageId,
        emoji: &str,
        on: bool,
        seq: Seq,
    ) -> Tx<Step>;
}

macro_rules! change_writes {
    ($conn:ty) => {
        impl ChangeWrites for $conn {
            fn insert_message(&mut self, input: &NewMessageInput, seq: Seq) -> Tx<Step> {
                self.lock_thread(input.thread_id)?;
                let member = thread_members::table
                    .find((input.thread_id, input.sender_id))
                    .count()
                    .get_result::<i64>(self)?;
                if member == 0 {
                    return Ok(Step::NotMember);
                }
                if let Some(reply_to) = input.reply_to {
                    let answerable = messages::table
                        .filter(messages::id.eq(reply_to))
                        .filter(messages::thread_id.eq(input.thread_id))
                        .filter(messages::deleted.eq(false))
                        .count()
                        .get_result::<i64>(self)?;
                    if answerable == 0 {
                        return Ok(Step::Refused(Refusal::Invalid(
                            "replyTo must be a message of this thread that is not deleted".into(),
                        )));
                    }
                }
                let now = now();
                let id: MessageId = diesel::insert_into(messages::table)
                    .values(NewMessage {
                        thread_id: input.thread_id,
                        sender_id: input.sender_id,
                        body: input.text.as_deref(),
                        client_msg_id: input.client_msg_id.as_deref(),
                        created_at: now,
                        reply_to_id: input.reply_to,
                        seq,
                    })
                    .returning(messages::id)
                    .get_result(self)?;
                if !input.attachments.is_empty() {
                    let rows: Vec<NewAttachment> =
                        input.attachments.iter().map(|a| a.row(id)).collect();
                    diesel::insert_into(attachments::table)
                        .values(&rows)
                        .execute(self)?;
                }
                diesel::update(threads::table.find(input.thread_id))
                    .set((threads::last_message_id.eq(id), threads::updated_at.eq(now)))
                    .execute(self)?;
                Ok(Step::Created(id))
            }

            fn edit_message(
                &mut self,
                actor: UserId,
                thread_id: ThreadId,
                message_id: MessageId,
                text: &str,
                seq: Seq,
            ) -> Tx<Step> {
                let Some(target) = self.target(actor, thread_id, message_id)? else {
                    return Ok(Step::Refused(Refusal::NotFound));
                };
                if target.deleted {
                    return Ok(Step::Refused(Refusal::NotFound));
                }
                if target.sender_id != actor {
                    return Ok(Step::Refused(Refusal::Forbidden(
                        "Only the sender may edit a message",
                    )));
                }
                if target.body.as_deref() == Some(text) {
                    return Ok(Step::Unchanged(message_id));
                }
                diesel::update(messages::table.find(message_id))
                    .set((
                        messages::body.eq(text),
                        messages::edited_at.eq(now()),
                        messages::seq.eq(seq),
                    ))
                    .execute(self)?;
                Ok(Step::Changed(message_id, Vec::new()))
            }

            fn delete_message(
                &mut self,
                actor: UserId,
                thread_id: ThreadId,
                message_id: MessageId,
                seq: Seq,
            ) -> Tx<Step> {
                let Some(target) = self.target(actor, thread_id, message_id)? else {
                    return Ok(Step::Refused(Refusal::NotFound));
                };
                if target.sender_id != actor {
                    let owner: Option<UserId> = threads::table
                        .find(thread_id)
                        .filter(threads::is_group.eq(true))
                        .select(threads::owner_id)
                        .first::<Option<UserId>>(self)
                        .optional()?
                        .flatten();
                    if owner != Some(actor) {
                        return Ok(Step::Refused(Refusal::Forbidden(
                            "Only the sender or the group's owner may delete a message",
                        )));
                    }
                }
                if target.deleted {
                    return Ok(Step::Unchanged(message_id));
                }
                let removed: Vec<RemovedUpload> = diesel::delete(
                    attachments::table.filter(attachments::message_id.eq(message_id)),
                )
                .returning((attachments::url, attachments::thumb_url))
                .get_results(self)?;
                diesel::delete(reactions::table.filter(reactions::message_id.eq(message_id)))
                    .execute(self)?;
                diesel::update(messages::table.find(message_id))
                    .set((
                        messages::body.eq(None::<String>),
                        messages::deleted.eq(true),
                        messages::reply_to_id.eq(None::<MessageId>),
                        messages::seq.eq(seq),
                    ))
                    .execute(self)?;
                Ok(Step::Changed(message_id, removed))
            }

            fn react_to_message(
                &mut self,
                actor: UserId,
                thread_id: ThreadId,
                message_id: MessageId,
                emoji: &str,
                on: bool,
                seq: Seq,
            ) -> Tx<Step> {
                let Some(target) = self.target(actor, thread_id, message_id)? else {
                    return Ok(Step::Refused(Refusal::NotFound));
                };
                if target.deleted {
                    return Ok(Step::Refused(Refusal::NotFound));
                }
                let mine = reactions::table
                    .filter(reactions::message_id.eq(message_id))
                    .filter(reactions::emoji.eq(emoji))
                    .filter(reactions::user_id.eq(actor));
                if on {
                    if mine.count().get_result::<i64>(self)? > 0 {
                        return Ok(Step::Unchanged(message_id));
                    }
                    // an emoji in use keeps its place; one used anew goes last
                    let first_use: Option<i64> = reactions::table
                        .filter(reactions::message_id.eq(message_id))
                        .filter(reactions::emoji.eq(emoji))
                        .select(diesel::dsl::min(reactions::first_use))
                        .first(self)?;
                    if first_use.is_none() {
                        let distinct: Vec<String> = reactions::table
                            .filter(reactions::message_id.eq(message_id))
                            .select(reactions::emoji)
                            .distinct()
                            .load(self)?;
                        if distinct.len() >= MAX_DISTINCT_EMOJI {
                            return Ok(Step::Refused(Refusal::Invalid(format!(
                                "a message has at most {MAX_DISTINCT_EMOJI} distinct emoji"
                            ))));
                        }
                    }
                    diesel::insert_into(reactions::table)
                        .values(NewReaction {
                            message_id,
                            user_id: actor,
                            emoji,
                            first_use: first_use.unwrap_or(seq.0),
                            created_at: now(),
                        })
                        .execute(self)?;
                } else if diesel::delete(mine).execute(self)? == 0 {
                    return Ok(Step::Unchanged(message_id));
                }
                diesel::update(messages::table.find(message_id))
                    .set(messages::seq.eq(seq))
                    .execute(self)?;
                Ok(Step::Changed(message_id, Vec::new()))
            }
        }

        impl Targets for $conn {
            /// The message, if it is in `thread_id` and `actor` is a member there.
            fn target(
                &mut self,
                actor: UserId,
                thread_id: ThreadId,
                message_id: MessageId,
            ) -> Tx<Option<Target>> {
                self.lock_thread(thread_id)?;
                messages::table
                    .inner_join(
                        thread_members::table.on(thread_members::thread_id
                            .eq(messages::thread_id)
                            .and(thread_members::user_id.eq(actor))),
                    )
                    .filter(messages::id.eq(message_id))
                    .filter(messages::thread_id.eq(thread_id))
                    .select(Target::as_select())
                    .first(self)
                    .optional()
            }
        }
    };
}

trait Targets {
    fn target(
        &mut self,
        actor: UserId,
        thread_id: ThreadId,
        message_id: MessageId,
    ) -> Tx<Option<Target>>;
}

change_writes!(diesel::sqlite::SqliteConnection);
change_writes!(diesel::pg::PgConnection);
