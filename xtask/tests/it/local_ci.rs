//! `cargo xtask ci`: the generated workflows' job graph, run here. The YAML GitHub runs and the
//! graph the local run executes agree (jobs, needs, matrix legs, each step's command and
//! condition). A pipeline runs every job as a fresh runner with job outputs flowing through
//! `needs`; a push publishes one index per tag, a pull request publishes nothing, a fork pushes
//! nothing, and what this machine lacks is skipped, never passed.

use std::{collections::BTreeMap, fs, path::Path};

use serde_json::{json, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::support::{images::*, *};
use xtask::record::{Cause, JobRun, Pipeline, Record, Why};

/// A matrix as GitHub expands it: the axes' combinations, then each `include` entry added to
/// the combinations it matches, or on its own.
fn expand(matrix: &Yaml) -> Vec<BTreeMap<String, String>> {
    let Some(hash) = matrix.as_hash() else { return vec![BTreeMap::new()] };
    let text = |y: &Yaml| y.as_str().map(str::to_owned).unwrap_or_else(|| format!("{}", y.as_i64().unwrap()));
    let axes: Vec<(String, Vec<String>)> = hash
        .iter()
        .filter(|(k, _)| k.as_str() != Some("include"))
        .map(|(k, v)| (text(k), v.as_vec().unwrap().iter().map(text).collect()))
        .collect();
    let mut combos = vec![BTreeMap::new()];
    for (axis, values) in &axes {
        combos = combos
            .into_iter()
            .flat_map(|c: BTreeMap<String, String>| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(axis.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    for entry in matrix["include"].as_vec().into_iter().flatten() {
        let entry: BTreeMap<String, String> =
            entry.as_hash().unwrap().iter().map(|(k, v)| (text(k), text(v))).collect();
        let is_axis = |k: &String| axes.iter().any(|(a, _)| a == k);
        let mut added = false;
        for combo in &mut combos {
            if entry.iter().filter(|(k, _)| is_axis(k)).all(|(k, v)| combo.get(k) == Some(v)) {
                combo.extend(entry.iter().filter(|(k, _)| !is_axis(k)).map(|(k, v)| (k.clone(), v.clone())));
                added = true;
            }
        }
        if !added {
            combos.push(entry);
        }
    }
    combos
}

/// The legs of a committed workflow as GitHub reads it.
fn yaml_legs(file: &str, graph_legs: &[Value]) -> Vec<Value> {
    let text = fs::read_to_string(workspace_root().join(file)).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    let mut legs = Vec::new();
    for (id, job) in doc["jobs"].as_hash().unwrap() {
        let needs: Vec<&str> = match &job["needs"] {
            Yaml::String(one) => vec![one.as_str()],
            Yaml::Array(many) => many.iter().map(|n| n.as_str().unwrap()).collect(),
            _ => Vec::new(),
        };
        // A matrix a job before it gives (`fromJSON`) names its legs in the graph: the YAML says
        // where they come from, and each leg's values fill the job's name.
        let from = job["strategy"]["matrix"].as_str().map(str::to_owned);
        let combos = match &from {
            Some(_) => graph_legs
                .iter()
                .filter(|l| l["job"] == id.as_str().unwrap())
                .map(|l| serde_json::from_value::<BTreeMap<String, String>>(l["matrix"].clone()).unwrap())
                .collect(),
            None => expand(&job["strategy"]["matrix"]),
        };
        for combo in combos {
            let fill =
                |s: &str| combo.iter().fold(s.to_owned(), |s, (k, v)| s.replace(&format!("${{{{ matrix.{k} }}}}"), v));
            let steps: Vec<Value> = job["steps"]
                .as_vec()
                .unwrap()
                .iter()
                .map(|step| match step["uses"].as_str() {
                    Some(uses) => json!({ "uses": uses.split('@').next().unwrap() }),
                    None => json!({ "run": step["run"].as_str().unwrap(), "if": step["if"].as_str(), "id": step["id"].as_str() }),
                })
                .collect();
            legs.push(json!({
                "job": id.as_str().unwrap(), "name": fill(job["name"].as_str().unwrap()), "needs": needs,
                "runs_on": fill(job["runs-on"].as_str().unwrap()), "if": job["if"].as_str(), "matrix": combo,
                "matrix_from": from, "steps": steps,
            }));
        }
    }
    legs
}

#[test]
fn the_committed_workflows_are_the_graph_the_local_run_executes() {
    for (workflow, file) in
        [("ci", ".github/workflows/ci.yml"), ("cache-warming", ".github/workflows/cache-warming.yml")]
    {
        let json = temp_dir("ci-plan").join("plan.json");
        let path = json.display().to_string();
        let args = ["ci", "--dry-run", "--workflow", workflow, "--event", "push", "--json", &path];
        run(tools().args(args).env("PATH", cargo_only_path())).ok();
        let plan: Value = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
        let graph = plan["legs"].as_array().unwrap();
        let yaml = yaml_legs(file, graph);
        assert!(graph.len() >= 5, "{workflow}: {} legs", graph.len());
        assert_eq!(graph.len(), yaml.len(), "{file}: the YAML and the graph have different legs");
        for (g, y) in graph.iter().zip(&yaml) {
            assert_eq!(g, y, "{file}: the YAML and the graph disagree (run `cargo xtask workflows`)");
        }
    }
}

fn job<'a>(pipeline: &'a Pipeline, name: &str) -> &'a JobRun {
    let found = pipeline.jobs.iter().find(|j| j.name == name);
    found.unwrap_or_else(|| panic!("no job {name} in {pipeline:#?}"))
}

fn results(pipeline: &Pipeline) -> BTreeMap<String, String> {
    pipeline.jobs.iter().map(|j| (j.name.clone(), j.result.clone())).collect()
}

/// `cargo xtask ci --flake xtask/tests/example-flake ARGS` in a copy of the repository (a fresh
/// clone, as the README runs it) with the cache; its output and the pipeline it recorded.
fn ci(repo: &Path, cache: &Path, name: &str, args: &[&str], nix_extra: Option<&str>) -> (Run, Pipeline) {
    let file = cache.with_file_name(format!("{name}.record.json"));
    let mut cmd = tools();
    cmd.current_dir(repo)
        .args(["ci", "--flake", "xtask/tests/example-flake", "--cache", &format!("file://{}", cache.display())])
        .args(["--record", &file.display().to_string()])
        .args(args);
    if let Some(extra) = nix_extra {
        cmd.env("NIX_CONFIG", extra);
    }
    // Each job starts as a fresh runner: the pipeline's outputs are deleted from the store.
    let out = {
        let _deleting = deleting_from_the_store();
        run(&mut cmd)
    };
    let record = Record::read(&file).unwrap_or_else(|e| panic!("{e:#}\n{}", out.stderr));
    let pipeline =
        record.pipeline.unwrap_or_else(|| panic!("`ci` recorded no pipeline: {:?}\n{}", record.error, out.stderr));
    (out, pipeline)
}

/// One pipeline after another on the same cache, each a scenario of its own on what the ones
/// before left: a push fills the cache, so a pull request has nothing to build, and a fork's
/// change is built from it.
#[test]
fn a_pipeline_runs_every_job_as_a_fresh_runner_and_a_fork_pushes_nothing() {
    needs!(Nix, Engine, Registry);
    let flake = runnable_flake("ci");
    let repo = flake.ancestors().nth(3).unwrap().to_path_buf();
    let cache = temp_dir("ci-outside").join("cache");
    let _one = smoke_lock();
    a_push_runs_every_job_as_a_fresh_runner_and_publishes_the_images(&repo, &cache);
    a_push_that_changes_nothing_tags_the_commit_by_digest(&repo, &cache);
    a_pull_request_that_changes_nothing_builds_and_publishes_nothing(&repo, &cache);
    a_path_the_cache_lost_or_serves_broken_runs_the_job_that_repairs_it(&repo, &cache);
    a_smoke_runs_again_when_the_history_holds_no_passing_one(&repo, &cache);
    force_runs_every_job(&repo, &cache);
    a_forks_pull_request_builds_its_change_and_pushes_nothing(&repo, &flake, &cache);
    a_push_skips_what_this_machine_cannot_do_and_passes_nothing_that_did_not_run(&repo, &cache);
    a_failing_test_stops_what_leaves_the_pipeline_not_the_images(&repo, &flake, &cache);
}

/// A push to the default branch, from an empty cache, to a registry of the run's own (as the
/// README runs it): every job, the images published.
fn a_push_runs_every_job_as_a_fresh_runner_and_publishes_the_images(repo: &Path, cache: &Path) {
    let (out, push) = ci(repo, cache, "push", &["--event", "push", "--registry", "local"], None);
    let out = out.ok();
    for (name, result) in results(&push) {
        assert_eq!(result, "success", "{name}:\n{}", out.stderr);
    }
    assert!(["smoke (x86_64)", "publish"].iter().all(|j| results(&push).contains_key(*j)), "{push:#?}");
    // The first job compiled the xtask of the clone; the others ran the binary it kept.
    assert_eq!(job(&push, "prebuild-deps (x86_64)").xtask_restored, Some(false), "{push:#?}");
    // Each task's record names its job and matrix leg, as GitHub would; the run's pipeline is
    // kept once.
    let runs = history(cache);
    assert_eq!(runs.iter().filter(|r| r.pipeline.is_some()).count(), 1, "{runs:#?}");
    let unit = runs.iter().find(|r| r.task == "test" && r.args.contains(&"unit".to_owned())).unwrap();
    let github = unit.github.as_ref().unwrap();
    assert_eq!(
        (github.job.as_str(), github.matrix.get("test-type").map(String::as_str)),
        ("test-matrix", Some("unit"))
    );
    // The dashboard shows the run: every job that ran, on its timeline.
    let page = fs::read_to_string(repo.join("target/xtask-dashboard/index.html")).unwrap();
    for job in push.jobs.iter().filter(|j| j.result == "success") {
        assert!(
            page.contains("<rect class=\"span") && page.contains(&format!("<td>{}</td>", job.name)),
            "{} is not on the dashboard",
            job.name
        );
    }
    the_jobs_of_a_push_pass_the_deps_layer_through_needs_and_the_cache(&push);
    // The registry is gone with the run; its storage holds `harness:latest` as an index of both arches.
    let v2 = repo.join("target/xtask-ci/registry/storage/docker/registry/v2");
    let link =
        fs::read_to_string(v2.join("repositories/nanna-coder/harness/_manifests/tags/latest/current/link")).unwrap();
    let digest = link.trim().strip_prefix("sha256:").unwrap();
    let index = fs::read_to_string(v2.join(format!("blobs/sha256/{}/{digest}/data", &digest[..2]))).unwrap();
    assert!(index.contains("\"arm64\"") && index.contains("\"amd64\""), "{index}");
}

/// A push of a new commit that changes nothing: no job but the first (and history) runs, nothing
/// is built or pushed to the cache, and publish tags the commit with the manifests the push
/// before made, copied by digest.
fn a_push_that_changes_nothing_tags_the_commit_by_digest(repo: &Path, cache: &Path) {
    let head = || {
        run(std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(repo)).stdout.trim().to_owned()
    };
    let old = head();
    git(repo, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "nothing"]);
    let new = head();
    let before = store_files(cache);
    let (out, push) = ci(repo, cache, "push-again", &["--event", "push", "--registry", "local"], None);
    let out = out.ok();
    assert_eq!(store_files(cache), before, "a push that changes nothing pushed to the cache:\n{}", out.stderr);
    for j in push.jobs.iter().filter(|j| ["test-matrix", "build-containers", "smoke"].contains(&j.id.as_str())) {
        let proof = j.proof.as_ref().unwrap_or_else(|| panic!("{j:#?}"));
        assert_eq!((j.result.as_str(), proof.why), ("skipped", Why::Proven), "{}: {}", j.name, out.stdout);
        assert_eq!(proof.copy.is_some(), j.id == "build-containers", "{j:#?}");
    }
    assert_eq!(job(&push, "publish").result, "success", "{}", out.stdout);
    let tags = repo
        .join("target/xtask-ci/registry/storage/docker/registry/v2/repositories/nanna-coder/harness/_manifests/tags");
    let link = |tag: &str| fs::read_to_string(tags.join(tag).join("current/link")).unwrap();
    for arch in ["x86_64", "aarch64"] {
        assert_eq!(link(&format!("{new}-{arch}")), link(&format!("{old}-{arch}")), "{arch}: not the same manifest");
    }
    assert_ne!(link(&new), link(&format!("{new}-x86_64")), "{new} is an index of the arches");
    // `latest` follows: each arch's manifest of this commit, and its index.
    for arch in ["x86_64", "aarch64"] {
        assert_eq!(link(&format!("latest-{arch}")), link(&format!("{new}-{arch}")), "latest-{arch}");
    }
}

/// The prebuild job's key reaches the test job through `needs`; the test job, a fresh runner
/// (what prebuild-deps built deleted, not kept), fetched the deps layer the prebuild job pushed.
fn the_jobs_of_a_push_pass_the_deps_layer_through_needs_and_the_cache(push: &Pipeline) {
    let prebuild = job(push, "prebuild-deps (x86_64)");
    let key = &prebuild.outputs.iter().find(|o| o.name == "cache-key").expect("prebuild-deps emits the deps key").value;
    assert_eq!(prebuild.tasks[0].task, "prebuild");
    let test = job(push, "test (ubuntu-latest, unit)");
    assert!(
        test.from_needs.iter().any(|o| o.name == "DEPS_CACHE_KEY" && o.value == *key),
        "the prebuild job's output reaches the test job through needs: {test:#?}"
    );
    assert_eq!(test.xtask_restored, Some(true), "{test:#?}");
    // The test job's runner lacks what prebuild-deps built: its outputs were deleted, not kept.
    assert!(test.fresh_store.as_ref().is_some_and(|f| f.deleted > 0), "{test:#?}");
    // Its task's record: it fetched the deps layer, which the prebuild job pushed.
    let rates = test.tasks[0].rates.as_ref().expect("the test task saw what a fresh runner would fetch");
    assert_eq!(rates.deps_hit_rate, 1.0, "{test:#?}");
}

/// A pull request that changes nothing: only the first job (its legs) and history run; every
/// other job is skipped, proven needless by the first job, its key and paths said; nothing is
/// built, nothing is pushed.
fn a_pull_request_that_changes_nothing_builds_and_publishes_nothing(repo: &Path, cache: &Path) {
    let before = store_files(cache);
    let (out, pr) = ci(repo, cache, "pr", &["--event", "pull_request"], None);
    let out = out.ok();
    assert_eq!(store_files(cache), before, "a pull request that changes nothing pushed:\n{}", out.stderr);
    assert!(job(&pr, "publish").reason.as_deref().unwrap().contains("only on a push"), "{}", out.stdout);
    let ran: std::collections::BTreeSet<&str> =
        pr.jobs.iter().filter(|j| j.result != "skipped").map(|j| j.id.as_str()).collect();
    assert_eq!(ran, ["history", "prebuild-deps"].into(), "{}", out.stdout);
    for j in pr.jobs.iter().filter(|j| ["test-matrix", "build-containers", "smoke"].contains(&j.id.as_str())) {
        let proof = j.proof.as_ref().unwrap_or_else(|| panic!("{} has no answer: {j:#?}", j.name));
        assert_eq!((proof.runs, proof.why, proof.to_build, proof.broken), (false, Why::Proven, 0, 0), "{j:#?}");
        assert!(proof.paths > 0 && !proof.key.is_empty(), "{j:#?}");
        assert!(j.reason.as_deref().is_some_and(|r| r.contains(&proof.key)), "the reason names the key: {j:#?}");
    }
    // The dashboard says why beside each job of the run.
    let page = fs::read_to_string(repo.join("target/xtask-dashboard/index.html")).unwrap();
    let unit = job(&pr, "test (ubuntu-latest, unit)");
    assert!(page.contains(&format!("<td>{}</td></tr>", unit.reason.as_deref().unwrap())), "{unit:#?}");
    // Smoke is proven by a passing smoke of these exact images in the history.
    let smoke = job(&pr, "smoke (x86_64)").proof.clone().unwrap();
    let smoked = history(cache).into_iter().find(|r| Some(&r.id) == smoke.smoke.as_ref()).expect("the smoke it names");
    assert!(smoked.task == "smoke" && smoked.ok(), "{smoked:#?}");
    // The first job ran, and built nothing.
    for j in pr.jobs.iter().filter(|j| j.id == "prebuild-deps" && j.result == "success") {
        assert!(!j.tasks.is_empty() && j.tasks.iter().all(|t| t.built == 0), "{} built something: {j:#?}", j.name);
    }
}

/// A cache that lost a path (its narinfo deleted), serves a NAR file cut short, or a narinfo
/// signed by a key it does not trust: the leg that needs it runs (and repairs it: the next pull
/// request skips it again); none is skipped wrongly, and no other leg runs.
fn a_path_the_cache_lost_or_serves_broken_runs_the_job_that_repairs_it(repo: &Path, cache: &Path) {
    // Each arch's path of a name (their NAR files may be one: the same bytes).
    let infos = |name: &str| -> Vec<xtask::cache::narinfo::NarInfo> {
        narinfos(cache).into_iter().filter(|i| i.store_path.ends_with(name)).collect()
    };
    let narinfo_file = |i: &xtask::cache::narinfo::NarInfo| {
        let hash = i.store_path.trim_start_matches("/nix/store/").split('-').next().unwrap().to_owned();
        cache.join(format!("{hash}.narinfo"))
    };
    // unit: lost; ollama's program: its NAR file cut short; clippy: signed by another key.
    for unit in infos("-harness-unit") {
        fs::remove_file(narinfo_file(&unit)).unwrap();
    }
    let nars: std::collections::BTreeSet<String> = infos("-ollama-0.12.0").into_iter().map(|i| i.url).collect();
    for nar in nars.iter().map(|url| cache.join(url)) {
        let bytes = fs::read(&nar).unwrap();
        fs::write(&nar, &bytes[..bytes.len() / 2]).unwrap();
    }
    for clippy in infos("-harness-clippy").iter().map(narinfo_file) {
        let text = fs::read_to_string(&clippy).unwrap();
        let sig = format!("Sig: someone-else-1:{}==", "A".repeat(86));
        let resigned: Vec<String> =
            text.lines().map(|l| if l.starts_with("Sig: ") { sig.clone() } else { l.to_owned() }).collect();
        fs::write(&clippy, resigned.join("\n") + "\n").unwrap();
    }

    let (out, pr) = ci(repo, cache, "damaged", &["--event", "pull_request"], None);
    let out = out.ok();
    let ran: BTreeMap<String, Why> = pr
        .jobs
        .iter()
        .filter(|j| j.result != "skipped" && !["prebuild-deps", "history"].contains(&j.id.as_str()))
        .map(|j| (j.name.clone(), j.proof.as_ref().map(|p| p.why).unwrap_or_else(|| panic!("{j:#?}"))))
        .collect();
    let expected = BTreeMap::from([
        ("test (ubuntu-latest, unit)".to_owned(), Why::Builds),
        ("test (ubuntu-latest, clippy)".to_owned(), Why::Broken),
        ("container (ollama, x86_64)".to_owned(), Why::Broken),
        ("container (ollama, aarch64)".to_owned(), Why::Broken),
        ("smoke (x86_64)".to_owned(), Why::Broken),
    ]);
    assert_eq!(ran, expected, "{}", out.stdout);
    assert!(pr.jobs.iter().all(|j| j.result != "failure"), "{}", out.stdout);
}

/// The history forgot every smoke: the images are the same and fetchable, yet smoke runs; every
/// other leg is proven again (what the run before repaired is whole).
fn a_smoke_runs_again_when_the_history_holds_no_passing_one(repo: &Path, cache: &Path) {
    for record in fs::read_dir(cache.join(xtask::history::DIR)).unwrap().map(|e| e.unwrap().path()) {
        if record.file_name().unwrap().to_string_lossy().contains("-smoke-") {
            fs::remove_file(record).unwrap();
        }
    }
    let (out, pr) = ci(repo, cache, "unsmoked", &["--event", "pull_request"], None);
    let out = out.ok();
    let ran: BTreeMap<&str, Option<Why>> = pr
        .jobs
        .iter()
        .filter(|j| j.result != "skipped" && !["prebuild-deps", "history"].contains(&j.id.as_str()))
        .map(|j| (j.name.as_str(), j.proof.as_ref().map(|p| p.why)))
        .collect();
    assert_eq!(ran, BTreeMap::from([("smoke (x86_64)", Some(Why::NotSmoked))]), "{}", out.stdout);
}

/// `--force` (a dispatch's `force_rebuild`): nothing is proven needless; every leg this machine
/// can run runs.
fn force_runs_every_job(repo: &Path, cache: &Path) {
    let (out, forced) = ci(repo, cache, "forced", &["--event", "pull_request", "--force"], None);
    let out = out.ok();
    for j in forced.jobs.iter().filter(|j| ["test-matrix", "build-containers", "smoke"].contains(&j.id.as_str())) {
        assert_eq!(j.proof.as_ref().map(|p| (p.runs, p.why)), Some((true, Why::Forced)), "{j:#?}");
        assert_eq!(j.result, "success", "{}: {}", j.name, out.stdout);
    }
}

/// A fork's pull request with a change: the jobs build it, and push nothing. It only reads the
/// cache and signs nothing, yet a path signed by a key runners do not trust is no proof: the leg
/// that needs it runs (the cache's keys are those written for runners beside it).
fn a_forks_pull_request_builds_its_change_and_pushes_nothing(repo: &Path, flake: &Path, cache: &Path) {
    fs::write(flake.join("app"), "a fork's change\n").unwrap();
    let fmt: Vec<(std::path::PathBuf, String)> = narinfos(cache)
        .into_iter()
        .filter(|i| i.store_path.ends_with("-harness-fmt"))
        .map(|i| {
            let hash = i.store_path.trim_start_matches("/nix/store/").split('-').next().unwrap().to_owned();
            let file = cache.join(format!("{hash}.narinfo"));
            let text = fs::read_to_string(&file).unwrap();
            (file, text)
        })
        .collect();
    assert!(!fmt.is_empty(), "the cache has the fmt check");
    for (file, text) in &fmt {
        let sig = format!("Sig: someone-else-1:{}==", "A".repeat(86));
        let resigned: Vec<String> =
            text.lines().map(|l| if l.starts_with("Sig: ") { sig.clone() } else { l.to_owned() }).collect();
        fs::write(file, resigned.join("\n") + "\n").unwrap();
    }
    let before = snapshot(cache);
    let (out, fork) = ci(repo, cache, "fork", &["--event", "pull_request", "--fork"], None);
    let out = out.ok();
    assert_eq!(snapshot(cache), before, "the fork's pipeline wrote to the cache");
    let fmt_leg = job(&fork, "test (ubuntu-latest, fmt)");
    assert_eq!(fmt_leg.proof.as_ref().map(|p| p.why), Some(Why::Broken), "{}", out.stdout);
    assert_eq!(fmt_leg.result, "success", "{}", out.stdout);
    // The fork repaired nothing (it writes nothing): the cache is put back for the scenarios after.
    for (file, text) in &fmt {
        fs::write(file, text).unwrap();
    }
    assert!(out.stderr.contains("a pull request from a fork gets no secrets"), "{}", out.stderr);
    assert_eq!(job(&fork, "prebuild-deps (x86_64)").result, "success");
    // `app` is the harness's source: the harness's legs run, and smoke (its images changed);
    // the checks and the ollama image do not take it, and are skipped.
    let results = results(&fork);
    for name in ["container (harness, x86_64)", "container (harness, aarch64)", "smoke (x86_64)"] {
        assert_eq!(results[name], "success", "{name}: {}", out.stdout);
    }
    for name in ["test (ubuntu-latest, unit)", "container (ollama, x86_64)", "container (ollama, aarch64)"] {
        assert_eq!(results[name], "skipped", "{name}: {}", out.stdout);
        assert_eq!(job(&fork, name).proof.as_ref().map(|p| p.why), Some(Why::Proven), "{name}");
    }
    // Each job says why it built: the harness's derivation (which reads `app`) changed since
    // the run that had its image.
    let harness = job(&fork, "container (harness, x86_64)");
    let why = harness.tasks.iter().find_map(|t| t.why.get("image harness")).unwrap_or_else(|| panic!("{harness:#?}"));
    assert!(why.since.is_some(), "{why:#?}");
    let differ = match why.causes.as_slice() {
        [Cause::Derivation { differ }] => differ,
        causes => panic!("{causes:#?}"),
    };
    assert!(differ.iter().any(|d| d == "harness-0.1.0.drv"), "{differ:?}");
    assert!(out.stderr.contains("why build-containers builds image harness"), "{}", out.stderr);
}

/// A push of a change to the harness whose unit test fails: the images build beside the tests
/// (they start when the first job ends, as the tests do), push the commit's tag and are smoked
/// (smoke needs the images, not the tests); publish, after every test leg, does not run, so
/// `latest` and its arches still name the last push whose tests passed.
fn a_failing_test_stops_what_leaves_the_pipeline_not_the_images(repo: &Path, flake: &Path, cache: &Path) {
    let tags = repo
        .join("target/xtask-ci/registry/storage/docker/registry/v2/repositories/nanna-coder/harness/_manifests/tags");
    let link = |tag: &str| fs::read_to_string(tags.join(tag).join("current/link")).ok();
    let published =
        ["latest", "latest-x86_64", "latest-aarch64"].map(|t| link(t).expect("an earlier push published it"));
    fs::write(flake.join("app"), "a change whose unit test fails\n").unwrap();
    fs::write(flake.join("fail-unit"), "").unwrap();
    git(repo, &["add", "xtask/tests/example-flake/app", "xtask/tests/example-flake/fail-unit"]);
    git(repo, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a failing unit test"]);
    let (out, push) = ci(repo, cache, "failing", &["--event", "push", "--registry", "local"], None);
    let out = out.failed();
    let results = results(&push);
    assert_eq!(results["test (ubuntu-latest, unit)"], "failure", "{}", out.stdout);
    for name in ["container (harness, x86_64)", "container (harness, aarch64)", "smoke (x86_64)"] {
        assert_eq!(results[name], "success", "{name}: {}", out.stdout);
    }
    let (unit, image) = (job(&push, "test (ubuntu-latest, unit)"), job(&push, "container (harness, x86_64)"));
    assert!(unit.start_seconds > 0.0, "{push:#?}");
    assert_eq!(image.start_seconds, unit.start_seconds, "the images wait for the first job alone: {push:#?}");
    let publish = job(&push, "publish");
    assert_eq!(publish.result, "skipped", "{}", out.stdout);
    assert!(publish.reason.as_deref().unwrap_or_default().contains("test-matrix"), "{publish:#?}");
    let sha = run(std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(repo)).stdout;
    assert!(link(&format!("{}-x86_64", sha.trim())).is_some(), "the commit's tag was not pushed");
    let now = ["latest", "latest-x86_64", "latest-aarch64"].map(|t| link(t).unwrap());
    assert_eq!(now, published, "latest moved to a commit whose tests fail");
    git(repo, &["rm", "-q", "xtask/tests/example-flake/fail-unit"]);
    git(repo, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "the unit test passes"]);
}

/// A push without a registry, on a machine that cannot build aarch64-linux: what pushes images
/// and the aarch64 legs are skipped, and said so; nothing that did not run passes.
fn a_push_skips_what_this_machine_cannot_do_and_passes_nothing_that_did_not_run(repo: &Path, cache: &Path) {
    let (out, bare) = ci(repo, cache, "bare", &["--event", "push"], Some(&nix_config("extra-platforms =")));
    let out = out.ok();
    let reason = |name: &str| job(&bare, name).reason.clone().unwrap_or_default();
    assert!(reason("container (harness, aarch64)").contains("cannot build aarch64-linux"), "{}", out.stdout);
    assert!(reason("container (harness, x86_64)").contains("no registry given"), "{}", out.stdout);
    assert!(reason("publish").contains("cannot build aarch64-linux"), "{}", out.stdout);
    assert_eq!(job(&bare, "container (harness, x86_64)").result, "skipped");
    // The ollama image is in the cache, but a push without a registry has no manifest of it to
    // copy: its leg is answered "runs" (it would publish), never proven.
    let ollama = job(&bare, "container (ollama, x86_64)");
    assert_eq!(ollama.proof.as_ref().map(|p| (p.runs, p.why)), Some((true, Why::Publishes)), "{}", out.stdout);
}

/// A leg whose attribute the flake lacks (an arch it does not build) is answered "runs" and why
/// (its job then fails on its own runner); the others are answered from the cache, and nothing
/// fails the first job.
#[test]
fn prove_runs_a_leg_whose_attribute_the_flake_lacks() {
    needs!(Nix);
    let flake = example_flake("proven-missing");
    let text = fs::read_to_string(flake.join("flake.nix")).unwrap();
    fs::write(flake.join("flake.nix"), text.replace(r#"[ "x86_64-linux" "aarch64-linux" ]"#, r#"[ "x86_64-linux" ]"#))
        .unwrap();
    let cache = format!("file://{}", temp_dir("proven-missing").join("cache").display());
    let (out, record) =
        recorded(xtask().args(["prebuild", "--prove", "--flake", &flake.display().to_string(), "--cache", &cache]));
    let out = out.ok();
    let why: BTreeMap<&str, (bool, Why)> = record.proven.iter().map(|d| (d.leg.as_str(), (d.runs, d.why))).collect();
    assert_eq!(why["container (harness, aarch64)"], (true, Why::Unknown), "{}", out.stderr);
    assert_eq!(why["container (harness, x86_64)"], (true, Why::Builds), "{}", out.stderr);
    assert_eq!(why["test (ubuntu-latest, unit)"], (true, Why::Builds), "{}", out.stderr);
    // Once the cache has the x86_64 images, their legs are proven beside the arch the flake lacks.
    let flake = flake.display().to_string();
    run(xtask().args(["warm-containers", "--flake", &flake, "--cache", &cache])).ok();
    let (out, record) = recorded(xtask().args(["prebuild", "--prove", "--flake", &flake, "--cache", &cache]));
    let why: BTreeMap<&str, (bool, Why)> = record.proven.iter().map(|d| (d.leg.as_str(), (d.runs, d.why))).collect();
    assert_eq!(why["container (harness, x86_64)"], (false, Why::Proven), "{}", out.ok().stderr);
    assert_eq!(why["container (harness, aarch64)"], (true, Why::Unknown));
}

/// GitHub's `failure()` sees the whole chain: a job that runs past a job skipped as proven does
/// not run once a job further up failed (a test leg failed, so build-containers did not run:
/// smoke does not either).
#[test]
fn a_failure_up_the_chain_stops_a_job_that_runs_past_skips() {
    use std::collections::BTreeSet;
    use xtask::workflows::{graph::*, legs};
    use xtask_tools::local_ci::plan::{self, Context, Event, Outcome};
    let ctx = Context {
        event: Event::Push,
        fork: false,
        registry: None,
        systems: Vec::new(),
        lacks_systems: Vec::new(),
        engine: true,
        buildah: true,
        force: false,
    };
    let smoke = Job::new("smoke", "smoke", RunsOn::Label("ubuntu-latest"))
        .needs(&["prebuild-deps", "build-containers"])
        .when(Condition::Unproven { job: "prebuild-deps", output: "smoke" });
    let leg = legs::legs(&smoke).remove(0);
    let answer = BTreeMap::from([("smoke".to_owned(), "run".to_owned())]);
    let done = BTreeMap::from([
        ("prebuild-deps", (Outcome::Success, answer)),
        ("build-containers", (Outcome::Skipped("it needs test-matrix, which failed".into()), BTreeMap::new())),
    ]);
    assert_eq!(plan::runs(&leg, &ctx, &done, &BTreeSet::new(), &[]), Ok(()), "past a skipped job");
    let failed = BTreeSet::from(["test-matrix", "build-containers"]);
    assert!(plan::runs(&leg, &ctx, &done, &failed, &[]).unwrap_err().contains("failed"));
}
