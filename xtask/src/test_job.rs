//! Layer 2, `cargo xtask test --type T`: the CI test-matrix job. With Nix it builds
//! `checks.<system>.<T>` and pushes the job's artifacts; with `--no-nix`, it runs the cargo
//! equivalent from the config directly.

use anyhow::Result;

use crate::{
    cache_key,
    nix::{lit, Attr},
    pipeline,
    plan::{Cmd, Plan, StepKind},
    Ctx,
};

pub struct TestArgs {
    pub test_type: String,
    pub os: Option<String>,
    pub rust: Option<String>,
    pub no_nix: bool,
    pub force: bool,
}

pub fn run(ctx: &Ctx, args: &TestArgs) -> Result<()> {
    let config = &ctx.config;
    let cargo_args = config.test_args(&args.test_type)?;
    let deps = cache_key::deps_key(&ctx.root, config)?;
    let os = args.os.as_deref().unwrap_or(&config.os[0]);
    let rust = args.rust.as_deref().unwrap_or(&config.rust);
    let outputs = [("cache-key", deps.clone()), ("job-key", cache_key::job_key(&deps, os, rust, &args.test_type))];
    let task = format!("test --type {}", args.test_type);

    if args.no_nix {
        let mut plan = Plan::new(task);
        let cmd = Cmd::new("cargo", cargo_args.iter().map(lit))
            .needs(format!("the {} tests failed (see above)", args.test_type));
        plan.step(format!("cargo {}", cargo_args.join(" ")), StepKind::Run(cmd));
        return pipeline::execute(ctx, &mut plan, None, &outputs);
    }

    let cache = ctx.cache()?;
    let attrs = [Attr::check(&ctx.system, &args.test_type)];
    let mut plan = pipeline::plan(ctx, &task, &attrs, &cache, args.force);
    pipeline::execute(ctx, &mut plan, Some(&cache), &outputs)
}
