//! Agents as files: `agents/<name>.toml` (plus `agents/<name>/kb/*.md` knowledge), loaded and
//! validated at `serve` start into the default tenant, and checked by `voxgate agents validate`.
//!
//! A file's `name` defaults to its file stem and, when given, must equal it. Problems are
//! reported for every file and field at once, as `file: field: message`.

use crate::store::{Durable, NewAgent, StoreError};
use std::path::{Path, PathBuf};
use uuid::Uuid;
use voxgate_core::{AgentSpec, FieldError};

/// One agent file's problems.
#[derive(Debug)]
pub struct FileProblems {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problems: Vec<FieldError>,
}

/// Every problem of every file in a folder.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.0))]
pub struct AgentFilesError(pub Vec<FileProblems>);

fn render(files: &[FileProblems]) -> String {
    let mut out = String::from("invalid agent files:");
    for file in files {
        for problem in &file.problems {
            out.push_str(&format!(
                "\n  - {}: {}: {}",
                file.path.display(),
                problem.field,
                problem.message
            ));
        }
    }
    out
}

/// The `*.toml` files of a folder (or the one file given), sorted.
pub fn agent_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Parses and validates one file. `agents_dir` resolves the knowledge folder.
pub fn load_file(path: &Path, agents_dir: &Path) -> Result<AgentSpec, Vec<FieldError>> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| vec![FieldError::new("(file)", error.to_string())])?;
    let mut table: toml::Table = text
        .parse()
        .map_err(|error: toml::de::Error| vec![FieldError::new("(file)", error.message())])?;
    let stem = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default()
        .to_owned();
    let named = table
        .entry("name")
        .or_insert_with(|| toml::Value::String(stem.clone()))
        .as_str()
        .map(str::to_owned);
    let spec: AgentSpec =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
            vec![FieldError::new(
                error.path().to_string(),
                error.inner().message(),
            )]
        })?;
    let mut problems = spec.validate();
    if named.as_deref() != Some(stem.as_str()) {
        problems.push(FieldError::new(
            "name",
            format!("must equal the file name `{stem}`"),
        ));
    }
    if let Some(knowledge) = &spec.knowledge
        && !agents_dir.join(&knowledge.path).is_dir()
    {
        problems.push(FieldError::new(
            "knowledge.path",
            format!(
                "folder `{}` does not exist in {}",
                knowledge.path,
                agents_dir.display()
            ),
        ));
    }
    match problems.is_empty() {
        true => Ok(spec),
        false => Err(problems),
    }
}

/// Loads every agent file under `path`, reporting all problems of all files at once.
pub fn load_all(path: &Path) -> Result<Vec<AgentSpec>, AgentFilesError> {
    let agents_dir = if path.is_file() {
        path.parent().unwrap_or(Path::new(".")).to_owned()
    } else {
        path.to_owned()
    };
    let files = agent_files(path).map_err(|error| {
        AgentFilesError(vec![FileProblems {
            path: path.to_owned(),
            problems: vec![FieldError::new("(folder)", error.to_string())],
        }])
    })?;
    let mut specs = Vec::new();
    let mut failures = Vec::new();
    for file in files {
        match load_file(&file, &agents_dir) {
            Ok(spec) => specs.push(spec),
            Err(problems) => failures.push(FileProblems {
                path: file,
                problems,
            }),
        }
    }
    match failures.is_empty() {
        true => Ok(specs),
        false => Err(AgentFilesError(failures)),
    }
}

/// What syncing one file did.
#[derive(Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The agent did not exist and was created.
    Created,
    /// The stored spec differed and a new version was stored.
    Updated(i64),
    /// The stored spec already matched.
    Unchanged,
}

/// Stores `spec` for `tenant`: created if missing, a new version if it changed.
pub async fn sync(
    store: &dyn Durable,
    tenant: Uuid,
    spec: &AgentSpec,
) -> Result<SyncOutcome, StoreError> {
    let now = crate::store::now();
    match store.get_agent(tenant, &spec.name).await {
        Ok(current) if current.spec == *spec => Ok(SyncOutcome::Unchanged),
        Ok(current) => {
            let updated = store
                .update_agent(tenant, spec, current.version, now)
                .await?;
            Ok(SyncOutcome::Updated(updated.version))
        }
        Err(StoreError::NotFound) => {
            let new = NewAgent {
                tenant,
                spec,
                idempotency: None,
                at: now,
            };
            store.create_agent(new).await?;
            Ok(SyncOutcome::Created)
        }
        Err(other) => Err(other),
    }
}
