//! The skill against a live server: `tael skill install --path` writes
//! it, and every `tael …` line of the installed SKILL.md's sh blocks runs
//! through bash (with pipefail, so its `jq` must succeed too) against the
//! seeded incident, with TRACE_ID and SERVICE filled in. Each must exit 0
//! with an answer that is not empty or null; `tail` and `watch` lines run
//! while new failing orders arrive, and must stop on their own.

use crate::incident;
use crate::support::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `tael …` lines of the sh code blocks.
pub fn commands(md: &str) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in md.lines() {
        match line.trim() {
            "```sh" => inside = true,
            "```" => inside = false,
            l if inside && l.starts_with("tael ") => out.push(l.to_string()),
            _ => {}
        }
    }
    out
}

#[test]
fn every_command_of_the_skill_runs_against_a_live_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    let inc = incident::seed(&s.grpc);
    let skills = dir.path().join("skills");
    let skills = skills.to_str().unwrap();
    let v = cli_json(&["skill", "install", "--path", skills], &[]);
    assert_eq!(v["written"], true, "{v}");
    let v = cli_json(&["skill", "where", "--path", skills], &[]);
    assert_eq!(
        (v["installed"].as_bool(), v["current"].as_bool()),
        (Some(true), Some(true))
    );
    let md = std::fs::read_to_string(v["path"].as_str().unwrap()).unwrap();
    let (_, shown, _) = cli(&["skill", "show"], &[]);
    assert_eq!(shown, md);

    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let cmds = commands(&md);
    assert!(cmds.len() >= 20, "{cmds:?}");
    let mut outputs = Vec::new();
    for (i, cmd) in cmds.iter().enumerate() {
        let line = cmd
            .replace("TRACE_ID", &inc.error_trace)
            .replace("SERVICE", "inventory");
        let stdout = run_line(&s, &line, &path, i);
        outputs.push((cmd.clone(), stdout));
    }

    // The jq lines reach the incident's answers.
    let answer = |needle: &str| {
        &outputs
            .iter()
            .find(|(c, _)| c.contains(needle))
            .unwrap_or_else(|| panic!("no command with {needle}"))
            .1
    };
    assert!(
        answer("select(.status == \"error\")").contains(inc.root_cause_operation),
        "root cause: {}",
        answer("select(.status == \"error\")")
    );
    let edge: serde_json::Value = serde_json::from_str(answer("sort_by(-.error_rate)")).unwrap();
    assert_eq!(
        (edge["from"].as_str(), edge["to"].as_str()),
        (Some(inc.erroring_edge.0), Some(inc.erroring_edge.1)),
        "{edge}"
    );
    assert!(answer("anomalies[] |").contains(inc.slower_service));
    assert!(answer("--by model").contains(inc.costliest_model));
    assert!(answer("query logs --trace-id").contains(inc.failing_log));
    assert!(answer("refund policy").contains("refund policy"));
    s.stop();
}

/// Runs one documented command line through bash (pipefail) with the
/// built `tael` first on `path`, against server `s`; `tail` and `watch`
/// lines run while new failing orders arrive and must stop on their own.
/// It must exit 0; returns its stdout.
pub fn run_line(s: &Server, line: &str, path: &str, i: usize) -> String {
    let mut child = Command::new("bash")
        .args(["-o", "pipefail", "-c", line])
        .env("PATH", path)
        .env("TAEL_SERVER", &s.rest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read while it runs: an answer larger than a pipe's buffer would
    // otherwise block the command forever.
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let live = line.starts_with("tael tail") || line.starts_with("tael watch");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = 0;
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "{line}: still running after 60 s"
        );
        if live {
            std::thread::sleep(Duration::from_millis(300));
            incident::send_failing_order(&s.grpc, (i * 1000 + sent) as u32);
            sent += 1;
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let status = child.wait().unwrap();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        status.success(),
        "{line}: exit {:?}\n{stderr}",
        status.code()
    );
    let t = stdout.trim();
    assert!(
        !matches!(t, "" | "null" | "[]" | "{}"),
        "{line}: answered {t:?}"
    );
    stdout
}
