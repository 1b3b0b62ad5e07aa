//! The run folder: who may write into it, and what a new run or a resume finds there.
//!
//! ```text
//! runs/grammar-20261205-031500/
//!   .lock                    held (an OS file lock) by the one process training this run
//!   config.json  metrics.csv  report.html
//!   checkpoint/  pretrained/ each with SHA256SUMS (see `train::checkpoint`)
//! ```
//!
//! - **One process per run.** [`RunDir`] takes an exclusive lock on `.lock` (`flock` on
//!   Unix, `LockFileEx` on Windows) and holds it until it is dropped, i.e. for the whole run.
//!   A second `train --out` or `train --resume` of the same folder gets an error naming the
//!   process that holds it. The OS releases the lock when the process dies, however it dies,
//!   so a crashed run never leaves a stale lock; the file itself stays (removing a lock file
//!   while others may open it would let two processes lock two different files).
//! - **A new run never overwrites anything.** It may start in a missing or empty folder. A
//!   folder holding a run with a checkpoint is refused (continue it with `--resume`); a run
//!   that was killed before its first checkpoint has nothing to continue, so a new run
//!   starts over in it. A non-empty folder that is not a run (the user's files) is refused.
//! - **Temporaries of dead processes are removed.** Files are written through
//!   `.NAME.tmp-PID` temporaries renamed into place (`train::checkpoint`). A process killed
//!   mid-write leaves one behind; whoever holds the lock next removes them all (while the
//!   lock is held no other process can be writing one), and puts back a `checkpoint.old`
//!   that a kill between the two renames of a checkpoint write left alone.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file's name inside a run folder.
pub const LOCK_FILE: &str = ".lock";

/// The files and folders a run writes, besides [`LOCK_FILE`] and temporaries.
const RUN_FILES: [&str; 6] = [
    "config.json",
    "metrics.csv",
    "report.html",
    "checkpoint",
    "checkpoint.old",
    "pretrained",
];

/// A run folder this process holds the lock of. Dropping it releases the lock.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    /// Held open for the lock's lifetime.
    _lock: File,
    /// Whether [`RunDir::create`] made the folder (so [`RunDir::abandon`] may remove it).
    created: bool,
}

/// What [`RunDir::create`] found in the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Nothing: a missing or empty folder.
    Empty,
    /// A run killed before its first checkpoint; its files were removed.
    StaleRun,
}

impl RunDir {
    /// Takes `path` for a new run: creates it if missing, locks it, and checks that it is
    /// empty or holds only a run that never wrote a checkpoint (whose files are then
    /// removed). `Err` if another process holds the folder, if it holds a run with a
    /// checkpoint, or if it holds anything else.
    pub fn create(path: &Path) -> Result<(RunDir, Found)> {
        if path.exists() && !path.is_dir() {
            return Err(Error::checkpoint(
                path,
                "--out names a file, not a folder: choose a new or empty folder",
            ));
        }
        let created = !path.exists();
        fs::create_dir_all(path).map_err(|e| Error::create(path, e))?;
        let dir = RunDir::lock(path, created)?;
        let found = dir.check_fresh()?;
        Ok((dir, found))
    }

    /// Takes the run in `path` for `--resume`: locks it, removes temporaries of dead
    /// processes and restores a `checkpoint.old` left by a kill between two renames.
    /// `Err` if the folder holds no run or another process holds it.
    pub fn open(path: &Path) -> Result<RunDir> {
        if !path.is_dir() {
            return Err(Error::checkpoint(path, "no such run folder"));
        }
        if !path.join("config.json").is_file() {
            return Err(Error::checkpoint(
                path,
                format!(
                    "no run here (no config.json): --resume takes the folder a `train` run \
                     wrote. A run killed before it wrote its config.json has nothing to \
                     continue: start it again with `gumbel-lab train --out {}`",
                    path.display()
                ),
            ));
        }
        let dir = RunDir::lock(path, false)?;
        dir.clean_temporaries()?;
        Ok(dir)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives up a folder taken by [`RunDir::create`] after the new run failed to start:
    /// removes the run's files (the folder held nothing else, see `create`), and the folder
    /// itself if `create` made it, so failed runs leave nothing behind; releases the lock.
    pub fn abandon(self) {
        for name in RUN_FILES {
            let _ = remove_any(&self.path.join(name));
        }
        let _ = self.clean_temporaries();
        if self.created {
            let _ = fs::remove_file(self.path.join(LOCK_FILE));
            let _ = fs::remove_dir(&self.path);
        }
    }

    fn lock(path: &Path, created: bool) -> Result<RunDir> {
        let p = path.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&p)
            .map_err(|e| Error::create(&p, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another process".to_string()
                } else {
                    format!("another process ({holder})")
                };
                return Err(Error::checkpoint(
                    path,
                    format!(
                        "{who} is training in this run folder; wait for it to finish or stop \
                         it (two processes would mix their checkpoints and metrics)"
                    ),
                ));
            }
            Err(TryLockError::Error(e)) => return Err(Error::create(&p, e)),
        }
        // Who holds it, for the message another process prints (informational only).
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = writeln!(file, "pid {}", std::process::id());
        Ok(RunDir {
            path: path.to_path_buf(),
            _lock: file,
            created,
        })
    }

    /// See [`RunDir::create`].
    fn check_fresh(&self) -> Result<Found> {
        let mut theirs = Vec::new();
        let mut ours = false;
        for entry in fs::read_dir(&self.path).map_err(|e| Error::io(&self.path, e))? {
            let entry = entry.map_err(|e| Error::io(&self.path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == LOCK_FILE || is_temporary(&name) {
                continue;
            }
            if RUN_FILES.contains(&name.as_str()) {
                ours = true;
            } else {
                theirs.push(name);
            }
        }
        let is_run = self.path.join("config.json").is_file();
        if !theirs.is_empty() || (ours && !is_run) {
            theirs.sort();
            theirs.truncate(5);
            return Err(Error::checkpoint(
                &self.path,
                format!(
                    "this folder is not empty and holds no run (it has {}): a run would \
                     overwrite files in it; choose a new or empty folder for --out",
                    if theirs.is_empty() {
                        "a run's files but no config.json".to_string()
                    } else {
                        theirs.join(", ")
                    }
                ),
            ));
        }
        if !ours {
            self.clean_temporaries()?;
            return Ok(Found::Empty);
        }
        // Any checkpoint folder, even a damaged one, means work that must not be deleted.
        if ["checkpoint", "checkpoint.old"]
            .iter()
            .any(|c| self.path.join(c).exists())
        {
            return Err(Error::checkpoint(
                &self.path,
                format!(
                    "this folder already holds a run; continue it with --resume {}, or \
                     choose another --out",
                    self.path.display()
                ),
            ));
        }
        // A run killed before its first checkpoint: nothing to continue, start over.
        for name in RUN_FILES {
            remove_any(&self.path.join(name))?;
        }
        self.clean_temporaries()?;
        Ok(Found::StaleRun)
    }

    /// Removes every `.NAME.tmp-PID` entry (see the module docs) and restores
    /// `checkpoint.old` where `checkpoint/` is missing (a kill between the two renames of a
    /// checkpoint write) or removes it where `checkpoint/` is complete.
    fn clean_temporaries(&self) -> Result<()> {
        for entry in fs::read_dir(&self.path).map_err(|e| Error::io(&self.path, e))? {
            let entry = entry.map_err(|e| Error::io(&self.path, e))?;
            if is_temporary(&entry.file_name().to_string_lossy()) {
                remove_any(&entry.path())?;
            }
        }
        let (ck, old) = (
            self.path.join("checkpoint"),
            self.path.join("checkpoint.old"),
        );
        if ck.join("state.json").is_file() {
            // The new checkpoint is complete; the old one may be half removed.
            remove_any(&old)?;
        } else if old.join("state.json").is_file() {
            remove_any(&ck)?;
            fs::rename(&old, &ck).map_err(|e| Error::write(&ck, e))?;
        }
        Ok(())
    }
}

/// `.NAME.tmp-PID`: a temporary of `checkpoint::write_atomic` or `write_checkpoint_dir`.
fn is_temporary(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(".tmp-")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

fn remove_any(p: &Path) -> Result<()> {
    let r = match fs::symlink_metadata(p) {
        Err(_) => return Ok(()),
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
    };
    r.map_err(|e| Error::write(p, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gumbel-rundir-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn temporaries_are_recognised_by_name() {
        assert!(is_temporary(".checkpoint.tmp-1234"));
        assert!(is_temporary(".report.html.tmp-7"));
        assert!(
            !is_temporary("checkpoint.tmp-1234"),
            "not hidden: a user's file"
        );
        assert!(!is_temporary(".notes.tmp-"));
        assert!(!is_temporary(".x.tmp-12a"));
        assert!(!is_temporary(".lock"));
    }

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let d = tmp("lock");
        let (first, found) = RunDir::create(&d).unwrap();
        assert_eq!(found, Found::Empty);
        fs::write(d.join("config.json"), "{}").unwrap();
        let e = RunDir::open(&d).unwrap_err().to_string();
        assert!(
            e.contains("another process") && e.contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        let e = RunDir::create(&d).unwrap_err().to_string();
        assert!(e.contains("another process"), "{e}");
        drop(first);
        RunDir::open(&d).unwrap();
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_folder_of_other_files_is_refused_and_left_alone() {
        let d = tmp("theirs");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("report.html"), "mine").unwrap();
        fs::write(d.join("notes.txt"), "mine too").unwrap();
        let e = RunDir::create(&d).unwrap_err().to_string();
        assert!(e.contains("not empty") && e.contains("notes.txt"), "{e}");
        assert_eq!(fs::read_to_string(d.join("report.html")).unwrap(), "mine");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_run_without_checkpoint_is_started_over_and_temporaries_go() {
        let d = tmp("stale");
        fs::create_dir_all(d.join(".checkpoint.tmp-99")).unwrap();
        fs::write(d.join("config.json"), "{}").unwrap();
        fs::write(d.join("metrics.csv"), "x").unwrap();
        fs::write(d.join(".metrics.csv.tmp-98"), "x").unwrap();
        let (_dir, found) = RunDir::create(&d).unwrap();
        assert_eq!(found, Found::StaleRun);
        let left: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, vec![LOCK_FILE.to_string()]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_run_with_a_checkpoint_is_refused_and_old_checkpoints_are_restored() {
        let d = tmp("ck");
        fs::create_dir_all(d.join("checkpoint.old")).unwrap();
        fs::write(d.join("checkpoint.old/state.json"), "{}").unwrap();
        fs::write(d.join("config.json"), "{}").unwrap();
        let e = RunDir::create(&d).unwrap_err().to_string();
        assert!(e.contains("--resume"), "{e}");
        // A kill between the renames left only checkpoint.old: resume puts it back.
        RunDir::open(&d).unwrap();
        assert!(d.join("checkpoint/state.json").is_file());
        assert!(!d.join("checkpoint.old").exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn abandon_removes_only_a_folder_it_made() {
        let d = tmp("abandon");
        let (dir, _) = RunDir::create(&d).unwrap();
        dir.abandon();
        assert!(!d.exists());
        fs::create_dir_all(&d).unwrap();
        let (dir, _) = RunDir::create(&d).unwrap();
        dir.abandon();
        assert!(d.is_dir(), "the user's empty folder stays");
        fs::remove_dir_all(&d).unwrap();
    }
}
