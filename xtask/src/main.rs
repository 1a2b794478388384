//! `xtask`: the tasks CI jobs run (`cargo xtask TASK` runs this binary for them; the maintainer's
//! tasks are `xtask-tools`'). It parses the command line and hands it to the library.

use std::process::ExitCode;

use clap::Parser;
use xtask::{cli::GlobalArgs, tasks::Task};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "The CI and cache strategy of this workspace, as tasks.")]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    task: Task,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    xtask::main(cli.global, |session| cli.task.run(session))
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
