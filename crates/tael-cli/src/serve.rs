//! `tael serve`: the server in this process. Its flags are the settings
//! table of `tael_server::config` (one `--<setting>` per setting, each
//! also a `TAEL_*` variable and a key of the `--config` TOML file), plus
//! `--config`, `--quiet` and tael 0.5's `--storage`.

use crate::client::CliError;
use crate::Global;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use std::path::PathBuf;
use tael_server::config::{Sources, CONFIG_FILE_ENV, SETTINGS};

#[derive(Debug, Clone, Default)]
pub struct ServeArgs {
    /// A TOML file of settings (`TAEL_CONFIG`).
    config: Option<PathBuf>,
    /// tael 0.5's storage choice; only `tael-backend` exists.
    storage: Option<String>,
    quiet: bool,
    /// (setting key, value) of every setting flag given.
    settings: Vec<(String, String)>,
}

impl FromArgMatches for ServeArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut a = ServeArgs::default();
        a.update_from_arg_matches(m)?;
        Ok(a)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.config = m.get_one::<PathBuf>("config").cloned();
        self.storage = m.get_one::<String>("storage").cloned();
        self.quiet = m.get_flag("quiet");
        self.settings = SETTINGS
            .iter()
            .filter_map(|s| {
                m.get_one::<String>(s.key)
                    .map(|v| (s.key.to_string(), v.clone()))
            })
            .collect();
        Ok(())
    }
}

impl Args for ServeArgs {
    fn augment_args(cmd: Command) -> Command {
        let cmd = cmd
            .arg(
                Arg::new("config")
                    .long("config")
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help(format!(
                        "TOML file of settings (keys as the flags with _, e.g. memtable_bytes = \"128MiB\") [env: {CONFIG_FILE_ENV}]"
                    )),
            )
            .arg(
                Arg::new("storage")
                    .long("storage")
                    .value_name("ENGINE")
                    .help("Storage engine; only `tael-backend` (the embedded engine) exists"),
            )
            .arg(
                Arg::new("quiet")
                    .long("quiet")
                    .action(ArgAction::SetTrue)
                    .help("Do not print the banner"),
            );
        SETTINGS.iter().fold(cmd, |cmd, s| {
            cmd.arg(
                Arg::new(s.key)
                    .long(s.flag())
                    .value_name("VALUE")
                    .help(format!("{} [env: {}]", s.doc, s.env)),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

pub fn run(g: &Global, a: &ServeArgs) -> Result<(), CliError> {
    if let Some(s) = &a.storage {
        if s != "tael-backend" {
            return Err(CliError::usage(format!(
                "--storage {s:?} is not available: tael stores data in its embedded engine (tael-backend)"
            )));
        }
    }
    // The port shorthands first, so that a full address flag wins.
    let mut flags = Vec::new();
    if let Some(p) = g.port_rest {
        flags.push(("rest_api_addr".to_string(), format!("127.0.0.1:{p}")));
    }
    if let Some(p) = g.port_otel {
        flags.push(("otlp_grpc_addr".to_string(), format!("127.0.0.1:{p}")));
    }
    flags.extend(a.settings.iter().cloned());
    let path = a
        .config
        .clone()
        .or_else(|| std::env::var_os(CONFIG_FILE_ENV).map(PathBuf::from));
    let text = match &path {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
            CliError::usage(format!("cannot read the config file {}: {e}", p.display()))
        })?),
        None => None,
    };
    let mut cfg = tael_server::ServerConfig::load(Sources {
        file: path.as_deref().zip(text.as_deref()),
        env: &|k| std::env::var(k).ok(),
        flags,
    })
    .map_err(|e| CliError::usage(e.to_string()))?;
    cfg.banner = !a.quiet;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::other(format!("cannot start the runtime: {e}")))?;
    rt.block_on(tael_server::run(cfg))
        .map_err(|e| CliError::other(e.to_string()))
}
