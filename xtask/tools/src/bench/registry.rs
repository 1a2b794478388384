//! The bench's and the tests' container registry on 127.0.0.1 (Debian's docker-registry), behind
//! a proxy that counts the bytes clients send it: what a publish uploads.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    process::Command,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use anyhow::{ensure, Result};

use super::nginx::Server;

/// A running registry behind its byte-counting proxy; stopped when dropped.
pub struct Registry {
    _server: Server,
    /// `127.0.0.1:PORT` of the proxy: where images are pushed.
    pub host: String,
    sent: Arc<AtomicU64>,
}

impl Registry {
    /// Starts a registry that stores under `dir`, and the proxy in front of it; fails when it does not listen.
    pub fn start(dir: &Path) -> Result<Registry> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let config = dir.join("registry.yml");
        std::fs::create_dir_all(dir)?;
        let yaml = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("storage").display()
        );
        std::fs::write(&config, yaml)?;
        let server = Server::start(
            Command::new("docker-registry").arg("serve").arg(&config),
            "cannot start docker-registry: install it (`apt-get install docker-registry`)",
        )?;
        ensure!(server.listens(port), "the registry did not listen on {port}");
        let (host, sent) = counting_proxy(port)?;
        Ok(Registry { _server: server, host, sent })
    }

    /// Bytes clients sent the registry so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

/// A TCP proxy on 127.0.0.1 to `port`: its address, and the bytes clients sent through it.
fn counting_proxy(port: u16) -> Result<(String, Arc<AtomicU64>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let host = format!("127.0.0.1:{}", listener.local_addr()?.port());
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else { continue };
            let (Ok(mut upload_from), Ok(mut upload_to)) = (client.try_clone(), server.try_clone()) else { continue };
            let (mut download_from, mut download_to) = (server, client);
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = [0; 65536];
                while let Ok(n) = upload_from.read(&mut buf) {
                    if n == 0 || upload_to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    counter.fetch_add(n as u64, Ordering::SeqCst);
                }
                let _ = upload_to.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut download_from, &mut download_to);
                let _ = download_to.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    Ok((host, sent))
}
