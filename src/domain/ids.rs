//! Ids as their own types, so that a swapped pair (`thread, user` for `user, thread`) does not
//! compile. They are plain integers on the wire (`serde(transparent)`) and, those stored in the
//! database, `BigInt` columns on both backends (`DieselNewType`).

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty) $(, $extra:ident)*) => {
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
            $($extra,)*
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

id_type!(
    /// A user (`users.id`).
    UserId(i64),
    DieselNewType
);
id_type!(
    /// A thread, direct or group (`threads.id`).
    ThreadId(i64),
    DieselNewType
);
id_type!(
    /// A message (`messages.id`); ids grow in the order messages are stored.
    MessageId(i64),
    DieselNewType
);
id_type!(
    /// One live WebSocket connection, unique across nodes and restarts.
    ConnId(u64)
);
id_type!(
    /// A login session (`sessions.id`); the JWT's `sid` and the API carry it as a string.
    SessionId(i64),
    DieselNewType
);
