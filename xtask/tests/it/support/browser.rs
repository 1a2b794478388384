//! A real browser for the tests: Debian's Chromium, headless, driven by its chromedriver over the
//! WebDriver protocol. It opens a page, answers script queries about what the page shows, and
//! tells what the page logged (console errors) and which requests it made.

use std::{
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::temp_dir;

/// A Chromium session, closed (and its driver stopped) when dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
}

/// The flags a headless Chromium needs here (no sandbox as root, no background network: this
/// machine has none, and the tests count requests).
pub const FLAGS: [&str; 8] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

impl Browser {
    pub fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let base = format!("http://127.0.0.1:{port}");
        let profile = temp_dir("chromium-profile");
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.extend([format!("--user-data-dir={}", profile.display()), "--window-size=1200,900".into()]);
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
            "goog:loggingPrefs": { "browser": "ALL", "performance": "ALL" },
        } } });
        let mut browser = Browser { driver, base, session: String::new() };
        let created = browser.call("POST", "/session", capabilities);
        browser.session = created["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_owned();
        browser
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let response = match method {
            "POST" => ureq::post(&url).header("content-type", "application/json").send(body.to_string()),
            _ => ureq::delete(&url).call(),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let text = response.body_mut().read_to_string().unwrap();
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"));
        value["value"].clone()
    }

    fn session(&self, path: &str, body: Value) -> Value {
        self.call("POST", &format!("/session/{}{path}", self.session), body)
    }

    /// Opens a page and waits for it to load.
    pub fn open(&self, page: &Path) {
        self.session("/url", json!({ "url": format!("file://{}", page.display()) }));
    }

    /// What a script returns on the page (`return …`).
    pub fn eval(&self, script: &str) -> Value {
        self.session("/execute/sync", json!({ "script": script, "args": [] }))
    }

    /// The console messages of the page at `level` (`SEVERE` for errors).
    pub fn console(&self, level: &str) -> Vec<String> {
        let entries = self.session("/se/log", json!({ "type": "browser" }));
        let entries = entries.as_array().cloned().unwrap_or_default();
        entries.iter().filter(|e| e["level"] == level).map(|e| e["message"].to_string()).collect()
    }

    /// Every URL the page at `page` requested (the page itself included).
    pub fn requests(&self, page: &Path) -> Vec<String> {
        let document = format!("file://{}", page.display());
        let entries = self.session("/se/log", json!({ "type": "performance" }));
        let mut urls = Vec::new();
        for entry in entries.as_array().into_iter().flatten() {
            let message: Value = serde_json::from_str(entry["message"].as_str().unwrap_or("{}")).unwrap_or_default();
            let message = &message["message"];
            if message["method"] == "Network.requestWillBeSent" && message["params"]["documentURL"] == document.as_str()
            {
                urls.push(message["params"]["request"]["url"].as_str().unwrap_or_default().to_owned());
            }
        }
        urls
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A screenshot of a page as a person would see it (the whole page, 1200 pixels wide).
pub fn screenshot(page: &Path, png: &Path, height: u32) {
    let profile = temp_dir("chromium-shot");
    std::fs::create_dir_all(png.parent().unwrap()).unwrap();
    let out = super::run(
        Command::new("chromium")
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size=1200,{height}"))
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!("file://{}", page.display())),
    );
    assert!(png.is_file(), "chromium wrote no screenshot:\n{}", out.stderr);
}
