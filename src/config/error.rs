//! The one error type of the config module.
//!
//! Every message names where the bad value came from (a file path or an environment variable), the
//! key as the user wrote it, and the problem, because the operator has to find and fix the line.
//! Secrets (TURN and TLS key passwords) never appear in a message.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// Our compiled-in defaults (the values of KMS's shipped `kurento.conf.json`).
    BuiltIn,
    /// A configuration file.
    File(PathBuf),
    /// A Docker-image environment variable such as `KMS_MIN_PORT`.
    Env(String),
}

impl fmt::Display for ValueSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueSource::BuiltIn => f.write_str("built-in defaults"),
            ValueSource::File(path) => write!(f, "{}", path.display()),
            ValueSource::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug)]
pub enum ConfigError {
    /// A file could not be read, e.g. the file named with `--conf-file` does not exist.
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file is not valid JSON / INI.
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// The main configuration file has an extension we cannot parse (KMS also knows `.info` and `.xml`).
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
    },
    /// A value has the wrong type or is out of range.
    InvalidValue {
        /// Where the value came from.
        source: ValueSource,
        /// The key as written by the user (`minPort`, `mediaServer.net.websocket.port`).
        key: String,
        /// What was expected and what was found.
        problem: String,
    },
    /// `turnURL` does not have the form `user:password@address:port[?transport=udp|tcp|tls]`.
    InvalidTurnUrl {
        /// Where the value came from.
        source: ValueSource,
        /// The key as written by the user.
        key: String,
        /// What is wrong; never contains the password.
        reason: super::turn::TurnUrlError,
    },
    /// `stunServerAddress` is not an IP address (KMS does not resolve names either).
    InvalidStunAddress {
        /// Where the value came from.
        source: ValueSource,
        /// The key as written by the user.
        key: String,
        /// The offending value.
        value: String,
    },
    /// `minPort` is greater than `maxPort`.
    InvertedPortRange {
        /// The effective `minPort`.
        min: u16,
        /// Where `minPort` came from.
        min_source: ValueSource,
        /// The effective `maxPort`.
        max: u16,
        /// Where `maxPort` came from.
        max_source: ValueSource,
    },
    /// `secure.port` is set but `secure.certificate` is not.
    MissingCertificate {
        /// Where `secure.port` came from.
        source: ValueSource,
        /// The missing key.
        key: String,
    },
    /// Neither `websocket.port` nor `websocket.secure.port` is set, so there is nothing to listen on
    /// (KMS aborts at start-up in the same situation).
    NoListener {
        /// The main configuration file, if one was read.
        conf_file: Option<PathBuf>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, source } => {
                write!(f, "{}: cannot read configuration file: {source}", path.display())
            }
            ConfigError::Syntax {
                path,
                line,
                column,
                message,
            } => write!(
                f,
                "{}: line {line}, column {column}: {message}",
                path.display()
            ),
            ConfigError::UnsupportedFormat { path } => write!(
                f,
                "{}: unsupported configuration format (expected a name ending in .conf.json or .conf.ini)",
                path.display()
            ),
            ConfigError::InvalidValue {
                source,
                key,
                problem,
            } => write!(f, "{source}: {key}: {problem}"),
            ConfigError::InvalidTurnUrl {
                source,
                key,
                reason,
            } => write!(
                f,
                "{source}: {key}: invalid TURN URL: {reason}; expected user:password@address:port[?transport=udp|tcp|tls]"
            ),
            ConfigError::InvalidStunAddress { source, key, value } => write!(
                f,
                "{source}: {key}: expected an IP address (domain names are not supported), got {value:?}"
            ),
            ConfigError::InvertedPortRange {
                min,
                min_source,
                max,
                max_source,
            } => {
                if min_source == max_source {
                    write!(
                        f,
                        "{min_source}: minPort ({min}) is greater than maxPort ({max})"
                    )
                } else {
                    write!(
                        f,
                        "minPort ({min}, from {min_source}) is greater than maxPort ({max}, from {max_source})"
                    )
                }
            }
            ConfigError::MissingCertificate { source, key } => write!(
                f,
                "{source}: {key}: required when mediaServer.net.websocket.secure.port is set"
            ),
            ConfigError::NoListener { conf_file } => {
                if let Some(path) = conf_file {
                    write!(f, "{}: ", path.display())?;
                }
                f.write_str(
                    "mediaServer.net.websocket: neither port nor secure.port is set, so there is nothing to listen on",
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::InvalidTurnUrl { reason, .. } => Some(reason),
            _ => None,
        }
    }
}
