//! A stand-in for the Ollama server, for images that must run here: the API the harness uses
//! (`GET /api/version`, `GET /api/tags`, and `POST /api/generate` and `/api/chat` streaming NDJSON),
//! with one model that echoes the prompt. It listens where Ollama does (`OLLAMA_HOST`, default
//! `0.0.0.0:11434`) and lists the files of its models directory (`OLLAMA_MODELS`) as models too.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
};

const MODEL: &str = "standin:latest";

fn main() {
    let host = std::env::var("OLLAMA_HOST").unwrap_or_else(|_| "0.0.0.0:11434".to_owned());
    let listener = TcpListener::bind(&host).unwrap_or_else(|e| panic!("cannot listen on {host}: {e}"));
    eprintln!("ollama stand-in listening on {host}");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            if let Err(e) = serve(stream) {
                eprintln!("request failed: {e}");
            }
        });
    }
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or_default().to_owned(), words.next().unwrap_or_default().to_owned());
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body);
    eprintln!("{method} {path}");
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/version") => json(stream, 200, r#"{"version":"0.0.0-standin"}"#),
        ("GET", "/api/tags") => json(stream, 200, &tags()),
        ("POST", "/api/generate") => stream_words(stream, &prompt(&body), |w| format!(r#""response":{w}"#)),
        ("POST", "/api/chat") => {
            stream_words(stream, &prompt(&body), |w| format!(r#""message":{{"role":"assistant","content":{w}}}"#))
        }
        _ => json(stream, 404, r#"{"error":"not found"}"#),
    }
}

fn json(mut stream: TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The model, and a model for each file of the models directory.
fn tags() -> String {
    let dir = std::env::var("OLLAMA_MODELS").unwrap_or_else(|_| "/models".to_owned());
    let mut names = vec![MODEL.to_owned()];
    names.extend(
        std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().into_owned()),
    );
    let models: Vec<String> = names
        .iter()
        .map(|name| {
            format!(
                r#"{{"name":{},"model":{},"size":1024,"details":{{"family":"standin","parameter_size":"0B","quantization_level":"none"}}}}"#,
                quote(name),
                quote(name)
            )
        })
        .collect();
    format!(r#"{{"models":[{}]}}"#, models.join(","))
}

/// The prompt of a request (the last message's content for a chat), as the reply's text.
fn prompt(body: &str) -> String {
    let key = if body.contains(r#""messages""#) { r#""content":"# } else { r#""prompt":"# };
    let Some(start) = body.rfind(key) else { return "nothing asked".to_owned() };
    let rest = body[start + key.len()..].trim_start().trim_start_matches('"');
    rest.split('"').next().unwrap_or_default().to_owned()
}

/// The reply as an NDJSON stream, one word a line, each made by `piece`, then `done`.
fn stream_words(mut stream: TcpStream, text: &str, piece: impl Fn(&str) -> String) -> std::io::Result<()> {
    write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n")?;
    let reply = format!("stand-in heard: {text}");
    for word in reply.split_inclusive(' ') {
        writeln!(stream, r#"{{"model":"{MODEL}",{},"done":false}}"#, piece(&quote(word)))?;
        stream.flush()?;
    }
    writeln!(stream, r#"{{"model":"{MODEL}",{},"done":true}}"#, piece(r#""""#))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
