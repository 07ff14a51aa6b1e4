//! Shelly Gen2+ temperature status and RPC notifications.

use super::tree::{check_pointer, lookup, number_at, parse_json, value_number, J};
use super::{cap, float_ms, parse_fault, plausible_stamp, quote, Raw, Unit, MAX_KEYS};
use crate::reading::Fault;

/// Shelly Gen2+ `<id>/status/temperature:0` (`{"id":0,"tC":21.5,"tF":70.7}`)
/// or an RPC notification on `<id>/events/rpc`
/// (`{"src":…,"method":"NotifyStatus","params":{"ts":…,"temperature:0":{…}}}`).
/// `tC` names its unit, so the sensor's `unit` does not apply. `Ok(None)`:
/// a notification without a temperature component.
pub(super) fn shelly(text: &str, field: Option<&str>) -> Result<Option<Raw>, Fault> {
    if let Some(f) = field {
        check_pointer(f)?;
    }
    let doc = parse_json(text)?;
    let params = match doc.get("params") {
        Some(p @ J::Obj(_)) => Some(p),
        _ => None,
    };
    let notification =
        params.is_some() && matches!(doc.get("method"), Some(J::Str(m)) if m.starts_with("Notify"));
    let stamp_ms = match params.and_then(|p| p.get("ts")) {
        Some(J::Num(secs)) => float_ms(secs * 1000.0).filter(|ms| plausible_stamp(*ms)),
        _ => None,
    };
    let raw = |(value, unit): (f64, Option<Unit>), declared: Option<Unit>| Raw {
        value,
        unit: unit.or(declared),
        stamp_ms,
    };
    if let Some(f) = field {
        if notification && lookup(&doc, f).is_err() {
            return Ok(None);
        }
        let declared = if f.ends_with("/tC") {
            Some(Unit::C)
        } else if f.ends_with("/tF") {
            Some(Unit::F)
        } else {
            None
        };
        return number_at(&doc, f, text).map(|x| Some(raw(x, declared)));
    }
    if doc.get("tC").is_some() {
        return shelly_component(&doc, "/tC").map(|x| Some(raw(x, Some(Unit::C))));
    }
    if let Some(p) = params {
        // The lowest-numbered temperature:N component (temperature:0 is the
        // built-in sensor; 100+ are add-on probes).
        let best = p
            .members()
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("temperature:")?.parse::<u32>().ok()?;
                Some((n, k, v))
            })
            .min_by_key(|(n, _, _)| *n);
        return match best {
            Some((_, key, comp)) => {
                let name = format!("/params/{key}/tC");
                shelly_component(comp, &name).map(|x| Some(raw(x, Some(Unit::C))))
            }
            None if notification => Ok(None),
            None => Err(parse_fault(format!(
                "payload {} has no temperature:N component in params (params: {})",
                quote(text),
                p.key_list()
            ))),
        };
    }
    let context = match &doc {
        J::Obj(_) => format!("fields: {}", doc.key_list()),
        other => format!("payload is {}", other.kind()),
    };
    Err(parse_fault(format!(
        "payload {} is neither a Shelly temperature status (tC) nor a notification with params ({context})",
        quote(text)
    )))
}

/// `tC` of a `temperature:N` status object; `name` is its pointer.
fn shelly_component(comp: &J, name: &str) -> Result<(f64, Option<Unit>), Fault> {
    let tc = comp.get("tC").unwrap_or(&J::Null);
    if matches!(tc, J::Null) {
        // {"id":0,"tC":null,"tF":null,"errors":["read"]}: the probe failed.
        let errors = match comp.get("errors") {
            Some(J::Arr(items)) if !items.is_empty() => {
                let names: Vec<String> = items
                    .iter()
                    .map(|e| match e {
                        J::Str(s) => s.clone(),
                        other => other.kind().to_string(),
                    })
                    .collect();
                format!(" (errors: {})", cap(names.join(", "), MAX_KEYS))
            }
            _ => String::new(),
        };
        let what = if comp.get("tC").is_some() {
            "is null"
        } else {
            "is missing"
        };
        return Err(parse_fault(format!(
            "field {name} {what}: the sensor reports an error{errors}"
        )));
    }
    value_number(tc, name)
}
