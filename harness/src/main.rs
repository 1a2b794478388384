//! harness: a small client for an Ollama server.

mod client;
mod host;

use std::{io::Write, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};

/// The model `ask` uses when neither --model nor HARNESS_MODEL names one.
pub const DEFAULT_MODEL: &str = "llama3.2";

#[derive(Parser)]
#[command(version, about = "A small client for an Ollama server (address from OLLAMA_HOST).")]
struct Cli {
    /// Seconds to wait for the server to connect and start answering (default: 10 for health,
    /// 30 for models, 300 for ask, which may wait for a model to load).
    #[arg(long, global = true, value_name = "SECS")]
    timeout: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the server and print its version (exit 1 when unreachable).
    Health,
    /// List the server's models with size and family.
    Models,
    /// Stream a reply to PROMPT as the model writes it.
    Ask {
        /// The model (default: $HARNESS_MODEL, else llama3.2).
        #[arg(long, short)]
        model: Option<String>,
        /// Use /api/chat instead of /api/generate.
        #[arg(long)]
        chat: bool,
        prompt: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let base = match host::base_url(std::env::var("OLLAMA_HOST").ok().as_deref()) {
        Ok(base) => base,
        Err(message) => return fail(&message),
    };
    if base.starts_with("https://") {
        return fail(&format!(
            "{base}: this build of harness speaks plain HTTP only; point OLLAMA_HOST at the server's http address"
        ));
    }
    let timeout = cli.timeout.unwrap_or(match cli.command {
        Command::Health => 10,
        Command::Models => 30,
        Command::Ask { .. } => 300,
    });
    let client = client::Client::new(base, Duration::from_secs(timeout.max(1)));
    let result = match cli.command {
        Command::Health => client.version().map(|v| println!("ollama {v} at {}", client.base())),
        Command::Models => client.models().map(|models| print!("{}", table(&models))),
        Command::Ask { model, chat, prompt } => {
            let model = model
                .or_else(|| std::env::var("HARNESS_MODEL").ok().filter(|m| !m.trim().is_empty()))
                .unwrap_or_else(|| DEFAULT_MODEL.to_owned());
            let mut stdout = std::io::stdout().lock();
            let write = |piece: &str| {
                let _ = stdout.write_all(piece.as_bytes());
                let _ = stdout.flush();
            };
            let result =
                if chat { client.chat(&model, &prompt, write) } else { client.generate(&model, &prompt, write) };
            println!();
            result
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// `NAME  SIZE  FAMILY  PARAMETERS  QUANTIZATION`, aligned.
fn table(models: &[client::Model]) -> String {
    if models.is_empty() {
        return "no models: pull one with `ollama pull llama3.2`\n".to_owned();
    }
    let rows: Vec<[String; 5]> = models
        .iter()
        .map(|m| {
            [
                m.name.clone(),
                size(m.size),
                m.details.family.clone(),
                m.details.parameter_size.clone(),
                m.details.quantization_level.clone(),
            ]
        })
        .collect();
    let header = ["NAME", "SIZE", "FAMILY", "PARAMETERS", "QUANTIZATION"].map(String::from);
    let widths: Vec<usize> = (0..5).map(|i| rows.iter().chain([&header]).map(|r| r[i].len()).max().unwrap()).collect();
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            format!("{}\n", cells.join("  ").trim_end())
        })
        .collect()
}

/// Decimal units, as `ollama list` prints them.
fn size(bytes: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_read_like_ollama_list() {
        assert_eq!(size(999), "999 B");
        assert_eq!(size(2_019_393_189), "2.0 GB");
        assert_eq!(size(4_920_753_328), "4.9 GB");
    }
}
