use std::io::Read;

use clap::Parser;

/// Counts the words of standard input that match PATTERN, as JSON.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// A regular expression, matched case-insensitively against each word.
    pattern: String,
    /// Pretty-print the JSON.
    #[arg(long)]
    pretty: bool,
    /// Print TOML instead of JSON.
    #[arg(long)]
    toml: bool,
}

fn main() {
    let args = Args::parse();
    let mut text = String::new();
    if let Err(err) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("error: cannot read standard input: {err}");
        std::process::exit(1);
    }
    match bench_app::count(&args.pattern, &text) {
        Ok(counts) if args.toml => print!("{}", toml::to_string(&counts).unwrap()),
        Ok(counts) if args.pretty => println!("{}", serde_json::to_string_pretty(&counts).unwrap()),
        Ok(counts) => println!("{}", serde_json::to_string(&counts).unwrap()),
        Err(err) => {
            eprintln!("error: `{}` is not a valid pattern: {err}", args.pattern);
            std::process::exit(2);
        }
    }
}
