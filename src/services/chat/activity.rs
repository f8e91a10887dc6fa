//! What members do besides writing: typing indicators and read marks.

use crate::db::models::User;
use crate::db::queries::{self, ReadOutcome};
use crate::domain::ids::{ConnId, MessageId, ThreadId, UserId};
use crate::registry::Skip;

use super::events::{encode, ServerEvent, TypingUser};
use super::{Chat, Error, Result};

impl Chat {
    pub async fn typing(&self, user: &User, thread_id: ThreadId, is_typing: bool) -> Result<()> {
        self.inner
            .limits
            .check_send(user.id)
            .await
            .map_err(Error::RateLimited)?;
        let members = self.member_ids(thread_id).await?;
        if !members.contains(&user.id) {
            return Err(self.not_member_or_missing(thread_id).await);
        }
        let frame = encode(&ServerEvent::Typing {
            thread_id,
            user: TypingUser {
                id: user.id,
                nick_name: &user.nick_name,
            },
            is_typing,
        });
        self.emit_to_thread(
            thread_id,
            &members,
            &frame,
            Skip {
                user: Some(user.id),
                conn: None,
            },
        );
        Ok(())
    }

    pub async fn mark_read(
        &self,
        user_id: UserId,
        thread_id: ThreadId,
        message_id: MessageId,
        origin_conn: Option<ConnId>,
    ) -> Result<()> {
        let outcome = self
            .db()
            .run(move |c| queries::mark_read(c, thread_id, user_id, message_id))
            .await?;
        match outcome {
            ReadOutcome::Marked => {}
            ReadOutcome::NotMember => return Err(self.not_member_or_missing(thread_id).await),
            ReadOutcome::NoSuchMessage => {
                return Err(Error::NotFound("Message not found in this thread".into()))
            }
        }
        let members = self.member_ids(thread_id).await?;
        let frame = encode(&ServerEvent::Read {
            thread_id,
            user_id,
            message_id,
        });
        self.emit_to_thread(
            thread_id,
            &members,
            &frame,
            Skip {
                user: None,
                conn: origin_conn,
            },
        );
        Ok(())
    }
}
