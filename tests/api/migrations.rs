//! Every migration applies, reverts and applies again on SQLite and, when CHAT_TEST_PG_URL is
//! set, on PostgreSQL; and a database from before the message lifecycle keeps its messages, each
//! given a position in the change feed and found by search.

use chat_server::db::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use diesel_migrations::MigrationHarness;

use crate::helpers::fresh_database_url;

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct Pair {
    #[diesel(sql_type = BigInt)]
    a: i64,
    #[diesel(sql_type = BigInt)]
    b: i64,
}

/// Tables, indexes and triggers a migration made: down.sql must take every one away.
const SQLITE_TABLES: &str = "SELECT type || ' ' || name AS name FROM sqlite_master \
     WHERE name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations' ORDER BY name";
const PG_TABLES: &str =
    "SELECT 'table ' || table_name::text AS name FROM information_schema.tables \
     WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations' \
     UNION ALL SELECT 'index ' || indexname::text FROM pg_indexes WHERE schemaname = 'public' \
     AND tablename <> '__diesel_schema_migrations' ORDER BY 1";

fn sqlite() -> (tempfile::TempDir, SqliteConnection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    (dir, conn)
}

#[test]
fn every_migration_goes_up_down_and_up_again() {
    let (_dir, mut c) = sqlite();
    c.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
    let tables: Vec<Name> = diesel::sql_query(SQLITE_TABLES).load(&mut c).unwrap();
    assert!(tables.len() >= 6, "{tables:?}");
    c.revert_all_migrations(SQLITE_MIGRATIONS).unwrap();
    let left: Vec<Name> = diesel::sql_query(SQLITE_TABLES).load(&mut c).unwrap();
    assert_eq!(left, vec![], "down.sql must undo up.sql");
    c.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
    let again: Vec<Name> = diesel::sql_query(SQLITE_TABLES).load(&mut c).unwrap();
    assert_eq!(again, tables);

    let Some(url) = fresh_database_url() else {
        return;
    };
    let mut c = PgConnection::establish(&url).unwrap();
    c.run_pending_migrations(POSTGRES_MIGRATIONS).unwrap();
    let tables: Vec<Name> = diesel::sql_query(PG_TABLES).load(&mut c).unwrap();
    assert!(tables.len() >= 6, "{tables:?}");
    c.revert_all_migrations(POSTGRES_MIGRATIONS).unwrap();
    let left: Vec<Name> = diesel::sql_query(PG_TABLES).load(&mut c).unwrap();
    assert_eq!(left, vec![], "down.sql must undo up.sql");
    c.run_pending_migrations(POSTGRES_MIGRATIONS).unwrap();
    let again: Vec<Name> = diesel::sql_query(PG_TABLES).load(&mut c).unwrap();
    assert_eq!(again, tables);
}

/// The two migrations before the message lifecycle, then rows written as version 1 wrote them.
fn version_one_with_messages(c: &mut impl MigrationHarnessed) {
    c.migrate_next(2);
    for statement in [
        "INSERT INTO users (user_name, user_name_key, nick_name, password_hash, created_at) \
         VALUES ('alice_v1', 'alice_v1', 'Alice', 'x', CURRENT_TIMESTAMP)",
        "INSERT INTO threads (is_group, name, owner_id, created_at, updated_at) \
         VALUES (TRUE, 'old', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO thread_members (thread_id, user_id, last_read_message_id, joined_at) \
         VALUES (1, 1, 0, CURRENT_TIMESTAMP)",
        "INSERT INTO messages (thread_id, sender_id, body, created_at) \
         VALUES (1, 1, 'one', CURRENT_TIMESTAMP)",
        "INSERT INTO messages (thread_id, sender_id, body, created_at) \
         VALUES (1, 1, 'two', CURRENT_TIMESTAMP)",
    ] {
        c.execute(statement);
    }
}

trait MigrationHarnessed {
    fn migrate_next(&mut self, n: usize);
    fn execute(&mut self, sql: &str);
}

impl MigrationHarnessed for SqliteConnection {
    fn migrate_next(&mut self, n: usize) {
        for _ in 0..n {
            self.run_next_migration(SQLITE_MIGRATIONS).unwrap();
        }
    }
    fn execute(&mut self, sql: &str) {
        diesel::sql_query(sql).execute(self).unwrap();
    }
}

impl MigrationHarnessed for PgConnection {
    fn migrate_next(&mut self, n: usize) {
        for _ in 0..n {
            self.run_next_migration(POSTGRES_MIGRATIONS).unwrap();
        }
    }
    fn execute(&mut self, sql: &str) {
        diesel::sql_query(sql).execute(self).unwrap();
    }
}

const POSITIONS: &str = "SELECT id AS a, seq AS b FROM messages ORDER BY id";
const HEAD: &str = "SELECT CAST(id AS BIGINT) AS a, head AS b FROM change_feed";

#[test]
fn messages_stored_before_the_lifecycle_get_feed_positions() {
    let (_dir, mut c) = sqlite();
    version_one_with_messages(&mut c);
    c.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
    let positions: Vec<Pair> = diesel::sql_query(POSITIONS).load(&mut c).unwrap();
    assert_eq!(positions, vec![Pair { a: 1, b: 1 }, Pair { a: 2, b: 2 }]);
    let head: Vec<Pair> = diesel::sql_query(HEAD).load(&mut c).unwrap();
    assert_eq!(head, vec![Pair { a: 1, b: 2 }]);
    // the search index is filled from what was there
    let found: Vec<Pair> = diesel::sql_query(
        "SELECT rowid AS a, rowid AS b FROM messages_fts WHERE messages_fts MATCH 'two'",
    )
    .load(&mut c)
    .unwrap();
    assert_eq!(found, vec![Pair { a: 2, b: 2 }]);

    let Some(url) = fresh_database_url() else {
        return;
    };
    let mut c = PgConnection::establish(&url).unwrap();
    version_one_with_messages(&mut c);
    c.run_pending_migrations(POSTGRES_MIGRATIONS).unwrap();
    let positions: Vec<Pair> = diesel::sql_query(POSITIONS).load(&mut c).unwrap();
    assert_eq!(positions, vec![Pair { a: 1, b: 1 }, Pair { a: 2, b: 2 }]);
    let head: Vec<Pair> = diesel::sql_query(HEAD).load(&mut c).unwrap();
    assert_eq!(head, vec![Pair { a: 1, b: 2 }]);
    let found: Vec<Pair> = diesel::sql_query(
        "SELECT id AS a, id AS b FROM messages \
         WHERE to_tsvector('simple', regexp_replace(COALESCE(body, ''), '[[:punct:]]+', ' ', 'g')) \
         @@ to_tsquery('simple', 'two')",
    )
    .load(&mut c)
    .unwrap();
    assert_eq!(found, vec![Pair { a: 2, b: 2 }]);
}
