//! A real SMTP server on loopback for the tests: `tests/support/smtp_sink.py`
//! (Python's aiosmtpd), run as a child process that writes every message it
//! receives as a JSON file. Stopping it and starting it again on the same
//! port stands for a mail server that goes down and comes back.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// A running SMTP sink and the messages it received.
pub struct Mailbox {
    child: Option<Child>,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    dir: TempDir,
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope recipients.
    pub to: Vec<String>,
    /// The `From` header.
    pub from: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

fn spawn(dir: &Path, port: u16) -> (Child, u16) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(dir)
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs tests/support/smtp_sink.py (pip install aiosmtpd)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the SMTP sink did not start: {line:?}"))
        .parse()
        .unwrap();
    (child, port)
}

impl Mailbox {
    /// A sink on a free port.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (child, port) = spawn(dir.path(), 0);
        Self {
            child: Some(child),
            port,
            dir,
        }
    }

    /// `smtp://127.0.0.1:<port>`, for `smtp_url`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops the server (connections are refused from now on); what it
    /// received stays readable.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (child, port) = spawn(self.dir.path(), self.port);
            if port == self.port {
                self.child = Some(child);
                return;
            }
            assert!(Instant::now() < deadline, "the SMTP port did not come free");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every message received so far, oldest first.
    pub fn all(&self) -> Vec<Mail> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        paths.sort();
        let mut mail = Vec::new();
        for path in paths {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let field = |k: &str| record[k].as_str().unwrap_or_default().to_owned();
            mail.push(Mail {
                to: record["rcpt_tos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect(),
                from: field("from"),
                subject: field("subject"),
                text: field("text"),
                html: field("html"),
            });
        }
        mail
    }

    /// The messages to `to` so far.
    pub fn to(&self, to: &str) -> Vec<Mail> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|r| r == to))
            .collect()
    }

    /// Waits (up to 20 s) until `to` has received `count` messages whose
    /// subject contains `subject`; returns them.
    pub async fn wait_for(&self, to: &str, subject: &str, count: usize) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found: Vec<Mail> = self
                .to(to)
                .into_iter()
                .filter(|m| m.subject.contains(subject))
                .collect();
            if found.len() >= count {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{to} received {} of {count} messages about {subject:?}; all: {:?}",
                found.len(),
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The first link in `text` that contains `path`.
pub fn link(text: &str, path: &str) -> String {
    text.split_whitespace()
        .find(|word| word.starts_with("http") && word.contains(path))
        .unwrap_or_else(|| panic!("no link to {path} in {text:?}"))
        .to_owned()
}
