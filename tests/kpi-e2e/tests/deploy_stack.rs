//! The deployment end of the project: `docker-compose.yml` (the one-command stack) and
//! `deploy/k8s/` (the services scaled out by partitions) must agree with what they deploy: the
//! `kpi` binary's subcommands and settings, `deploy/kpi.example.toml` (admin ports, topics),
//! `deploy/prometheus/prometheus.yml` (scrape targets), the Grafana provisioning, and each other
//! (image versions). No Docker engine runs here: the compose file is checked by docker-compose's
//! own `config` and by structure, never started. The checks live in `kpi_e2e::deploy`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use kpi_e2e::deploy::{self, at, text, words, Manifests, Mapping, Value};
use kpi_e2e::pipeline::{kpi_bin, repo_root};

const COMPOSE: &str = "docker-compose.yml";
const K8S: &str = "deploy/k8s";
const EXAMPLE: &str = "deploy/kpi.example.toml";
const PROMETHEUS: &str = "deploy/prometheus/prometheus.yml";
const GRAFANA_DASHBOARDS: &str = "deploy/grafana/provisioning/dashboards/kpi.yml";
const GRAFANA_DATASOURCES: &str = "deploy/grafana/provisioning/datasources/kpi.yml";
/// Files of deploy/k8s that kustomization.yaml must not apply (the Secret is made out of band).
const NOT_APPLIED: [&str; 2] = ["kustomization.yaml", "secret.example.yaml"];
const SERVICES: [&str; 3] = ["ingest", "engine", "publisher"];
const TOPIC_KEYS: [&str; 3] = ["raw_topic", "canonical_topic", "dead_letter_topic"];

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn compose_services() -> Mapping {
    let compose = deploy::yaml(&read(COMPOSE)).unwrap_or_else(|e| panic!("{COMPOSE}: {e}"));
    compose.get("services").and_then(Value::as_mapping).cloned().expect("compose services")
}

fn manifests() -> Manifests {
    let mut paths: Vec<_> =
        std::fs::read_dir(repo_root().join(K8S)).expect(K8S).map(|e| e.expect("entry").path()).collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml")) {
        let name = path.file_name().expect("file name").to_string_lossy().into_owned();
        if name == "kustomization.yaml" {
            continue; // kustomize's own file, no Kubernetes object
        }
        let docs = deploy::yaml_documents(&std::fs::read_to_string(path).expect("readable"))
            .unwrap_or_else(|e| panic!("{K8S}/{name} is not valid YAML: {e}"));
        out.extend(docs.into_iter().map(|d| (name.clone(), d)));
    }
    Manifests(out)
}

fn find<'a>(manifests: &'a Manifests, kind: &str, name: &str) -> &'a Value {
    manifests.find(kind, name).unwrap_or_else(|| panic!("{K8S} has no {kind} {name}"))
}

/// The kpi.toml the k8s containers read.
fn k8s_settings(manifests: &Manifests) -> String {
    at(find(manifests, "ConfigMap", "kpi-config"), &["data", "kpi.toml"]).and_then(text).expect("kpi-config kpi.toml")
}

/// The image the Dockerfile's first comment builds (`docker build -t NAME .`).
fn kpi_image() -> String {
    let dockerfile = read("Dockerfile");
    let tokens: Vec<&str> = dockerfile.lines().next().unwrap_or_default().split_whitespace().collect();
    let name =
        tokens.windows(2).find(|w| w[0] == "-t").map(|w| w[1]).expect("Dockerfile: # ... docker build -t NAME .");
    deploy::image_parts(name).0
}

fn is_kpi(container_or_service: &Value) -> bool {
    container_or_service.get("image").and_then(text).is_some_and(|i| deploy::image_parts(&i).0 == kpi_image())
}

/// Every kpi container: (place, what it runs, the value). Compose's `entrypoint`/`command` are
/// Kubernetes' `command`/`args`.
fn kpi_containers<'a>(services: &'a Mapping, manifests: &'a Manifests) -> Vec<(String, Vec<String>, &'a Value)> {
    let mut out = Vec::new();
    for (name, service) in services.iter().filter(|(_, s)| is_kpi(s)) {
        let run = deploy::kpi_subcommands(&words(service.get("entrypoint")), &words(service.get("command")));
        out.push((format!("{COMPOSE} {}", text(name).unwrap_or_default()), run, service));
    }
    for (file, doc) in &manifests.0 {
        for container in deploy::containers(doc).into_iter().filter(|c| is_kpi(c)) {
            let run = deploy::kpi_subcommands(&words(container.get("command")), &words(container.get("args")));
            out.push((format!("{K8S}/{file}"), run, container));
        }
    }
    out
}

/// The `--topic T --partitions N` of the shell script a container or service runs.
fn created_topics(place: &str, runs: &Value) -> BTreeMap<String, u32> {
    let script = [words(runs.get("entrypoint")), words(runs.get("command")), words(runs.get("args"))].concat();
    deploy::created_topics(&script.join(" ")).unwrap_or_else(|e| panic!("{place}: {e}"))
}

fn assert_none(problems: Vec<String>) {
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn docker_compose_accepts_the_file() {
    let output = Command::new("docker-compose")
        .args(["-f", COMPOSE, "config", "-q"])
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("running docker-compose ({e}): run scripts/setup.sh, which installs it"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "docker-compose config -q refused {COMPOSE}:\n{stderr}");
}

#[test]
fn every_kpi_container_runs_a_subcommand_the_binary_has() {
    let output = Command::new(kpi_bin()).arg("--help").output().expect("running kpi --help");
    let listed = deploy::subcommands(&String::from_utf8_lossy(&output.stdout));
    assert!(listed.contains("migrate") && listed.contains("produce"), "kpi --help lists {listed:?}");
    let (services, manifests) = (compose_services(), manifests());
    let containers = kpi_containers(&services, &manifests);
    assert!(containers.len() >= 8, "kpi containers found: {:?}", containers.iter().map(|c| &c.0).collect::<Vec<_>>());
    for (place, run, _) in containers {
        assert!(!run.is_empty(), "{place}: runs no kpi subcommand");
        for sub in run {
            assert!(listed.contains(&sub), "{place}: runs `kpi {sub}`, which kpi --help does not list ({listed:?})");
        }
    }
}

#[test]
fn every_setting_given_is_one_the_binary_accepts() {
    let kpi = kpi_bin();
    // The check itself: an unknown key and a malformed value are refused, a good one is not.
    let env = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
    let unknown = deploy::settings_complaint(&kpi, None, &env("KPI__KAFKA__BROKERZ", "k:9092"));
    assert!(unknown.is_some_and(|c| c.contains("brokerz")));
    assert!(deploy::settings_complaint(&kpi, None, &env("KPI__ENGINE__ADMIN_LISTEN", "nine")).is_some());
    assert_eq!(deploy::settings_complaint(&kpi, None, &env("KPI__ENGINE__ADMIN_LISTEN", "0.0.0.0:9102")), None);

    let (services, manifests) = (compose_services(), manifests());
    let dir = tempfile::tempdir().expect("temp dir");
    let k8s_toml = dir.path().join("kpi.toml");
    std::fs::write(&k8s_toml, k8s_settings(&manifests)).expect("writing kpi.toml");
    for (place, _, value) in kpi_containers(&services, &manifests) {
        let (variables, config) = if place.starts_with(COMPOSE) {
            let interpolated =
                deploy::environment(value).into_iter().map(|(k, v)| Ok((k, deploy::interpolate_defaults(&v)?)));
            (interpolated.collect::<Result<BTreeMap<_, _>, String>>(), None)
        } else {
            (manifests.env(value), Some(k8s_toml.as_path()))
        };
        let variables = variables.unwrap_or_else(|e| panic!("{place}: {e}"));
        if let Some(complaint) = deploy::settings_complaint(&kpi, config, &variables) {
            // Names only: the values include the (demo) key and passwords.
            let names: Vec<&String> = variables.keys().collect();
            panic!("{place}: kpi refuses the settings it is given (config {config:?}, env {names:?}):\n{complaint}");
        }
    }
}

#[test]
fn admin_ports_agree_everywhere() {
    let (example, services, manifests) = (read(EXAMPLE), compose_services(), manifests());
    let k8s_toml = k8s_settings(&manifests);
    let prometheus = deploy::yaml(&read(PROMETHEUS)).expect("prometheus.yml");
    let targets = |configs: Option<&Value>| -> Vec<(String, String)> {
        let configs = configs.and_then(Value::as_sequence).into_iter().flatten();
        let with_targets = |c: &Value| {
            c["static_configs"]
                .as_sequence()
                .into_iter()
                .flatten()
                .flat_map(|s| words(s.get("targets")))
                .collect::<Vec<_>>()
        };
        configs
            .flat_map(|c| {
                with_targets(c).into_iter().map(|t| (text(&c["job_name"]).unwrap_or_default(), t)).collect::<Vec<_>>()
            })
            .collect()
    };
    let scrape = targets(prometheus.get("scrape_configs"));
    for service in SERVICES {
        let expected = deploy::setting(&example, service, "admin_listen").as_deref().and_then(deploy::port_of);
        let expected = expected.unwrap_or_else(|| panic!("{EXAMPLE}: {service}.admin_listen"));
        let job = format!("kpi-{service}");
        let mut seen = Vec::new();
        for (_, target) in scrape.iter().filter(|(j, _)| *j == job) {
            assert!(
                target.starts_with(&format!("{service}:")),
                "{PROMETHEUS} {job}: target {target} is not {COMPOSE}'s {service}"
            );
            seen.push((format!("{PROMETHEUS} {job} target"), deploy::port_of(target)));
        }
        assert!(!seen.is_empty(), "{PROMETHEUS} has no job {job}");

        let compose = services.get(service).unwrap_or_else(|| panic!("{COMPOSE} has no service {service}"));
        let variable = format!("KPI__{}__ADMIN_LISTEN", service.to_uppercase());
        let listen = deploy::environment(compose).get(&variable).cloned().unwrap_or_default();
        assert!(
            listen.starts_with("0.0.0.0:"),
            "{COMPOSE} {service}: {variable}={listen:?}: listen on 0.0.0.0 for Prometheus"
        );
        seen.extend(
            deploy::compose_admin_ports(service, compose).into_iter().map(|(p, port)| (format!("{COMPOSE} {p}"), port)),
        );

        let listen = deploy::setting(&k8s_toml, service, "admin_listen").unwrap_or_default();
        assert!(
            listen.starts_with("0.0.0.0:"),
            "{K8S} kpi-config: {service}.admin_listen={listen:?}: listen on 0.0.0.0"
        );
        seen.push((format!("{K8S} kpi-config {service}.admin_listen"), deploy::port_of(&listen)));
        let (deployment, k8s_service) = (find(&manifests, "Deployment", &job), find(&manifests, "Service", &job));
        let ports = deploy::k8s_admin_ports(deployment, k8s_service);
        seen.extend(ports.into_iter().map(|(p, port)| (format!("{K8S} {job} {p}"), port)));
        assert_none(deploy::port_disagreements(expected, &seen));

        // The k8s scrape config names the job from this label (kustomization.yaml).
        let name = at(deployment, &["spec", "template", "metadata", "labels", "app.kubernetes.io/name"]).and_then(text);
        assert_eq!(name.as_deref(), Some(job.as_str()), "{K8S} {job}: pod label app.kubernetes.io/name");
        let selector = at(deployment, &["spec", "selector", "matchLabels"]);
        assert_eq!(
            at(k8s_service, &["spec", "selector"]),
            selector,
            "{K8S} Service {job} selects the Deployment's pods"
        );
    }
    let alerting = targets(at(&prometheus, &["alerting", "alertmanagers"]));
    assert!(!alerting.is_empty(), "{PROMETHEUS}: no alertmanager target");
    for (_, target) in scrape.iter().chain(&alerting) {
        let host = target.split(':').next().unwrap_or_default();
        assert!(services.contains_key(host), "{PROMETHEUS}: target {target} is no service of {COMPOSE}");
    }
}

#[test]
fn topics_agree_with_the_example_settings_and_bound_the_replicas() {
    let example = read(EXAMPLE);
    let topic = |key: &str| deploy::setting(&example, "kafka", key).unwrap_or_else(|| panic!("{EXAMPLE}: kafka.{key}"));
    let expected: BTreeSet<String> = TOPIC_KEYS.iter().map(|k| topic(k)).collect();

    let services = compose_services();
    let created = created_topics(&format!("{COMPOSE} topics"), services.get("topics").expect("a topics service"));
    assert_eq!(created.keys().cloned().collect::<BTreeSet<_>>(), expected, "{COMPOSE} topics vs {EXAMPLE}");
    for (name, service) in &services {
        for (key, value) in deploy::environment(service) {
            if key.starts_with("KPI__KAFKA__") && key.ends_with("_TOPIC") {
                assert!(expected.contains(&value), "{COMPOSE} {name:?}: {key}={value} is none of {expected:?}");
            }
        }
    }

    let manifests = manifests();
    let k8s_toml = k8s_settings(&manifests);
    for key in TOPIC_KEYS {
        assert_eq!(deploy::setting(&k8s_toml, "kafka", key), Some(topic(key)), "{K8S} kpi-config: kafka.{key}");
    }
    let job = deploy::containers(find(&manifests, "Job", "kpi-topics"))[0];
    let partitions = created_topics(&format!("{K8S} kpi-topics"), job);
    assert_eq!(partitions.keys().cloned().collect::<BTreeSet<_>>(), expected, "{K8S} kpi-topics vs {EXAMPLE}");

    let replicas = |name: &str| at(find(&manifests, "Deployment", name), &["spec", "replicas"]).and_then(Value::as_u64);
    for (deployment, key) in [("kpi-ingest", "raw_topic"), ("kpi-engine", "canonical_topic")] {
        let (n, p) = (replicas(deployment).unwrap_or(0), u64::from(partitions[&topic(key)]));
        assert!(
            (1..=p).contains(&n),
            "{deployment}: {n} replicas for {p} partitions of its topic: the ones beyond sit idle"
        );
    }
    assert_eq!(replicas("kpi-publisher"), Some(1), "kpi-publisher runs once (see the comment in publisher.yaml)");
}

#[test]
fn images_are_pinned_and_one_version_each() {
    let mut images = Vec::new();
    for (name, service) in &compose_services() {
        let image = service.get("image").and_then(text).unwrap_or_else(|| panic!("{COMPOSE} {name:?} names no image"));
        images.push((format!("{COMPOSE} {}", text(name).unwrap_or_default()), image));
    }
    for (file, doc) in &manifests().0 {
        for container in deploy::containers(doc) {
            images.push((format!("{K8S}/{file}"), container.get("image").and_then(text).expect("container image")));
        }
    }
    let local = kpi_image();
    assert_none(deploy::unpinned_images(&images, &local));
    assert_none(deploy::mixed_versions(&images));
    for wanted in
        ["apache/kafka", "postgres", "prom/prometheus", "prom/alertmanager", "grafana/grafana", local.as_str()]
    {
        assert!(images.iter().any(|(_, i)| deploy::image_parts(i).0 == wanted), "no {wanted} image in {COMPOSE}/{K8S}");
    }
    let k8s_kpi = images.iter().filter(|(p, i)| p.starts_with(K8S) && deploy::image_parts(i).0 == local).count();
    assert_eq!(k8s_kpi, SERVICES.len(), "the Deployments run the image the Dockerfile builds ({local})");
}

#[test]
fn mounted_files_exist_and_grafana_finds_its_provisioning() {
    let (root, services) = (repo_root(), compose_services());
    for (name, service) in &services {
        for (host, _) in deploy::bind_mounts(service) {
            assert!(root.join(&host).exists(), "{COMPOSE} {name:?} mounts {host}, which is not in the repository");
        }
        if let Some(context) = service.get("build").and_then(text) {
            assert!(root.join(context).join("Dockerfile").is_file(), "{COMPOSE} {name:?}: no Dockerfile to build");
        }
    }
    let grafana = services.get("grafana").expect("a grafana service");
    let mounts = deploy::bind_mounts(grafana);
    for wanted in [
        ("./deploy/grafana/provisioning", "/etc/grafana/provisioning"),
        ("./deploy/grafana/dashboards", "/var/lib/grafana/dashboards"),
    ] {
        assert!(mounts.iter().any(|(h, c)| (h.as_str(), c.as_str()) == wanted), "{COMPOSE} grafana: mount {wanted:?}");
    }
    if root.join(GRAFANA_DASHBOARDS).is_file() {
        let providers = deploy::yaml(&read(GRAFANA_DASHBOARDS)).expect("dashboard provisioning YAML");
        for provider in providers["providers"].as_sequence().into_iter().flatten() {
            let path = at(provider, &["options", "path"]).and_then(text).expect("provider options.path");
            assert!(deploy::is_under_mount(&path, &mounts), "{GRAFANA_DASHBOARDS}: {path} is not mounted into grafana");
        }
    }
    if root.join(GRAFANA_DATASOURCES).is_file() {
        let set = deploy::environment(grafana);
        let read_vars = deploy::env_references(&read(GRAFANA_DATASOURCES)).expect("datasource provisioning YAML");
        for name in read_vars {
            assert!(
                set.contains_key(&name),
                "{GRAFANA_DATASOURCES} reads ${name}, which {COMPOSE} grafana does not set"
            );
        }
    }
    let postgres = deploy::environment(services.get("postgres").expect("a postgres service"));
    assert!(
        postgres.contains_key("KPI_GRAFANA_DB_PASSWORD"),
        "postgres: its init script reads KPI_GRAFANA_DB_PASSWORD"
    );

    let manifests = manifests();
    for (file, doc) in &manifests.0 {
        assert_none(manifests.mount_problems(&format!("{K8S}/{file}"), doc));
    }
}

#[test]
fn compose_starts_in_order_on_health_checks() {
    let services = compose_services();
    assert_none(deploy::start_order_problems(&services));
    for (from, on) in [
        ("topics", "kafka"),
        ("migrate", "postgres"),
        ("ingest", "topics"),
        ("engine", "topics"),
        ("engine", "migrate"),
        ("publisher", "migrate"),
        ("feeder", "ingest"),
        ("prometheus", "alertmanager"),
        ("grafana", "prometheus"),
        ("grafana", "migrate"),
    ] {
        assert!(deploy::waits_for(&services, from, on), "{COMPOSE}: {from} must wait for {on}");
    }
    for (name, wanted) in [("migrate", "migrate"), ("feeder", "generate"), ("feeder", "produce")] {
        let service = services.get(name).unwrap_or_else(|| panic!("{COMPOSE} has no service {name}"));
        let run = deploy::kpi_subcommands(&words(service.get("entrypoint")), &words(service.get("command")));
        assert!(run.iter().any(|s| s == wanted), "{COMPOSE} {name}: runs {run:?}, expected kpi {wanted}");
    }
}

#[test]
fn k8s_deployments_are_probed_limited_and_run_their_service() {
    let manifests = manifests();
    let mut deployments = BTreeSet::new();
    for (file, doc) in &manifests.0 {
        let (kind, name) = (doc.get("kind").and_then(text), at(doc, &["metadata", "name"]).and_then(text));
        assert!(
            doc.get("apiVersion").is_some() && kind.is_some() && name.is_some(),
            "{K8S}/{file}: apiVersion, kind, name"
        );
        if kind.as_deref() == Some("Deployment") {
            assert_none(deploy::deployment_problems(&format!("{K8S}/{file}"), doc));
            deployments.insert(name.unwrap_or_default());
        }
    }
    assert_eq!(deployments, SERVICES.iter().map(|s| format!("kpi-{s}")).collect(), "{K8S} Deployments");
    for service in SERVICES {
        let container = deploy::containers(find(&manifests, "Deployment", &format!("kpi-{service}")))[0];
        let run = deploy::kpi_subcommands(&words(container.get("command")), &words(container.get("args")));
        assert_eq!(run, [service], "Deployment kpi-{service} runs kpi {service}");
    }
}

#[test]
fn kustomization_applies_every_manifest_but_the_secret_example() {
    let dir = repo_root().join(K8S);
    let kustomization = deploy::yaml(&read(&format!("{K8S}/kustomization.yaml"))).expect("kustomization.yaml");
    let listed: BTreeSet<String> = words(kustomization.get("resources")).into_iter().collect();
    let mut present = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect(K8S) {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        let content = std::fs::read_to_string(dir.join(&name)).expect("readable");
        let first = content.lines().next().unwrap_or_default();
        assert!(first.starts_with(&format!("# {K8S}/{name}")), "{K8S}/{name}: the first line says where it sits");
        if !NOT_APPLIED.contains(&name.as_str()) {
            present.insert(name);
        }
    }
    assert_eq!(listed, present, "kustomization.yaml resources vs the manifests in {K8S}");
    assert!(dir.join("secret.example.yaml").is_file(), "{K8S}/secret.example.yaml documents the Secret");
}

#[test]
fn the_checks_catch_what_they_are_for() {
    assert_eq!(deploy::interpolate_defaults("a ${X:-b} $$c ${Y-d}"), Ok("a b $c d".to_owned()));
    assert!(deploy::interpolate_defaults("${SECRET}").is_err());
    assert_eq!(deploy::kpi_subcommands(&[], &["ingest".into()]), ["ingest"]);
    let sh = ["/bin/sh".to_owned(), "-ec".to_owned()];
    assert_eq!(deploy::kpi_subcommands(&sh, &["kpi generate -o f && kpi produce f".into()]), ["generate", "produce"]);
    let topics = deploy::created_topics("x.sh --create --topic a --partitions 4 && x.sh --topic b --partitions 2");
    assert_eq!(topics, Ok(BTreeMap::from([("a".into(), 4), ("b".into(), 2)])));
    assert!(deploy::created_topics("kafka-topics.sh --create --topic a").is_err());
    assert_eq!(deploy::port_of("http://localhost:9101/readyz"), Some(9101));
    assert_eq!(deploy::port_of("19101:9101"), Some(9101));
    let images = |list: &[&str]| list.iter().map(|i| ("x".to_owned(), i.to_string())).collect::<Vec<_>>();
    assert!(deploy::unpinned_images(&images(&["kpi:latest", "kpi", "postgres:16", "reg:5000/a:1"]), "kpi").is_empty());
    assert_eq!(deploy::unpinned_images(&images(&["postgres", "grafana/grafana:latest", "reg:5000/a"]), "kpi").len(), 3);
    assert_eq!(deploy::mixed_versions(&images(&["apache/kafka:3.9.1", "apache/kafka:3.8.0"])).len(), 1);
    assert!(deploy::mixed_versions(&images(&["apache/kafka:3.9.1", "apache/kafka:3.9.1"])).is_empty());
    assert_eq!(deploy::port_disagreements(9101, &[("a".into(), Some(9101)), ("b".into(), None)]).len(), 1);

    let compose = deploy::yaml(concat!(
        "x: &k {restart: unless-stopped}\nservices:\n  a: {<<: *k, depends_on: [b]}\n",
        "  b: {<<: *k, healthcheck: {test: [x]}}\n",
        "  c: {restart: \"no\", depends_on: {a: {condition: service_healthy}, b: {condition: service_completed_successfully}}}\n",
    ))
    .expect("yaml");
    let services = compose["services"].as_mapping().expect("services");
    // a: no health check, and a list of dependencies; c: waits for a's health and b's end.
    assert_eq!(deploy::start_order_problems(services).len(), 4, "{:#?}", deploy::start_order_problems(services));
    assert!(deploy::waits_for(services, "c", "b") && !deploy::waits_for(services, "b", "c"));

    let deployment = deploy::yaml(concat!(
        "spec:\n  replicas: 1\n  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: y}}\n",
        "    spec:\n      containers:\n        - name: c\n          ports: [{name: admin, containerPort: 9101}]\n",
        "          readinessProbe: {httpGet: {path: /readyz, port: admin}}\n",
        "          livenessProbe: {httpGet: {path: /healthz, port: 9102}}\n",
    ))
    .expect("yaml");
    // The selector label, the liveness port, and four resource settings.
    assert_eq!(
        deploy::deployment_problems("d", &deployment).len(),
        6,
        "{:#?}",
        deploy::deployment_problems("d", &deployment)
    );

    let expected = BTreeSet::from(["KPI_A", "KPI_B", "KPI_C"].map(String::from));
    let provisioning =
        "# $NOT_READ\np: $KPI_A\nu: [\"${KPI_B}\"]\nx: {y: \"$__env{KPI_C} $$LITERAL $__rate_interval\"}";
    assert_eq!(deploy::env_references(provisioning), Ok(expected));
    let mounts = [(String::new(), "/var/lib/grafana/dashboards".to_owned())];
    assert!(deploy::is_under_mount("/var/lib/grafana/dashboards/kpi", &mounts));
    assert!(!deploy::is_under_mount("/var/lib/grafana/dashboards2", &mounts));
}
