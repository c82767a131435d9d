//! Test helpers for the deployment files (`docker-compose.yml`, `deploy/k8s/`): reading them as
//! YAML, and the small checks `tests/deploy_stack.rs` applies to them. Each check returns the
//! problems it found as readable lines, so that a test can report all of them at once and the
//! checks themselves can be tried on small bad inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde::Deserialize as _;
pub use serde_yaml::{Mapping, Value};

/// One YAML document, with `<<` merge keys applied (compose's `x-kpi` anchor).
pub fn yaml(text: &str) -> Result<Value, String> {
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    value.apply_merge().map_err(|e| e.to_string())?;
    Ok(value)
}

/// Every document of a multi-document YAML file (Kubernetes manifests), empty ones left out.
pub fn yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| e.to_string())?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// The value at a path of mapping keys, e.g. `at(&doc, &["spec", "template", "spec"])`.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

/// A scalar as text (compose writes numbers and booleans where it means strings).
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string or a list of strings (compose `command`/`entrypoint`, k8s `args`) as a list.
pub fn words(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Sequence(items)) => items.iter().filter_map(text).collect(),
        Some(v) => text(v).map(|s| s.split_whitespace().map(str::to_owned).collect()).unwrap_or_default(),
        None => Vec::new(),
    }
}

/// Compose's variable substitution as it happens with nothing set: `${NAME:-default}` and
/// `${NAME-default}` give the default, `$$` a `$`. A variable without a default is an error:
/// the stack must come up with no environment prepared.
pub fn interpolate_defaults(input: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(body) = rest.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| format!("unclosed ${{ in {input:?}"))?;
            let expr = &body[..end];
            let default = expr.split_once(":-").or_else(|| expr.split_once('-')).map(|(_, d)| d);
            out.push_str(default.ok_or_else(|| format!("${{{expr}}} has no default in {input:?}"))?);
            rest = &body[end + 1..];
        } else {
            return Err(format!("bare $ (write $$ or ${{NAME:-default}}) in {input:?}"));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The subcommands `kpi --help` lists under `Commands:`.
pub fn subcommands(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The kpi subcommands a container runs: the first argument when `kpi` is the entrypoint, or
/// the word after each `kpi` of a shell script (`/bin/sh -c "kpi generate ... && kpi produce"`).
pub fn kpi_subcommands(entrypoint: &[String], args: &[String]) -> Vec<String> {
    let shell = entrypoint.first().is_some_and(|e| e.ends_with("/sh") || e.ends_with("/bash"));
    if !shell {
        return args.first().cloned().into_iter().collect();
    }
    let script = args.join(" ");
    let tokens: Vec<&str> = script.split_whitespace().collect();
    tokens.windows(2).filter(|w| w[0] == "kpi").map(|w| w[1].to_owned()).collect()
}

/// Topic → partitions of every `--topic T --partitions N` in a `kafka-topics.sh` script.
pub fn created_topics(script: &str) -> Result<BTreeMap<String, u32>, String> {
    let mut out = BTreeMap::new();
    for command in script.split("&&") {
        let tokens: Vec<&str> = command.split_whitespace().collect();
        let flag = |name: &str| tokens.windows(2).find(|w| w[0] == name).map(|w| w[1].trim_matches('"'));
        if let Some(topic) = flag("--topic") {
            let partitions = flag("--partitions")
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("topic {topic} is created without --partitions N"))?;
            out.insert(topic.to_owned(), partitions);
        }
    }
    Ok(out)
}

/// The port of `host:port`, `http://host:port/path` or `8080:9101` (the last one counts).
pub fn port_of(address: &str) -> Option<u16> {
    let without_scheme = address.split_once("://").map_or(address, |(_, rest)| rest);
    let authority = without_scheme.split('/').next()?;
    authority.rsplit(':').next()?.parse().ok()
}

/// An image reference as (name, tag); the tag is `None` when there is none (or only a digest).
pub fn image_parts(image: &str) -> (String, Option<String>) {
    let image = image.split('@').next().unwrap_or(image);
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rsplit_once(':') {
        Some((name, tag)) => (format!("{}{name}", &image[..last_slash]), Some(tag.to_owned())),
        None => (image.to_owned(), None),
    }
}

/// Images that are not pinned (no digest, and no tag or `latest`), except `local`, built here.
/// `images` is (where it is used, reference).
pub fn unpinned_images(images: &[(String, String)], local: &str) -> Vec<String> {
    images
        .iter()
        .filter(|(_, image)| {
            let (name, tag) = image_parts(image);
            name != local && !image.contains('@') && tag.as_deref().is_none_or(|t| t == "latest")
        })
        .map(|(place, image)| format!("{place}: image {image} is not pinned to a version"))
        .collect()
}

/// Images used with more than one tag across the files (e.g. two Kafka versions).
pub fn mixed_versions(images: &[(String, String)]) -> Vec<String> {
    let mut tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (place, image) in images {
        let (name, tag) = image_parts(image);
        tags.entry(name).or_default().insert(format!("{} ({place})", tag.unwrap_or_default()));
    }
    tags.into_iter()
        .filter(|(_, seen)| seen.iter().map(|s| s.split(' ').next()).collect::<BTreeSet<_>>().len() > 1)
        .map(|(name, seen)| format!("{name} is used at different versions: {seen:?}"))
        .collect()
}

/// Places whose port differs from `expected`; `observed` is (where, port).
pub fn port_disagreements(expected: u16, observed: &[(String, Option<u16>)]) -> Vec<String> {
    observed
        .iter()
        .filter(|(_, port)| *port != Some(expected))
        .map(|(place, port)| format!("{place}: port {port:?}, expected {expected}"))
        .collect()
}

/// A compose service's environment, in either form (mapping, or `KEY=value` list).
pub fn environment(service: &Value) -> BTreeMap<String, String> {
    match service.get("environment") {
        Some(Value::Mapping(map)) => {
            map.iter().filter_map(|(k, v)| Some((text(k)?, text(v).unwrap_or_default()))).collect()
        }
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(text)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (item, String::new()),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A compose service's bind mounts (short syntax) as (host path, container path); named
/// volumes are left out.
pub fn bind_mounts(service: &Value) -> Vec<(String, String)> {
    words(service.get("volumes"))
        .iter()
        .filter_map(|v| {
            let mut parts = v.split(':');
            let (host, container) = (parts.next()?, parts.next()?);
            (host.starts_with('.') || host.starts_with('/')).then(|| (host.to_owned(), container.to_owned()))
        })
        .collect()
}

/// Problems with a compose file's start order: every `depends_on` has a condition,
/// `service_healthy` names a service with a health check, `service_completed_successfully` a
/// one-shot (`restart: "no"`), and every long-running service has a health check.
pub fn start_order_problems(services: &Mapping) -> Vec<String> {
    let mut problems = Vec::new();
    let one_shot = |s: &Value| s.get("restart").and_then(text).as_deref() == Some("no");
    for (name, service) in services {
        let name = text(name).unwrap_or_default();
        if !one_shot(service) && service.get("healthcheck").is_none() {
            problems.push(format!("{name}: runs until stopped but has no healthcheck"));
        }
        let Some(depends) = service.get("depends_on") else { continue };
        let Some(depends) = depends.as_mapping() else {
            problems.push(format!("{name}: depends_on is a list; give each dependency a condition"));
            continue;
        };
        for (dep, how) in depends {
            let dep_name = text(dep).unwrap_or_default();
            let condition = how.get("condition").and_then(text).unwrap_or_default();
            let Some(target) = services.get(dep) else {
                problems.push(format!("{name}: depends on {dep_name}, which is no service"));
                continue;
            };
            match condition.as_str() {
                "service_healthy" if target.get("healthcheck").is_none() => {
                    problems.push(format!("{name}: waits for {dep_name} to be healthy, but it has no healthcheck"))
                }
                "service_completed_successfully" if !one_shot(target) => {
                    problems.push(format!("{name}: waits for {dep_name} to complete, but it is no one-shot"))
                }
                "service_healthy" | "service_completed_successfully" => {}
                other => problems.push(format!("{name}: depends on {dep_name} with condition {other:?}")),
            }
        }
    }
    problems
}

/// Whether `path` (in a container) is at or under one of the container paths of `mounts`.
pub fn is_under_mount(path: &str, mounts: &[(String, String)]) -> bool {
    let path = path.trim_end_matches('/');
    mounts.iter().any(|(_, dir)| {
        let dir = dir.trim_end_matches('/');
        path == dir || path.starts_with(&format!("{dir}/"))
    })
}

/// Runs the kpi binary's own settings loader (defaults, `config`, then the `KPI__` variables
/// of `env`, nothing else from this process) and returns its complaint, if any. `kpi produce`
/// of a missing file loads and checks the settings before it opens the file, so "opening"
/// means the settings were accepted; an unknown key or a value of the wrong type is refused.
pub fn settings_complaint(kpi: &Path, config: Option<&Path>, env: &BTreeMap<String, String>) -> Option<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-feed.ndjson");
    let mut command = Command::new(kpi);
    command.arg("produce").arg(&missing).current_dir(dir.path()).env_clear();
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.envs(env.iter().filter(|(k, _)| k.starts_with("KPI__")));
    let output = command.output().unwrap_or_else(|e| panic!("running {}: {e}", kpi.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let accepted = !output.status.success() && stderr.contains(&format!("opening {}", missing.display()));
    (!accepted).then(|| stderr.trim().to_owned())
}

/// A setting of a TOML settings file (`[section] key = value`), as text.
pub fn setting(settings: &str, section: &str, key: &str) -> Option<String> {
    let table: toml::Table = settings.parse().ok()?;
    match table.get(section)?.get(key)? {
        toml::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Whether compose service `from` waits, directly or through others, for service `on`.
pub fn waits_for(services: &Mapping, from: &str, on: &str) -> bool {
    let (mut seen, mut stack) = (BTreeSet::new(), vec![from.to_owned()]);
    while let Some(name) = stack.pop() {
        let Some(depends) = services.get(name.as_str()).and_then(|s| s.get("depends_on")) else { continue };
        let names: Vec<String> = match depends {
            Value::Mapping(map) => map.keys().filter_map(text).collect(),
            other => words(Some(other)),
        };
        for dep in names {
            if dep == on {
                return true;
            }
            if seen.insert(dep.clone()) {
                stack.push(dep);
            }
        }
    }
    false
}

/// The environment variables a Grafana provisioning file reads: `$VAR`, `${VAR}` or
/// `$__env{VAR}` in its values (Grafana expands values, not comments). `$$` is a literal `$`,
/// and other `$__name`s are Grafana's own (`$__rate_interval`, `$__file{...}`).
pub fn env_references(provisioning: &str) -> Result<BTreeSet<String>, String> {
    fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::String(s) => out.push(s),
            Value::Sequence(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Mapping(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let (value, mut values) = (yaml(provisioning)?, Vec::new());
    strings(&value, &mut values);
    let mut out = BTreeSet::new();
    for value in values {
        let mut rest = value;
        while let Some(i) = rest.find('$') {
            rest = &rest[i + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                rest = after;
                continue;
            }
            let name_at = rest.strip_prefix("__env{").or_else(|| rest.strip_prefix('{')).unwrap_or(rest);
            let name: String = name_at.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let grafanas = rest.starts_with("__") && !rest.starts_with("__env{");
            if !grafanas && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                out.insert(name);
            }
        }
    }
    Ok(out)
}

/// The containers of a workload's pod template (Deployment, Job).
pub fn containers(workload: &Value) -> Vec<&Value> {
    at(workload, &["spec", "template", "spec", "containers"])
        .and_then(Value::as_sequence)
        .map(|c| c.iter().collect())
        .unwrap_or_default()
}

/// The number of a container port given by name or number, if the container declares it.
pub fn container_port(container: &Value, port: &Value) -> Option<u16> {
    let ports = container.get("ports")?.as_sequence()?;
    let wanted = text(port)?;
    ports
        .iter()
        .find(|p| {
            p.get("name").and_then(text).as_deref() == Some(&wanted)
                || p.get("containerPort").and_then(text).as_deref() == Some(&wanted)
        })
        .and_then(|p| p.get("containerPort")?.as_u64()?.try_into().ok())
}

/// Problems with a Deployment: a replica count, a selector its pods carry, and for every
/// container readiness `/readyz` and liveness `/healthz` probes on a port it declares, and
/// resource requests and limits.
pub fn deployment_problems(name: &str, deployment: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if at(deployment, &["spec", "replicas"]).and_then(Value::as_u64).is_none() {
        problems.push(format!("{name}: no replica count"));
    }
    let labels = at(deployment, &["spec", "template", "metadata", "labels"]);
    for (key, value) in
        at(deployment, &["spec", "selector", "matchLabels"]).and_then(Value::as_mapping).into_iter().flatten()
    {
        if labels.and_then(|l| l.get(key)) != Some(value) {
            problems.push(format!("{name}: its pods do not carry the selector label {key:?}"));
        }
    }
    let containers = containers(deployment);
    if containers.is_empty() {
        problems.push(format!("{name}: no containers"));
    }
    for container in containers {
        let c = format!("{name}/{}", container.get("name").and_then(text).unwrap_or_default());
        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            let get = at(container, &[probe, "httpGet"]);
            if get.and_then(|g| g.get("path")).and_then(text).as_deref() != Some(path) {
                problems.push(format!("{c}: {probe} is not an HTTP GET of {path}"));
            }
            if get.and_then(|g| g.get("port")).and_then(|p| container_port(container, p)).is_none() {
                problems.push(format!("{c}: {probe} is not on a port the container declares"));
            }
        }
        for (kind, resource) in [("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory")] {
            if at(container, &["resources", kind, resource]).is_none() {
                problems.push(format!("{c}: no resources.{kind}.{resource}"));
            }
        }
    }
    problems
}

/// Kubernetes manifests: (file name, document), with the look-ups the checks need.
pub struct Manifests(pub Vec<(String, Value)>);

impl Manifests {
    pub fn find(&self, kind: &str, name: &str) -> Option<&Value> {
        self.0.iter().map(|(_, d)| d).find(|d| {
            d.get("kind").and_then(text).as_deref() == Some(kind)
                && at(d, &["metadata", "name"]).and_then(text).as_deref() == Some(name)
        })
    }

    /// A key of a ConfigMap's `data` or a Secret's `stringData`.
    fn key(&self, kind: &str, name: &Value, key: &Value) -> Option<String> {
        let data = if kind == "Secret" { "stringData" } else { "data" };
        at(self.find(kind, &text(name)?)?, &[data, &text(key)?]).and_then(text)
    }

    /// A container's environment, with `configMapKeyRef`/`secretKeyRef` taken from the
    /// manifests (the Secret from its example).
    pub fn env(&self, container: &Value) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for var in container.get("env").and_then(Value::as_sequence).into_iter().flatten() {
            let name = text(&var["name"]).ok_or("an env entry without a name")?;
            let value = match (var.get("value"), at(var, &["valueFrom"])) {
                (Some(value), _) => text(value),
                (None, Some(from)) => match (from.get("configMapKeyRef"), from.get("secretKeyRef")) {
                    (Some(r), _) => self.key("ConfigMap", &r["name"], &r["key"]),
                    (None, Some(r)) => self.key("Secret", &r["name"], &r["key"]),
                    _ => None,
                },
                _ => None,
            };
            out.insert(name.clone(), value.ok_or(format!("env {name} refers to no key of the manifests"))?);
        }
        Ok(out)
    }

    /// Problems with what a workload mounts: ConfigMap and Secret keys that do not exist, and a
    /// kpi `--config` file that is not where a ConfigMap item is mounted.
    pub fn mount_problems(&self, place: &str, workload: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        let volumes = at(workload, &["spec", "template", "spec", "volumes"]).and_then(Value::as_sequence);
        let volumes: Vec<&Value> = volumes.into_iter().flatten().collect();
        for volume in &volumes {
            let (kind, source, name) = match (volume.get("configMap"), volume.get("secret")) {
                (Some(c), _) => ("ConfigMap", c, &c["name"]),
                (None, Some(s)) => ("Secret", s, &s["secretName"]),
                _ => continue,
            };
            for item in source.get("items").and_then(Value::as_sequence).into_iter().flatten() {
                if self.key(kind, name, &item["key"]).is_none() {
                    problems
                        .push(format!("{place}: mounts {kind} {name:?} key {:?}, which it does not have", item["key"]));
                }
            }
        }
        for container in containers(workload) {
            let args = words(container.get("args"));
            let Some(config) = args.windows(2).find(|w| w[0] == "--config").map(|w| w[1].clone()) else { continue };
            let mounted = container["volumeMounts"].as_sequence().into_iter().flatten().any(|mount| {
                let volume = volumes.iter().find(|v| v["name"] == mount["name"]);
                let items = volume.and_then(|v| at(v, &["configMap", "items"])).and_then(Value::as_sequence);
                items.into_iter().flatten().filter_map(|i| text(&i["path"])).any(|path| {
                    format!("{}/{path}", text(&mount["mountPath"]).unwrap_or_default().trim_end_matches('/')) == config
                })
            });
            if !mounted {
                problems.push(format!("{place}: --config {config} is not where a ConfigMap item is mounted"));
            }
        }
        problems
    }
}

/// Where a compose service says its admin port is: its own `KPI__<SERVICE>__ADMIN_LISTEN`, the
/// container side of its port mappings, its health check URL. (place, port)
pub fn compose_admin_ports(name: &str, service: &Value) -> Vec<(String, Option<u16>)> {
    let variable = format!("KPI__{}__ADMIN_LISTEN", name.to_uppercase());
    let mut seen = vec![(format!("{name} {variable}"), environment(service).get(&variable).and_then(|l| port_of(l)))];
    for mapping in words(service.get("ports")) {
        seen.push((format!("{name} ports {mapping}"), port_of(&mapping)));
    }
    let url = words(at(service, &["healthcheck", "test"])).into_iter().find(|w| w.contains("://"));
    seen.push((format!("{name} healthcheck URL"), url.and_then(|u| port_of(&u))));
    seen
}

/// Where a Deployment and its Service say the admin port is: the scrape annotation, the
/// container ports, the probes, the Service's port and target port. (place, port)
pub fn k8s_admin_ports(deployment: &Value, service: &Value) -> Vec<(String, Option<u16>)> {
    let number = |v: &Value| v.as_u64().and_then(|p| p.try_into().ok());
    let annotation = at(deployment, &["spec", "template", "metadata", "annotations", "prometheus.io/port"]);
    let mut seen =
        vec![("prometheus.io/port annotation".to_owned(), annotation.and_then(text).and_then(|p| p.parse().ok()))];
    let Some(container) = containers(deployment).first().copied() else { return seen };
    for port in container["ports"].as_sequence().into_iter().flatten() {
        seen.push(("containerPort".to_owned(), number(&port["containerPort"])));
    }
    for probe in ["readinessProbe", "livenessProbe"] {
        let port = at(container, &[probe, "httpGet", "port"]).and_then(|p| container_port(container, p));
        seen.push((probe.to_owned(), port));
    }
    for port in at(service, &["spec", "ports"]).and_then(Value::as_sequence).into_iter().flatten() {
        seen.push(("Service port".to_owned(), number(&port["port"])));
        seen.push(("Service targetPort".to_owned(), container_port(container, &port["targetPort"])));
    }
    seen
}
