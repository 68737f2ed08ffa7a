//! Every wheel read once: its bytes hashed for the manifest and every file inside it checked
//! against its RECORD (the stub's own [`wheel::check`]), wheels on every core, the largest
//! first so one big wheel does not finish alone. A wheel whose sha256 the check cache knows
//! ([`crate::checkcache`]) is only planned ([`wheel::plan`]); one that passes in full is
//! recorded there. The bytes stay in memory up to a budget, so write copies exactly what was
//! hashed without reading and hashing the file again.

use crate::checkcache::CheckCache;
use crate::progress::Progress;
use crate::wheel::WheelFile;
use rayon::prelude::*;
use std::io::{Cursor, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wheelsfx_payload::digest::HashingWriter;
use wheelsfx_payload::limits::Limits;
use wheelsfx_payload::wheel::{self, Expect, WheelPlan};

/// Wheel bytes kept for write: beyond it, write reads (and hashes) the file again.
const HELD_BUDGET: u64 = 1 << 30;

pub struct Checked {
    pub plan: WheelPlan,
    pub sha256: String,
    pub size: u64,
    /// The bytes hashed, when within the budget.
    pub held: Option<Arc<[u8]>>,
    /// Its files' hashes taken from the check cache, not checked again.
    pub cached: bool,
}

/// How many wheels were checked in full, and how many the check cache already knew.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub full: usize,
    pub cached: usize,
}

impl Tally {
    pub fn of(checked: &[Checked]) -> Tally {
        let cached = checked.iter().filter(|c| c.cached).count();
        Tally {
            full: checked.len() - cached,
            cached,
        }
    }
}

/// Each wheel of `wheels`, in order, read, hashed and checked; the first bad wheel (in order)
/// is the error.
pub fn check_all(
    wheels: &[&WheelFile],
    app: &str,
    cache: &CheckCache,
    progress: &Progress,
) -> Result<Vec<Checked>, String> {
    let mut order: Vec<usize> = (0..wheels.len()).collect();
    let size = |i: &usize| std::fs::metadata(&wheels[*i].path).map(|m| m.len()).unwrap_or(0);
    order.sort_by_cached_key(|i| std::cmp::Reverse(size(i)));
    let budget = AtomicU64::new(HELD_BUDGET);
    progress.start("checking", wheels.len() as u64);
    let mut done: Vec<(usize, Result<Checked, String>)> = order
        .par_iter()
        .map(|&i| {
            let r = check_one(wheels[i], app, cache, &budget);
            progress.inc();
            (i, r)
        })
        .collect();
    progress.done();
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

fn check_one(w: &WheelFile, app: &str, cache: &CheckCache, budget: &AtomicU64) -> Result<Checked, String> {
    let shown = w.path.display();
    let mut bytes = Vec::new();
    std::fs::File::open(&w.path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut h = HashingWriter::default();
    std::io::copy(&mut bytes.as_slice(), &mut h).expect("hashing bytes cannot fail");
    let (sha256, size) = h.finish();
    let want = Expect {
        distribution: &w.distribution,
        version: &w.version,
        app,
    };
    let cached = cache.knows(&sha256);
    let plan = zip::ZipArchive::new(Cursor::new(bytes.as_slice()))
        .map_err(|e| format!("is not a readable zip ({e})"))
        .and_then(|mut zip| match cached {
            true => wheel::plan(&mut zip, &want, &Limits::default()),
            false => wheel::check(&mut zip, &want, &Limits::default()),
        })
        .map_err(|m| format!("wheel {shown} {m}; replace it or rebuild it"))?;
    if !cached {
        cache.record(&sha256);
    }
    let kept = budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(size))
        .is_ok();
    Ok(Checked {
        plan,
        sha256,
        size,
        held: kept.then(|| Arc::from(bytes)),
        cached,
    })
}
