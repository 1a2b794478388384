//! `cargo xtask smoke [--skip-ask]`: the images run together, as they ship. Builds both images
//! (the pipeline), loads them into docker or podman, starts ollama on a network of its own, where
//! it answers to the name `ollama` (with its `/models` volume), waits for its API (bounded: the
//! harness's own `health`, again and again), then runs the harness container's `health`, `models`
//! and `ask`. The container, its volume and the network are named after the run and carry its
//! label (`xtask-smoke-<pid>-<random>`, `xtask.smoke=<pid>-<random>`): what has the run's label
//! goes on every exit (signals too: [`scratch::on_exit`]), and nothing else is ever removed, so
//! a maintainer's own `ollama` container, or another job's on the same daemon, is never touched;
//! a name already taken fails the run. On a failure, ollama's logs are printed. Exit 0
//! only when all three succeed. `--skip-ask`: for an ollama image without a model (the real one,
//! in CI).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{
    command::NoSlots,
    images::{
        self,
        engine::{self, Engine},
    },
    layers::{self, Layer},
    pipeline::{self, OnPushFailure, Request},
    record::Record,
    scratch,
    session::Session,
};

/// Where the ollama image keeps its models (its volume).
const MODELS: &str = "/models";

/// Run the images together: ollama by name on a network, the harness's health, models, ask.
#[derive(clap::Args, Debug)]
pub struct Smoke {
    /// Skip `ask`: it needs a model in the ollama image.
    #[arg(long)]
    skip_ask: bool,
    /// Seconds to wait for ollama's API.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    wait: u64,
}

impl Smoke {
    /// Builds and loads the images, runs them together, and removes what carries the run's label.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let engine = Engine::new(engine::find("smoke")?);
        let targets = layers::images(session, &[], &session.platform)?;
        let mut request = Request::new(session, "smoke", targets, false, OnPushFailure::Warn)?;
        request.fetch_outputs = true;
        let built = pipeline::run(session, &request, record)?;
        let dir = images::archive_dir(session, None)?;
        let mut loaded = Vec::new();
        for (i, target) in request.targets.iter().enumerate() {
            let Layer::Image { image, .. } = &target.layer else { continue };
            let archive = dir.join(format!("{image}.tar"));
            let script = built.outputs.get(i).and_then(|o| o.first()).map(String::as_str);
            record.step("image", format!("Write {image} to {}", archive.display()), &[], || {
                images::stream(session, script, &target.attr.to_string(), &archive)
            })?;
            let load = engine::load(engine.program, &archive);
            if session.dry_run {
                println!("{}", load.render(None));
                loaded.push((image.clone(), format!("<{image} as loaded>")));
                continue;
            }
            let reference = record.step("load", format!("Load {image} into {}", engine.program), &[&load], || {
                let said = load.run(&NoSlots)?;
                // The engine's own words: the reference it gave the image.
                said.lines()
                    .rev()
                    .find_map(|l| l.split_once("Loaded image: ").map(|(_, r)| r.trim().to_owned()))
                    .with_context(|| format!("`{} load` did not say what it loaded: {said}", engine.program))
            })?;
            loaded.push((image.clone(), reference));
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
        let network = engine.network();
        let container = format!("{network}-ollama");
        // What carries the run's label goes on every exit: its containers (the harness's runs
        // remove themselves; one cut short by a signal goes too), then its network.
        scratch::on_exit(engine.sweep_networks());
        scratch::on_exit(engine.sweep_containers());
        engine.network_create(&network).run(&NoSlots)?;
        let start = engine.start(&network, &container, "ollama", &ollama, MODELS);
        let title = "Run ollama, then the harness against it by name".to_owned();
        let result = record.step("smoke", title, &[&start], || {
            start.run(&NoSlots)?;
            self.check(&engine, &network, &harness)
        });
        if result.is_err() {
            eprintln!("--- logs of ollama ({container}):");
            let _ = engine.logs(&container).run(&NoSlots);
        }
        scratch::undo();
        result
    }

    /// `health` until it answers (bounded), then `models` and `ask`.
    fn check(&self, engine: &Engine, network: &str, harness: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(self.wait);
        while engine.run(network, &format!("{network}-harness"), harness, &["health"]).run_quietly(&NoSlots).is_err() {
            if Instant::now() > deadline {
                bail!("ollama did not answer on its network within {} s (its logs follow)", self.wait);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        for args in self.commands() {
            engine.run(network, &format!("{network}-harness"), harness, &args).run(&NoSlots)?;
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
        let network = engine.network();
        let container = format!("{network}-ollama");
        println!("{}", engine.network_create(&network).render(None));
        println!("{}", engine.start(&network, &container, "ollama", ollama, MODELS).render(None));
        for args in self.commands() {
            println!("{}", engine.run(&network, &format!("{network}-harness"), harness, &args).render(None));
        }
        for scratch::Undo { list, remove } in [engine.sweep_containers(), engine.sweep_networks()] {
            println!("{} | xargs {}", list.render(None), remove.render(None));
        }
        Ok(())
    }
}
