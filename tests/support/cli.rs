//! Running the `gumbel-lab` binary in the end-to-end tests (`tests/cli/`:
//! `end_to_end`, `bad_input`, `crash_resume`).

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for a line it expects or for a run that should end quickly
/// before it fails as a hang.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The `gumbel-lab` binary of this build.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gumbel-lab"))
}

/// An empty folder for test `tag`, unique to this test process (emptied if it exists).
pub fn fresh_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gumbel-cli-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// A finished process's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `gumbel-lab args`, killing it after `limit` (then the test fails: a hang).
pub fn run_with_limit(args: &[&str], limit: Duration) -> Output {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            let o = child.wait_with_output().unwrap();
            panic!(
                "gumbel-lab {args:?} still running after {limit:?} (stderr: {})",
                stderr(&o)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Sends `signal` (`"INT"`, `"TERM"`, `"KILL"`, ...) to process `pid` with kill(1);
/// whether it was delivered (the process may have ended already).
pub fn send_signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap()
        .success()
}

/// Starts `gumbel-lab args`, waits until a line of its stderr contains `marker` (at most
/// [`PATIENCE`]), sends `signal`, and returns the exit status and all of stderr.
pub fn run_and_signal(args: &[&str], marker: &str, signal: &str) -> (ExitStatus, String) {
    let mut child = bin()
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut text = String::new();
    let start = Instant::now();
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.contains(marker) {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "no '{marker}' in: {text}");
    }
    assert!(send_signal(child.id(), signal), "kill -{signal}: {text}");
    for line in lines {
        text.push_str(&line.unwrap());
        text.push('\n');
    }
    (child.wait().unwrap(), text)
}
