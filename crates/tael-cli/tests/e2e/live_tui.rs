//! `tael live` driven as a person would: the real binary in a tmux pane
//! of 80×24 (a private tmux server, no user config, `escape-time 0`),
//! keys sent with `send-keys`, the screen read with `capture-pane`,
//! against a seeded server. Each step waits for concrete text on screen.

use crate::fixtures::*;
use crate::support::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use std::process::Command;
use std::time::{Duration, Instant};

const MS: u64 = 1_000_000;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux (apt-get install tmux)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    #[track_caller]
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} never appeared; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    fn literal(&self, text: &str) {
        assert!(self
            .cmd(&["send-keys", "-t", "t", "-l", text])
            .status
            .success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.cmd(&["kill-server"]);
    }
}

fn order(start: u64, n: u32, slow_db: bool) -> Vec<Span> {
    let tid = trace_id(0x7e, n);
    let s = |id: u32, parent: Option<u32>, name: &str, from: u64, to: u64, err: bool| Span {
        trace_id: tid.clone(),
        span_id: span_id(0x7e, n * 10 + id),
        parent_span_id: parent
            .map(|p| span_id(0x7e, n * 10 + p))
            .unwrap_or_default(),
        name: name.into(),
        kind: 2,
        start_time_unix_nano: start + from * MS,
        end_time_unix_nano: start + to * MS,
        status: Some(Status {
            code: if err { 2 } else { 0 },
            message: String::new(),
        }),
        attributes: vec![kv("order.id", V::IntValue(n as i64))],
        ..Default::default()
    };
    let db_end = if slow_db { 180 } else { 40 };
    let mut chat = s(4, Some(1), "chat gpt-4o", 10, 30, false);
    chat.attributes = vec![
        kv("gen_ai.operation.name", V::StringValue("chat".into())),
        kv("gen_ai.provider.name", V::StringValue("openai".into())),
        kv("gen_ai.request.model", V::StringValue("gpt-4o".into())),
        kv(
            "gen_ai.input.messages",
            V::StringValue(format!(
                "[{{\"role\":\"user\",\"content\":\"REFUND-POLICY-QUESTION {}\"}}]",
                "please ".repeat(300)
            )),
        ),
    ];
    vec![
        s(1, None, "POST /orders", 0, 200, slow_db),
        s(2, Some(1), "reserve stock", 5, 60, false),
        s(3, Some(1), "SELECT stock", 60, db_end, slow_db),
        chat,
    ]
}

#[test]
fn live_tui_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let start = now_ns() - 60_000 * MS;
    let first = order(start, 1, true);
    let trace = hex::encode(&first[0].trace_id);
    assert_eq!(
        grpc_traces(&server.grpc, service_traces("shop", first), false).unwrap(),
        0
    );
    assert!(eventually(Duration::from_secs(10), || {
        server.get(&format!("/api/v1/traces/{trace}")).0 == 200
    }));

    let tmux = Tmux {
        socket: format!("tael-live-{}", std::process::id()),
    };
    let bin = env!("CARGO_BIN_EXE_tael");
    // The exit status is written to a file: tmux's own pane status is
    // not always collected by the time the pane reads as dead.
    let status_file = dir.path().join("live-exit");
    let command = format!(
        "env TERM=xterm-256color {bin} live --server {}; echo $? > {}; sleep 30",
        server.rest,
        status_file.display()
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "80",
        "-y",
        "24",
        &command,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmux.cmd(&["set-option", "-s", "escape-time", "0"]);

    // The feed starts with what is stored, and the live stream adds to it.
    let screen = tmux.wait_for("1:Traces");
    assert!(screen.contains("Space pause"), "keys on screen:\n{screen}");
    tmux.wait_for("POST /orders");
    tmux.wait_for("live");
    let mut second = order(start + 1000 * MS, 2, false);
    second[0].name = "POST /returns".into();
    assert_eq!(
        grpc_traces(&server.grpc, service_traces("shop", second), false).unwrap(),
        0
    );
    tmux.wait_for("POST /returns");

    // The filter narrows the feed; Enter opens the selected span's trace.
    tmux.keys(&["/"]);
    tmux.literal("POST /orders");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("matching");
    assert!(!screen.contains("POST /returns"), "{screen}");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("critical path");
    assert!(screen.contains(&trace), "{screen}");
    // The waterfall: the root first, its children under it by start time,
    // the slow SELECT on the critical path and marked as an error.
    let rows: Vec<&str> = screen.lines().collect();
    let row = |op: &str| rows.iter().position(|l| l.contains(op)).unwrap();
    assert!(row("POST /orders") < row("reserve stock"));
    assert!(row("chat gpt-4o") < row("SELECT stock"), "{screen}");
    assert!(rows[row("SELECT stock")].starts_with("*!"), "{screen}");
    assert!(rows[row("reserve stock")].starts_with("* "), "{screen}");
    assert!(rows[row("chat gpt-4o")].starts_with("  "), "{screen}");
    let bar_start = |l: &str| l.chars().position(|c| c == '█').unwrap();
    assert!(bar_start(rows[row("SELECT stock")]) > bar_start(rows[row("reserve stock")]));

    // The LLM span's details and its payload from the blob store.
    tmux.keys(&["j", "j"]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("payload 1: input");
    assert!(screen.contains("gpt-4o"), "{screen}");
    tmux.keys(&["v"]);
    tmux.wait_for("REFUND-POLICY-QUESTION");
    tmux.keys(&["Escape"]);
    tmux.wait_for("attributes");

    // A comment from the span screen is stored on the server.
    tmux.keys(&["c"]);
    tmux.wait_for("comment:");
    tmux.literal("prompt too long");
    tmux.keys(&["Enter"]);
    tmux.wait_for("comment added");
    let (st, v) = server.get(&format!("/api/v1/traces/{trace}/comments"));
    assert_eq!(st, 200);
    assert_eq!(v["comments"][0]["body"], "prompt too long");
    assert_eq!(v["comments"][0]["span_id"], hex::encode(span_id(0x7e, 14)));

    // Back out, the services view, and a resize that still draws.
    tmux.keys(&["Escape"]);
    tmux.wait_for("critical path");
    tmux.keys(&["Escape"]);
    tmux.wait_for("1:Traces");
    tmux.keys(&["2"]);
    let screen = tmux.wait_for("Error Rate");
    assert!(screen.contains("shop"), "{screen}");
    tmux.cmd(&["resize-window", "-t", "t", "-x", "120", "-y", "40"]);
    tmux.wait_for("Error Rate");
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let written = std::fs::read_to_string(&status_file)
            .ok()
            .filter(|c| c.ends_with('\n'));
        if let Some(code) = written {
            assert_eq!(code.trim(), "0", "tael live exited with {code}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tael live did not exit after q:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
