//! The limits shared by every node, in Redis: token buckets and failed-login windows, each one
//! Lua script so that a check and its update are one atomic step. Time comes from the Redis
//! server, so nodes' clocks do not matter.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::bucket::Rule;

/// A limit check waits no longer than this for Redis before the node limits on its own.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// A token bucket kept in a hash.
const TOKEN_BUCKET_LUA: &str = r"
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - ts) / 1000 * rate)
local allowed, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, wait}
";

/// A failed-login claim: refused (with the wait, from the entry whose expiry ends the refusal)
/// when `max` failures are in the window, else counted at once as member ARGV[3], so that
/// concurrent attempts cannot all pass before one is counted.
const CLAIM_FAILURE_LUA: &str = r"
local window = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(max + 1))
local count = redis.call('ZCARD', KEYS[1])
if count >= max then
  local freeing = redis.call('ZRANGE', KEYS[1], count - max, count - max, 'WITHSCORES')
  return {0, math.ceil((tonumber(freeing[2]) + window - now) / 1000)}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
";

const RELEASE_FAILURE_LUA: &str = r"
return {redis.call('ZREM', KEYS[1], ARGV[1]), 0}
";

#[derive(Debug, thiserror::Error)]
pub(super) enum SharedError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer in time")]
    Timeout,
}

type Result<T> = std::result::Result<T, SharedError>;

async fn timed<T>(fut: impl std::future::Future<Output = redis::RedisResult<T>>) -> Result<T> {
    tokio::time::timeout(COMMAND_TIMEOUT, fut)
        .await
        .map_err(|_| SharedError::Timeout)?
        .map_err(SharedError::from)
}

/// The limits' own connection (not the relay's), so that limits work whatever the relay does.
pub(super) struct SharedLimits {
    client: redis::Client,
    /// `REDIS_PREFIX`: nodes of one deployment share it, other deployments keep apart.
    prefix: String,
    /// Made on first use, so that a node starts while Redis is away; dropped on a failure.
    conn: Mutex<Option<ConnectionManager>>,
}

impl SharedLimits {
    /// Checks the URL only; nothing is connected yet.
    pub fn new(url: &str, prefix: &str) -> redis::RedisResult<SharedLimits> {
        Ok(SharedLimits {
            client: redis::Client::open(url)?,
            prefix: prefix.to_owned(),
            conn: Mutex::new(None),
        })
    }

    async fn conn(&self) -> Result<ConnectionManager> {
        if let Some(conn) = self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(conn);
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(COMMAND_TIMEOUT)
            .set_response_timeout(COMMAND_TIMEOUT)
            .set_number_of_retries(0);
        let conn = timed(ConnectionManager::new_with_config(
            self.client.clone(),
            config,
        ))
        .await?;
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        // another request may have connected meanwhile: keep one connection
        Ok(slot.get_or_insert(conn).clone())
    }

    /// Runs one script on one key; its reply is two integers.
    async fn eval(
        &self,
        script: &str,
        key: String,
        args: impl redis::ToRedisArgs,
    ) -> Result<(i64, i64)> {
        let mut conn = self.conn().await?;
        let reply = timed(
            redis::cmd("EVAL")
                .arg(script)
                .arg(1)
                .arg(key)
                .arg(args)
                .query_async(&mut conn),
        )
        .await;
        if reply.is_err() {
            // the manager reconnects by itself only on errors it sees as fatal, not on a
            // timeout (a half-open connection): the next check connects afresh, as the relay does
            *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        reply
    }

    /// One token from `key`'s bucket of `rule`, shared by every node: `Ok(Ok(()))` when taken,
    /// `Ok(Err(secs))` with the wait when empty.
    pub async fn take_token(&self, rule: Rule, key: &str) -> Result<std::result::Result<(), u64>> {
        let key = format!("{}:limit:{key}", self.prefix);
        let args = (rule.rate, rule.capacity);
        let (allowed, wait) = self.eval(TOKEN_BUCKET_LUA, key, args).await?;
        Ok(if allowed == 1 {
            Ok(())
        } else {
            Err(wait.max(1) as u64)
        })
    }

    /// See [`CLAIM_FAILURE_LUA`]: `Ok(member)` when counted, `Err(seconds to wait)` if refused.
    pub async fn claim_failure(
        &self,
        key: &str,
        window: Duration,
        max: usize,
    ) -> Result<std::result::Result<String, u64>> {
        let key = format!("{}:failed:{key}", self.prefix);
        let member = format!("{:016x}", rand::random::<u64>());
        let args = (window.as_millis() as u64, max.max(1) as u64, member.clone());
        let (counted, wait) = self.eval(CLAIM_FAILURE_LUA, key, args).await?;
        Ok(if counted == 1 {
            Ok(member)
        } else {
            Err(wait.max(1) as u64)
        })
    }

    /// Takes back a claim that turned out to be no failure.
    pub async fn release_failure(&self, key: &str, member: &str) -> Result<()> {
        let key = format!("{}:failed:{key}", self.prefix);
        self.eval(RELEASE_FAILURE_LUA, key, member)
            .await
            .map(|_| ())
    }
}
