//! A per-process scratch folder on tmpfs, into which a target writes its input so that the
//! loaders (which take paths) can read it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The folder under which targets write their inputs: `$GUMBEL_FUZZ_TMP` (run.sh sets it to
/// a fresh folder it removes afterwards), else `/dev/shm` (tmpfs: no disk writes per
/// execution), else the system temporary folder.
fn base() -> PathBuf {
    if let Some(d) = std::env::var_os("GUMBEL_FUZZ_TMP") {
        return PathBuf::from(d);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// This process's scratch folder, `<base>/gumbel-fuzz-<pid>`, created on first use.
/// (libFuzzer's `-jobs`/`-workers` run several processes: each has its own folder.)
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = base().join(format!("gumbel-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("cannot create the fuzz scratch folder");
        d
    })
}

/// Writes `bytes` to `name` in the scratch folder (replacing the previous input) and
/// returns its path.
pub fn write_input(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch_dir().join(name);
    std::fs::write(&p, bytes).expect("cannot write the fuzz input to the scratch folder");
    p
}

/// A subfolder of the scratch folder (for loaders that take a folder), created once.
pub fn scratch_subdir(name: &str) -> PathBuf {
    let d = scratch_dir().join(name);
    std::fs::create_dir_all(&d).expect("cannot create a fuzz scratch subfolder");
    d
}
