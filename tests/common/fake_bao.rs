//! A stand-in for an OpenBao node that answers as a test says — a hostile or broken one
//! (a 307 elsewhere, a proxy's page, an error quoting the request) that a real server
//! never is. It listens on a free loopback port, records what it was sent, and stops when
//! dropped (also when the test panics).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the node received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// With its query: `/v1/secret/data/app?list=true`.
    pub path: String,
    pub token: Option<String>,
    pub body: String,
}

/// What the node answers: a status, extra headers and a body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn redirect(location: &str) -> Reply {
        Reply {
            status: 307,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
        }
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

pub struct FakeNode {
    pub address: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Reads one HTTP/1.1 request off `stream`.
fn read_request(stream: &std::net::TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let (mut length, mut token) = (0, None);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line.trim().is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "x-vault-token" => token = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        token,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

impl FakeNode {
    /// A node on `host` (a loopback address: 127.0.0.1, 127.0.0.2) answering by `handler`.
    pub fn start_on(
        host: &str,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> FakeNode {
        let handler: Arc<Handler> = Arc::new(handler);
        let listener = TcpListener::bind((host, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let Some(request) = read_request(&stream) else {
                    continue;
                };
                let reply = handler(&request);
                seen.lock().unwrap().push(request);
                let mut head = format!(
                    "HTTP/1.1 {} Answer\r\nContent-Length: {}\r\nConnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (name, value) in &reply.headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&reply.body);
            }
        });
        FakeNode {
            address,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> FakeNode {
        FakeNode::start_on("127.0.0.1", handler)
    }

    /// What the node was sent so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `sys/internal/ui/mounts/...` answered as a KV mount `secret/` of `version`.
pub fn mount_answer(request: &Request, version: u8) -> Option<Reply> {
    request
        .path
        .starts_with("/v1/sys/internal/ui/mounts/")
        .then(|| {
            Reply::json(
                200,
                serde_json::json!({"data": {"path": "secret/", "type": "kv", "options": {"version": version.to_string()}}}),
            )
        })
}
