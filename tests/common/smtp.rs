//! A real SMTP server for the mail tests (aiosmtpd, run from `tests/support/smtp_sink.py`), the
//! messages it saved read back, and a server that accepts connections and never says a word.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The aiosmtpd sink as a child process on a loopback port, saving each message it accepts as
/// `<dir>/<n>.eml`. Killed when dropped.
pub struct SmtpSink {
    child: Option<Child>,
    port: u16,
    auth: Option<String>,
    root: tempfile::TempDir,
}

/// One message as the sink saved it, its headers unfolded and decoded (RFC 2047) and its body
/// decoded (quoted-printable or base64) to text with `\n` line ends.
#[derive(Clone, Debug)]
pub struct Received {
    /// The file's number: the order the sink accepted messages in.
    pub number: u64,
    /// The envelope's sender (`MAIL FROM`).
    pub envelope_from: String,
    /// The envelope's recipients (`RCPT TO`).
    pub envelope_to: Vec<String>,
    /// The `From` header, decoded.
    pub from: String,
    /// The display name of the `To` header, decoded and unquoted.
    pub to_name: String,
    /// The address of the `To` header.
    pub to_address: String,
    /// The `Subject` header, decoded.
    pub subject: String,
    /// The `Message-ID` header.
    pub message_id: String,
    /// Every header, in order, unfolded and decoded.
    pub headers: Vec<(String, String)>,
    /// The body, decoded.
    pub body: String,
    /// The message as received.
    pub raw: String,
}

impl Received {
    /// The first `/c/…` or `/w/…` link (`kind` is `c` or `w`) to `base` in the body.
    pub fn link(&self, base: &str, kind: &str) -> String {
        let start =
            self.body.find(&format!("{base}/{kind}/")).unwrap_or_else(|| panic!("no /{kind}/ link in {}", self.body));
        self.body[start..].split_whitespace().next().unwrap().to_string()
    }

    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Panics with instructions unless aiosmtpd can be imported: a missing server is a failure, never
/// a skipped test.
fn require_aiosmtpd() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let ok = Command::new("python3")
            .args(["-c", "import aiosmtpd.smtp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "aiosmtpd is missing: run scripts/setup (python3 -m pip install aiosmtpd)");
    });
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl SmtpSink {
    /// A sink on a free port, in a fresh directory, accepting connections when this returns.
    pub fn start() -> SmtpSink {
        SmtpSink::launch(None)
    }

    /// A sink that makes every client sign in as `user` with `password` first.
    pub fn start_with_auth(user: &str, password: &str) -> SmtpSink {
        SmtpSink::launch(Some(format!("{user}:{password}")))
    }

    fn launch(auth: Option<String>) -> SmtpSink {
        require_aiosmtpd();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("messages")).unwrap();
        let mut sink = SmtpSink { child: None, port: free_port(), auth, root };
        sink.spawn();
        sink
    }

    fn spawn(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let log = std::fs::File::create(self.root.path().join("sink.log")).unwrap();
        let mut command = Command::new("python3");
        command.arg(script).arg("--port").arg(self.port.to_string()).arg("--dir").arg(self.dir());
        if let Some(auth) = &self.auth {
            command.arg("--auth").arg(auth);
        }
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().expect("python3 runs");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(self.root.path().join("sink.log")).unwrap_or_default();
                panic!("the SMTP sink exited ({status}) on port {}; run scripts/setup\n{log}", self.port);
            }
            assert!(Instant::now() < deadline, "the SMTP sink did not listen on port {} in 15 s", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`: plain SMTP, allowed to loopback.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The directory the messages are saved in.
    pub fn dir(&self) -> PathBuf {
        self.root.path().join("messages")
    }

    /// Every message saved so far, in the order they were accepted.
    pub fn messages(&self) -> Vec<Received> {
        let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(self.dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let number = name.strip_suffix(".eml")?.parse().ok()?;
                Some((number, entry.path()))
            })
            .collect();
        found.sort();
        found.into_iter().map(|(number, path)| parse(number, &std::fs::read(path).unwrap())).collect()
    }

    /// The messages once there are at least `count`, or whatever there is after `wait`.
    pub fn wait_for(&self, count: usize, wait: Duration) -> Vec<Received> {
        let deadline = Instant::now() + wait;
        loop {
            let messages = self.messages();
            if messages.len() >= count || Instant::now() >= deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Kills the server: its port refuses connections until [`SmtpSink::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, saving into the same directory (numbering goes
    /// on after the last message).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP listener on loopback that accepts every connection and never sends a byte: an SMTP server
/// that hangs before its greeting.
pub struct HangingSmtp {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HangingSmtp {
    /// Starts listening on a free port.
    pub fn start() -> HangingSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            // Held open, unread and unanswered, until the listener stops.
            let mut held = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        HangingSmtp { port, stop, thread: Some(thread) }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }
}

impl Drop for HangingSmtp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads a saved message.
fn parse(number: u64, bytes: &[u8]) -> Received {
    let raw = String::from_utf8_lossy(bytes).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").or_else(|| raw.split_once("\n\n")).unwrap_or((&raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let headers: Vec<(String, String)> = headers.into_iter().map(|(n, v)| (n, decode_words(&v))).collect();
    let get = |name: &str| {
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).unwrap_or_default()
    };
    let encoding = get("Content-Transfer-Encoding").to_ascii_lowercase();
    let decoded = match encoding.as_str() {
        "quoted-printable" => quoted_printable(body.as_bytes()),
        "base64" => base64(body).expect("a base64 body"),
        _ => body.as_bytes().to_vec(),
    };
    let body = String::from_utf8(decoded).expect("a UTF-8 body").replace("\r\n", "\n");
    let to = get("To");
    let (to_name, to_address) = match to.rfind('<') {
        Some(at) => (unquote(to[..at].trim()), to[at + 1..].trim_end_matches('>').to_string()),
        None => (String::new(), to.clone()),
    };
    Received {
        number,
        envelope_from: get("X-Sink-Mail-From"),
        envelope_to: get("X-Sink-Rcpt-To").split(", ").filter(|a| !a.is_empty()).map(String::from).collect(),
        from: get("From"),
        to_name,
        to_address,
        subject: get("Subject"),
        message_id: get("Message-ID"),
        body,
        headers,
        raw,
    }
}

/// `"Smith, \"Jo\""` → `Smith, "Jo"`; an unquoted name as it is.
pub fn unquote(name: &str) -> String {
    let Some(inner) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) else {
        return name.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().unwrap_or('\\') } else { c });
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`); the white space between two
/// adjacent words is dropped, and their bytes are joined before being read as UTF-8 (a character
/// may be split across them).
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut rest = value;
    loop {
        let Some(at) = rest.find("=?") else {
            flush(&mut pending, &mut out);
            out.push_str(rest);
            return out;
        };
        let (before, word) = rest.split_at(at);
        match encoded_word(word) {
            Some((bytes, length)) => {
                // Only white space between two encoded words is dropped.
                let between_words = before.trim().is_empty() && !pending.is_empty();
                if !between_words {
                    flush(&mut pending, &mut out);
                    out.push_str(before);
                }
                pending.extend(bytes);
                rest = &word[length..];
            }
            None => {
                flush(&mut pending, &mut out);
                out.push_str(before);
                out.push_str("=?");
                rest = &word[2..];
            }
        }
    }
}

fn flush(pending: &mut Vec<u8>, out: &mut String) {
    if !pending.is_empty() {
        out.push_str(&String::from_utf8(std::mem::take(pending)).expect("UTF-8 in encoded words"));
    }
}

/// One encoded word at the start of `text`: its bytes and its length.
fn encoded_word(text: &str) -> Option<(Vec<u8>, usize)> {
    let inner = text.strip_prefix("=?")?;
    let (_charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let payload = &rest[..end];
    let bytes = match encoding {
        "B" | "b" => base64(payload)?,
        "Q" | "q" => quoted_printable(payload.replace('_', " ").as_bytes()),
        _ => return None,
    };
    let length = text.len() - rest.len() + end + 2;
    Some((bytes, length))
}

/// Quoted-printable: `=XX` is a byte, `=` at a line's end joins it to the next.
pub fn quoted_printable(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'=' {
            if text[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if text[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            let hex = std::str::from_utf8(&text[i + 1..(i + 3).min(text.len())]).ok();
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// Standard base64, white space ignored.
pub fn base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n: u32 = 0;
        for (k, &c) in chunk.iter().enumerate() {
            n |= u32::from(value(c)?) << (18 - 6 * k);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// Settings that deliver to `sink`, with each SMTP step bounded by `timeout`.
pub fn settings(sink: &SmtpSink, timeout: Duration) -> consentgate::config::SmtpSettings {
    consentgate::config::SmtpSettings::new(&sink.url(), "Northfield Training <photos@northfield.example>", timeout)
        .expect("loopback SMTP settings are valid")
}
