//! A real SMTP server on loopback (mailin-embedded) for mail tests: records what it
//! accepts, refuses chosen recipients with 550, and answers scripted replies.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, PoisonError};

pub use mailin_embedded::Response;
use mailin_embedded::response::{NO_MAILBOX, OK};
use mailin_embedded::{Handler, Server};

/// One mail as the server received it (quoted-printable soft breaks undone).
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope recipients.
    pub to: Vec<String>,
    /// Headers and body.
    pub text: String,
}

impl ReceivedMail {
    /// The `Subject:` header, unfolded (a long subject continues on lines that start
    /// with white space, RFC 5322 §2.2.3).
    pub fn subject(&self) -> String {
        let mut lines = self
            .text
            .lines()
            .skip_while(|l| !l.starts_with("Subject: "));
        let Some(first) = lines.next() else {
            return String::new();
        };
        let mut subject = first.trim_start_matches("Subject: ").to_owned();
        for continued in lines.take_while(|l| l.starts_with([' ', '\t'])) {
            subject.push(' ');
            subject.push_str(continued.trim_start());
        }
        subject
    }
}

#[derive(Clone, Default)]
struct Sink {
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
    replies_to_rcpt: Arc<Mutex<VecDeque<Response>>>,
    replies_to_data: Arc<Mutex<VecDeque<Response>>>,
    refused: Arc<Vec<String>>,
    to: Vec<String>,
    data: Vec<u8>,
}

fn next(queue: &Mutex<VecDeque<Response>>) -> Option<Response> {
    queue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop_front()
}

impl Handler for Sink {
    fn rcpt(&mut self, to: &str) -> Response {
        if self.refused.iter().any(|r| r == to) {
            return NO_MAILBOX;
        }
        if let Some(reply) = next(&self.replies_to_rcpt) {
            return reply;
        }
        self.to.push(to.to_owned());
        OK
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        self.data.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let to = std::mem::take(&mut self.to);
        if let Some(reply) = next(&self.replies_to_data) {
            return reply;
        }
        let text = String::from_utf8_lossy(&self.data).replace("=\r\n", "");
        self.inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ReceivedMail { to, text });
        OK
    }
}

/// An SMTP server running in a background thread for the rest of the process.
pub struct TestSmtpServer {
    sink: Sink,
    port: u16,
}

impl TestSmtpServer {
    /// Starts on `127.0.0.1:port`, refusing `refused` recipients with 550.
    ///
    /// # Panics
    /// When the port cannot be bound.
    pub fn start(port: u16, refused: &[&str]) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the SMTP port");
        let sink = Sink {
            refused: Arc::new(refused.iter().map(|r| (*r).to_owned()).collect()),
            ..Sink::default()
        };
        let mut server = Server::new(sink.clone());
        server
            .with_name("test-smtp")
            .with_tcp_listener(listener)
            .with_num_threads(2);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { sink, port }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Answers the next `RCPT TO` with `reply` (e.g. a 451 greylisting refusal).
    pub fn reply_next_rcpt_with(&self, reply: Response) {
        self.sink
            .replies_to_rcpt
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(reply);
    }

    /// Answers the end of the next message body with `reply`.
    pub fn reply_next_data_with(&self, reply: Response) {
        self.sink
            .replies_to_data
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(reply);
    }

    /// Every mail accepted so far, in order.
    pub fn inbox(&self) -> Vec<ReceivedMail> {
        self.sink
            .inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A free loopback port (bound, read, released).
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
