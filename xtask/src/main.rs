//! `xtask`: the tasks CI jobs run (`cargo xtask TASK` runs this binary for them; the maintainer's
//! tasks are `xtask-tools`'). It parses the command line and hands it to the library.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use xtask::{cli::GlobalArgs, tasks::Task};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version = xtask::SOURCE_KEY)]
#[command(about = "The CI and cache strategy of this workspace, as tasks.")]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    task: Task,
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let task = matches.subcommand_name().unwrap_or_default().to_owned();
    let info = xtask::TaskInfo { name: &task, kept: cli.task.kept() };
    xtask::main(cli.global, info, |session, record| cli.task.run(session, record))
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
