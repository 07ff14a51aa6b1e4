//! A sensor's valid readings over a span, read in a bounded number of
//! bounded queries, for the pictures drawn from the store (an alert's trend,
//! `status`'s last hour). A span denser than that keeps its start and its
//! end, the middle left out: the end says whether it is still rising.

use super::StoredReading;
use crate::store::StoreError;

/// How much one span may read: `queries` queries of at most `limit` readings.
#[derive(Debug, Clone, Copy)]
pub struct SpanBudget {
    /// Readings one query returns at most.
    pub limit: usize,
    /// Queries at most.
    pub queries: usize,
}

/// `sensor`'s valid readings from `from_ms` to `to_ms` as `(ms, °C)`, oldest
/// first, read through `read` (`Store::readings_since`'s shape).
pub fn valid_span(
    read: &mut impl FnMut(&str, i64, usize) -> Result<Vec<StoredReading>, StoreError>,
    sensor: &str,
    from_ms: i64,
    to_ms: i64,
    budget: SpanBudget,
) -> Result<Vec<(i64, f64)>, StoreError> {
    let mut kept: Vec<(i64, f64)> = Vec::new();
    let mut start = from_ms;
    for _ in 0..budget.queries {
        let got = read(sensor, start, budget.limit)?;
        // A query holds every reading from `start` on (up to the limit), so
        // it replaces what an earlier one read from there.
        kept.retain(|&(ms, _)| ms < start);
        kept.extend(
            got.iter()
                .filter(|r| r.wall.ms <= to_ms)
                .filter_map(|r| r.value.as_ref().ok().map(|&v| (r.wall.ms, v))),
        );
        let (Some(first), Some(last)) = (got.first(), got.last()) else {
            break;
        };
        if got.len() < budget.limit || last.wall.ms >= to_ms {
            break;
        }
        // Aim the next query so that, as dense as this one, it reaches past
        // `to`; it starts after this one's first reading, so it progresses.
        let covered = last.wall.ms - first.wall.ms;
        start = to_ms - covered / 8 * 7;
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use edgetherm_proto::Trend;

    use super::*;
    use crate::reading::Wall;

    const AT: i64 = 1_790_000_000_000;

    /// An alert's trend budget.
    const TREND: SpanBudget = SpanBudget {
        limit: 2_000,
        queries: 3,
    };

    #[test]
    fn a_dense_span_keeps_its_start_and_its_end_within_the_budget() {
        // One reading every 100 ms for an hour (36,000), a spike 2 s before `at`.
        let all: Vec<(i64, f64)> = (0..36_000)
            .map(|i| {
                let ms = AT - 3_600_000 + 100 + i * 100;
                (ms, if ms == AT - 2_000 { 45.0 } else { 20.0 })
            })
            .collect();
        let mut read_total = 0;
        let mut queries = 0;
        let got = valid_span(
            &mut |_: &str, from: i64, limit: usize| {
                queries += 1;
                let rows: Vec<StoredReading> = all
                    .iter()
                    .filter(|(ms, _)| *ms >= from)
                    .take(limit)
                    .map(|&(ms, v)| StoredReading {
                        sensor: "s".into(),
                        wall: Wall {
                            ms,
                            unsynced: false,
                        },
                        value: Ok(v),
                    })
                    .collect();
                read_total += rows.len();
                Ok(rows)
            },
            "s",
            AT - 3_600_000,
            AT,
            TREND,
        )
        .unwrap();
        assert!(queries <= TREND.queries && read_total <= TREND.queries * TREND.limit);
        assert_eq!(got.first().map(|r| r.0), Some(AT - 3_600_000 + 100));
        assert_eq!(got.last().map(|r| r.0), Some(AT), "ends at `at`");
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "in order, once each"
        );
        let t = Trend::from_readings(&got, AT, 60);
        assert!(t.v.contains(&4500), "the spike: {:?}", t.v);
        assert_eq!(t.check(), Ok(()));
    }
}
