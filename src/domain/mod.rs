//! Plain domain types every layer may use: they depend on nothing else in the crate.

pub mod close;
pub mod ids;
