//! `tael skill`: the Claude Code skill (`skill/SKILL.md` in this crate,
//! embedded at build time) and where it is installed. Skills live in a
//! skills directory as `<name>/SKILL.md`: personal ones under
//! `~/.claude/skills`, project ones under `./.claude/skills`; `--path`
//! names another agent's skills directory. The text is kept true by the
//! tests below (frontmatter rules, every `tael …` line parses) and by an
//! e2e test that runs every command it shows against a live server.

use crate::client::CliError;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The skill, as installed.
pub const SKILL_MD: &str = include_str!("../skill/SKILL.md");

/// The skill's name: its directory under a skills directory.
const SKILL_NAME: &str = "tael";

#[derive(Subcommand, Debug)]
pub enum SkillCmd {
    /// Write the skill (tael/SKILL.md) into ~/.claude/skills, or
    /// ./.claude/skills with --project; refuses to replace a different
    /// file without --force.
    Install {
        #[command(flatten)]
        place: Place,
        /// Replace an existing SKILL.md that differs.
        #[arg(long)]
        force: bool,
    },
    /// Where the skill goes (or is), and whether the installed one is current.
    Where {
        #[command(flatten)]
        place: Place,
    },
    /// Print the skill on stdout.
    Show,
}

/// Which skills directory.
#[derive(Args, Debug)]
pub struct Place {
    /// The project's skills directory (./.claude/skills) instead of the personal one.
    #[arg(long)]
    project: bool,
    /// Another skills directory (the skill goes to DIR/tael/SKILL.md).
    #[arg(long, value_name = "DIR", conflicts_with = "project")]
    path: Option<PathBuf>,
}

impl Place {
    /// The SKILL.md this place names (absolute when it comes from the
    /// current directory).
    fn file(&self) -> Result<PathBuf, CliError> {
        let skills = match (&self.path, self.project) {
            (Some(dir), _) => dir.clone(),
            (None, true) => std::env::current_dir()
                .map_err(|e| CliError::other(format!("current directory: {e}")))?
                .join(".claude/skills"),
            (None, false) => std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".claude/skills"))
                .ok_or_else(|| CliError::usage("HOME is not set: give --project or --path DIR"))?,
        };
        Ok(skills.join(SKILL_NAME).join("SKILL.md"))
    }
}

pub fn run(what: &SkillCmd) -> Result<Option<Value>, CliError> {
    match what {
        SkillCmd::Show => {
            print!("{SKILL_MD}");
            Ok(None)
        }
        SkillCmd::Where { place } => {
            let file = place.file()?;
            let installed = std::fs::read_to_string(&file).ok();
            Ok(Some(json!({
                "path": file,
                "installed": installed.is_some(),
                "current": installed.as_deref() == Some(SKILL_MD),
            })))
        }
        SkillCmd::Install { place, force } => install(&place.file()?, *force).map(Some),
    }
}

/// Writes SKILL_MD to `file` atomically (a temporary file beside it, then
/// a rename), creating its directories.
fn install(file: &Path, force: bool) -> Result<Value, CliError> {
    let io = |what: &str, e: std::io::Error| CliError::other(format!("{what}: {e}"));
    let existing = std::fs::read_to_string(file).ok();
    if existing.as_deref() == Some(SKILL_MD) {
        return Ok(json!({ "path": file, "written": false, "reason": "already current" }));
    }
    if existing.is_some() && !force {
        return Err(CliError::usage(format!(
            "{} exists and differs from this tael's skill: pass --force to replace it",
            file.display()
        )));
    }
    let dir = file
        .parent()
        .ok_or_else(|| CliError::other("the skill path has no directory"))?;
    std::fs::create_dir_all(dir).map_err(|e| io(&dir.display().to_string(), e))?;
    let tmp = dir.join(format!(".SKILL.md.{}.tmp", std::process::id()));
    std::fs::write(&tmp, SKILL_MD).map_err(|e| io(&tmp.display().to_string(), e))?;
    std::fs::rename(&tmp, file).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(&file.display().to_string(), e)
    })?;
    Ok(json!({
        "path": file,
        "written": true,
        "replaced": existing.is_some(),
        "bytes": SKILL_MD.len(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The frontmatter's `key: value` lines and the body after it.
    fn frontmatter(md: &str) -> (Vec<(&str, &str)>, &str) {
        let rest = md.strip_prefix("---\n").expect("starts with ---");
        let (head, body) = rest.split_once("\n---\n").expect("frontmatter ends");
        let keys = head
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(": ").expect("key: value");
                (k, v.trim())
            })
            .collect();
        (keys, body)
    }

    /// The `tael …` lines of the body's sh code blocks.
    fn commands(md: &str) -> Vec<&str> {
        let mut inside = false;
        let mut out = Vec::new();
        for line in md.lines() {
            match line.trim() {
                "```sh" => inside = true,
                "```" => inside = false,
                l if inside && l.starts_with("tael ") => out.push(l),
                _ => {}
            }
        }
        out
    }

    /// Shell words of a command up to its first unquoted `|`: single
    /// quotes literal, double quotes with backslash escapes.
    fn words(line: &str) -> Vec<String> {
        let (mut out, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match (quote, c) {
                (None, '|') => break,
                (None, ' ') => {
                    if any {
                        out.push(std::mem::take(&mut cur));
                    }
                    any = false;
                }
                (None, '\'' | '"') => (quote, any) = (Some(c), true),
                (Some(q), c) if c == q => quote = None,
                (Some('"'), '\\') => cur.extend(chars.next()),
                (_, c) => {
                    cur.push(c);
                    any = true;
                }
            }
        }
        assert!(quote.is_none(), "unclosed quote in {line}");
        if any {
            out.push(cur);
        }
        out
    }

    #[test]
    fn frontmatter_follows_the_agent_skills_rules() {
        let (keys, body) = frontmatter(SKILL_MD);
        let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["name", "description"]);
        let name = keys[0].1;
        assert_eq!(name, SKILL_NAME, "the name is the directory's");
        assert!(name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        let description = keys[1].1;
        assert!((1..=1024).contains(&description.len()));
        assert!(!description.contains(['<', '>']), "{description}");
        assert!(body.lines().count() < 500);
        // About 5k tokens at most (4 bytes a token is generous for English).
        assert!(body.len() < 20_000, "{} bytes", body.len());
    }

    #[test]
    fn every_command_the_skill_shows_parses() {
        let cmds = commands(SKILL_MD);
        assert!(cmds.len() >= 20, "{cmds:?}");
        for line in cmds {
            let argv = words(line);
            if let Err(e) = crate::Cli::try_parse_from(&argv) {
                panic!("{line}\n{argv:?}\n{e}");
            }
        }
    }

    #[test]
    fn words_follow_shell_quoting() {
        assert_eq!(
            words(r#"tael a 'b c' "d \"e\"" f|jq '.x | .y'"#),
            ["tael", "a", "b c", "d \"e\"", "f"]
        );
        assert_eq!(words("tael ''"), ["tael", ""]);
    }

    #[test]
    fn install_refuses_to_replace_a_different_file_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let place = Place {
            project: false,
            path: Some(dir.path().to_path_buf()),
        };
        let file = place.file().unwrap();
        assert_eq!(file, dir.path().join("tael/SKILL.md"));
        let v = install(&file, false).unwrap();
        assert_eq!(v["written"], true);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), SKILL_MD);
        assert_eq!(install(&file, false).unwrap()["written"], false);

        std::fs::write(&file, "my own notes").unwrap();
        let e = install(&file, false).unwrap_err();
        assert_eq!(e.code, crate::client::exit::USAGE);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "my own notes");
        let v = install(&file, true).unwrap();
        assert_eq!(
            (v["written"].clone(), v["replaced"].clone()),
            (json!(true), json!(true))
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), SKILL_MD);
        let left: Vec<_> = std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["SKILL.md"], "no temporary file left behind");
    }
}
