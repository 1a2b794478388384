//! `xtask-tools`: every task, CI's (the `xtask` library's) and the maintainer's. `cargo xtask`
//! runs this binary for the maintainer's tasks and for `--help`; it parses the command line and
//! hands it to the libraries.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use xtask::{cli::GlobalArgs, tasks::Task};
use xtask_tools::Tool;

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version = xtask_tools::SOURCE_KEY)]
#[command(about = "The CI and cache strategy of this workspace, as tasks.")]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    task: Any,
}

#[derive(Subcommand, Debug)]
enum Any {
    #[command(flatten)]
    Ci(Task),
    #[command(flatten)]
    Tool(Tool),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let task = matches.subcommand_name().unwrap_or_default().to_owned();
    let kept = match &cli.task {
        Any::Ci(task) => task.kept(),
        Any::Tool(tool) => tool.kept(),
    };
    xtask::main(cli.global, xtask::TaskInfo { name: &task, kept }, |session, record| match &cli.task {
        Any::Ci(task) => task.run(session, record),
        Any::Tool(tool) => tool.run(session, record),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
