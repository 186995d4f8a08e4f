//! A minimal HTTP/1.1 file server on 127.0.0.1 for the tests that need a real `http://`
//! repository: it can answer 404s and cut bodies short, and records what was asked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// How the test server answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Serve files under the root.
    Normal,
    /// Announce the full Content-Length, send half the body, close: for paths ending with this.
    Truncate(String),
}

/// A minimal HTTP/1.1 file server on 127.0.0.1 (one thread per connection, Connection: close).
pub struct Server {
    pub addr: SocketAddr,
    pub mode: Arc<Mutex<Mode>>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(root: &Path) -> Server {
        Server::on(TcpListener::bind("127.0.0.1:0").unwrap(), root)
    }

    pub fn on(listener: TcpListener, root: &Path) -> Server {
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(Mode::Normal));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (root, m, r) = (root.to_path_buf(), mode.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, m, r) = (root.clone(), m.clone(), r.clone());
                std::thread::spawn(move || handle(stream, &root, &m, &r));
            }
        });
        Server { addr, mode, requests }
    }

    /// `http://127.0.0.1:<port>/<path>` (no trailing slash: the client must add it).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn requested(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn handle(stream: TcpStream, root: &Path, mode: &Mutex<Mode>, requests: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    requests.lock().unwrap().push(path.clone());
    let mut stream = stream;
    let file = root.join(path.trim_start_matches('/'));
    let body = match std::fs::File::open(&file) {
        Ok(mut f) if file.is_file() => {
            let mut body = Vec::new();
            f.read_to_end(&mut body).unwrap();
            body
        }
        _ => {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
            );
            return;
        }
    };
    let header = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes());
    let truncate =
        matches!(&*mode.lock().unwrap(), Mode::Truncate(suffix) if path.ends_with(suffix.as_str()));
    let sent = if truncate {
        &body[..body.len() / 2]
    } else {
        &body[..]
    };
    let _ = stream.write_all(sent);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// For TLS fronts in tests: reads one HTTP request from the decrypted stream, sends it to the
/// plain upstream with `Connection: close`, writes the answer back.
pub fn forward_one<S: std::io::Read + std::io::Write>(client: &mut S, upstream: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let length: usize = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    client.read_exact(&mut body)?;
    let head: String = text
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let mut up = std::net::TcpStream::connect(upstream)?;
    up.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())?;
    up.write_all(&body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    client.write_all(&answer)?;
    client.flush()
}
