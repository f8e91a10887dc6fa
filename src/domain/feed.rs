//! Positions in the change feed: every change to a message (created, edited, deleted, a
//! reaction) gives it the next position, its `seq`. On the wire a position is an opaque string
//! (clients compare cursors only for equality and hand them back); here it is an integer.

use diesel_derive_newtype::DieselNewType;
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, DieselNewType)]
pub struct Seq(pub i64);

impl Seq {
    /// Where a feed starts: before every change.
    pub const START: Seq = Seq(0);

    /// A cursor as a client hands it back: `""` for the beginning, else what [`Seq::cursor`]
    /// wrote. Whether it is one this server could have handed out is the caller's check.
    pub fn parse_cursor(text: &str) -> Result<Seq, String> {
        if text.is_empty() {
            return Ok(Seq::START);
        }
        let malformed = || "since must be a cursor this server handed out, or \"\"".to_owned();
        if text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        text.parse::<i64>().map(Seq).map_err(|_| malformed())
    }

    pub fn cursor(self) -> String {
        self.0.to_string()
    }
}

impl Serialize for Seq {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.cursor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        assert_eq!(Seq::parse_cursor(""), Ok(Seq::START));
        assert_eq!(Seq::parse_cursor(&Seq(42).cursor()), Ok(Seq(42)));
        for junk in [
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "0x10",
            "99999999999999999999",
            "abc",
        ] {
            assert!(Seq::parse_cursor(junk).is_err(), "{junk:?} was accepted");
        }
    }

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_and_positions_round_trip(text in ".{0,30}", n in 0i64..) {
            if let Ok(seq) = Seq::parse_cursor(&text) {
                prop_assert!(seq.0 >= 0);
            }
            prop_assert_eq!(Seq::parse_cursor(&Seq(n).cursor()), Ok(Seq(n)));
        }
    }
}
