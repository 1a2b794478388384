//! The bench's and the tests' binary cache, served by nginx on 127.0.0.1: reads for anyone,
//! writes (WebDAV PUT and DELETE) with basic auth, every request in `access.log`.

use std::{
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{ensure, Context, Result};
use xtask::command::on_path;

/// A running nginx that serves a binary cache directory; stopped when dropped.
pub struct Nginx {
    _server: Server,
    /// `http://127.0.0.1:PORT`: the cache's URL.
    pub url: String,
    /// The served directory: what the cache holds.
    pub www: PathBuf,
    /// A netrc file with the write credentials (for Nix's `netrc-file` and curl).
    pub netrc: PathBuf,
}

impl Nginx {
    /// Serves `dir/www`, writes with `user` and `password`.
    pub fn start(dir: &Path, user: &str, password: &str) -> Result<Nginx> {
        Nginx::start_with(dir, user, password, "PUT DELETE")
    }

    /// The same, taking only the WebDAV methods `methods` (`PUT`: a cache that takes no DELETE).
    pub fn start_with(dir: &Path, user: &str, password: &str, methods: &str) -> Result<Nginx> {
        ensure!(
            on_path("nginx"),
            "a local cache needs nginx: install it (`apt-get install nginx-light`), then run this again"
        );
        let www = dir.join("www");
        std::fs::create_dir_all(&www).with_context(|| format!("cannot create {}", www.display()))?;
        std::fs::write(dir.join("htpasswd"), format!("{user}:{{PLAIN}}{password}\n"))?;
        let netrc = dir.join("netrc");
        std::fs::write(&netrc, format!("machine 127.0.0.1 login {user} password {password}\n"))?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(dir, &www, port, methods))?;
        let args = ["-p".as_ref(), dir.as_os_str(), "-c".as_ref(), conf.as_os_str()];
        let server = Server::start(Command::new("nginx").args(args), "cannot start nginx")?;
        ensure!(server.listens(port), "nginx did not listen on port {port}: see {}", dir.join("error.log").display());
        Ok(Nginx { _server: server, url: format!("http://127.0.0.1:{port}"), www, netrc })
    }

    /// Bytes the cache holds (compressed NARs and narinfos).
    pub fn bytes(&self) -> u64 {
        fn walk(dir: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        }
        walk(&self.www)
    }
}

/// A server's process, its output dropped; stopped when dropped.
pub(super) struct Server(Child);

impl Server {
    pub(super) fn start(command: &mut Command, cannot_start: &str) -> Result<Server> {
        Ok(Server(command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().context(cannot_start.to_owned())?))
    }

    /// Whether it listens on 127.0.0.1:`port` within 10 seconds.
    pub(super) fn listens(&self, port: u16) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(dir: &Path, www: &Path, port: u16, methods: &str) -> String {
    let dir = dir.display();
    format!(
        r#"user root;
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    client_max_body_size 0;
    server {{
        listen 127.0.0.1:{port};
        root {www};
        location / {{
            dav_methods {methods};
            create_full_put_path on;
            limit_except GET HEAD {{
                auth_basic "binary cache";
                auth_basic_user_file {dir}/htpasswd;
            }}
        }}
    }}
}}
"#,
        www = www.display()
    )
}
