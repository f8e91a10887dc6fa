//! `--config FILE`: settings from a TOML file beneath the environment and the flags, and
//! `--print-config`, the merged result with secrets masked.
//!
//! A file's keys are the environment variables' names (`BIND_ADDR = "0.0.0.0:8080"`), so one
//! name means one setting everywhere. The settings are read off the clap definition in
//! [`crate::config::Config`], never listed twice: a key is any argument with an `env`, its TOML
//! type follows the argument's value type, and its value goes through the flag's own parser.
//! Precedence: flag > environment > config file > default. A file value is applied by handing
//! clap the flag `--name=value` only where neither a flag nor the environment set it.

use std::collections::BTreeSet;
use std::error::Error as _;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue};
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command, CommandFactory, FromArgMatches};

use crate::config::Config;

/// What `--print-config` shows in place of a secret.
pub const MASK: &str = "<masked>";

/// Why the settings could not be read.
#[derive(Debug)]
pub enum LoadError {
    /// Flags or environment refused by clap (also `--help` and `--version`): `exit()` it.
    Clap(clap::Error),
    /// The config file: unreadable, not TOML, an unknown key or a wrong value. Names the key.
    File(String),
}

/// Where a setting's effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Environment,
    File,
    Default,
    Unset,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Environment => "environment",
            Source::File => "config file",
            Source::Default => "default",
            Source::Unset => "unset",
        }
    }
}

/// The merged configuration and what `--print-config` needs to describe it.
pub struct Loaded {
    pub config: Config,
    matches: ArgMatches,
    from_file: BTreeSet<String>,
    first: ArgMatches,
}

/// The TOML type a setting takes, from the type its flag parses to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Boolean,
    String,
    /// A comma-separated list in the environment, an array of strings in the file.
    Strings,
}

fn kind(arg: &Arg) -> Kind {
    use std::any::TypeId;
    let id = arg.get_value_parser().type_id();
    if arg.get_value_delimiter().is_some() {
        Kind::Strings
    } else if id == TypeId::of::<u64>()
        || id == TypeId::of::<u32>()
        || id == TypeId::of::<usize>()
        || id == TypeId::of::<u16>()
    {
        Kind::Integer
    } else if id == TypeId::of::<bool>() {
        Kind::Boolean
    } else {
        Kind::String
    }
}

/// Every setting a file may hold: the arguments with an environment variable, in declaration
/// order, with that variable's name.
fn settings(cmd: &Command) -> Vec<(String, &Arg)> {
    cmd.get_arguments()
        .filter_map(|arg| Some((arg.get_env()?.to_str()?.to_owned(), arg)))
        .collect()
}

/// Reads the settings from `args` (the program name first), the environment and the file
/// named by `--config`.
pub fn load(args: impl IntoIterator<Item = OsString>) -> Result<Loaded, LoadError> {
    let args: Vec<OsString> = args.into_iter().collect();
    let cmd = Config::command();
    let first = cmd
        .clone()
        .try_get_matches_from(&args)
        .map_err(LoadError::Clap)?;
    let mut from_file = BTreeSet::new();
    let mut injected = Vec::new();
    if let Some(path) = first.get_one::<PathBuf>("config") {
        let table = read_table(path)?;
        let known = settings(&cmd);
        for (key, value) in &table {
            let Some((_, arg)) = known.iter().find(|(name, _)| name == key) else {
                return Err(unknown_key(path, key, &known));
            };
            let text = file_value(arg, key, value).map_err(|e| at(path, key, &e))?;
            // a bad value is refused even where a flag or the environment overrides it
            check_value(arg, &text).map_err(|e| at(path, key, &e))?;
            let id = arg.get_id().as_str();
            if matches!(
                first.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            ) {
                continue;
            }
            if let (Some(long), Some(text)) = (arg.get_long(), text) {
                let mut flag = OsString::from(format!("--{long}="));
                flag.push(text);
                injected.push(flag);
                from_file.insert(id.to_owned());
            }
        }
    }
    let matches = if injected.is_empty() {
        first.clone()
    } else {
        // before the user's own arguments, so a subcommand still comes last
        let mut merged = Vec::with_capacity(args.len() + injected.len());
        merged.extend(args.first().cloned());
        merged.extend(injected);
        merged.extend(args.iter().skip(1).cloned());
        cmd.try_get_matches_from(merged).map_err(LoadError::Clap)?
    };
    let config = Config::from_arg_matches(&matches).map_err(LoadError::Clap)?;
    Ok(Loaded {
        config,
        matches,
        from_file,
        first,
    })
}

fn read_table(path: &Path) -> Result<toml::Table, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        LoadError::File(format!(
            "cannot read the config file {}: {e}",
            path.display()
        ))
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| LoadError::File(format!("{} is not valid TOML: {e}", path.display())))
}

fn at(path: &Path, key: &str, problem: &str) -> LoadError {
    LoadError::File(format!("{}: {key}: {problem}", path.display()))
}

fn unknown_key(path: &Path, key: &str, known: &[(String, &Arg)]) -> LoadError {
    let upper = key.to_ascii_uppercase().replace('-', "_");
    let hint = if known.iter().any(|(name, _)| *name == upper) {
        format!(" (keys are the environment variables' names: did you mean {upper}?)")
    } else {
        let names: Vec<&str> = known.iter().map(|(name, _)| name.as_str()).collect();
        format!(" (the keys are: {})", names.join(", "))
    };
    LoadError::File(format!("{}: unknown key `{key}`{hint}", path.display()))
}

/// The file's value as the flag's text, or `None` for an empty list (the default).
fn file_value(arg: &Arg, key: &str, value: &toml::Value) -> Result<Option<String>, String> {
    let wrong = |expected: &str| {
        let found = value.type_str();
        Err(format!("expected {expected}, found {found}"))
    };
    match (kind(arg), value) {
        (Kind::Integer, toml::Value::Integer(n)) => Ok(Some(n.to_string())),
        (Kind::Integer, _) => wrong("an integer"),
        (Kind::Boolean, toml::Value::Boolean(b)) => Ok(Some(b.to_string())),
        (Kind::Boolean, _) => wrong("true or false"),
        (Kind::String, toml::Value::String(s)) => Ok(Some(s.clone())),
        (Kind::String, _) => wrong("a string"),
        (Kind::Strings, toml::Value::Array(items)) => {
            let mut texts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    toml::Value::String(s) if !s.contains(',') => texts.push(s.as_str()),
                    toml::Value::String(_) => {
                        return Err(format!("an item of {key} cannot contain a comma"))
                    }
                    _ => return wrong("an array of strings"),
                }
            }
            Ok((!texts.is_empty()).then(|| texts.join(",")))
        }
        (Kind::Strings, _) => wrong("an array of strings"),
    }
}

/// Runs `text` through the flag's own parser (ranges, enumerations, addresses).
fn check_value(arg: &Arg, text: &Option<String>) -> Result<(), String> {
    let (Some(text), Some(long)) = (text, arg.get_long()) else {
        return Ok(());
    };
    let probe = Command::new("chat-server").arg(arg.clone());
    match probe.try_get_matches_from([OsString::from("chat-server"), {
        let mut flag = OsString::from(format!("--{long}="));
        flag.push(text);
        flag
    }]) {
        Ok(_) => Ok(()),
        Err(e) => Err(reason(&e)),
    }
}

/// The part of a clap error that says what is wrong with the value, without the flag's usage.
fn reason(e: &clap::Error) -> String {
    if let Some(source) = e.source() {
        return source.to_string();
    }
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        return format!("expected one of {}", valid.join(", "));
    }
    e.kind().to_string()
}

impl Loaded {
    /// Where `id`'s effective value came from.
    fn source(&self, id: &str) -> Source {
        if self.from_file.contains(id) {
            return Source::File;
        }
        match self.first.value_source(id) {
            Some(ValueSource::CommandLine) => Source::Flag,
            Some(ValueSource::EnvVariable) => Source::Environment,
            Some(ValueSource::DefaultValue) => Source::Default,
            _ => Source::Unset,
        }
    }

    /// The effective settings as a TOML file `--config` accepts, one `KEY = value  # source`
    /// line each; secrets are masked, so a printed file needs them put back before reuse.
    pub fn render(&self) -> String {
        let cmd = Config::command();
        let mut out = String::from(
            "# chat-server effective settings (flag > environment > config file > default).\n\
             # Values shown as \"<masked>\" are secrets: put the real ones back before using\n\
             # this as a --config file.\n",
        );
        for (key, arg) in settings(&cmd) {
            let id = arg.get_id().as_str();
            let source = self.source(id);
            let raw: Vec<&OsStr> = self
                .matches
                .get_raw(id)
                .map(|values| values.collect())
                .unwrap_or_default();
            if source == Source::Unset || raw.is_empty() {
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                out.push_str(&format!("# {key} is unset: {}\n", one_line(&help)));
                continue;
            }
            let value = if arg.is_hide_env_values_set() {
                toml::Value::String(MASK.to_owned())
            } else {
                toml_value(kind(arg), &raw)
            };
            out.push_str(&format!("{key} = {value}  # {}\n", source.as_str()));
        }
        out
    }
}

fn one_line(help: &str) -> String {
    help.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn toml_value(kind: Kind, raw: &[&OsStr]) -> toml::Value {
    let text = |s: &OsStr| mask_url(&s.to_string_lossy());
    let first = raw.first().map(|s| text(s)).unwrap_or_default();
    match kind {
        Kind::Integer => first
            .parse::<i64>()
            .map(toml::Value::Integer)
            // beyond TOML's integers: shown as text rather than wrongly
            .unwrap_or(toml::Value::String(first)),
        Kind::Boolean => first
            .parse::<bool>()
            .map(toml::Value::Boolean)
            .unwrap_or(toml::Value::String(first)),
        Kind::String => toml::Value::String(first),
        Kind::Strings => toml::Value::Array(
            raw.iter()
                .map(|s| toml::Value::String(text(s)))
                .filter(|v| v.as_str() != Some(""))
                .collect(),
        ),
    }
}

/// `scheme://user:password@host/...?password=...` with both passwords masked. Errs towards
/// masking too much: everything between the first `:` of the user info and the last `@`.
pub fn mask_url(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_owned();
    };
    let rest = match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{host}"),
            None => rest.to_owned(),
        },
        None => rest.to_owned(),
    };
    // libpq also takes `password=` (and `sslpassword=`) as query parameters
    let rest = match rest.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((name, _)) if name.to_ascii_lowercase().ends_with("password") => {
                        format!("{name}={MASK}")
                    }
                    _ => param.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => rest,
    };
    format!("{scheme}://{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked_and_the_rest_kept() {
        assert_eq!(
            mask_url("postgres://chat:s3cret@db:5432/chat?sslmode=require"),
            "postgres://chat:<masked>@db:5432/chat?sslmode=require"
        );
        assert_eq!(
            mask_url("redis://:pw@cache:6379/0"),
            "redis://:<masked>@cache:6379/0"
        );
        assert_eq!(
            mask_url("postgres://db/chat?user=chat&password=s3cret"),
            "postgres://db/chat?user=chat&password=<masked>"
        );
        assert_eq!(
            mask_url("postgres://chat@db/chat"),
            "postgres://chat@db/chat"
        );
        assert_eq!(mask_url("./data/chat.db"), "./data/chat.db");
    }

    #[test]
    fn every_setting_has_a_long_flag_and_a_known_kind() {
        let cmd = Config::command();
        let all = settings(&cmd);
        assert!(all.len() > 20, "{}", all.len());
        for (key, arg) in all {
            assert!(arg.get_long().is_some(), "{key} has no flag");
        }
        let kinds: Vec<(String, Kind)> = settings(&cmd)
            .into_iter()
            .map(|(k, a)| (k, kind(a)))
            .collect();
        let of = |key: &str| kinds.iter().find(|(k, _)| k == key).map(|(_, k)| *k);
        assert_eq!(of("MAX_FRAME_BYTES"), Some(Kind::Integer));
        assert_eq!(of("TRUST_PROXY"), Some(Kind::Boolean));
        assert_eq!(of("RATE_LIMITS"), Some(Kind::String));
        assert_eq!(of("CORS_ORIGINS"), Some(Kind::Strings));
        assert_eq!(of("BIND_ADDR"), Some(Kind::String));
    }
}
