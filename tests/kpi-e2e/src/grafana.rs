//! Test helpers for the Grafana end of the data flow (`deploy/grafana`, reading Prometheus and the
//! warehouse): a dashboard's panel queries and template variables, the datasources of the
//! provisioning file, and the text Grafana would send once its variables and macros are
//! substituted. Pure functions over the files' text, unit-tested below; running the queries is
//! the business of `tests/dashboards.rs`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// What the test puts for Grafana's interval variables. Grafana makes `$__rate_interval` at
/// least four scrape intervals of the datasource (`timeInterval: 30s` in the provisioning file),
/// so 2m is what a dashboard gets over any range of a few hours.
pub const RATE_INTERVAL: &str = "2m";
pub const INTERVAL: &str = "30s";
/// `$__timeFilter(col)` becomes a range that holds any data the warehouse can have.
pub const TIME_FROM: &str = "2000-01-01T00:00:00Z";
pub const TIME_TO: &str = "2100-01-01T00:00:00Z";
/// The value of a variable whose selection is "All".
pub const ALL: &str = "$__all";

/// The query language of a datasource, which decides how variable values are written into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    PromQL,
    Sql,
}

impl Dialect {
    /// From a datasource reference's `type`.
    pub fn of_type(kind: &str) -> Option<Dialect> {
        match kind {
            "prometheus" => Some(Dialect::PromQL),
            "grafana-postgresql-datasource" | "postgres" => Some(Dialect::Sql),
            _ => None,
        }
    }
}

/// One query of one panel.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelQuery {
    pub panel: String,
    pub ref_id: String,
    pub dialect: Dialect,
    /// The PromQL `expr` or the SQL `rawSql`, as written in the dashboard.
    pub text: String,
    /// `table`, `time_series`, … when the target says.
    pub format: Option<String>,
    /// The variable the panel repeats over: Grafana runs the query once per selected value.
    pub repeat: Option<String>,
}

/// Every panel of a dashboard, those nested in collapsed rows included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = list(dashboard, "panels").iter().rev().collect();
    while let Some(panel) = stack.pop() {
        out.push(panel);
        stack.extend(list(panel, "panels").iter().rev());
    }
    out
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// The dialect of a `datasource` reference (an object with `type` and `uid`).
fn dialect_of(reference: Option<&Value>) -> Option<Dialect> {
    reference.and_then(|r| text(r, "type")).and_then(Dialect::of_type)
}

/// Every query of every panel; a target without its own datasource uses its panel's.
pub fn panel_queries(dashboard: &Value) -> Result<Vec<PanelQuery>, String> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        let title = text(panel, "title").unwrap_or("(untitled)");
        for target in list(panel, "targets") {
            let ref_id = text(target, "refId").unwrap_or("?").to_owned();
            let reference = target.get("datasource").or_else(|| panel.get("datasource"));
            let dialect = dialect_of(reference)
                .ok_or_else(|| format!("panel {title:?} target {ref_id}: no prometheus or postgres datasource"))?;
            let key = if dialect == Dialect::PromQL { "expr" } else { "rawSql" };
            let query = text(target, key).filter(|q| !q.trim().is_empty());
            let query = query.ok_or_else(|| format!("panel {title:?} target {ref_id}: no {key}"))?;
            out.push(PanelQuery {
                panel: title.to_owned(),
                ref_id,
                dialect,
                text: query.to_owned(),
                format: text(target, "format").map(str::to_owned),
                repeat: text(panel, "repeat").filter(|r| !r.is_empty()).map(str::to_owned),
            });
        }
    }
    Ok(out)
}

/// Where a template variable's values come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Rows of a query (the `__value` column, else the first).
    Query { dialect: Dialect, query: String },
    /// A custom, constant or text-box variable's own values.
    Fixed(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub name: String,
    pub source: Source,
    /// Multi-value or with "All": Grafana then quotes (SQL) or regex-escapes (PromQL) its values.
    pub multi: bool,
    /// The default selection ([`ALL`] for "All").
    pub current: Vec<String>,
}

/// The template variables of a dashboard, in order (a variable may use those before it).
pub fn variables(dashboard: &Value) -> Result<Vec<Variable>, String> {
    let templating = dashboard.get("templating").unwrap_or(&Value::Null);
    list(templating, "list").iter().map(variable).collect()
}

fn variable(v: &Value) -> Result<Variable, String> {
    let name = text(v, "name").ok_or("a variable without a name")?.to_owned();
    let current = match v.get("current").and_then(|c| c.get("value")) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(values)) => values.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => return Err(format!("variable {name}: no current (default) value")),
    };
    let source = match text(v, "type") {
        Some("query") => {
            let dialect = dialect_of(v.get("datasource"))
                .ok_or_else(|| format!("variable {name}: no prometheus or postgres datasource"))?;
            if dialect == Dialect::PromQL {
                return Err(format!(
                    "variable {name}: Prometheus variable queries are not PromQL; the test cannot run them"
                ));
            }
            let query = match v.get("query") {
                Some(Value::String(q)) => q.clone(),
                Some(q) => text(q, "rawSql").or_else(|| text(q, "query")).unwrap_or_default().to_owned(),
                None => String::new(),
            };
            Source::Query { dialect, query }
        }
        Some("custom") => Source::Fixed(custom_values(v)),
        Some("constant" | "textbox") => Source::Fixed(vec![text(v, "query").unwrap_or_default().to_owned()]),
        other => return Err(format!("variable {name}: type {other:?} is not modelled by this test")),
    };
    let flag = |key: &str| v.get(key).and_then(Value::as_bool).unwrap_or(false);
    Ok(Variable { name, source, multi: flag("multi") || flag("includeAll"), current })
}

/// A custom variable's values: its `options`, else its query `text : value, …`.
fn custom_values(v: &Value) -> Vec<String> {
    let options: Vec<String> = list(v, "options").iter().filter_map(|o| text(o, "value")).map(str::to_owned).collect();
    if !options.is_empty() {
        return options;
    }
    let query = text(v, "query").unwrap_or_default();
    query.split(',').map(|item| item.rsplit(" : ").next().unwrap_or(item).trim().to_owned()).collect()
}

/// The values a query runs with: one per variable, with Grafana's formatting flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub values: Vec<String>,
    pub multi: bool,
}

pub type Bindings = BTreeMap<String, Binding>;

/// The variable bindings each run of a query needs: every variable at its default selection
/// ("All" meaning all its values), except the panel's repeat variable, which takes each of its
/// values in turn. `values` holds every variable's values (query rows or fixed options).
pub fn runs(
    query: &PanelQuery,
    variables: &[Variable],
    values: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<Bindings>, String> {
    let defaults = defaults(variables, values)?;
    let Some(repeat) = &query.repeat else { return Ok(vec![defaults]) };
    let each = values.get(repeat).ok_or_else(|| format!("panel {:?} repeats over unknown ${repeat}", query.panel))?;
    Ok(each
        .iter()
        .map(|value| {
            let mut bindings = defaults.clone();
            bindings.entry(repeat.clone()).and_modify(|b| b.values = vec![value.clone()]);
            bindings
        })
        .collect())
}

/// Every variable at its default selection, checked to be among its values.
pub fn defaults(variables: &[Variable], values: &BTreeMap<String, Vec<String>>) -> Result<Bindings, String> {
    let mut out = Bindings::new();
    for v in variables {
        let Some(all) = values.get(&v.name) else { continue };
        let selected = if v.current.iter().any(|c| c == ALL) { all.clone() } else { v.current.clone() };
        if let Some(missing) = selected.iter().find(|s| !all.contains(s)) {
            return Err(format!("the default of ${}, {missing:?}, is not one of its values {all:?}", v.name));
        }
        if selected.is_empty() {
            return Err(format!("${} has no value to select", v.name));
        }
        out.insert(v.name.clone(), Binding { values: selected, multi: v.multi });
    }
    Ok(out)
}

/// The query as Grafana would send it: `$var`/`${var}` replaced by the bound values, `$__range`
/// by `range`, the interval variables by [`RATE_INTERVAL`] and [`INTERVAL`], and the SQL macro
/// `$__timeFilter(expr)` by a range covering any data. Anything else starting `$__` is an error,
/// so a dashboard cannot use a macro this test does not model.
pub fn interpolate(query: &str, dialect: Dialect, bindings: &Bindings, range: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = query;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let braced = rest.starts_with('{');
        let body = if braced { &rest[1..] } else { rest };
        let len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
        let name = &body[..len];
        if name.is_empty() {
            out.push('$');
            continue;
        }
        let mut after = &body[len..];
        if braced {
            after = after.strip_prefix('}').ok_or_else(|| format!("${{{name}…}}: formats are not modelled"))?;
        }
        let value = match name {
            "__rate_interval" => RATE_INTERVAL.to_owned(),
            "__interval" => INTERVAL.to_owned(),
            "__range" => range.to_owned(),
            "__timeFilter" if dialect == Dialect::Sql => {
                let (column, tail) = call_argument(after).ok_or("$__timeFilter without (column)")?;
                after = tail;
                format!("{column} BETWEEN '{TIME_FROM}' AND '{TIME_TO}'")
            }
            macro_name if macro_name.starts_with("__") => return Err(format!("${macro_name} is not modelled")),
            variable => {
                let binding = bindings.get(variable).ok_or_else(|| format!("${variable} is no variable"))?;
                format_values(binding, dialect)?
            }
        };
        out.push_str(&value);
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// `(argument)rest` → (argument, rest), with nested parentheses.
fn call_argument(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('(')?;
    let mut depth = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some((inner[..i].trim(), &inner[i + 1..])),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Grafana's formatting of a variable's values: SQL quotes each value of a multi-value variable
/// and joins them with commas, and writes a single-value variable as is (quotes doubled); PromQL
/// joins multiple values as a regex alternation `(a|b)`.
fn format_values(binding: &Binding, dialect: Dialect) -> Result<String, String> {
    match dialect {
        Dialect::Sql if binding.multi => {
            Ok(binding.values.iter().map(|v| format!("'{}'", v.replace('\'', "''"))).collect::<Vec<_>>().join(","))
        }
        Dialect::Sql => Ok(binding.values.join(",").replace('\'', "''")),
        Dialect::PromQL => {
            // Grafana regex-escapes values for PromQL; plain labels need none, so refuse others.
            if let Some(v) =
                binding.values.iter().find(|v| !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            {
                return Err(format!("value {v:?} would need Grafana's regex escaping, which is not modelled"));
            }
            match binding.values.as_slice() {
                [one] => Ok(one.clone()),
                many => Ok(format!("({})", many.join("|"))),
            }
        }
    }
}

/// `$__range` for a dashboard: the duration of its default time range `now-<duration>` to `now`.
pub fn range(dashboard: &Value) -> Result<String, String> {
    let time = dashboard.get("time").ok_or("no time range")?;
    let from = text(time, "from").and_then(|f| f.strip_prefix("now-"));
    match (from, text(time, "to")) {
        (Some(duration), Some("now")) => Ok(duration.to_owned()),
        other => Err(format!("time range {other:?} is not now-<duration> to now")),
    }
}

/// Every `datasource` value anywhere in a dashboard, with the path to it.
pub fn datasource_refs(dashboard: &Value) -> Vec<(String, Value)> {
    fn walk(value: &Value, path: String, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    let here = format!("{path}/{key}");
                    if key == "datasource" {
                        out.push((here.clone(), v.clone()));
                    }
                    walk(v, here, out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, String::new(), &mut out);
    out
}

/// uid → type of every datasource of a provisioning file (the `uid:` and `type:` keys of each
/// `- ` item of `datasources:`, in the block style the file is written in).
pub fn provisioned_datasources(yaml: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let (mut item_indent, mut uid, mut kind): (Option<usize>, Option<String>, Option<String>) = (None, None, None);
    let mut finish = |uid: &mut Option<String>, kind: &mut Option<String>| {
        if let (Some(u), Some(k)) = (uid.take(), kind.take()) {
            out.insert(u, k);
        }
    };
    for line in yaml.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')) {
        let indent = line.len() - line.trim_start().len();
        let mut body = line.trim_start();
        if let Some(item) = body.strip_prefix("- ") {
            finish(&mut uid, &mut kind);
            item_indent = Some(indent + 2);
            body = item;
        } else if Some(indent) != item_indent {
            continue;
        }
        let Some((key, value)) = body.split_once(':') else { continue };
        let value = value.trim().trim_matches('"').trim_matches('\'').to_owned();
        match key.trim() {
            "uid" => uid = Some(value),
            "type" => kind = Some(value),
            _ => {}
        }
    }
    finish(&mut uid, &mut kind);
    out
}

/// The metric names (`kpi_…`) and recording-rule names (with colons) a PromQL expression uses.
pub fn series_names(expr: &str) -> BTreeSet<String> {
    crate::prom_rules::identifiers(expr)
        .into_iter()
        .filter(|name| name.starts_with("kpi_") || name.contains(':'))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bindings(items: &[(&str, &[&str], bool)]) -> Bindings {
        items
            .iter()
            .map(|(name, values, multi)| {
                (name.to_string(), Binding { values: values.iter().map(|v| v.to_string()).collect(), multi: *multi })
            })
            .collect()
    }

    #[test]
    fn queries_come_from_nested_panels_with_the_panel_datasource_as_default() {
        let dashboard = json!({"panels": [
            {"title": "p", "datasource": {"type": "prometheus", "uid": "x"}, "targets": [{"refId": "A", "expr": "up"}]},
            {"type": "row", "title": "r", "panels": [
                {"title": "n", "repeat": "v", "targets": [
                    {"refId": "B", "datasource": {"type": "grafana-postgresql-datasource", "uid": "y"},
                     "rawSql": "SELECT 1", "format": "table"}]}]}]});
        assert_eq!(panels(&dashboard).len(), 3);
        let queries = panel_queries(&dashboard).unwrap();
        assert_eq!(queries.len(), 2);
        assert_eq!(
            (queries[0].dialect, queries[0].text.as_str(), queries[0].repeat.as_deref()),
            (Dialect::PromQL, "up", None)
        );
        assert_eq!(
            (queries[1].dialect, queries[1].panel.as_str(), queries[1].repeat.as_deref()),
            (Dialect::Sql, "n", Some("v"))
        );
        assert!(panel_queries(&json!({"panels": [{"title": "t", "targets": [{"refId": "A", "expr": "up"}]}]})).is_err());
    }

    #[test]
    fn sql_variables_are_quoted_only_when_multi_valued() {
        let b = bindings(&[("one", &["it's"], false), ("many", &["a", "b"], true), ("all", &["a"], true)]);
        let sql = "x = '$one' AND y IN ($many) AND z IN (${all}) AND $__timeFilter(f(d)) AND w = '$'";
        assert_eq!(
            interpolate(sql, Dialect::Sql, &b, "1h").unwrap(),
            "x = 'it''s' AND y IN ('a','b') AND z IN ('a') AND f(d) BETWEEN '2000-01-01T00:00:00Z' AND '2100-01-01T00:00:00Z' AND w = '$'"
        );
        assert!(interpolate("$nope", Dialect::Sql, &b, "1h").unwrap_err().contains("$nope"));
        assert!(interpolate("$__timeGroup(d, 1d)", Dialect::Sql, &b, "1h").is_err());
    }

    #[test]
    fn promql_variables_become_alternations_and_intervals_durations() {
        let b = bindings(&[("i", &["a", "b"], true), ("s", &["all"], false), ("bad", &["a.b"], true)]);
        let expr = r#"rate(m{i=~"$i",s="$s"}[$__rate_interval]) + increase(m[$__range]) + m offset $__interval"#;
        assert_eq!(
            interpolate(expr, Dialect::PromQL, &b, "6h").unwrap(),
            r#"rate(m{i=~"(a|b)",s="all"}[2m]) + increase(m[6h]) + m offset 30s"#
        );
        assert!(interpolate("m{x=~\"$bad\"}", Dialect::PromQL, &b, "6h").is_err());
        assert!(interpolate("$__timeFilter(d)", Dialect::PromQL, &b, "6h").is_err());
    }

    #[test]
    fn variables_defaults_and_repeats() {
        let dashboard = json!({"templating": {"list": [
            {"name": "k", "type": "custom", "query": "Month : month,Rolling : r12", "current": {"value": "r12"}},
            {"name": "i", "type": "query", "datasource": {"type": "grafana-postgresql-datasource", "uid": "y"},
             "query": "SELECT id AS __value FROM t", "multi": true, "includeAll": true, "current": {"value": ["$__all"]}}]}});
        let vars = variables(&dashboard).unwrap();
        assert_eq!(vars[0].source, Source::Fixed(vec!["month".into(), "r12".into()]));
        assert!(matches!(&vars[1].source, Source::Query { dialect: Dialect::Sql, query } if query.contains("__value")));
        let values: BTreeMap<String, Vec<String>> = [
            ("k".to_owned(), vec!["month".to_owned(), "r12".to_owned()]),
            ("i".to_owned(), vec!["x".to_owned(), "y".to_owned()]),
        ]
        .into();
        let defaults = defaults(&vars, &values).unwrap();
        assert_eq!(defaults["k"], Binding { values: vec!["r12".into()], multi: false });
        assert_eq!(defaults["i"].values, ["x", "y"]);
        let query = PanelQuery {
            panel: "p".into(),
            ref_id: "A".into(),
            dialect: Dialect::Sql,
            text: "q".into(),
            format: None,
            repeat: Some("i".into()),
        };
        let runs = runs(&query, &vars, &values).unwrap();
        assert_eq!(runs.iter().map(|r| r["i"].values.clone()).collect::<Vec<_>>(), [["x"], ["y"]]);
        assert!(runs.iter().all(|r| r["i"].multi));
        let missing: BTreeMap<String, Vec<String>> = [("k".to_owned(), vec!["month".to_owned()])].into();
        assert!(super::defaults(&vars, &missing).unwrap_err().contains("r12"));
    }

    #[test]
    fn provisioned_datasources_are_read_by_item() {
        let yaml = "apiVersion: 1\ndatasources:\n  - name: P\n    uid: p\n    type: prometheus\n    jsonData:\n      type: x\n\
                    \x20 - name: W\n    type: \"grafana-postgresql-datasource\"\n    uid: w\n";
        let found = provisioned_datasources(yaml);
        assert_eq!(
            found,
            [("p".into(), "prometheus".into()), ("w".into(), "grafana-postgresql-datasource".into())].into()
        );
    }

    #[test]
    fn datasource_refs_and_ranges_and_names() {
        let dashboard = json!({"time": {"from": "now-6h", "to": "now"},
            "panels": [{"datasource": {"uid": "a"}, "targets": [{"datasource": "legacy"}]}]});
        let refs = datasource_refs(&dashboard);
        assert_eq!(
            refs.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            ["/panels/0/datasource", "/panels/0/targets/0/datasource"]
        );
        assert_eq!(range(&dashboard).unwrap(), "6h");
        assert!(range(&json!({"time": {"from": "2024-01-01", "to": "now"}})).is_err());
        let names = series_names(r#"sum by (job) (rate(kpi_a_total{x="kpi_b"}[5m])) / job:kpi_c:rate5m"#);
        assert_eq!(names, ["job:kpi_c:rate5m".to_owned(), "kpi_a_total".to_owned()].into());
    }
}
