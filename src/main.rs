//! The `edgetherm` command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = edgetherm::cli::Cli::parse();
    edgetherm::cli::main(cli)
}
