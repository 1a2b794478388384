//! A blocking client for Ollama's HTTP API: `/api/version`, `/api/tags`, and the NDJSON streams
//! of `/api/generate` and `/api/chat`.

use std::{
    fmt,
    io::{BufRead, BufReader},
    time::Duration,
};

use serde::Deserialize;
use serde_json::{json, Value};
use ureq::Agent;

/// Everything that can go wrong talking to the server, each naming what to do.
#[derive(Debug)]
pub enum Error {
    /// Nothing answers at the address.
    Unreachable {
        base: String,
        reason: String,
    },
    /// The server answered with an error status; `message` is its `error` field, as is.
    Http {
        status: u16,
        message: String,
    },
    /// A line of a stream, or a whole reply, is not what Ollama's API documents.
    Malformed {
        what: String,
        detail: String,
    },
    /// Something answers at the address, but not as Ollama does (a web page, another API).
    NotOllama {
        base: String,
        answer: String,
    },
    /// The server did not answer in time.
    Timeout {
        base: String,
        after: Duration,
    },
    /// The server ended a stream with an error of its own.
    Stream {
        message: String,
    },
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unreachable { base, reason } => write!(
                f,
                "cannot reach the Ollama server at {base} ({reason}): is it running? Set OLLAMA_HOST to its address"
            ),
            Error::Http { status, message } => write!(f, "{message} (HTTP {status})"),
            Error::Malformed { what, detail } => write!(f, "malformed {what} from the server: {detail}"),
            Error::Timeout { base, after } => write!(
                f,
                "the Ollama server at {base} did not answer within {}s (raise it with --timeout)",
                after.as_secs()
            ),
            Error::NotOllama { base, answer } => write!(
                f,
                "the server at {base} does not speak the Ollama API ({answer}): set OLLAMA_HOST to the Ollama server's address"
            ),
            Error::Stream { message } => write!(f, "the server stopped the reply: {message}"),
            Error::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

#[derive(Debug, Deserialize, PartialEq)]
pub struct Model {
    pub name: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub details: Details,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
pub struct Details {
    #[serde(default)]
    pub family: String,
    #[serde(default)]
    pub parameter_size: String,
    #[serde(default)]
    pub quantization_level: String,
}

pub struct Client {
    base: String,
    agent: Agent,
    timeout: Duration,
}

impl Client {
    /// `timeout` bounds connecting and waiting for the server's first byte; a stream may then run
    /// as long as the model writes.
    pub fn new(base: String, timeout: Duration) -> Client {
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .timeout_recv_response(Some(timeout))
            .build()
            .into();
        Client { base, agent, timeout }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn version(&self) -> Result<String, Error> {
        let reply = self.get_json("/api/version")?;
        match reply["version"].as_str() {
            Some(version) => Ok(version.to_owned()),
            None => {
                Err(Error::Malformed { what: "/api/version reply".into(), detail: format!("no version in {reply}") })
            }
        }
    }

    pub fn models(&self) -> Result<Vec<Model>, Error> {
        let mut reply = self.get_json("/api/tags")?;
        serde_json::from_value(reply["models"].take())
            .map_err(|e| Error::Malformed { what: "/api/tags reply".into(), detail: e.to_string() })
    }

    /// Streams `/api/generate`, calling `token` with each piece of the response as it arrives.
    pub fn generate(&self, model: &str, prompt: &str, token: impl FnMut(&str)) -> Result<(), Error> {
        let body = json!({ "model": model, "prompt": prompt, "stream": true });
        self.stream("/api/generate", &body, |line| line["response"].as_str(), token)
    }

    /// Streams `/api/chat` with one user message.
    pub fn chat(&self, model: &str, prompt: &str, token: impl FnMut(&str)) -> Result<(), Error> {
        let body = json!({ "model": model, "messages": [{ "role": "user", "content": prompt }], "stream": true });
        self.stream("/api/chat", &body, |line| line["message"]["content"].as_str(), token)
    }

    fn get_json(&self, path: &str) -> Result<Value, Error> {
        let response = self.agent.get(format!("{}{path}", self.base)).call().map_err(|e| self.transport(e))?;
        let mut response = self.check("GET", path, response)?;
        if is_html(&response) {
            return Err(self.not_ollama("GET", path, &response));
        }
        let text = response.body_mut().read_to_string().map_err(|e| self.transport(e))?;
        serde_json::from_str(&text).map_err(|e| match is_json(&response) {
            true => Error::Malformed { what: format!("{path} reply"), detail: format!("{e}: {}", excerpt(&text)) },
            false => self.not_ollama("GET", path, &response),
        })
    }

    fn stream(
        &self,
        path: &str,
        body: &Value,
        piece: impl Fn(&Value) -> Option<&str>,
        mut token: impl FnMut(&str),
    ) -> Result<(), Error> {
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .send(body.to_string())
            .map_err(|e| self.transport(e))?;
        let mut response = self.check("POST", path, response)?;
        if is_html(&response) {
            return Err(self.not_ollama("POST", path, &response));
        }
        let reader = BufReader::new(response.body_mut().as_reader());
        for (n, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| self.transport(ureq::Error::Io(e)))?;
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(&line).map_err(|e| Error::Malformed {
                what: format!("line {} of the {path} stream", n + 1),
                detail: format!("{e}: {}", excerpt(&line)),
            })?;
            if let Some(message) = value["error"].as_str() {
                return Err(Error::Stream { message: message.to_owned() });
            }
            let Some(text) = piece(&value) else {
                if value["done"] == true {
                    return Ok(());
                }
                return Err(Error::Malformed {
                    what: format!("line {} of the {path} stream", n + 1),
                    detail: format!("no text in {}", excerpt(&line)),
                });
            };
            token(text);
            if value["done"] == true {
                return Ok(());
            }
        }
        Err(Error::Malformed { what: format!("{path} stream"), detail: "it ended before `done: true`".into() })
    }

    /// Turns an error status into the server's own message; an error that is not Ollama's JSON
    /// (a web server's page) means the address is not an Ollama server.
    fn check(&self, method: &str, path: &str, mut response: Response) -> Result<Response, Error> {
        let status = response.status().as_u16();
        if status < 400 {
            return Ok(response);
        }
        if is_html(&response) {
            return Err(self.not_ollama(method, path, &response));
        }
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let message =
            serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| {
                    if text.trim().is_empty() {
                        "the server gave no reason".into()
                    } else {
                        excerpt(&text)
                    }
                });
        Err(Error::Http { status, message })
    }

    /// What answered instead of Ollama, named by its status and content type, never its body.
    fn not_ollama(&self, method: &str, path: &str, response: &Response) -> Error {
        let kind = content_type(response).unwrap_or("no content type");
        let answer = format!("{method} {path} answered HTTP {} with {kind}", response.status().as_u16());
        Error::NotOllama { base: self.base.clone(), answer }
    }

    fn transport(&self, error: ureq::Error) -> Error {
        let base = self.base.clone();
        match error {
            ureq::Error::Timeout(_) => Error::Timeout { base, after: self.timeout },
            ureq::Error::Io(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => {
                Error::Timeout { base, after: self.timeout }
            }
            ureq::Error::Io(e) => Error::Unreachable { base, reason: e.to_string() },
            ureq::Error::HostNotFound => Error::Unreachable { base, reason: "host not found".into() },
            ureq::Error::ConnectionFailed => Error::Unreachable { base, reason: "connection failed".into() },
            e @ ureq::Error::Protocol(_) => Error::Malformed { what: "HTTP reply".into(), detail: e.to_string() },
            e => Error::Other(format!("talking to {base}: {e}")),
        }
    }
}

type Response = ureq::http::Response<ureq::Body>;

fn content_type(response: &Response) -> Option<&str> {
    response.headers().get("content-type")?.to_str().ok()
}

/// Ollama answers JSON (`application/json`) and streams NDJSON (`application/x-ndjson`).
fn is_json(response: &Response) -> bool {
    content_type(response).is_some_and(|t| t.contains("json"))
}

fn is_html(response: &Response) -> bool {
    content_type(response).is_some_and(|t| t.contains("html"))
}

/// At most 200 characters of a reply, for messages.
fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}
