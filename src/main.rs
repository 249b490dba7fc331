//! The `runner` binary: parse arguments, run, exit with the outcome's code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = runner::cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(runner::exit::Exit::Invalid.code());
        }
    };
    let exit = runtime.block_on(runner::app::main(cli));
    // A check still running on a worker (a slow regex over a large body, after Ctrl-C)
    // must not keep the process alive once the outcome is known.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    exit.into()
}
