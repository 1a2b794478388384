//! The dashboard, opened in a real browser: rendered from a history of real runs (and older runs
//! of the same jobs) and the cache itself, it loads nothing and logs no error, and shows the
//! records' values in its charts and tables, a degraded job as an alert. A screenshot of it is
//! kept (`target/ci-artifacts/dashboard.png`).

use std::{collections::BTreeSet, fs};

use xtask::{alerts::job_name, history::History, record::Record};

use crate::support::{browser::*, *};

#[test]
fn the_dashboard_shows_the_history_and_the_cache_in_a_browser_and_loads_nothing() {
    needs!(Nix, Browser);
    let flake = example_flake("dashboard");
    let dir = flake.parent().unwrap().to_path_buf();
    let cache = dir.join("cache");
    let url = format!("file://{}", cache.display());
    let mut runs = 0;
    let mut task = |args: &[&str]| -> Record {
        runs += 1;
        let file = dir.join(format!("record-{runs}.json"));
        run(xtask()
            .args(args)
            .args(["--flake", &flake.display().to_string(), "--cache", &url])
            .args(["--record", &file.display().to_string()]))
        .ok();
        Record::read(&file).unwrap()
    };
    // Real runs, each kept in the cache's history: a cold warm, the test jobs, a pull request's
    // change, a verify.
    let mut real = vec![task(&["warm"])];
    for test_type in ["unit", "clippy", "fmt", "integration"] {
        real.push(task(&["test", "--type", test_type]));
    }
    fs::write(flake.join("app"), "a change\n").unwrap();
    real.push(task(&["warm"]));
    real.push(task(&["test", "--type", "unit"]));
    real.push(task(&["verify"]));
    // The cache loses part of the deps layer: the next test job's fresh runner misses it.
    let toolchain = narinfos(&cache).into_iter().find(|n| n.store_path.ends_with("-rust-toolchain-1.84.0")).unwrap();
    fs::remove_file(cache.join(narinfo::file_of(&toolchain.store_path).unwrap())).unwrap();
    let degraded = task(&["test", "--type", "clippy"]);
    let rate = degraded.rates.as_ref().unwrap().deps_hit_rate;
    assert!(rate < 0.8, "{degraded:#?}");
    assert!(degraded.warnings.iter().any(|w| w.contains("below min-hit-rate 0.80")), "{:?}", degraded.warnings);

    // Older runs of the same jobs, under another Cargo.lock: the history of a cache in use.
    let key = real[0].deps_key.clone().unwrap();
    let older_key = format!("{}0000000000000000", &key[..key.len() - 16]);
    for k in 0..25 {
        let mut old = real[k % real.len()].clone();
        old.started_ms -= (26 - k as u64) * 3_600_000;
        old.id = format!("{}-{}-older{k}", old.started_ms, old.task);
        old.deps_key = Some(older_key.clone());
        old.seconds *= 1.0 + (k % 5) as f64 / 10.0;
        if let Some(rates) = old.rates.as_mut() {
            rates.hit_rate = 0.5 + (k % 6) as f64 / 20.0;
        }
        fs::write(cache.join(format!("xtask-records/{}.json", old.id)), old.to_bytes()).unwrap();
    }
    let (history, problems) = History::dir(cache.clone()).read();
    assert!(problems.is_empty() && history.len() >= 30, "{} records: {problems:?}", history.len());

    let out = dir.join("dashboard");
    run(xtask()
        .args(["dashboard", "--flake", &flake.display().to_string(), "--cache", &url])
        .args(["--out", &out.display().to_string()]))
    .ok();
    let page = out.join("index.html");

    let browser = Browser::start();
    browser.open(&page);
    assert_eq!(browser.console("SEVERE"), Vec::<String>::new(), "the page logged errors");
    let requests = browser.requests(&page);
    let page_url = format!("file://{}", page.display());
    assert!(requests.iter().all(|r| *r == page_url), "the page requested more than itself: {requests:?}");

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
    let width = browser.eval("return document.querySelector('#hit-rates').getBoundingClientRect().width");
    assert!(width.as_f64().unwrap() > 300.0, "the chart is not drawn: {width}");
    let markers =
        browser.eval("return [...document.querySelectorAll('#hit-rates .marker title')].map(e => e.textContent)");
    assert_eq!(markers, serde_json::json!(["Cargo.lock"]), "the key change is marked");

    // The tables: a row per job; the cache's key, its largest paths, the last verify.
    let jobs: BTreeSet<String> = history.iter().map(job_name).collect();
    let rows = browser.eval("return [...document.querySelectorAll('#jobs tr[data-job]')].map(e => e.dataset.job)");
    assert_eq!(rows, serde_json::json!(jobs));
    let keys = browser.eval("return document.querySelector('#keys').textContent").as_str().unwrap().to_owned();
    assert!(keys.contains(&key), "{keys}");
    assert!(browser.eval("return document.querySelectorAll('#largest tr').length").as_u64().unwrap() > 1);
    let verify = browser.eval("return document.querySelector('#verify').textContent").as_str().unwrap().to_owned();
    let checked = real.last().unwrap().verify.as_ref().unwrap().checked;
    assert!(verify.contains(&format!("{checked} narinfo(s) checked, 0 problem(s)")), "{verify}");

    // The degraded job is an alert, naming it and its key.
    let alert = browser.eval("return [...document.querySelectorAll('#alerts li.alert.hit-rate')].map(e => [e.dataset.record, e.textContent])");
    let alert = alert.as_array().unwrap();
    assert_eq!(alert.len(), 1, "{alert:?}");
    assert_eq!(alert[0][0], degraded.id.as_str());
    let text = alert[0][1].as_str().unwrap();
    assert!(text.contains("test --type clippy") && text.contains(&key), "{text}");
    drop(browser);

    let png = workspace_root().join("target/ci-artifacts/dashboard.png");
    screenshot(&page, &png, 3200);
    assert!(fs::metadata(&png).unwrap().len() > 50_000, "a blank screenshot");
}
