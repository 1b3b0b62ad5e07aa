//! Fault injection for the crash tests (`tests/cli/crash_resume.rs`): with
//! `GUMBEL_LAB_FAILPOINT=NAME:N` in the environment, the N-th time the program reaches the
//! point `NAME` it aborts at once, with no cleanup and no flush, as `kill -9` would there.
//! Without the variable (always, outside those tests) a point costs one load of a
//! `OnceLock`.
//!
//! The points, in the order a run meets them:
//!
//! | point | where |
//! |---|---|
//! | `write_atomic:before-rename` | a file's temporary is on disk, not yet renamed over the file |
//! | `checkpoint:files-written` | a checkpoint's temporary folder is complete, nothing renamed |
//! | `checkpoint:between-renames` | the old checkpoint is `checkpoint.old`, the new one still the temporary |
//! | `checkpoint:before-cleanup` | the new checkpoint is in place, `checkpoint.old` not yet removed |
//! | `run:after-pretrained` | `pretrained/` is written, the end-of-MLE checkpoint is not |
//! | `run:step` | a step (MLE or adversarial) finished, before its row and checkpoint |

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable that arms a point.
pub const ENV: &str = "GUMBEL_LAB_FAILPOINT";

static ARMED: OnceLock<Option<(String, usize)>> = OnceLock::new();
static HITS: AtomicUsize = AtomicUsize::new(0);

/// Marks the point `name`: aborts the process if it is the armed point and this is its
/// N-th hit.
pub fn hit(name: &str) {
    let armed = ARMED.get_or_init(|| {
        let spec = std::env::var(ENV).ok()?;
        let (point, n) = spec.rsplit_once(':')?;
        Some((point.to_string(), n.parse().ok()?))
    });
    if let Some((point, n)) = armed
        && point == name
        && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n
    {
        eprintln!("failpoint {name}:{n}: aborting");
        std::process::abort();
    }
}
