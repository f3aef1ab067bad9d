//! The README's commands as a reader runs them: every `tael …` line of
//! its sh blocks through bash, with the built binary on PATH, against a
//! server seeded with the incident (the README's example trace id stands
//! for the incident's failing trace). Lines that need something else
//! running are left to their own tests: `serve` (every test starts one),
//! `cluster` (tests/cluster), `live` (the tmux test), `bench` (load runs),
//! `skill` (the skill test, which writes into a skills directory).

use crate::incident;
use crate::skill::{commands, run_line};
use crate::support::*;

const EXAMPLE_TRACE: &str = "5b8efff798038103d269b633813fc60c";

#[test]
fn the_readmes_commands_run_against_a_live_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    let inc = incident::seed(&s.grpc);
    let md = std::fs::read_to_string(format!("{}/../../README.md", package_dir())).unwrap();
    let elsewhere = ["serve", "cluster", "live", "bench", "skill", "mcp"];
    let cmds: Vec<String> = commands(&md)
        .into_iter()
        .filter(|c| {
            let sub = c.split_whitespace().nth(1).unwrap_or_default();
            !elsewhere.contains(&sub)
        })
        .collect();
    assert!(cmds.len() >= 25, "{cmds:?}");
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    for (i, cmd) in cmds.iter().enumerate() {
        let line = cmd.replace(EXAMPLE_TRACE, &inc.error_trace);
        run_line(&s, &line, &path, 100 + i);
    }
    s.stop();
}
