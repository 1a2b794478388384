//! `cargo xtask smoke [--skip-ask]`: the images run together, as they ship. Builds both images
//! (the pipeline), loads them into docker or podman, starts ollama under the name `ollama` on a
//! network of its own (with its `/models` volume), waits for its API (bounded: the harness's own
//! `health`, again and again), then runs the harness container's `health`, `models` and `ask`.
//! Every container, volume and network it made goes on every exit; on a failure, both
//! containers' logs are printed. Exit 0 only when all three succeed. `--skip-ask`: for an ollama
//! image without a model (the real one, in CI).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{
    command::NoSlots,
    images::{
        self,
        engine::{self, Engine},
    },
    layers::{self, Layer},
    pipeline::{self, Job, OnPushFailure},
    session::Session,
};

#[derive(clap::Args, Debug)]
pub struct Smoke {
    /// Skip `ask`: it needs a model in the ollama image.
    #[arg(long)]
    skip_ask: bool,
    /// Seconds to wait for ollama's API.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    wait: u64,
}

/// What was made, to remove on every exit.
struct Made<'a> {
    engine: &'a Engine,
    session: &'a Session,
    network: String,
    containers: Vec<String>,
}

impl Drop for Made<'_> {
    fn drop(&mut self) {
        let (sh, engine) = (&self.session.sh, self.engine);
        for name in &self.containers {
            let _ = engine.remove(name).run_quietly(sh, &NoSlots);
            let _ = engine.remove_volume(name).run_quietly(sh, &NoSlots);
        }
        let _ = engine.network_remove(&self.network).run_quietly(sh, &NoSlots);
    }
}

impl Smoke {
    pub fn run(&self, session: &Session) -> Result<()> {
        let engine = Engine { program: engine::find("smoke")? };
        let targets = layers::images(session, &[], &session.platform)?;
        let job = Job::new(session, "smoke", targets, false, OnPushFailure::Warn)?;
        let built = pipeline::run(session, &job)?;
        let dir = images::archive_dir(session, None)?;
        let mut loaded = Vec::new();
        for (i, target) in job.targets.iter().enumerate() {
            let Layer::Image { image, .. } = &target.layer else { continue };
            let archive = dir.join(format!("{image}.tar"));
            images::stream(
                session,
                built.outputs.get(i).and_then(|o| o.first()).map(String::as_str),
                &target.attr.to_string(),
                &archive,
            )?;
            let load = engine::load(engine.program, &archive);
            if session.dry_run {
                println!("{}", load.render(None));
                loaded.push((image.clone(), format!("<{image} as loaded>")));
                continue;
            }
            let said = load.run(&session.sh, &NoSlots)?;
            let reference =
                said.lines().rev().find_map(|l| l.split_once("Loaded image: ").map(|(_, r)| r.trim().to_owned()));
            loaded.push((
                image.clone(),
                reference.with_context(|| format!("`{} load` did not say what it loaded: {said}", engine.program))?,
            ));
        }
        let image = |name: &str| {
            loaded
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, r)| r.clone())
                .with_context(|| format!("no image {name} in the config"))
        };
        let (harness, ollama) = (image("harness")?, image("ollama")?);
        if session.dry_run {
            return self.describe(&engine, &harness, &ollama);
        }
        let network = format!("xtask-smoke-{}", std::process::id());
        let mut made = Made { engine: &engine, session, network: network.clone(), containers: Vec::new() };
        engine.network_create(&network).run(&session.sh, &NoSlots)?;
        made.containers.push("ollama".to_owned());
        engine.start(&network, "ollama", &ollama, Some("/models")).run(&session.sh, &NoSlots)?;
        let result = self.check(session, &engine, &network, &harness);
        if result.is_err() {
            for name in &made.containers {
                eprintln!("--- logs of {name}:");
                let _ = engine.logs(name).run(&session.sh, &NoSlots);
            }
        }
        drop(made);
        result
    }

    /// `health` until it answers (bounded), then `models` and `ask`.
    fn check(&self, session: &Session, engine: &Engine, network: &str, harness: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(self.wait);
        while engine.run(network, harness, &["health"]).run_quietly(&session.sh, &NoSlots).is_err() {
            if Instant::now() > deadline {
                bail!("ollama did not answer on its network within {} s (its logs follow)", self.wait);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        for args in self.commands() {
            engine.run(network, harness, &args).run(&session.sh, &NoSlots)?;
        }
        eprintln!(
            "smoke: the harness reached ollama by name and {}",
            if self.skip_ask { "listed its models (ask skipped)" } else { "listed its models and got an answer" }
        );
        Ok(())
    }

    fn commands(&self) -> Vec<Vec<&'static str>> {
        let mut commands = vec![vec!["health"], vec!["models"]];
        if !self.skip_ask {
            commands.push(vec!["ask", "--model", "standin:latest", "Why is the sky blue?"]);
        }
        commands
    }

    fn describe(&self, engine: &Engine, harness: &str, ollama: &str) -> Result<()> {
        let network = "xtask-smoke-<pid>";
        println!("{}", engine.network_create(network).render(None));
        println!("{}", engine.start(network, "ollama", ollama, Some("/models")).render(None));
        for args in self.commands() {
            println!("{}", engine.run(network, harness, &args).render(None));
        }
        println!("{}\n{}", engine.remove("ollama").render(None), engine.network_remove(network).render(None));
        Ok(())
    }
}
