//! End to end on real parts: a generated feed for 20,000 people over 36 months, produced to the
//! raw topic, gives warehouse counts and values identical to the core computed in memory over
//! the same file; every invalid line is dead-lettered with its reason; what is published obeys
//! disclosure control; `promtool check metrics` passes on every service; and no identifier
//! (nor its unsalted SHA-256) appears in any topic after ingest, any table, any log or metric.

use std::collections::BTreeMap;
use std::time::Duration;

use kpi_core::population::Population;
use kpi_core::validate::decode;
use kpi_core::values::{compute, month_range};
use kpi_e2e::audit::{identifiers_of, Finder};
use kpi_e2e::pipeline::refusals::ENDED_BEFORE_STARTED;
use kpi_e2e::pipeline::{
    as_rows, generated_feed, reference_replay, repo_root, valid_lines, Pipeline, Service, CANONICAL,
};
use kpi_e2e::{consume_all, promtool};
use sqlx::Row;

#[tokio::test(flavor = "multi_thread")]
async fn generated_feed_reaches_the_warehouse_exactly_as_the_core_computes_it() {
    let started = std::time::Instant::now();
    // Progress on stderr: the run takes minutes, and a slow phase should show itself.
    let phase = |name: &str| eprintln!("[pipeline_generated] {:>6.1} s  {name}", started.elapsed().as_secs_f64());
    let lines = generated_feed(20_000, 36, 1);
    let valid = valid_lines(&lines);
    let invalid = lines.len() as i64 - valid;
    assert!(invalid > 100, "the feed must carry invalid events too");

    let mut pipeline = Pipeline::start(4).await;
    pipeline.spawn_all();
    let feed = pipeline.produce_lines("feed.ndjson", &lines).await;
    assert!(feed.is_file());
    phase(&format!("{} lines produced ({invalid} invalid)", lines.len()));
    // Drained, not a message count: under this load a producer may retry a send the broker had
    // already written (stop 13's CI: ingest's produce requests timed out, 407,611 canonical
    // messages for 407,609 events), which the engine drops by id but which a count never equals.
    let canonical_messages =
        pipeline.wait_for_drain(&lines, Duration::from_secs(2), None, Duration::from_secs(1200)).await;
    pipeline.wait_for_publisher(Duration::from_secs(60)).await;
    phase("engine and publisher caught up");

    // Counts: identical, cell for cell, to the in-memory core over the same file.
    let replay = reference_replay(pipeline.hmac_key.as_bytes(), &lines);
    let reference = replay.counts();
    let warehouse = pipeline.counts().await;
    assert_eq!(warehouse.len(), as_rows(&reference).len(), "number of non-zero cells");
    assert!(warehouse == as_rows(&reference), "warehouse counts differ from the core's");
    assert!(warehouse.len() > 1_000);

    // Values: identical to the core's values over those counts (same code, same f64).
    let population = Population::from_csv(
        std::fs::File::open(repo_root().join("deploy/reference/population.csv")).unwrap(),
        std::fs::File::open(repo_root().join("deploy/reference/population_imd.csv")).unwrap(),
    )
    .unwrap();
    // The core's values from the counts computed once above, up to the same horizon.
    let range = month_range(&reference, replay.horizon().expect("events were applied")).unwrap();
    let expected = compute(&reference, &population, range);
    assert!(!expected.is_empty());
    let rows = sqlx::query(
        "SELECT indicator, period_kind, period_end, stratum_type, stratum_value, numerator, value, lower95, upper95, lower998, upper998
         FROM indicator_values",
    )
    .fetch_all(&pipeline.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), expected.len());
    let mut stored = BTreeMap::new();
    for r in &rows {
        let key = row_key(r);
        // numerator, value, lower95, upper95, lower998, upper998
        #[allow(clippy::type_complexity)]
        let numbers: (i64, Option<f64>, Option<f64>, Option<f64>, Option<f64>, Option<f64>) =
            (r.get(5), r.get(6), r.get(7), r.get(8), r.get(9), r.get(10));
        stored.insert(key, numbers);
    }
    for v in &expected {
        let key = value_key(v);
        let want = (
            v.numerator,
            v.value,
            v.limits95.map(|l| l.0),
            v.limits95.map(|l| l.1),
            v.limits998.map(|l| l.0),
            v.limits998.map(|l| l.1),
        );
        assert_eq!(stored.get(&key), Some(&want), "{key:?}");
    }

    phase("counts and values checked");
    // SPC: every chart of the monthly all / ethnic-group series, point for point as the core
    // computes it from the same values.
    let spc = kpi_core::spc::spc_rows(&expected, kpi_core::spc::SpcSettings::default());
    assert!(!spc.is_empty());
    // (indicator, stratum type, stratum, period end) -> (value, upper limit, special cause, icon)
    #[allow(clippy::type_complexity)]
    let stored_spc: BTreeMap<(String, String, String, chrono::NaiveDate), (f64, f64, Option<String>, String)> =
        sqlx::query(
            "SELECT indicator, stratum_type, stratum_value, period_end, value, upper_limit, special_cause, variation_icon
             FROM indicator_spc",
        )
        .fetch_all(&pipeline.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2), r.get(3)), (r.get(4), r.get(5), r.get(6), r.get(7))))
        .collect();
    assert_eq!(stored_spc.len(), spc.len());
    for row in &spc {
        let key = (
            row.indicator.to_owned(),
            row.stratum.kind.code().to_owned(),
            row.stratum.value.to_owned(),
            row.period_end,
        );
        let want = (row.value, row.upper_limit, row.special_cause.map(str::to_owned), row.variation_icon.to_owned());
        assert_eq!(stored_spc.get(&key), Some(&want), "{key:?}");
    }

    phase("SPC checked");
    // Disclosure control on every published row: exactly what the core publishes from the same
    // value, and by itself obeying the rule (outside `all`: no count below 5, counts in 5s).
    let published = sqlx::query(
        "SELECT indicator, period_kind, period_end, stratum_type, stratum_value, numerator, denominator, value, suppressed
         FROM indicator_values_published",
    )
    .fetch_all(&pipeline.pool)
    .await
    .unwrap();
    assert_eq!(published.len(), expected.len());
    let mut published_rows = BTreeMap::new();
    for r in &published {
        let key = row_key(r);
        let row: (Option<i64>, Option<f64>, Option<f64>, bool) = (r.get(5), r.get(6), r.get(7), r.get(8));
        published_rows.insert(key, row);
    }
    let mut suppressed = 0;
    for v in &expected {
        let p = kpi_core::values::publish(v);
        let key = value_key(v);
        assert_eq!(published_rows.get(&key), Some(&(p.numerator, p.denominator, p.value, p.suppressed)), "{key:?}");
        if v.stratum.kind == kpi_core::strata::StratumType::All {
            assert!(!p.suppressed && p.numerator == Some(v.numerator));
            continue;
        }
        match p.numerator {
            None => {
                assert!(p.suppressed && p.value.is_none());
                suppressed += 1;
            }
            Some(n) => {
                assert!(n >= 5 && n % 5 == 0, "published count {n} in {key:?}");
                if v.denominator_counted {
                    let d = p.denominator.unwrap();
                    assert!(d >= 5.0 && d % 5.0 == 0.0, "published denominator {d} in {key:?}");
                }
            }
        }
    }
    assert!(suppressed > 0, "a feed this size has small cells to suppress");

    // Every indicator of the catalogue has real numbers in the feed's last full year.
    let catalogue: i64 =
        sqlx::query_scalar("SELECT count(*) FROM indicator_catalogue").fetch_one(&pipeline.pool).await.unwrap();
    assert_eq!(catalogue as usize, kpi_core::indicators::CATALOGUE.len());
    let last = expected.iter().map(|v| v.period.end).max().unwrap();
    let year_end = kpi_core::period::month_end(last - chrono::Months::new(1));
    for indicator in kpi_core::indicators::CATALOGUE {
        // A rate ratio has no trust-wide value; look at the Black group's.
        let stratum = match indicator.method {
            kpi_core::indicators::Method::RateRatio { .. } => kpi_e2e::pipeline::stratum("ethnic_group", "black"),
            _ => kpi_core::strata::Stratum::ALL,
        };
        let value = expected.iter().find(|v| {
            v.indicator == indicator.id
                && v.period == kpi_core::period::Period { kind: kpi_core::period::PeriodKind::Rolling12, end: year_end }
                && v.stratum == stratum
        });
        let value = value.unwrap_or_else(|| panic!("{} has no r12 value at {year_end}", indicator.id));
        assert!(value.numerator > 0 && value.value.is_some_and(|x| x > 0.0), "{} is empty: {value:?}", indicator.id);
    }

    phase("disclosure checked");
    // Dead letters: every invalid raw message refused with the validator's reason, carrying its
    // bytes and naming its position; one reason per invalid line once the producer's repeated
    // sends are taken out.
    let refusals = pipeline.refusals(&lines).await;
    eprintln!(
        "[pipeline_generated] dead letters: {} ingest records, {} raw positions, {} repeated sends; {} engine events",
        refusals.ingest_records,
        refusals.raw_positions,
        refusals.raw_repeats,
        refusals.engine_events.len()
    );
    assert_eq!(refusals.by_reason.values().sum::<usize>() as i64, invalid, "{:?}", refusals.by_reason);
    let mut by_reason = refusals.by_reason.clone();
    if !refusals.engine_events.is_empty() {
        by_reason.insert(ENDED_BEFORE_STARTED.to_owned(), refusals.engine_events.len());
    }

    // Metrics: valid exposition format on every service.
    let mut metrics_text = String::new();
    for service in Service::ALL {
        let body = reqwest_get(&format!("{}/metrics", pipeline.admin_url(service))).await;
        promtool::check_metrics(&body);
        metrics_text.push_str(&body);
    }
    assert!(metrics_text.contains("kpi_indicator_value{"));

    phase("dead letters and metrics checked");
    // Privacy audit: no identifier of the feed, nor its plain SHA-256, anywhere after ingest.
    // Identifiers of the events ingest accepted (a refused line's "person_id" may be any word,
    // like "unknown", and stays in the restricted dead-letter topic with the raw bytes).
    let accepted: Vec<String> = lines.iter().filter(|l| decode(l.as_bytes(), None).is_ok()).cloned().collect();
    let identifiers = identifiers_of(&accepted);
    assert!(identifiers.len() > 10_000);
    let finder = Finder::new(&identifiers);
    let canonical =
        consume_all(&pipeline.broker.bootstrap(), CANONICAL, canonical_messages as usize, Duration::from_secs(60))
            .await;
    for message in &canonical {
        finder.assert_absent("canonical topic value", message.payload.as_deref().unwrap_or_default());
        finder.assert_absent("canonical topic key", message.key.as_deref().unwrap_or_default());
    }
    for table in kpi_e2e::audit::all_tables(&pipeline.pool).await {
        let dump = kpi_e2e::audit::dump_table(&pipeline.pool, &table).await;
        finder.assert_absent(&format!("table {table}"), dump.as_bytes());
    }
    finder.assert_absent("service logs", pipeline.logs().as_bytes());
    finder.assert_absent("metrics", metrics_text.as_bytes());
    phase("privacy audit done");

    // `kpi demo` over the same feed, with no broker and no database, publishes exactly these
    // rows and prints them.
    let demo =
        kpi_e2e::demo::run_demo(pipeline.dir.path(), &["--people", "20000", "--months", "36", "--seed", "1"]).await;
    let (published, spc) = kpi_e2e::demo::warehouse_publication(&pipeline.pool).await;
    assert_eq!(demo.published.len(), published.len(), "published rows, demo vs warehouse");
    for (key, row) in &published {
        assert_eq!(demo.published.get(key), Some(row), "demo's published {key:?}");
    }
    assert!(demo.spc == spc, "the demo's SPC points differ from the warehouse's");
    kpi_e2e::demo::assert_table_shows(&demo.stdout, &published, &spc);
    // Ingest's refusals match exactly. The engine dead-letters an end before its start when it
    // first sees both ends, even if a later retraction removes one; the demo counts those left
    // at the end, so it may count fewer.
    let engine_reason = ENDED_BEFORE_STARTED;
    let demo_dead: BTreeMap<String, usize> = demo.dead_letters.into_iter().map(|(r, n)| (r, n as usize)).collect();
    let without_engine = |m: &BTreeMap<String, usize>| {
        m.iter().filter(|(r, _)| *r != engine_reason).map(|(r, n)| (r.clone(), *n)).collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        without_engine(&demo_dead),
        without_engine(&by_reason),
        "ingest dead letters by reason, demo vs pipeline"
    );
    assert!(demo_dead.get(engine_reason).unwrap_or(&0) <= by_reason.get(engine_reason).unwrap_or(&0));
    phase("kpi demo agrees");
}

/// (indicator, period kind, period end, stratum type, stratum) of a values row whose first five
/// columns are those.
fn row_key(r: &sqlx::postgres::PgRow) -> (String, String, chrono::NaiveDate, String, String) {
    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
}

/// The same key for one of the core's values.
fn value_key(v: &kpi_core::values::IndicatorValue) -> (String, String, chrono::NaiveDate, String, String) {
    let (kind, stratum) = (v.period.kind.code(), v.stratum);
    (v.indicator.to_owned(), kind.to_owned(), v.period.end, stratum.kind.code().to_owned(), stratum.value.to_owned())
}

async fn reqwest_get(url: &str) -> String {
    kpi_e2e::http::get(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"))
}
