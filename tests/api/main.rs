//! One integration-test binary: the real server on loopback, real SQLite (or PostgreSQL when
//! CHAT_TEST_PG_URL is set), real HTTP and WebSocket clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod asyncapi;
mod auth;
mod auth_hard;
mod catchup;
mod child;
mod cluster;
mod config_file;
mod dashboard;
mod document_agrees;
mod fuzz;
mod helpers;
mod hostile;
mod images;
mod lifecycle;
mod migrations;
mod ops;
mod patterns_agree;
mod search;
mod sessions;
mod threads;
mod uploads;
mod ws;
