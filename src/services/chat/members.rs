//! The member cache: thread id -> member ids, read by every fan-out, and the membership checks.

use crate::domain::ids::{MessageId, ThreadId, UserId};
use std::collections::HashMap;
use std::sync::Arc;

use crate::db::queries::{self};
use crate::db::DbError;
use crate::registry::Skip;
use crate::relay::Target;

use super::{thread_not_found, Chat, Error, Result};

/// Most threads, and most member ids in all, the member cache holds.
pub(super) const MEMBER_CACHE_THREADS: usize = 4096;

pub(super) const MEMBER_CACHE_IDS: usize = 1 << 20;

/// Thread id -> member ids. Correct by construction: a list is cached only if no invalidation
/// happened while it was read from the database (`generation`), so a read racing a change
/// cannot put the old list back; bounded in threads and in ids.
#[derive(Default)]
pub(super) struct MemberCache {
    entries: HashMap<ThreadId, Arc<Vec<UserId>>>,
    ids: usize,
    generation: u64,
}

impl MemberCache {
    pub(super) fn insert(&mut self, thread_id: ThreadId, ids: Arc<Vec<UserId>>, read_at: u64) {
        if read_at != self.generation || ids.is_empty() || ids.len() > MEMBER_CACHE_IDS / 4 {
            return;
        }
        self.remove(thread_id);
        // evict arbitrary entries: any of them is as good as a database read away
        while self.entries.len() >= MEMBER_CACHE_THREADS || self.ids + ids.len() > MEMBER_CACHE_IDS
        {
            let Some(&victim) = self.entries.keys().next() else {
                break;
            };
            self.remove(victim);
        }
        self.ids += ids.len();
        self.entries.insert(thread_id, ids);
    }

    pub(super) fn remove(&mut self, thread_id: ThreadId) {
        if let Some(old) = self.entries.remove(&thread_id) {
            self.ids -= old.len();
        }
    }

    pub(super) fn forget(&mut self, thread_id: ThreadId) {
        self.generation += 1;
        self.remove(thread_id);
    }

    pub(super) fn clear(&mut self) {
        self.generation += 1;
        self.entries.clear();
        self.ids = 0;
    }
}

impl Chat {
    pub(super) async fn member_ids(&self, thread_id: ThreadId) -> Result<Arc<Vec<UserId>>> {
        // Without a live subscription, other nodes' invalidations do not reach us: no cache.
        let usable = self.inner.relay.as_ref().is_none_or(|r| r.is_healthy());
        let read_at = {
            let cache = self.member_cache();
            if usable {
                if let Some(ids) = cache.entries.get(&thread_id) {
                    return Ok(ids.clone());
                }
            }
            cache.generation
        };
        let ids = Arc::new(
            self.db()
                .run(move |c| queries::member_ids(c, thread_id))
                .await?,
        );
        if usable {
            self.member_cache().insert(thread_id, ids.clone(), read_at);
        }
        Ok(ids)
    }

    pub(super) fn member_cache(&self) -> std::sync::MutexGuard<'_, MemberCache> {
        self.inner.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a committed membership change: here, and on every other node.
    pub(super) fn forget_members(&self, thread_id: ThreadId) {
        self.member_cache().forget(thread_id);
        self.relay_publish(Target::ForgetMembers(thread_id), None, Skip::default());
    }

    /// NotFound for a thread that does not exist, NotMember for one the user is not in.
    pub(super) async fn require_member(
        &self,
        user_id: UserId,
        thread_id: ThreadId,
    ) -> Result<MessageId> {
        let found = self
            .db()
            .run(move |c| {
                Ok::<_, DbError>(match queries::membership(c, thread_id, user_id)? {
                    Some(last_read) => Ok(last_read),
                    None if queries::find_thread(c, thread_id)?.is_some() => Err(Error::NotMember),
                    None => Err(thread_not_found()),
                })
            })
            .await?;
        found
    }

    pub(super) async fn not_member_or_missing(&self, thread_id: ThreadId) -> Error {
        match self
            .db()
            .run(move |c| queries::find_thread(c, thread_id))
            .await
        {
            Ok(Some(_)) => Error::NotMember,
            Ok(None) => thread_not_found(),
            Err(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_cached() {
        let mut cache = MemberCache::default();
        let read_at = cache.generation;
        // the members are being read from the database when a removal commits
        cache.forget(ThreadId(7));
        cache.insert(ThreadId(7), Arc::new(vec![UserId(1), UserId(2)]), read_at);
        assert!(
            !cache.entries.contains_key(&ThreadId(7)),
            "the old list came back"
        );
        cache.insert(ThreadId(7), Arc::new(vec![UserId(1)]), cache.generation);
        assert_eq!(
            cache.entries.get(&ThreadId(7)).map(|ids| ids.len()),
            Some(1)
        );
        let read_at = cache.generation;
        cache.clear();
        cache.insert(ThreadId(8), Arc::new(vec![UserId(1)]), read_at);
        assert!(cache.entries.is_empty() && cache.ids == 0);
    }

    #[test]
    fn threads_without_members_are_never_cached() {
        let mut cache = MemberCache::default();
        cache.insert(ThreadId(9), Arc::new(Vec::new()), cache.generation);
        assert!(cache.entries.is_empty());
    }

    #[test]
    fn the_cache_is_bounded_in_threads_and_ids() {
        let mut cache = MemberCache::default();
        for thread_id in (0..(MEMBER_CACHE_THREADS as i64 * 2)).map(ThreadId) {
            cache.insert(
                thread_id,
                Arc::new(vec![UserId(1), UserId(2), UserId(3)]),
                cache.generation,
            );
        }
        assert_eq!(cache.entries.len(), MEMBER_CACHE_THREADS);
        assert_eq!(cache.ids, MEMBER_CACHE_THREADS * 3);
        let big = Arc::new(
            (0..MEMBER_CACHE_IDS as i64 / 4)
                .map(UserId)
                .collect::<Vec<_>>(),
        );
        for thread_id in 0..8 {
            cache.insert(ThreadId(-1 - thread_id), big.clone(), cache.generation);
        }
        assert!(cache.ids <= MEMBER_CACHE_IDS, "{} ids", cache.ids);
        assert_eq!(
            cache.ids,
            cache.entries.values().map(|ids| ids.len()).sum::<usize>()
        );
    }
}
