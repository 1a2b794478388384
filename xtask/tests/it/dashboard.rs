//! The dashboard, opened in a real browser: rendered from a history of real runs (and older runs
//! of the same jobs) and the cache itself, it loads nothing and logs no error, and shows the
//! records' values in its charts and tables, a degraded job as an alert. A screenshot of it is
//! kept (`target/ci-artifacts/dashboard.png`). The runs and the page are made once, for every test.

use std::{collections::BTreeSet, fs, path::PathBuf, sync::OnceLock};

use xtask::{alerts::job_name, history::History, record::Record};

use crate::support::{browser::*, *};

/// What the tests of the page read: a history of real runs (and older runs of the same jobs), and
/// the page rendered from it and the cache.
struct Dashboard {
    /// The real runs, in order: a cold warm, the test jobs, a pull request's change, a verify.
    real: Vec<Record>,
    /// The test job after the cache lost part of the deps layer: its fresh runner missed it.
    degraded: Record,
    /// The deps key of the real runs.
    key: String,
    /// The crate whose version the older runs' Cargo.lock held older.
    moved: xtask::record::Crate,
    /// The cache's history as the xtask reads it, and what it could not read.
    history: Vec<Record>,
    problems: Vec<String>,
    /// The page (`index.html`).
    page: PathBuf,
}

/// The dashboard, made once for every test of the page (its runs are what takes time); a set-up
/// that failed fails each of them with its message.
fn dashboard() -> &'static Dashboard {
    static MADE: OnceLock<Result<Dashboard, String>> = OnceLock::new();
    let made = MADE.get_or_init(|| {
        std::panic::catch_unwind(make_dashboard).map_err(|e| {
            let message = e.downcast_ref::<&str>().map(|m| m.to_string());
            message.or_else(|| e.downcast_ref::<String>().cloned()).unwrap_or_default()
        })
    });
    made.as_ref().unwrap_or_else(|e| panic!("the dashboard's set-up failed: {e}"))
}

fn make_dashboard() -> Dashboard {
    let ex = Example::new("dashboard");
    let task = |args: &[&str]| -> Record {
        let (out, record) = ex.task(args);
        out.ok();
        record
    };
    // Real runs, each kept in the cache's history: a cold warm, the test jobs, a pull request's
    // change, a verify.
    let mut real = vec![task(&["warm"])];
    for test_type in ["unit", "clippy", "fmt", "integration"] {
        real.push(task(&["test", "--type", test_type]));
    }
    fs::write(ex.flake.join("app"), "a change\n").unwrap();
    real.push(task(&["warm"]));
    real.push(task(&["test", "--type", "unit"]));
    real.push(task(&["verify"]));
    // The cache loses part of the deps layer: the next test job's fresh runner misses it.
    let cache = &ex.cache;
    let toolchain = narinfos(cache).into_iter().find(|n| n.store_path.ends_with("-rust-toolchain-1.84.0")).unwrap();
    fs::remove_file(cache.join(narinfo::file_of(&toolchain.store_path).unwrap())).unwrap();
    let degraded = task(&["test", "--type", "clippy"]);

    // Older runs of the same jobs, under another Cargo.lock (one crate an older version): the
    // history of a cache in use.
    let key = real[0].deps_key.clone().unwrap();
    let moved = real[0].basis.as_ref().expect("a build task keeps the lock files' entries").crates[0].clone();
    let older_key = format!("{}0000000000000000", &key[..key.len() - 16]);
    for k in 0..25 {
        let mut old = real[k % real.len()].clone();
        old.started_ms -= (26 - k as u64) * 3_600_000;
        old.id = format!("{}-{}-older{k}", old.started_ms, old.task);
        old.deps_key = Some(older_key.clone());
        if let Some(basis) = old.basis.as_mut() {
            basis.crates[0].version = format!("{}-older", moved.version);
        }
        old.seconds *= 1.0 + (k % 5) as f64 / 10.0;
        if let Some(rates) = old.rates.as_mut() {
            rates.hit_rate = 0.5 + (k % 6) as f64 / 20.0;
        }
        fs::write(cache.join(format!("xtask-records/{}.json", old.id)), old.to_bytes()).unwrap();
    }
    let (history, problems) = History::dir(cache.clone()).read();

    let out = ex.dir.join("dashboard");
    run(ex.cmd(&["dashboard"]).args(["--out", &out.display().to_string()])).ok();
    Dashboard { real, degraded, key, moved, history, problems, page: out.join("index.html") }
}

#[test]
fn the_dashboard_loads_nothing_but_itself_and_logs_no_error() {
    needs!(Nix, Browser);
    let page = &dashboard().page;
    let browser = Browser::start();
    browser.open(page);
    assert_eq!(browser.console("SEVERE"), Vec::<String>::new(), "the page logged errors");
    let requests = browser.requests(page);
    let page_url = format!("file://{}", page.display());
    assert!(requests.iter().all(|r| *r == page_url), "the page requested more than itself: {requests:?}");
}

#[test]
fn the_dashboards_charts_show_a_point_per_run_and_mark_the_key_change() {
    needs!(Nix, Browser);
    let Dashboard { history, problems, page, moved, .. } = dashboard();
    assert!(problems.is_empty() && history.len() >= 30, "{} records: {problems:?}", history.len());
    let browser = Browser::start();
    browser.open(page);
    // The charts: a point per run and value, as the records hold them.
    let values = |selector: &str| -> Vec<f64> {
        let script = format!("return [...document.querySelectorAll('{selector}')].map(e => Number(e.dataset.value))");
        browser.eval(&script).as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
    };
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    let rates: Vec<f64> = history.iter().filter_map(|r| Some(r.rates.as_ref()?.hit_rate)).collect();
    assert_eq!(sorted(values("#hit-rates circle.point")), sorted(rates));
    let seconds: Vec<f64> = history.iter().map(|r| r.seconds).collect();
    assert_eq!(sorted(values("#durations circle.point")), sorted(seconds));
    let markers =
        browser.eval("return [...document.querySelectorAll('#hit-rates .marker title')].map(e => e.textContent)");
    // The key change, marked with the crate that moved.
    let said = format!("Cargo.lock: {} {}-older → {}", moved.name, moved.version, moved.version);
    assert_eq!(markers, serde_json::json!([said]), "the key change is marked");
}

#[test]
fn the_dashboards_tables_show_each_job_and_the_caches_key_largest_paths_and_last_verify() {
    needs!(Nix, Browser);
    let Dashboard { real, key, history, page, .. } = dashboard();
    let browser = Browser::start();
    browser.open(page);
    // The tables: a row per job; the cache's key, its largest paths, the last verify.
    let jobs: BTreeSet<String> = history.iter().map(job_name).collect();
    let rows = browser.eval("return [...document.querySelectorAll('#jobs tr[data-job]')].map(e => e.dataset.job)");
    assert_eq!(rows, serde_json::json!(jobs));
    let keys = browser.eval("return document.querySelector('#keys').textContent").as_str().unwrap().to_owned();
    assert!(keys.contains(key), "{keys}");
    assert!(browser.eval("return document.querySelectorAll('#largest tr').length").as_u64().unwrap() > 1);
    // Beside each job, why its latest run built what it built (the app's change: its image).
    let warm = history.iter().rev().find(|r| r.task == "warm").unwrap();
    let causes: Vec<String> =
        warm.targets.iter().flat_map(|t| &t.why).flat_map(|w| &w.causes).map(|c| c.said()).collect();
    assert!(!causes.is_empty(), "{:#?}", warm.targets);
    let row = browser.eval("return document.querySelector('#jobs tr[data-job=\"warm\"]').textContent");
    let row = row.as_str().unwrap();
    assert!(causes.iter().all(|c| row.contains(c.as_str())), "{row}");
    let verify = browser.eval("return document.querySelector('#verify').textContent").as_str().unwrap().to_owned();
    let checked = real.last().unwrap().verify.as_ref().unwrap().checked;
    assert!(verify.contains(&format!("{checked} narinfo(s) checked, 0 problem(s)")), "{verify}");
}

#[test]
fn a_degraded_job_is_an_alert_on_the_dashboard_naming_it_and_its_key() {
    needs!(Nix, Browser);
    let Dashboard { degraded, key, page, .. } = dashboard();
    let rate = degraded.rates.as_ref().unwrap().deps_hit_rate;
    assert!(rate < 0.8, "{degraded:#?}");
    assert!(degraded.warnings.iter().any(|w| w.contains("below min-hit-rate 0.80")), "{:?}", degraded.warnings);
    let browser = Browser::start();
    browser.open(page);
    // The degraded job is an alert, naming it and its key.
    let alert = browser.eval("return [...document.querySelectorAll('#alerts li.alert.hit-rate')].map(e => [e.dataset.record, e.textContent])");
    let alert = alert.as_array().unwrap();
    assert_eq!(alert.len(), 1, "{alert:?}");
    assert_eq!(alert[0][0], degraded.id.as_str());
    let text = alert[0][1].as_str().unwrap();
    assert!(text.contains("test --type clippy") && text.contains(key), "{text}");
}

#[test]
fn the_dashboard_is_drawn_as_a_person_sees_it() {
    needs!(Nix, Browser);
    let page = &dashboard().page;
    let browser = Browser::start();
    browser.open(page);
    let width = browser.eval("return document.querySelector('#hit-rates').getBoundingClientRect().width");
    assert!(width.as_f64().unwrap() > 300.0, "the chart is not drawn: {width}");
    drop(browser);
    let png = workspace_root().join("target/ci-artifacts/dashboard.png");
    screenshot(page, &png, 3200);
    assert!(fs::metadata(&png).unwrap().len() > 50_000, "a blank screenshot");
}
