//! The command line, parsed by clap into typed arguments. Nothing here runs anything.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::app::select::Shard;
use crate::report::ColorChoice;

/// Runs declarative HTTP API flows written in YAML.
#[derive(Debug, Parser)]
#[command(
    name = "runner",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the embedded Umbraco Management API stand-in until stopped.
    Sandbox(SandboxArgs),
    /// Print the JSON Schema of the spec format (for editor completion).
    Schema,
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Check specs without sending anything.
    Validate {
        /// Spec files, directories or glob patterns.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        #[command(flatten)]
        inputs: Inputs,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Spec files, directories searched for *.yaml and *.yml, or glob patterns.
    pub specs: Vec<PathBuf>,

    /// Start the embedded stand-in for this run and point UMBRACO_HOST,
    /// UMBRACO_CLIENT_ID and UMBRACO_CLIENT_SECRET at it.
    #[arg(long)]
    pub sandbox: bool,

    #[command(flatten)]
    pub inputs: Inputs,

    /// Trust the CA certificates in this PEM file, besides the system's.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Do not verify TLS certificates (prints a warning).
    #[arg(long)]
    pub insecure: bool,

    /// Time limit for each request, e.g. 30s or 500ms.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Time limit for establishing a connection.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// The largest response body read, e.g. 16MiB, 512KiB or a number of bytes.
    #[arg(long, value_name = "SIZE", default_value = "16MiB", value_parser = parse_size)]
    pub max_body: usize,

    /// Keep tokens across runs in this file (mode 0600; holds no client secret).
    #[arg(
        long,
        value_name = "PATH",
        env = "RUNNER_TOKEN_CACHE",
        hide_env_values = true
    )]
    pub token_cache: Option<PathBuf>,

    /// Print requests, responses and token decisions, with secrets masked.
    #[arg(short, long)]
    pub verbose: bool,

    /// How many specs run at once.
    #[arg(short, long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,

    /// Start no new spec after the first one fails.
    #[arg(long)]
    pub fail_fast: bool,

    /// Run only the K-th of N parts of the selected specs, e.g. --shard 2/4.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,

    /// Write a JUnit XML report.
    #[arg(long, value_name = "PATH")]
    pub report_junit: Option<PathBuf>,

    /// Write a JSON report.
    #[arg(long, value_name = "PATH")]
    pub report_json: Option<PathBuf>,

    /// Write a TAP version 13 report.
    #[arg(long, value_name = "PATH")]
    pub report_tap: Option<PathBuf>,

    /// When to use colour.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}

/// Values given to specs from outside: `--var` and `--env-file`.
#[derive(Debug, Args, Default)]
pub struct Inputs {
    /// Set a variable, overriding the spec's (repeatable): --var name=value. The value is
    /// a string.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,

    /// Read variables from a dotenv file: they join `env` and override spec vars.
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 5000)]
    pub port: u16,
    /// The client id it accepts.
    #[arg(long, default_value = "umbraco-back-office-sandbox")]
    pub client_id: String,
    /// The client secret it accepts.
    #[arg(
        long,
        env = "RUNNER_SANDBOX_CLIENT_SECRET",
        default_value = "sandbox-secret"
    )]
    pub client_secret: String,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 299)]
    pub token_lifetime: u64,
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))?;
    if name.is_empty() {
        return Err("the variable name is empty".into());
    }
    Ok((name.to_string(), value.to_string()))
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|err| err.to_string())
}

fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 16MiB"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        other => return Err(format!("unknown size unit `{other}` (use KiB, MiB or GiB)")),
    };
    number
        .checked_mul(factor)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("16MiB"), Ok(16 * 1024 * 1024));
        assert_eq!(parse_size("512k"), Ok(512 * 1024));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }
}
