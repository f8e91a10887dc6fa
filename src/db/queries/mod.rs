//! Every query the server runs, written once for both backends (see [`with_conn!`] and
//! [`write_tx!`]), one file per table family. An atomic unit of work is one function here,
//! one transaction on both backends.

mod changes;
mod members;
mod messages;
mod search;
mod sessions;
mod thread_lock;
mod threads;
mod uploads;
mod users;

pub use changes::*;
pub use members::*;
pub use messages::*;
pub use search::*;
pub use sessions::*;
pub use threads::*;
pub use uploads::*;
pub use users::*;

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::{DbConn, DbError};
use crate::with_conn;

diesel::define_sql_function!(fn lower(x: Text) -> Text);

type Result<T> = std::result::Result<T, DbError>;

pub fn ping(conn: &mut DbConn) -> Result<()> {
    with_conn!(conn, c => diesel::sql_query("SELECT 1").execute(c))?;
    Ok(())
}
