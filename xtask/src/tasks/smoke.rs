//! `cargo xtask smoke [--skip-ask]`: the images run together, as they ship. Builds and loads both
//! images, starts ollama (with its `/models` volume) on a network of its own as `ollama`, waits
//! (bounded) for the harness's `health` to answer, then runs the harness's `health`, `models` and
//! `ask` (`--skip-ask`: for an ollama image without a model, as in CI); on a failure, prints
//! ollama's logs. What it makes is named after the run and carries its label
//! ([`images::engine::Engine`]), and goes on every exit, signals too ([`scratch::on_exit`]).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    command::{Cmd, NoSlots},
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
        let mut loaded = BTreeMap::new();
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
                loaded.insert(image.as_str(), format!("<{image} as loaded>"));
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
            loaded.insert(image.as_str(), reference);
        }
        let image = |name: &str| loaded.get(name).with_context(|| format!("no image {name} in the config"));
        let (harness, ollama) = (image("harness")?, image("ollama")?);
        let network = engine.network();
        let container = format!("{network}-ollama");
        let create = engine.network_create(&network);
        let start = engine.start(&network, &container, "ollama", ollama, MODELS);
        let ask: &[&str] = &["ask", "--model", "standin:latest", "Why is the sky blue?"];
        let checks: Vec<Cmd> = [&["health"][..], &["models"], ask]
            .into_iter()
            .filter(|args| !(self.skip_ask && args[0] == "ask"))
            .map(|args| engine.run(&network, &format!("{network}-harness"), harness, args))
            .collect();
        if session.dry_run {
            for cmd in [&create, &start].into_iter().chain(&checks) {
                println!("{}", cmd.render(None));
            }
            for scratch::Undo { list, remove } in engine.sweeps() {
                println!("{} | xargs {}", list.render(None), remove.render(None));
            }
            return Ok(());
        }
        // What carries the run's label goes on every exit: its containers (the harness's runs
        // remove themselves; one cut short by a signal goes too), then its network.
        engine.sweeps().into_iter().rev().for_each(scratch::on_exit);
        create.run(&NoSlots)?;
        let title = "Run ollama, then the harness against it by name".to_owned();
        let result = record.step("smoke", title, &[&start], || {
            start.run(&NoSlots)?;
            // `health` until it answers (bounded), then each check.
            let deadline = Instant::now() + Duration::from_secs(self.wait);
            while checks[0].run_quietly(&NoSlots).is_err() {
                if Instant::now() > deadline {
                    bail!("ollama did not answer on its network within {} s (its logs follow)", self.wait);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            checks.iter().try_for_each(|check| check.run(&NoSlots).map(drop))?;
            let what =
                if self.skip_ask { "listed its models (ask skipped)" } else { "listed its models and got an answer" };
            eprintln!("smoke: the harness reached ollama by name and {what}");
            Ok(())
        });
        if result.is_err() {
            eprintln!("--- logs of ollama ({container}):");
            let _ = engine.cmd(["logs", &container]).run(&NoSlots);
        }
        scratch::undo();
        result
    }
}
