//! Hostile peers for the hardening tests (issue 14): an HTTP server on 127.0.0.1 that answers
//! chosen paths with an endless body, a trickle, or nothing at all (and serves files from a
//! directory otherwise), and a runner that keeps the agent under test from taking the machine
//! with it when it does not bound what it reads (an address-space ceiling and a watchdog).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How the server answers a path.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// `200 OK` without a length, then `head` and `unit` repeated until the client goes away.
    Endless { head: Vec<u8>, unit: Vec<u8> },
    /// The request is read, and never answered (the connection stays open).
    Hang,
    /// The file, with its full Content-Length, one byte every `every` (a stall when `every`
    /// is longer than the client waits).
    Trickle { every: Duration },
}

impl Behaviour {
    /// An endless JSON array, as a controller or XAPI gone wrong could send.
    pub fn endless_json() -> Behaviour {
        Behaviour::Endless {
            head: b"[".to_vec(),
            unit: br#"{"name": "node", "connection_status": "ONLINE", "props": {}},"#.repeat(64),
        }
    }

    /// Endless zero bytes, as a mirror gone wrong could send for a file.
    pub fn endless_zeros() -> Behaviour {
        Behaviour::Endless {
            head: Vec::new(),
            unit: vec![0; 64 * 1024],
        }
    }
}

/// The server: `rules` are (path suffix, behaviour), the first match wins; any other path is
/// the file under `root` (404 without a root or a file).
pub struct Hostile {
    pub addr: SocketAddr,
}

impl Hostile {
    pub fn start(root: Option<&Path>, rules: Vec<(String, Behaviour)>) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let root = root.map(Path::to_path_buf);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, rules) = (root.clone(), rules.clone());
                std::thread::spawn(move || handle(stream, root.as_deref(), &rules));
            }
        });
        Hostile { addr }
    }

    /// Every path answered with `behaviour`.
    pub fn everywhere(behaviour: Behaviour) -> Hostile {
        Hostile::start(None, vec![(String::new(), behaviour)])
    }

    /// `http://127.0.0.1:<port>` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn handle(stream: TcpStream, root: Option<&Path>, rules: &[(String, Behaviour)]) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
        line.clear();
    }
    // The request body (XAPI's calls are POSTs), so that closing does not reset the connection.
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut stream = stream;
    match rules.iter().find(|(suffix, _)| path.ends_with(suffix.as_str())) {
        Some((_, Behaviour::Endless { head, unit })) => {
            let header = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
            if stream.write_all(header.as_bytes()).is_err() || stream.write_all(head).is_err() {
                return;
            }
            while stream.write_all(unit).is_ok() {}
        }
        Some((_, Behaviour::Hang)) => {
            // Held until the client gives up and closes.
            let _ = reader.read_to_end(&mut Vec::new());
        }
        Some((_, Behaviour::Trickle { every })) => {
            let Some(bytes) = file(root, &path) else {
                return not_found(&mut stream);
            };
            let header = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len()
            );
            if stream.write_all(header.as_bytes()).is_err() {
                return;
            }
            for byte in bytes {
                std::thread::sleep(*every);
                if stream.write_all(&[byte]).is_err() {
                    return;
                }
            }
        }
        None => match file(root, &path) {
            Some(bytes) => {
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                );
                let _ = stream.write_all(header.as_bytes());
                let _ = stream.write_all(&bytes);
            }
            None => not_found(&mut stream),
        },
    }
}

fn file(root: Option<&Path>, path: &str) -> Option<Vec<u8>> {
    let file: PathBuf = root?.join(path.trim_start_matches('/'));
    file.is_file().then(|| std::fs::read(&file).ok()).flatten()
}

fn not_found(stream: &mut TcpStream) {
    let _ = stream
        .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
}

/// What a bounded run of the agent ended with.
pub struct Bounded {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The watchdog had to kill it.
    pub killed: bool,
}

impl Bounded {
    pub fn message(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The exit code, after checking the agent ended on its own.
    pub fn code(&self) -> i32 {
        assert!(
            !self.killed,
            "the agent was still running after {:?} and was killed: it does not bound what it waits for\n{}",
            self.elapsed,
            self.message()
        );
        self.code
            .unwrap_or_else(|| panic!("the agent died of a signal:\n{}", self.message()))
    }
}

/// The agent's address space: far above what it needs, far below what an unbounded read takes.
/// (`prlimit` takes bytes only.)
const ADDRESS_SPACE: u64 = 2 << 30;

/// Runs the agent with `args` under an address-space ceiling (`prlimit`), killed if it runs
/// longer than `watchdog`.
pub fn run_agent(args: &[&str], watchdog: Duration) -> Bounded {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new("prlimit")
        .arg(format!("--as={ADDRESS_SPACE}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_linstor-agent"))
        .args(args)
        .env_remove("LINSTOR_AGENT_ROOT")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("prlimit runs the agent");
    let started = Instant::now();
    let (status, killed) = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break (status, false);
        }
        if started.elapsed() > watchdog {
            let _ = child.kill();
            break (child.wait().expect("wait"), true);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Bounded {
        code: status.code(),
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        elapsed: started.elapsed(),
        killed,
    }
}
