//! Plain domain types every layer may use: ids, change-feed positions, the error codes of the contract, the close
//! codes of the WebSocket, and the field rules. They depend on nothing else in the crate.

pub mod close;
pub mod error;
pub mod feed;
pub mod ids;
pub mod patterns;
pub mod validate;
