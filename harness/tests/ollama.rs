//! The harness binary against a local server speaking Ollama's documented API: JSON replies,
//! NDJSON streams sent with chunked encoding (as Ollama sends them), and Ollama's error bodies.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    process::{Command, Output, Stdio},
    sync::{mpsc, Arc, Mutex},
    thread,
    time::Duration,
};

/// What the server answers to one request.
enum Reply {
    Json(u16, String),
    /// NDJSON lines, each sent as a chunk; before a line, wait for the gate if one is given.
    Stream(Vec<String>, Option<(usize, mpsc::Receiver<()>)>),
    /// A web page, as a server that is not Ollama answers.
    Html(u16, String),
    /// Accept, read, never answer.
    Silent,
}

#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    body: serde_json::Value,
}

struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Serves requests on 127.0.0.1, answering each with `route`; stops with the test process.
    fn start(route: impl Fn(&Request) -> Reply + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let request = read_request(&stream);
                seen.lock().unwrap().push(request.clone());
                answer(stream, route(&request));
            }
        });
        Server { port, requests }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn read_request(stream: &TcpStream) -> Request {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned());
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let body = if body.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&body).unwrap() };
    Request { method, path, body }
}

fn answer(mut stream: TcpStream, reply: Reply) {
    match reply {
        Reply::Json(status, body) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Reply::Stream(lines, gate) => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.flush();
            for (i, line) in lines.iter().enumerate() {
                if let Some((at, rx)) = &gate {
                    if *at == i {
                        let _ = rx.recv_timeout(Duration::from_secs(20));
                    }
                }
                let chunk = format!("{line}\n");
                let _ = write!(stream, "{:x}\r\n{chunk}\r\n", chunk.len());
                let _ = stream.flush();
            }
            let _ = write!(stream, "0\r\n\r\n");
        }
        Reply::Html(status, body) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Reply::Silent => thread::sleep(Duration::from_secs(30)),
    }
}

fn harness(host: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
    cmd.env("OLLAMA_HOST", host).env_remove("HARNESS_MODEL").stdin(Stdio::null());
    cmd
}

fn output(cmd: &mut Command) -> (bool, String, String) {
    let Output { status, stdout, stderr } = cmd.output().unwrap();
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(!stderr.contains("panicked"), "harness panicked: {stderr}");
    (status.success(), String::from_utf8(stdout).unwrap(), stderr)
}

fn generate_line(token: &str, done: bool) -> String {
    serde_json::json!({ "model": "llama3.2", "created_at": "2024-01-01T12:00:00Z", "response": token, "done": done })
        .to_string()
}

#[test]
fn health_prints_the_version() {
    let server = Server::start(|r| match r.path.as_str() {
        "/api/version" => Reply::Json(200, r#"{"version":"0.12.3"}"#.into()),
        _ => Reply::Json(404, "404 page not found".into()),
    });
    let (ok, stdout, _) = output(harness(&server.host()).arg("health"));
    assert!(ok);
    assert_eq!(stdout, format!("ollama 0.12.3 at http://{}\n", server.host()));
    assert_eq!(server.requests()[0].method, "GET");
}

#[test]
fn health_exits_1_naming_the_address_when_nothing_listens() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = harness(&format!("http://127.0.0.1:{port}"));
    let status = cmd.arg("health").stderr(Stdio::piped()).output().unwrap();
    assert_eq!(status.status.code(), Some(1));
    let stderr = String::from_utf8(status.stderr).unwrap();
    assert!(stderr.contains(&format!("cannot reach the Ollama server at http://127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("OLLAMA_HOST"), "{stderr}");
}

#[test]
fn models_lists_names_sizes_and_families() {
    let tags = serde_json::json!({ "models": [
        { "name": "llama3.2:latest", "model": "llama3.2:latest", "modified_at": "2025-01-21T16:53:57-08:00",
          "size": 2019393189u64, "digest": "a80c4f17acd5",
          "details": { "parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                       "parameter_size": "3.2B", "quantization_level": "Q4_K_M" } },
        { "name": "nomic-embed-text:latest", "model": "nomic-embed-text:latest", "modified_at": "2025-01-01T00:00:00Z",
          "size": 274302450u64, "digest": "0a109f422b47",
          "details": { "format": "gguf", "family": "nomic-bert", "parameter_size": "137M", "quantization_level": "F16" } }
    ]});
    let server = Server::start(move |_| Reply::Json(200, tags.to_string()));
    let (ok, stdout, _) = output(harness(&server.host()).arg("models"));
    assert!(ok);
    let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "SIZE", "FAMILY", "PARAMETERS", "QUANTIZATION"]);
    assert_eq!(lines[1], ["llama3.2:latest", "2.0", "GB", "llama", "3.2B", "Q4_K_M"]);
    assert_eq!(lines[2], ["nomic-embed-text:latest", "274.3", "MB", "nomic-bert", "137M", "F16"]);
    assert_eq!(server.requests()[0].path, "/api/tags");
}

#[test]
fn ask_streams_tokens_to_stdout_as_they_arrive() {
    let (open_gate, gate) = mpsc::channel();
    let gate = Mutex::new(Some(gate));
    let lines = vec![generate_line("The sky", false), generate_line(" is blue", false), generate_line("", true)];
    let server = Server::start(move |_| Reply::Stream(lines.clone(), gate.lock().unwrap().take().map(|g| (1, g))));
    let mut child = harness(&server.host())
        .args(["ask", "Why is the sky blue?"])
        .env("HARNESS_MODEL", "mistral")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The server holds the rest of the stream back until the first token has reached stdout.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 7];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"The sky");
    open_gate.send(()).unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(rest, " is blue\n");

    let request = &server.requests()[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/api/generate"));
    assert_eq!(
        request.body,
        serde_json::json!({ "model": "mistral", "prompt": "Why is the sky blue?", "stream": true })
    );
}

#[test]
fn ask_chat_uses_the_chat_endpoint_and_the_default_model() {
    let line = |content: &str, done: bool| {
        serde_json::json!({ "model": "llama3.2", "message": { "role": "assistant", "content": content }, "done": done })
            .to_string()
    };
    let lines = vec![line("Hello", false), line(" there", false), line("", true)];
    let server = Server::start(move |_| Reply::Stream(lines.clone(), None));
    let (ok, stdout, _) = output(harness(&server.host()).args(["ask", "--chat", "hi"]));
    assert!(ok);
    assert_eq!(stdout, "Hello there\n");
    let request = &server.requests()[0];
    assert_eq!(request.path, "/api/chat");
    assert_eq!(
        request.body,
        serde_json::json!({ "model": "llama3.2", "messages": [{ "role": "user", "content": "hi" }], "stream": true })
    );
}

#[test]
fn a_server_error_is_shown_as_the_server_wrote_it() {
    let server =
        Server::start(|_| Reply::Json(404, r#"{"error":"model \"nope\" not found, try pulling it first"}"#.into()));
    let (ok, _, stderr) = output(harness(&server.host()).args(["ask", "--model", "nope", "hi"]));
    assert!(!ok);
    assert_eq!(stderr, "error: model \"nope\" not found, try pulling it first (HTTP 404)\n");
}

#[test]
fn a_malformed_stream_line_is_an_error_naming_the_line() {
    let lines = vec![generate_line("ok", false), "{not json".to_owned(), generate_line("", true)];
    let server = Server::start(move |_| Reply::Stream(lines.clone(), None));
    let (ok, stdout, stderr) = output(harness(&server.host()).args(["ask", "hi"]));
    assert!(!ok);
    assert!(stdout.starts_with("ok"), "tokens before the bad line are kept: {stdout}");
    assert!(stderr.contains("malformed line 2 of the /api/generate stream"), "{stderr}");
}

#[test]
fn an_error_in_the_middle_of_a_stream_stops_the_reply() {
    let lines = vec![
        generate_line("partial", false),
        r#"{"error":"an error was encountered while running the model"}"#.to_owned(),
    ];
    let server = Server::start(move |_| Reply::Stream(lines.clone(), None));
    let (ok, _, stderr) = output(harness(&server.host()).args(["ask", "hi"]));
    assert!(!ok);
    assert!(
        stderr.contains("the server stopped the reply: an error was encountered while running the model"),
        "{stderr}"
    );
}

#[test]
fn a_stream_that_ends_early_is_an_error() {
    let lines = vec![generate_line("cut", false)];
    let server = Server::start(move |_| Reply::Stream(lines.clone(), None));
    let (ok, _, stderr) = output(harness(&server.host()).args(["ask", "hi"]));
    assert!(!ok);
    assert!(stderr.contains("ended before `done: true`"), "{stderr}");
}

#[test]
fn a_silent_server_times_out() {
    let server = Server::start(|_| Reply::Silent);
    let (ok, _, stderr) = output(harness(&server.host()).args(["--timeout", "1", "health"]));
    assert!(!ok);
    assert!(
        stderr.contains(&format!("the Ollama server at http://{} did not answer within 1s", server.host())),
        "{stderr}"
    );
}

#[test]
fn a_bad_ollama_host_names_the_part_to_fix() {
    let (ok, _, stderr) = output(harness("ollama:99999").arg("health"));
    assert!(!ok);
    assert_eq!(stderr, "error: OLLAMA_HOST=ollama:99999: the port `99999` is not a number from 1 to 65535\n");
}

/// The harness has no TLS (its image ships no certificates): an https address is refused with
/// what to do, before any connection.
#[test]
fn an_https_address_is_refused_saying_how_to_reach_the_server() {
    let (ok, _, stderr) = output(harness("https://ollama.example:11434").arg("health"));
    assert!(!ok);
    assert_eq!(
        stderr,
        "error: https://ollama.example:11434: this build of harness speaks plain HTTP only; point OLLAMA_HOST at the server's http address\n"
    );
}

#[test]
fn a_server_that_is_not_ollama_is_named_without_its_page() {
    const PAGE: &str = "<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>hello</body></html>";
    for status in [200, 404] {
        let server = Server::start(move |_| Reply::Html(status, PAGE.into()));
        for args in [&["health"][..], &["models"], &["ask", "hi"]] {
            let (ok, _, stderr) = output(harness(&server.host()).args(args));
            assert!(!ok, "{args:?}");
            assert!(
                stderr.starts_with(&format!(
                    "error: the server at http://{} does not speak the Ollama API (",
                    server.host()
                )),
                "{status} {args:?}: {stderr}"
            );
            assert!(stderr.contains(&format!("answered HTTP {status} with text/html")), "{stderr}");
            assert!(!stderr.contains("<html>") && !stderr.contains("Welcome"), "the page was printed: {stderr}");
        }
    }
}

#[test]
fn health_gives_up_after_10_seconds_by_default() {
    let server = Server::start(|_| Reply::Silent);
    let (ok, _, stderr) = output(harness(&server.host()).arg("health"));
    assert!(!ok);
    assert!(stderr.contains("did not answer within 10s"), "{stderr}");
}
