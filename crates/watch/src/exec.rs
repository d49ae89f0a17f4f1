//! `--exec CMD`: a command per alert, run by `sh -c`, with the alert's JSON on its standard
//! input. Commands run alongside the watch; finished ones are reaped as new ones start, and at
//! most [`MAX_RUNNING`] run at once (the oldest is waited for beyond that), so a burst of
//! alerts cannot fork without bound.

use std::io::Write;
use std::process::{Child, Command, Stdio};

/// Commands running at once at most.
pub const MAX_RUNNING: usize = 32;

/// Runs the alert command.
pub struct Exec {
    command: String,
    running: Vec<Child>,
}

impl Exec {
    /// `command` is given to `sh -c` for each alert.
    pub fn new(command: String) -> Self {
        Exec {
            command,
            running: Vec::new(),
        }
    }

    /// Starts the command with `json` (and a newline) on its standard input.
    pub fn run(&mut self, json: &str) -> std::io::Result<()> {
        self.running
            .retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        if self.running.len() >= MAX_RUNNING {
            let mut oldest = self.running.remove(0);
            let _ = oldest.wait();
        }
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its input is no error.
            let _ = stdin
                .write_all(json.as_bytes())
                .and_then(|()| stdin.write_all(b"\n"));
        }
        self.running.push(child);
        Ok(())
    }

    /// Waits for every command started.
    pub fn wait_all(&mut self) {
        for mut c in self.running.drain(..) {
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_alert_reaches_the_command_on_its_input() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("got");
        let mut exec = Exec::new(format!("cat >> {}", out.display()));
        exec.run(r#"{"kind":"a"}"#).unwrap();
        exec.wait_all();
        exec.run(r#"{"kind":"b"}"#).unwrap();
        exec.wait_all();
        let got = std::fs::read_to_string(&out).unwrap();
        assert_eq!(got, "{\"kind\":\"a\"}\n{\"kind\":\"b\"}\n");
    }
}
