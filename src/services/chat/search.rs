//! Message search: words of the query in the text of messages of the caller's threads now.

use crate::db::models::Message;
use crate::db::queries::{self, SearchQuery};
use crate::domain::ids::{MessageId, ThreadId, UserId};
use crate::domain::validate;

use super::{Chat, Error, Result};

impl Chat {
    /// Newest first; `thread_id` narrows it to one thread the caller must be a member of.
    pub async fn search(
        &self,
        user_id: UserId,
        q: &str,
        thread_id: Option<ThreadId>,
        before: Option<MessageId>,
        limit: Option<i64>,
    ) -> Result<(Vec<Message>, bool)> {
        let words = validate::search_words(q).map_err(Error::Validation)?;
        let limit = validate::limit(limit, 20, 50).map_err(Error::Validation)?;
        self.check_read(user_id).await?;
        if let Some(thread_id) = thread_id {
            self.require_member(user_id, thread_id).await?;
        }
        Ok(self
            .db()
            .run(move |c| {
                queries::search_messages(
                    c,
                    &SearchQuery {
                        user_id,
                        thread_id,
                        words: &words,
                        before,
                        limit,
                    },
                )
            })
            .await?)
    }
}
