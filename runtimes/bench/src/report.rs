//! Medians over runs, and the human table.

use serde_json::{json, Map, Value};

/// Median of the values (sorts them in place); 0 for none.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A number rounded for reading: integers stay integers, others keep 3 decimals.
fn tidy(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9e15 {
        json!(x as i64)
    } else {
        json!((x * 1000.0).round() / 1000.0)
    }
}

/// Field-wise median of several runs' results: numbers become their median, objects are merged
/// recursively, anything else (text, flags) is taken from the last run.
pub fn merge(runs: &[&Map<String, Value>]) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(last) = runs.last() else { return out };
    for (k, v) in last.iter() {
        let vals: Vec<&Value> = runs.iter().filter_map(|r| r.get(k)).collect();
        let merged = if let Some(mut nums) = vals
            .iter()
            .map(|v| v.as_f64())
            .collect::<Option<Vec<f64>>>()
        {
            tidy(median(&mut nums))
        } else if let Some(objs) = vals
            .iter()
            .map(|v| v.as_object())
            .collect::<Option<Vec<_>>>()
        {
            Value::Object(merge(&objs))
        } else {
            v.clone()
        };
        out.insert(k.clone(), merged);
    }
    out
}

/// `{"median": .., "runs": [..]}` from per-run results; failed runs count in `failed_runs`.
pub fn aggregate(runs: Vec<Value>) -> Value {
    let ok: Vec<&Map<String, Value>> = runs
        .iter()
        .filter_map(Value::as_object)
        .filter(|m| !m.contains_key("error"))
        .collect();
    let mut out = Map::new();
    out.insert("median".into(), Value::Object(merge(&ok)));
    out.insert("failed_runs".into(), json!(runs.len() - ok.len()));
    out.insert("runs".into(), Value::Array(runs));
    Value::Object(out)
}

/// Reads a path of keys in a test's median results.
fn get<'a>(results: &'a Map<String, Value>, test: &str, path: &[&str]) -> Option<&'a Value> {
    let mut cur = results.get(test)?.get("median")?;
    for p in path {
        cur = cur.get(p)?;
    }
    Some(cur)
}

/// A figure with a sensible number of digits, or "-".
fn fmt(v: Option<&Value>) -> String {
    if let Some(i) = v.and_then(Value::as_i64) {
        return i.to_string();
    }
    match v.and_then(Value::as_f64) {
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
        None => v.map_or("-".into(), |v| {
            v.as_str().map_or(v.to_string(), str::to_owned)
        }),
    }
}

/// The human table for all results present.
pub fn table(header: &str, results: &Map<String, Value>) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    let g = |t: &str, p: &[&str]| fmt(get(results, t, p));
    let cpu = |t: &str| {
        format!(
            "(cpu: client {} s, server {} s)",
            g(t, &["client_cpu_s"]),
            g(t, &["server_cpu_s"])
        )
    };
    for (test, v) in results {
        if v.get("median")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
        {
            let err = v
                .pointer("/runs/0/error")
                .map_or("no result".into(), |e| fmt(Some(e)));
            rows.push((test.clone(), format!("FAILED: {err}")));
            continue;
        }
        match test.as_str() {
            "retr" | "stor" => rows.push((
                format!("{} MB/s", test.to_uppercase()),
                format!(
                    "{}  ({} bytes) {}",
                    g(test, &["mb_s"]),
                    g(test, &["bytes"]),
                    cpu(test)
                ),
            )),
            "tls-ceiling" => rows.push((
                "TLS ceiling MB/s memory / file".into(),
                format!(
                    "{} / {}  (CPU s sender {} / {}, receiver {} / {})",
                    g(test, &["memory", "mb_s"]),
                    g(test, &["file", "mb_s"]),
                    g(test, &["memory", "sender_cpu_s"]),
                    g(test, &["file", "sender_cpu_s"]),
                    g(test, &["memory", "receiver_cpu_s"]),
                    g(test, &["file", "receiver_cpu_s"]),
                ),
            )),
            "noop" | "size" => rows.push((
                format!("{} ops/s seq / pipelined", test.to_uppercase()),
                format!(
                    "{} / {}  (p50 {} us, depth {}, errors {}+{})",
                    g(test, &["seq_ops_s"]),
                    g(test, &["pipe_ops_s"]),
                    g(test, &["seq_p50_us"]),
                    g(test, &["pipe_depth"]),
                    g(test, &["seq_errors"]),
                    g(test, &["pipe_errors"])
                ),
            )),
            "login" => rows.push((
                format!("logins/s seq / {} parallel", g(test, &["par_clients"])),
                format!(
                    "{} / {}  (p50 {} ms, errors {}+{})",
                    g(test, &["seq_per_s"]),
                    g(test, &["par_per_s"]),
                    g(test, &["seq_p50_ms"]),
                    g(test, &["seq_errors"]),
                    g(test, &["par_errors"])
                ),
            )),
            "list" => {
                for cmd in crate::listing::COMMANDS {
                    let val = match get(results, test, &[cmd, "unsupported"]) {
                        Some(u) => format!("unsupported: {}", fmt(Some(u))),
                        None => format!(
                            "{}  ({} lines)",
                            g(test, &[cmd, "ms"]),
                            g(test, &[cmd, "lines"])
                        ),
                    };
                    rows.push((format!("{cmd} ms"), val));
                }
            }
            t if t.starts_with("conc_") => {
                let n = g(t, &["clients"]);
                rows.push((
                    format!("{n} sessions: wall s / MB/s / failed"),
                    format!(
                        "{} / {} / {}  (login p50 {} ms, max {} ms)",
                        g(t, &["wall_s"]),
                        g(t, &["agg_mb_s"]),
                        g(t, &["failed"]),
                        g(t, &["login_ms_p50"]),
                        g(t, &["login_ms_max"])
                    ),
                ));
                if get(results, t, &["memory"]).is_some() {
                    let mib = |k: &str| {
                        get(results, t, &["memory", "peak", k])
                            .and_then(Value::as_f64)
                            .map(|x| json!(x / 1024.0))
                    };
                    rows.push((
                        format!("{n} sessions: peak RSS / PSS MiB"),
                        format!(
                            "{} / {}  ({} procs)",
                            fmt(mib("rss_kb").as_ref()),
                            fmt(mib("pss_kb").as_ref()),
                            g(t, &["memory", "peak", "procs"])
                        ),
                    ));
                }
            }
            t if t.starts_with("idle_") => rows.push((
                format!("{} idle: logged in / RSS / PSS MiB", g(t, &["sessions"])),
                format!(
                    "{} / {} / {}  ({} KiB PSS per session, alive {})",
                    g(t, &["logged_in"]),
                    g(t, &["rss_mib"]),
                    g(t, &["pss_mib"]),
                    g(t, &["pss_kb_per_session"]),
                    g(t, &["alive_at_end"])
                ),
            )),
            _ => {}
        }
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let mut s = format!("== {header}\n");
    for (k, v) in rows {
        s.push_str(&format!("  {k:<w$}  {v}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn merge_takes_medians_recursively_and_skips_failed_runs() {
        let runs = vec![
            json!({"mb_s": 10.0, "mode": "a", "m": {"x": 1}}),
            json!({"error": "boom"}),
            json!({"mb_s": 30.0, "mode": "b", "m": {"x": 5}}),
            json!({"mb_s": 20.0, "mode": "c", "m": {"x": 3}}),
        ];
        let agg = aggregate(runs);
        assert_eq!(
            agg["median"],
            json!({"mb_s": 20, "mode": "c", "m": {"x": 3}})
        );
        assert_eq!(agg["failed_runs"], json!(1));
        assert_eq!(agg["runs"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn table_shows_failures_and_figures() {
        let mut r = Map::new();
        r.insert(
            "retr".into(),
            aggregate(vec![json!({"mb_s": 2500.4, "bytes": 1000})]),
        );
        r.insert(
            "stor".into(),
            aggregate(vec![json!({"error": "550 denied"})]),
        );
        let t = table("x", &r);
        assert!(t.contains("RETR MB/s") && t.contains("2500"), "{t}");
        assert!(
            t.contains("stor") && t.contains("FAILED: 550 denied"),
            "{t}"
        );
    }
}
