//! moto's S3 server on a free loopback port (from a venv of its own, made
//! when absent), and the bucket listing the tests read the store by.

use crate::support::free_port;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The moto version the tests run (PyPI `moto[server]`).
const MOTO: &str = "moto[server]==5.2.6";

pub struct Moto {
    child: Child,
    /// The venv's Python (its boto3 reads objects: moto refuses unsigned
    /// object reads).
    python: String,
    pub port: u16,
    http: reqwest::blocking::Client,
}

/// The venv of `TAEL_MOTO_VENV` (default `~/.cache/tael/moto-venv`), with
/// moto installed there when absent.
fn moto_venv() -> String {
    let venv = std::env::var("TAEL_MOTO_VENV")
        .unwrap_or_else(|_| format!("{}/.cache/tael/moto-venv", std::env::var("HOME").unwrap()));
    let bin = format!("{venv}/bin/moto_server");
    if !std::path::Path::new(&bin).exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv", &venv])
            .status()
            .unwrap()
            .success()
            && Command::new(format!("{venv}/bin/pip"))
                .args(["install", "-q", "--disable-pip-version-check", MOTO])
                .status()
                .unwrap()
                .success();
        assert!(
            ok,
            "cannot install {MOTO} into {venv} (python3-venv and PyPI needed)"
        );
    }
    venv
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let venv = moto_venv();
        let child = Command::new(format!("{venv}/bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server");
        let m = Moto {
            child,
            python: format!("{venv}/bin/python"),
            port,
            http: reqwest::blocking::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if m.http.get(m.url("/")).send().is_ok() {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto_server did not start");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn create_bucket(&self, bucket: &str) {
        let r = self
            .http
            .put(self.url(&format!("/{bucket}")))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    /// Every key under `prefix` in `bucket`, with its size, sorted.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![
                ("list-type", "2".to_string()),
                ("prefix", prefix.to_string()),
            ];
            if let Some(t) = &token {
                q.push(("continuation-token", t.clone()));
            }
            let body = self
                .http
                .get(self.url(&format!("/{bucket}")))
                .query(&q)
                .send()
                .unwrap()
                .text()
                .unwrap();
            for item in body.split("<Contents>").skip(1) {
                let key = between(item, "<Key>", "</Key>").unwrap();
                let size = between(item, "<Size>", "</Size>").unwrap();
                out.push((key.to_string(), size.parse().unwrap()));
            }
            token = between(&body, "<NextContinuationToken>", "</NextContinuationToken>")
                .map(String::from);
            if token.is_none() {
                break;
            }
        }
        out.sort();
        out
    }

    /// An object's bytes.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let script = "import boto3, sys\n\
            s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
                aws_access_key_id='testing', aws_secret_access_key='testing')\n\
            sys.stdout.buffer.write(s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])['Body'].read())\n";
        let out = Command::new(&self.python)
            .args(["-c", script, &self.url(""), bucket, key])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "get {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let from = s.find(open)? + open.len();
    let len = s[from..].find(close)?;
    Some(&s[from..from + len])
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
