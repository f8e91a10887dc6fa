//! Ids as their own types, so that a swapped pair (`thread, user` for `user, thread`) does not
//! compile. They are plain integers on the wire (`serde(transparent)`) and in the database
//! (`DieselNewType`: `BigInt` on both backends).

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

macro_rules! db_id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            Default,
            Serialize,
            Deserialize,
            DieselNewType,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

db_id_type!(
    /// A user (`users.id`).
    UserId
);
db_id_type!(
    /// A thread, direct or group (`threads.id`).
    ThreadId
);
db_id_type!(
    /// A message (`messages.id`); ids grow in the order messages are stored.
    MessageId
);
id_type!(
    /// One live WebSocket connection, unique across nodes and restarts.
    ConnId(u64)
);
