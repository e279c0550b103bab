//! Job files: YAML in, a validated task out, with errors that name the file,
//! the field and what is allowed.

use std::path::Path;

use anyhow::{Context, Result};
use ferry_core::{TaskSpec, ValidatedTask};

/// Largest job file accepted.
const MAX_JOB_BYTES: u64 = 1024 * 1024;

/// Reads, parses and validates a job file.
pub fn load(path: &Path) -> Result<ValidatedTask> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read job file {}", path.display()))?;
    if meta.len() > MAX_JOB_BYTES {
        anyhow::bail!(
            "{}: job file is {} bytes; at most {MAX_JOB_BYTES} are allowed",
            path.display(),
            meta.len()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read job file {}", path.display()))?;
    parse(&text).with_context(|| path.display().to_string())
}

/// Parses and validates job YAML.
pub fn parse(text: &str) -> Result<ValidatedTask> {
    let spec: TaskSpec = serde_saphyr::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let task = ferry_connectors::validate_local(&spec)?;
    // The SQL of mapping/filter/sql, parsed without the source schema.
    ferry_engine::transform::check_syntax(&task.spec)?;
    Ok(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_job() {
        let t = parse(
            "name: demo\nsource: {type: postgres, url: 'postgresql://h/db', table: a}\nsink: {type: mariadb, url: 'mysql://h/db', table: b}\n",
        )
        .expect("valid");
        assert_eq!(t.spec.sink.connector(), "mysql");
    }

    #[test]
    fn unknown_field_is_named() {
        let err = parse(
            "name: demo\nsource: {type: postgres, url: 'postgresql://h/db', table: a}\nsink: {type: sqlite, path: x.db, table: b}\nparalelism: 4\n",
        )
        .expect_err("unknown field");
        let msg = format!("{err:#}");
        assert!(msg.contains("paralelism"), "{msg}");
    }

    #[test]
    fn unknown_connector_lists_the_allowed_ones() {
        let err = parse("name: demo\nsource: {type: oracle, url: x, table: a}\nsink: {type: sqlite, path: x.db, table: b}\n")
            .expect_err("unknown type");
        let msg = format!("{err:#}");
        assert!(msg.contains("oracle") && msg.contains("postgres"), "{msg}");
    }
}
