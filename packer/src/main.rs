//! `wheelsfx`: the packer CI runs. `build` reads top to bottom as its three steps:
//! collect (inputs) -> plan (checks, hashes, manifest) -> write (stub + zip payload, signed
//! with `--sign`). `keygen` makes the signing key pair.

mod bytecode;
mod checkcache;
mod checked;
mod collect;
mod config;
mod diff;
mod download;
mod exclude;
mod pip;
mod plan;
mod progress;
mod pylock;
mod reqhash;
mod requires;
mod select;
mod sign;
mod summary;
mod targets;
mod tree;
mod wheel;
mod write;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use wheelsfx_payload::inspect;
use wheelsfx_payload::limits::Limits;
use wheelsfx_payload::reader::{Payload, PayloadError};
use wheelsfx_payload::signature::PublicKey;

#[derive(Parser)]
#[command(
    name = "wheelsfx",
    version,
    about = "Packs a Python web application and every wheel it needs into one self-installing executable."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an artifact: the static installer stub with the app, its wheels and support files
    Build(Box<BuildArgs>),
    /// Show what an artifact holds
    Inspect {
        artifact: PathBuf,
        /// Print the whole manifest as JSON
        #[arg(long)]
        json: bool,
    },
    /// Check every byte of an artifact against its manifest (and its signature)
    Verify {
        artifact: PathBuf,
        /// Require a signature by this public key (a .pub file or its key line); repeatable
        #[arg(long, value_name = "PUBKEY")]
        trust: Vec<String>,
    },
    /// Compare two builds: artifacts or deployed release directories (DEST); exit 0 either way
    Diff {
        /// The artifact or release directory before
        old: PathBuf,
        /// The artifact or release directory after
        new: PathBuf,
        /// Print the differences as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Make a signing key pair: the secret key (0600) and PATH.pub, in minisign's formats
    Keygen {
        /// Where to write the secret key; the public key goes to PATH.pub
        #[arg(short = 'o', long, value_name = "PATH")]
        output: PathBuf,
        /// Replace existing key files
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
pub struct BuildArgs {
    /// The project tree; its directory name is the app's name (DEST/<name>, <name>.pth) unless
    /// --name is given
    #[arg(long)]
    pub app: Option<PathBuf>,
    /// The app's name instead of the app directory's name
    #[arg(long)]
    pub name: Option<String>,
    /// Requirements file: pip builds/downloads the full closure as wheels
    #[arg(long, short = 'r')]
    pub requirements: Option<PathBuf>,
    /// A directory of prebuilt wheels, taken as they are
    #[arg(long)]
    pub wheelhouse: Option<PathBuf>,
    /// A PEP 751 lock file (pylock.toml, as `uv export --format pylock.toml` or `pip lock`
    /// write it): the packages its markers select for each target, every hash checked
    #[arg(long, value_name = "PYLOCK")]
    pub lock: Option<PathBuf>,
    /// Build for this exact CPython version (X.Y.Z, e.g. the servers' 3.11.2) instead of the
    /// build machine's: binary wheels fetched for it, every Requires-Python checked against it;
    /// repeatable (one wheel set per version, shared wheels stored once)
    #[arg(long, value_name = "X.Y.Z")]
    pub target_python: Vec<String>,
    /// Fetch wheels for this platform tag (e.g. manylinux_2_36_x86_64: the servers' glibc)
    /// instead of the build machine's; repeatable
    #[arg(long, value_name = "TAG")]
    pub platform: Vec<String>,
    /// Directory with pip and setuptools wheels [default: downloaded once with pip]
    #[arg(long)]
    pub bootstrap_wheels: Option<PathBuf>,
    /// Extra static folder, packed as static.in/N (N its position); repeatable
    #[arg(long)]
    pub extra_static: Vec<PathBuf>,
    /// Pack what symlinks pointing outside the app tree or static folders point to (each is
    /// named on stderr) instead of refusing them
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Leave out of the app tree what this pattern matches (gitignore syntax, relative to the
    /// app tree, e.g. 'media/' or '*.sqlite3'); repeatable
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Pack what this pattern matches even when a default or --exclude rule leaves it out, and
    /// do not warn about it as local-looking; repeatable
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,
    /// Interpreter that runs pip (and whose X.Y the artifact targets when all wheels are pure)
    /// [default: python3]
    #[arg(long)]
    pub python: Option<String>,
    /// Version or build id recorded in the manifest
    #[arg(long, env = "WHEELSFX_BUILD_ID")]
    pub build_id: Option<String>,
    /// Output file
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Sign the artifact with this secret key (from wheelsfx keygen); also writes OUTPUT.minisig
    #[arg(long, value_name = "SECRET_KEY")]
    pub sign: Option<PathBuf>,
    /// Run this shell command after every deploy of the artifact, in DEST/<app> with the venv
    /// first on PATH and environment.json loaded (e.g. 'python manage.py migrate --noinput');
    /// repeatable, in order
    #[arg(long, value_name = "CMD")]
    pub post_install: Vec<String>,
    /// Link this path of the release (relative, e.g. environment.json or media/) to the same
    /// path in the server's shared directory at every deploy; a trailing / marks a directory;
    /// repeatable
    #[arg(long, value_name = "PATH")]
    pub link_shared: Vec<String>,
    /// Check every file of every wheel against its RECORD, even for wheels an earlier build
    /// already checked (the check cache, ~/.cache/wheelsfx/checked, is then neither read nor
    /// written)
    #[arg(long, env = "WHEELSFX_NO_CHECK_CACHE", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_check_cache: bool,
    /// Also byte-compile with this interpreter (e.g. a 3.12 for a 3.12 target set: pycs are
    /// packed for each interpreter whose X.Y a target has; the build interpreter is always
    /// tried); repeatable
    #[arg(long, value_name = "PYTHON")]
    pub compile_python: Vec<String>,
    /// Pack no bytecode: the stub byte-compiles at deploy
    #[arg(long)]
    pub no_compile: bool,
    /// Where to read [tool.wheelsfx] defaults from
    #[arg(long, default_value = "pyproject.toml")]
    pub config: PathBuf,
}

impl BuildArgs {
    pub fn app(&self) -> &std::path::Path {
        self.app.as_deref().expect("config::merge checked it")
    }
    pub fn output(&self) -> &std::path::Path {
        self.output.as_deref().expect("config::merge checked it")
    }
    pub fn python(&self) -> &str {
        self.python.as_deref().unwrap_or("python3")
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(mut args) => {
            let config = args.config.clone();
            config::merge(&mut args, &config)
                .map_err(|m| (2, m))
                .and_then(|()| build(&args))
        }
        Command::Inspect { artifact, json } => open(&artifact).and_then(|p| {
            let verdict = p.check_signature(&[]).map_err(fail)?;
            inspect::inspect(&p, verdict, json);
            Ok(())
        }),
        Command::Verify { artifact, trust } => verify(&artifact, &trust),
        Command::Keygen { output, force } => keygen(&output, force),
        Command::Diff { old, new, json } => diff::run(&old, &new, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("wheelsfx: error: {msg}");
            ExitCode::from(code)
        }
    }
}

/// Exit codes: 1 the inputs are wrong (a bad wheel, a conflict, pip failed), 3 a corrupt
/// artifact (inspect/verify); clap exits 2 for bad usage.
type Failure = (u8, String);

fn fail(e: PayloadError) -> Failure {
    match e {
        PayloadError::Corrupt(m) | PayloadError::Untrusted(m) => (3, m),
        PayloadError::Io(m) | PayloadError::Unverified(m) => (1, m),
    }
}

fn open(path: &std::path::Path) -> Result<Payload, Failure> {
    Payload::open(path, &Limits::default()).map_err(fail)
}

/// `wheelsfx verify`: every check the stub's `--verify` runs, the signature included.
fn verify(artifact: &std::path::Path, trust: &[String]) -> Result<(), Failure> {
    let trusted = trust
        .iter()
        .map(|k| PublicKey::load(k).map_err(|m| (2, format!("--trust: {m}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut p = open(artifact)?;
    let verdict = p.check_signature(&trusted).map_err(fail)?;
    let (n, bytes) = p.verify_all(&Limits::default()).map_err(fail)?;
    println!("{}", inspect::verified(n, bytes, &p.manifest, verdict));
    Ok(())
}

fn keygen(output: &std::path::Path, force: bool) -> Result<(), Failure> {
    let key = sign::keygen(output, force).map_err(|m| (1, m))?;
    println!(
        "wrote the secret key {} (keep it secret) and the public key {}: key id {}\n\
         sign with: wheelsfx build --sign {}\n\
         deploy with: ./ARTIFACT --trust {} ... (or --trust {})",
        output.display(),
        sign::pub_path(output).display(),
        key.id,
        output.display(),
        sign::pub_path(output).display(),
        key.to_base64()
    );
    Ok(())
}

fn build(args: &BuildArgs) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let input_err = |m: String| (1, m);
    // A bad key is found before any work is done.
    let signer = args
        .sign
        .as_deref()
        .map(sign::SecretKey::load)
        .transpose()
        .map_err(|m| (2, m))?;
    let inputs = collect::collect(args).map_err(input_err)?;
    let created = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| input_err(format!("SOURCE_DATE_EPOCH={v} is not a number of seconds")))?,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let cache = checkcache::CheckCache::open(!args.no_check_cache);
    let compile = bytecode::Options {
        pythons: match args.no_compile {
            true => Vec::new(),
            false => std::iter::once(args.python().to_string())
                .chain(args.compile_python.clone())
                .collect(),
        },
        // The bytecode cache goes with the check cache (--no-check-cache: neither).
        cache: checkcache::cache_root()
            .filter(|_| !args.no_check_cache)
            .map(|r| r.join("wheelsfx/bytecode")),
    };
    let plan = plan::plan(&inputs, created, &cache, &compile).map_err(input_err)?;
    // Entry timestamps are fixed (SOURCE_DATE_EPOCH, else 1980-01-01) so rebuilds match.
    let mtime = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(315_532_800);
    write::write(&plan, args.output(), mtime, signer.as_ref()).map_err(input_err)?;
    let m = &plan.manifest;
    println!(
        "wrote {}: {} ({} wheels, {} bootstrap wheels, {} entries, python {})",
        args.output().display(),
        m.app.name,
        m.wheels.len(),
        m.bootstrap_wheels.len(),
        m.entries.len(),
        if m.target.python_versions.is_empty() {
            "any".into()
        } else {
            m.target.python_versions.join("/")
        }
    );
    if let Some(key) = &signer {
        println!(
            "signed with key {} (in the artifact, and detached in {}.minisig)",
            key.id(),
            args.output().display()
        );
    }
    let artifact_bytes = std::fs::metadata(args.output()).map(|m| m.len()).unwrap_or(0);
    let stub_bytes = write::STUB.len() as u64;
    for line in bytecode::summary(&m.bytecode, args.output()) {
        println!("{line}");
    }
    println!(
        "{}",
        summary::summary(
            m,
            artifact_bytes,
            stub_bytes,
            &inputs.excluded,
            plan.tally,
            started.elapsed()
        )
    );
    Ok(())
}
