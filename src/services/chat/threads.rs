//! Threads and their members: direct and group threads, adding, removing, renaming, and the
//! `thread` events that keep every member's client current.

use crate::domain::ids::{MessageId, ThreadId, UserId};
use std::collections::HashMap;

use crate::db::models::Thread;
use crate::db::queries::{self, MemberChange};
use crate::db::DbError;
use crate::domain::validate;
use crate::registry::Skip;

use super::events::{encode, ServerEvent};
use super::{thread_not_found, Chat, Error, Result};

/// Largest thread whose members exchange presence when someone joins.
pub(super) const PRESENCE_INTRODUCTION_MAX_MEMBERS: usize = 256;

/// Most distinct `thread` frames (one per read state) for one change of a thread's members;
/// members past them share the most common state's frame (see docs/ARCHITECTURE.md).
pub(super) const THREAD_EVENT_VARIANTS: usize = 32;

/// Only the owner of a group may change it.
pub(super) fn check_group_owner(thread: &Thread, actor: UserId, not_owner: &str) -> Result<()> {
    if !thread.is_group {
        return Err(refusal(MemberChange::Direct, not_owner));
    }
    if thread.owner_id != Some(actor) {
        return Err(refusal(MemberChange::NotOwner, not_owner));
    }
    Ok(())
}

/// The error for a change the database layer refused.
pub(super) fn refusal(change: MemberChange, not_owner: &str) -> Error {
    match change {
        MemberChange::NoThread => thread_not_found(),
        MemberChange::NotMember => Error::NotMember,
        MemberChange::Direct => {
            Error::Validation("The members and name of a direct thread are fixed".into())
        }
        MemberChange::NotOwner => Error::Forbidden(not_owner.into()),
        MemberChange::Full => Error::Validation("This thread is full".into()),
        MemberChange::NoSuchMember => {
            Error::NotFound("That user is not a member of this thread".into())
        }
        MemberChange::Done | MemberChange::Unchanged => {
            Error::Validation("nothing to refuse".into())
        }
    }
}

impl Chat {
    /// NotFound unless the user exists (the directory itself is the accounts service's).
    async fn require_user(&self, id: UserId) -> Result<()> {
        self.db()
            .run(move |c| queries::find_user(c, id))
            .await?
            .map(|_| ())
            .ok_or_else(|| Error::NotFound("User not found".into()))
    }

    pub(super) async fn view(&self, thread_id: ThreadId, viewer: UserId) -> Result<Thread> {
        self.db()
            .run(move |c| {
                let Some(row) = queries::find_thread(c, thread_id)? else {
                    return Ok(Err(thread_not_found()));
                };
                let Some(last_read) = queries::membership(c, thread_id, viewer)? else {
                    return Ok(Err(Error::NotMember));
                };
                Ok::<_, DbError>(Ok(queries::thread_view(c, row, viewer, last_read)?))
            })
            .await?
    }

    pub async fn list_threads(&self, user_id: UserId) -> Result<Vec<Thread>> {
        Ok(self
            .db()
            .run(move |c| {
                queries::threads_of_user(c, user_id)?
                    .into_iter()
                    .map(|(row, last_read)| queries::thread_view(c, row, user_id, last_read))
                    .collect::<std::result::Result<Vec<_>, DbError>>()
            })
            .await?)
    }

    pub async fn thread(&self, user_id: UserId, thread_id: ThreadId) -> Result<Thread> {
        self.view(thread_id, user_id).await
    }

    /// Tells `user_ids` (on their every connection, on every node) about a thread they were
    /// just added to. Newcomers all see it alike (nothing unread), so one frame serves them all.
    /// Then newcomers and the members already there learn who of each other is online.
    pub(super) async fn announce_thread(&self, thread_id: ThreadId, user_ids: &[UserId]) {
        let Some(&first) = user_ids.first() else {
            return;
        };
        let thread = match self.view(thread_id, first).await {
            Ok(thread) => thread,
            Err(e) => return tracing::warn!(error = %e, %thread_id, "could not announce thread"),
        };
        let frame = encode(&ServerEvent::Thread { thread: &thread });
        self.emit_to_users(user_ids, &frame, Skip::default());
        let members: Vec<UserId> = thread.members.iter().map(|u| u.id).collect();
        // New contacts: presence is exchanged here, not only on the next (re)connect. Bounded,
        // since it costs online-members x newcomers frames.
        if members.len() <= PRESENCE_INTRODUCTION_MAX_MEMBERS {
            for online in self.online_among(&members).await {
                let frame = encode(&ServerEvent::Presence {
                    user_id: online,
                    online: true,
                });
                if user_ids.contains(&online) {
                    self.emit_to_users(
                        &members,
                        &frame,
                        Skip {
                            user: Some(online),
                            conn: None,
                        },
                    );
                } else {
                    self.emit_to_users(user_ids, &frame, Skip::default());
                }
            }
        }
    }

    /// Tells the members of a thread (but `skip_user`) its new state after a change of its
    /// members or name: a `thread` frame, each member's own (unread count, read mark), one
    /// frame per distinct read state.
    pub(super) async fn announce_change(&self, thread_id: ThreadId, skip_user: Option<UserId>) {
        let found = self
            .db()
            .run(move |c| {
                let Some(row) = queries::find_thread(c, thread_id)? else {
                    return Ok(None);
                };
                let states = queries::member_read_states(c, thread_id)?;
                let Some(&(viewer, mark, _)) = states.first() else {
                    return Ok(None);
                };
                Ok::<_, DbError>(Some((queries::thread_view(c, row, viewer, mark)?, states)))
            })
            .await;
        let (mut thread, states) = match found {
            Ok(Some(found)) => found,
            Ok(None) => return,
            Err(e) => return tracing::warn!(error = %e, %thread_id, "could not announce thread"),
        };
        let mut groups: HashMap<(MessageId, i64), Vec<UserId>> = HashMap::new();
        for (user_id, mark, unread) in states {
            if Some(user_id) != skip_user {
                groups.entry((mark, unread)).or_default().push(user_id);
            }
        }
        let mut groups: Vec<((MessageId, i64), Vec<UserId>)> = groups.into_iter().collect();
        groups.sort_by_key(|(_, users)| std::cmp::Reverse(users.len()));
        if groups.len() > THREAD_EVENT_VARIANTS {
            // bounded work and memory for a huge group: the rest see the most common state
            let rest: Vec<UserId> = groups
                .drain(THREAD_EVENT_VARIANTS..)
                .flat_map(|(_, users)| users)
                .collect();
            groups[0].1.extend(rest);
        }
        for ((mark, unread), users) in groups {
            thread.last_read_message_id = mark;
            thread.unread_count = unread;
            let frame = encode(&ServerEvent::Thread { thread: &thread });
            self.emit_to_users(&users, &frame, Skip::default());
        }
    }

    /// The direct thread between the caller and `other_id`, created if missing.
    pub async fn open_direct(&self, user_id: UserId, other_id: UserId) -> Result<(Thread, bool)> {
        self.require_user(other_id).await?;
        let existing = self
            .db()
            .run(move |c| queries::find_direct(c, user_id, other_id))
            .await?;
        if let Some(row) = existing {
            // finding a thread costs no budget
            return Ok((self.view(row.id, user_id).await?, false));
        }
        self.check_thread_budget(user_id).await?;
        let (row, created) = self
            .db()
            .run(move |c| queries::get_or_create_direct(c, user_id, other_id))
            .await?;
        if created {
            self.forget_members(row.id);
            // the other user, and the caller's other devices
            self.announce_thread(row.id, &[other_id, user_id]).await;
        }
        Ok((self.view(row.id, user_id).await?, created))
    }

    pub async fn create_group(
        &self,
        owner_id: UserId,
        name: &str,
        member_ids: Vec<UserId>,
    ) -> Result<Thread> {
        let name = validate::thread_name(name).map_err(Error::Validation)?;
        let mut members = member_ids;
        members.push(owner_id);
        members.sort_unstable();
        members.dedup();
        if members.len() as u64 > self.inner.max_thread_members {
            return Err(Error::Validation(format!(
                "A thread has at most {} members",
                self.inner.max_thread_members
            )));
        }
        self.check_thread_budget(owner_id).await?;
        let to_check = members.clone();
        let row = self
            .db()
            .run(move |c| {
                if queries::count_existing_users(c, &to_check)? != to_check.len() as i64 {
                    return Ok(Err(Error::NotFound("User not found".into())));
                }
                Ok::<_, DbError>(Ok(queries::create_group(c, owner_id, &name, &to_check)?))
            })
            .await??;
        // nothing can have cached the members of a thread that did not exist; still, no cache
        // must outlive a change
        self.forget_members(row.id);
        self.announce_thread(row.id, &members).await;
        self.view(row.id, owner_id).await
    }

    pub(super) async fn check_thread_budget(&self, user_id: UserId) -> Result<()> {
        self.inner
            .limits
            .check_thread_change(user_id)
            .await
            .map_err(Error::RateLimited)
    }

    pub async fn add_member(
        &self,
        actor: UserId,
        thread_id: ThreadId,
        user_id: UserId,
    ) -> Result<Thread> {
        // the cheap refusals first, so that they cost no budget
        let thread = self.view(thread_id, actor).await?;
        check_group_owner(&thread, actor, "Only the owner can add members")?;
        self.require_user(user_id).await?;
        if thread.members.iter().any(|m| m.id == user_id) {
            return Ok(thread);
        }
        self.check_thread_budget(actor).await?;
        let max = self.inner.max_thread_members;
        let change = self
            .db()
            .run(move |c| queries::add_member(c, actor, thread_id, user_id, max))
            .await?;
        match change {
            MemberChange::Done => {
                self.forget_members(thread_id);
                self.announce_thread(thread_id, &[user_id]).await;
                self.announce_change(thread_id, Some(user_id)).await;
            }
            MemberChange::Unchanged => {}
            MemberChange::Full => {
                return Err(Error::Validation(format!(
                    "A thread has at most {max} members"
                )))
            }
            refused => return Err(refusal(refused, "Only the owner can add members")),
        }
        self.view(thread_id, actor).await
    }

    /// The owner removes anyone; anyone removes themself. An owner who leaves hands the group
    /// to the longest-standing member.
    pub async fn remove_member(
        &self,
        actor: UserId,
        thread_id: ThreadId,
        user_id: UserId,
    ) -> Result<()> {
        let change = self
            .db()
            .run(move |c| queries::remove_member(c, actor, thread_id, user_id))
            .await?;
        if change != MemberChange::Done {
            return Err(refusal(change, "Only the owner can remove other members"));
        }
        self.forget_members(thread_id);
        let frame = encode(&ServerEvent::Removed { thread_id });
        self.emit_to_users(&[user_id], &frame, Skip::default());
        self.announce_change(thread_id, Some(user_id)).await;
        Ok(())
    }

    /// The owner renames a group; every member hears of it.
    pub async fn rename_group(
        &self,
        actor: UserId,
        thread_id: ThreadId,
        name: &str,
    ) -> Result<Thread> {
        let name = validate::thread_name(name).map_err(Error::Validation)?;
        let change = self
            .db()
            .run(move |c| queries::rename_group(c, actor, thread_id, &name))
            .await?;
        match change {
            MemberChange::Done => self.announce_change(thread_id, None).await,
            MemberChange::Unchanged => {}
            refused => return Err(refusal(refused, "Only the owner can rename the group")),
        }
        self.view(thread_id, actor).await
    }
}
