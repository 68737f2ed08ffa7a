//! Part of collecting: walking the app tree and the `--extra-static` folders. What is packed is
//! what the user meant to ship: regular files with their own permission bits, symlinks only
//! while they stay inside the folder being packed (unless `--follow-symlinks`), never a
//! kernel-generated file (/proc, /sys), a device or a FIFO, and never a walk that loops; what
//! the folder's [`Rules`] leave out is not packed (nor read, unless an include rule could put
//! something inside it back).

use crate::collect::{Source, TreeFile};
use crate::exclude::{Local, Report, Rules, Why};
use nix::sys::statfs::{self, FsType};
use std::fs::Metadata;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Filesystems whose "regular files" are made up by the kernel as they are read (a process's
/// environment, keys, counters): never content anyone means to ship.
const PSEUDO_FILESYSTEMS: &[FsType] = &[
    statfs::PROC_SUPER_MAGIC,
    statfs::SYSFS_MAGIC,
    statfs::DEBUGFS_MAGIC,
    statfs::TRACEFS_MAGIC,
    statfs::SECURITYFS_MAGIC,
    statfs::CGROUP_SUPER_MAGIC,
    statfs::CGROUP2_SUPER_MAGIC,
    statfs::BPF_FS_MAGIC,
    statfs::SELINUX_MAGIC,
];

/// One folder being packed: where symlinks may point without `--follow-symlinks`.
struct Tree<'a> {
    root: &'a Path,
    /// `root`, resolved: a symlink's resolved target is inside the tree when it starts with it.
    real_root: PathBuf,
    follow_symlinks: bool,
}

/// A directory still to read, with the resolved paths of itself and every directory above it
/// (a symlink back to one of them would make the walk endless).
struct Dir {
    path: PathBuf,
    name: String,
    chain: Vec<PathBuf>,
    /// Relative to the root, as the rules match it.
    rel: PathBuf,
    /// Set when the directory is left out but read for what an include rule puts back.
    left_out: Option<Why>,
    /// The warning line this directory's files count towards (a `media/` above them).
    local: Option<usize>,
}

/// Every regular file under `root`, as `prefix/relative/path`, sorted, with its permission
/// bits (setuid, setgid and sticky dropped: the stub never applies them).
pub fn walk(
    root: &Path,
    prefix: &str,
    follow_symlinks: bool,
    rules: &Rules,
    report: &mut Report,
) -> Result<Vec<TreeFile>, String> {
    let real_root = resolve(root)?;
    let tree = Tree {
        root,
        real_root: real_root.clone(),
        follow_symlinks,
    };
    let mut out = Vec::new();
    let mut stack = vec![Dir {
        path: root.to_path_buf(),
        name: prefix.to_string(),
        chain: vec![real_root],
        rel: PathBuf::new(),
        left_out: None,
        local: None,
    }];
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir.path).map_err(|e| format!("cannot read {}: {e}", dir.path.display()))?;
        for entry in rd {
            let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.path.display()))?;
            let path = entry.path();
            let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(format!("{}: file names must be UTF-8; rename it", path.display()));
            };
            let child = format!("{}/{file_name}", dir.name);
            // What is left out is never checked: a virtualenv's links point out of the tree.
            let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
            let meta = std::fs::metadata(&path);
            let rel = dir.rel.join(&file_name);
            let is_dir = meta.as_ref().is_ok_and(|m| m.is_dir());
            let why = rules.left_out(&rel, &path, is_dir, dir.left_out);
            if why.is_some() && dir.left_out.is_none() {
                let list = if why == Some(Why::Default) {
                    &mut report.by_default
                } else {
                    &mut report.by_rules
                };
                list.push(if is_dir { format!("{child}/") } else { child.clone() });
            }
            if why.is_some() && (!is_dir || is_link || !rules.may_put_back()) {
                continue;
            }
            if is_link {
                tree.check_link(&path)?;
            }
            let meta = meta.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let local = dir.local.or_else(|| {
                (why.is_none() && rules.looks_local(&rel, is_dir)).then(|| {
                    report.local.push(Local {
                        path: child.clone(),
                        dir: is_dir,
                        files: 0,
                        bytes: 0,
                    });
                    report.local.len() - 1
                })
            });
            if is_dir {
                stack.push(subdir(&dir, path, child, rel, why, local)?);
            } else {
                if let Some(l) = local {
                    report.local[l].files += 1;
                    report.local[l].bytes += meta.len();
                }
                out.push(tree_file(path, child, &meta)?);
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

impl Tree<'_> {
    /// A symlink may point anywhere inside the tree; outside it only with `--follow-symlinks`,
    /// which says so for each link, since what it packs (a key, /etc/shadow) is not in the
    /// project and would ship to every server.
    fn check_link(&self, link: &Path) -> Result<(), String> {
        let target = resolve(link)?;
        if target.starts_with(&self.real_root) {
            return Ok(());
        }
        if !self.follow_symlinks {
            return Err(format!(
                "{} is a symlink to {}, outside {}; copy what it should ship into the tree, or pass --follow-symlinks to pack what it points to",
                link.display(),
                target.display(),
                self.root.display()
            ));
        }
        eprintln!(
            "wheelsfx: following {} -> {} (outside {})",
            link.display(),
            target.display(),
            self.root.display()
        );
        Ok(())
    }
}

/// The resolved path, or why there is none (a missing target, a symlink loop: the kernel stops
/// those with ELOOP, so they never hang).
fn resolve(path: &Path) -> Result<PathBuf, String> {
    path.canonicalize().map_err(|e| {
        format!(
            "cannot resolve {} ({e}); remove it or make it point to a file",
            path.display()
        )
    })
}

/// The directory to read next, refused when it is (through a symlink) one of the directories
/// being read already.
fn subdir(
    parent: &Dir,
    path: PathBuf,
    name: String,
    rel: PathBuf,
    left_out: Option<Why>,
    local: Option<usize>,
) -> Result<Dir, String> {
    let real = resolve(&path)?;
    if parent.chain.contains(&real) {
        return Err(format!(
            "{} leads back to {}, which contains it, so the tree never ends; remove that symlink",
            path.display(),
            real.display()
        ));
    }
    let mut chain = parent.chain.clone();
    chain.push(real);
    Ok(Dir {
        path,
        name,
        chain,
        rel,
        left_out,
        local,
    })
}

/// A file to pack, if it is one: a regular file on a real filesystem (a FIFO would block the
/// build, a device or a /proc file has no fixed content).
fn tree_file(path: PathBuf, name: String, meta: &Metadata) -> Result<TreeFile, String> {
    let pseudo = || statfs::statfs(&path).is_ok_and(|s| PSEUDO_FILESYSTEMS.contains(&s.filesystem_type()));
    if !meta.is_file() || pseudo() {
        return Err(format!(
            "{} is not a regular file (a device, FIFO, socket or kernel file such as /proc's); remove it from the tree",
            path.display()
        ));
    }
    Ok(TreeFile {
        name,
        mode: meta.permissions().mode() & 0o777,
        source: Source::File(path),
    })
}
