//! `cargo xtask cache-key`: prints the deps key, or a job or container key when asked.

use anyhow::{bail, Result};

use crate::{
    github::{self, names::output},
    record::{Output, Record},
    session::Session,
};

/// Print the cache key(s) (the deps key, or a job or container key when asked).
#[derive(clap::Args, Debug)]
pub struct CacheKey {
    /// Job key: the runner OS (default: the config's first).
    #[arg(long, value_parser = crate::cli::runner)]
    os: Option<String>,
    /// Job key: the Rust version (default: the config's).
    #[arg(long, value_parser = crate::cli::rust_version)]
    rust: Option<String>,
    /// Job key: the test type.
    #[arg(long)]
    test_type: Option<String>,
    /// Container key: the image.
    #[arg(long)]
    image: Option<String>,
    /// Container key: the arch (default: the config's first).
    #[arg(long)]
    arch: Option<String>,
    /// Print every key of the config as a JSON object.
    #[arg(long)]
    json: bool,
    /// Append `cache-key=<key>` (and the others, named) to $GITHUB_OUTPUT.
    #[arg(long)]
    github_output: bool,
}

impl CacheKey {
    /// Prints the keys asked for, the most specific last (or every key as JSON), into the record's `keys` too.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let config = &session.config;
        let deps = session.deps_key()?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&deps.all(config))?);
        }

        let mut outputs = vec![(output::CACHE_KEY, deps.to_string())];
        match (&self.test_type, &self.os, &self.rust) {
            (Some(test_type), os, rust) => {
                config.test_args(test_type)?;
                let os = os.as_deref().unwrap_or(&config.os[0]);
                let rust = rust.as_deref().unwrap_or(&config.rust);
                outputs.push((output::JOB_KEY, deps.job(os, rust, test_type)));
            }
            (None, None, None) => {}
            (None, ..) => bail!("--os and --rust describe a test job: add --test-type T (one of the config's tests)"),
        }
        match (&self.image, &self.arch) {
            (Some(image), arch) => {
                config.image_attr(image)?;
                let arch = arch.as_deref().unwrap_or(&config.arches[0]);
                config.check_arch(arch)?;
                outputs.push((output::CONTAINER_KEY, deps.container(image, arch)));
            }
            (None, Some(_)) => bail!("--arch describes a container: add --image NAME (one of the config's images)"),
            (None, None) => {}
        }

        record.keys =
            outputs.iter().map(|(name, value)| Output { name: name.to_string(), value: value.clone() }).collect();
        if self.github_output {
            github::set_outputs(&[&outputs[..], &[(output::RESTORE_KEY, deps.restore_prefix())]].concat())?;
        }
        if !self.json {
            // The most specific key is the last line, so `$(cargo xtask cache-key …)` picks it.
            for (_, key) in &outputs {
                println!("{key}");
            }
        }
        Ok(())
    }
}
