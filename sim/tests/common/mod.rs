//! A minimal SDK-link client and HTTP client over std sockets, for driving the simulator.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bolink_sim::{Park, SimConfig, sign};
use serde_json::{Value, json};

pub const UNION_ID: &str = "200208";
pub const PARK_ID: &str = "21835";
pub const UKEY: &str = "8403A41ED5EF20BC";
pub const CKEY: &str = "C0FFEE0123456789";

/// The test park (with a ckey for legacy-mode cloud logins) and otherwise default settings.
pub fn config() -> SimConfig {
    SimConfig {
        parks: vec![Park::new(UNION_ID, PARK_ID, UKEY).with_ckey(CKEY)],
        ..SimConfig::default()
    }
}

/// What the simulator sent next.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Message(Value),
    Heartbeat,
    /// The simulator closed the connection.
    Closed,
    /// Nothing arrived within the read timeout.
    Silent,
}

/// One TCP connection to a simulator listener.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pub token: String,
    pub key: String,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        Client {
            reader: BufReader::new(stream),
            writer,
            token: String::new(),
            key: UKEY.into(),
        }
    }

    /// Connects and logs in; panics unless the login succeeds.
    pub fn logged_in(port: u16, data: Value, key: &str) -> Client {
        let mut client = Client::connect(port);
        let answer = client.login(data, key);
        assert_eq!(answer["state"], 1, "login refused: {answer}");
        client
    }

    /// Sends a login signed with `key` and returns the answer; keeps the token.
    pub fn login(&mut self, data: Value, key: &str) -> Value {
        let sign = sign(&data, key);
        self.send_line(&json!({"service_name":"login","sign":sign,"data":data}).to_string());
        let answer = self.expect_message();
        if let Some(token) = answer["token"].as_str() {
            self.token = token.to_owned();
            self.key = key.to_owned();
        }
        answer
    }

    /// Sends a message with this session's token and key.
    pub fn send(&mut self, service_name: &str, data: &Value) {
        let sign = sign(data, &self.key);
        let message =
            json!({"service_name":service_name,"sign":sign,"token":self.token,"data":data});
        self.send_line(&message.to_string());
    }

    /// Sends a message and returns its answer.
    pub fn call(&mut self, service_name: &str, data: &Value) -> Value {
        self.send(service_name, data);
        self.expect_message()
    }

    pub fn send_line(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.writer.set_read_timeout(Some(timeout)).unwrap();
    }

    /// Reads one downstream frame: `\n` + JSON + `\r`, or the heartbeat answer `0x12 \n`.
    pub fn read_frame(&mut self) -> Frame {
        let mut frame = Vec::new();
        loop {
            let mut byte = [0u8; 1];
            match self.reader.read(&mut byte) {
                Ok(0) => return Frame::Closed,
                Ok(_) => {}
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Frame::Silent;
                }
                Err(_) => return Frame::Closed,
            }
            match byte[0] {
                b'\n' if frame.is_empty() => continue,
                0x12 if frame.is_empty() => {
                    let mut end = Vec::new();
                    self.reader.read_until(b'\n', &mut end).unwrap();
                    return Frame::Heartbeat;
                }
                b'\r' => {
                    let text = String::from_utf8(frame).expect("UTF-8 downstream");
                    return Frame::Message(serde_json::from_str(&text).expect("JSON downstream"));
                }
                other => frame.push(other),
            }
        }
    }

    pub fn expect_message(&mut self) -> Value {
        match self.read_frame() {
            Frame::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// The answer of one HTTP/1.1 request.
pub struct HttpAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

/// Sends one request with `Connection: close` and reads the whole answer.
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> HttpAnswer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect http");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();

    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default()
    };
    assert!(
        !header("transfer-encoding").contains("chunked"),
        "chunked answers are not read"
    );
    HttpAnswer {
        status,
        content_type: header("content-type"),
        body: answer[split + 4..].to_vec(),
    }
}

/// A 4.x-style login `data` for the test park.
pub fn login_data(local_id: &str) -> Value {
    json!({"union_id":UNION_ID,"park_id":PARK_ID,"local_id":local_id})
}

/// A minimal entry for `order_id`.
pub fn entry(order_id: &str) -> Value {
    json!({
        "car_number": "京A12345",
        "in_time": 1700000000,
        "car_type": "小车",
        "c_type": "通道扫牌",
        "uid": "100",
        "order_id": order_id,
        "empty_plot": 20,
        "in_channel_id": "A1",
        "park_id": PARK_ID,
    })
}
