//! Command-line options, spelled as KMS spells them so existing service files and `docker run`
//! command lines keep working. Each option can also come from `KURENTO_<OPTION>` (upper case, dashes
//! as underscores), as in KMS.

use std::path::{Path, PathBuf};

use clap::Parser;

/// Where KMS looks for its main configuration file.
pub const DEFAULT_CONF_FILE: &str = "/etc/kurento/kurento.conf.json";

/// `kurento-media-server` options (KMS-compatible).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kurento-media-server",
    about = "Kurento Media Server (Rust): a drop-in, packet-forwarding replacement for KMS",
    disable_version_flag = true
)]
pub struct Cli {
    /// Configuration file location [default: /etc/kurento/kurento.conf.json]. A missing default file
    /// means built-in defaults; a missing file named here is an error.
    #[arg(
        short = 'f',
        long = "conf-file",
        env = "KURENTO_CONF_FILE",
        value_name = "FILE"
    )]
    pub conf_file: Option<PathBuf>,

    /// Colon-separated path(s) where Kurento modules can be found (accepted for compatibility, unused:
    /// our modules are built in).
    #[arg(
        short = 'p',
        long = "modules-path",
        env = "KURENTO_MODULES_PATH",
        value_name = "PATHS"
    )]
    pub modules_path: Option<String>,

    /// Colon-separated path(s) where module config files (`*.conf.ini`, `*.conf.json`) can be found
    /// [default: <conf file dir>/modules].
    #[arg(
        short = 'c',
        long = "modules-config-path",
        env = "KURENTO_MODULES_CONFIG_PATH",
        value_name = "PATHS"
    )]
    pub modules_config_path: Option<String>,

    /// Path where rotating log files would be stored (accepted, unused: we log to stdout).
    #[arg(
        short = 'd',
        long = "logs-path",
        env = "KURENTO_LOGS_PATH",
        value_name = "DIR"
    )]
    pub logs_path: Option<PathBuf>,

    /// Maximum file size for log files, in MB (accepted, unused).
    #[arg(
        short = 's',
        long = "log-file-size",
        env = "KURENTO_LOG_FILE_SIZE",
        default_value_t = 100,
        value_name = "MB"
    )]
    pub log_file_size: u32,

    /// Maximum number of log files to keep (accepted, unused).
    #[arg(
        short = 'n',
        long = "number-log-files",
        env = "KURENTO_NUMBER_LOG_FILES",
        default_value_t = 10,
        value_name = "N"
    )]
    pub number_log_files: u32,

    /// Lists all available factories and exits.
    #[arg(short = 'l', long = "list")]
    pub list: bool,

    /// Displays the version number and exits.
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    /// Anything else on the command line. KMS ignores unknown options (and the Docker entrypoint runs
    /// `kurento-media-server "$*"`, which passes one empty argument), so we collect and ignore them.
    #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub extra_args: Vec<String>,
}

impl Cli {
    /// The main configuration file to read: `--conf-file` / `KURENTO_CONF_FILE`, else the default.
    pub fn conf_file_path(&self) -> &Path {
        self.conf_file
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_CONF_FILE))
    }

    /// Extra arguments that were not empty, for a start-up warning.
    pub fn ignored_args(&self) -> impl Iterator<Item = &str> {
        self.extra_args
            .iter()
            .map(String::as_str)
            .filter(|a| !a.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn short_options_like_kms() {
        let cli = Cli::try_parse_from([
            "kms",
            "-f",
            "/tmp/k.conf.json",
            "-p",
            "/a:/b",
            "-c",
            "/m1:/m2",
            "-d",
            "/var/log/k",
            "-s",
            "5",
            "-n",
            "3",
        ])
        .unwrap();
        assert_eq!(cli.conf_file_path(), Path::new("/tmp/k.conf.json"));
        assert_eq!(cli.modules_path.as_deref(), Some("/a:/b"));
        assert_eq!(cli.modules_config_path.as_deref(), Some("/m1:/m2"));
        assert_eq!(cli.logs_path.as_deref(), Some(Path::new("/var/log/k")));
        assert_eq!((cli.log_file_size, cli.number_log_files), (5, 3));
        assert!(!cli.list && !cli.version);
    }

    #[test]
    fn long_options_and_flags() {
        let cli = Cli::try_parse_from([
            "kms",
            "--conf-file=/x.json",
            "--modules-config-path",
            "/m",
            "--list",
            "-v",
        ])
        .unwrap();
        assert_eq!(cli.conf_file.as_deref(), Some(Path::new("/x.json")));
        assert!(cli.list && cli.version);
    }

    #[test]
    fn defaults_when_nothing_given() {
        let cli = Cli::try_parse_from(["kms"]).unwrap();
        assert_eq!(cli.conf_file_path(), Path::new(DEFAULT_CONF_FILE));
        assert_eq!((cli.log_file_size, cli.number_log_files), (100, 10));
    }

    #[test]
    fn docker_empty_argument_and_unknown_options_are_tolerated() {
        let cli = Cli::try_parse_from(["kms", ""]).unwrap();
        assert_eq!(cli.ignored_args().count(), 0);
        let cli = Cli::try_parse_from(["kms", "-f", "/k.json", "--gst-debug-level=3"]).unwrap();
        assert_eq!(cli.conf_file_path(), Path::new("/k.json"));
        assert_eq!(
            cli.ignored_args().collect::<Vec<_>>(),
            ["--gst-debug-level=3"]
        );
    }
}
