//! An SVG picture of a run: latency by percentile (HdrHistogram's way: the x axis spreads
//! the tail, 90%, 99%, 99.9% ...) beside queries answered each second. Plain SVG text, no
//! scripts, readable in any browser.

use hdrhistogram::Histogram;
use std::fmt::Write;

const PANEL_W: f64 = 440.0;
const PANEL_H: f64 = 300.0;
const MARGIN: f64 = 72.0;

/// A tick's position along an axis of `len` for `value` in `0..=max`.
fn scale(value: f64, max: f64, len: f64) -> f64 {
    if max <= 0.0 {
        0.0
    } else {
        value / max * len
    }
}

/// A round upper bound for an axis holding `max`.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let step = 10f64.powf(max.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * step >= max {
            return m * step;
        }
    }
    10.0 * step
}

/// One panel's place, title and axes.
struct Panel<'a> {
    left: f64,
    title: &'a str,
    x_ticks: &'a [(f64, String)],
    x_max: f64,
    y_label: &'a str,
    y_max: f64,
}

/// Draw a panel: axes, ticks and a polyline of `points` (x, y in data units).
fn panel(out: &mut String, p: &Panel, points: &[(f64, f64)]) {
    let Panel {
        left,
        title,
        x_ticks,
        x_max,
        y_label,
        y_max,
    } = *p;
    let top = 40.0;
    let bottom = top + PANEL_H;
    let _ = write!(
        out,
        r#"<text x="{}" y="24" font-size="15" text-anchor="middle">{title}</text>"#,
        left + PANEL_W / 2.0
    );
    let _ = write!(
        out,
        r##"<rect x="{left}" y="{top}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#888"/>"##
    );
    for (x, label) in x_ticks {
        let px = left + scale(*x, x_max, PANEL_W);
        let _ = write!(
            out,
            r##"<line x1="{px:.1}" y1="{top}" x2="{px:.1}" y2="{bottom}" stroke="#ddd"/><text x="{px:.1}" y="{}" font-size="11" text-anchor="middle">{label}</text>"##,
            bottom + 16.0
        );
    }
    for i in 0..=5 {
        let v = y_max * i as f64 / 5.0;
        let py = bottom - scale(v, y_max, PANEL_H);
        let _ = write!(
            out,
            r##"<line x1="{left}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            left + PANEL_W,
            left - 6.0,
            py + 4.0,
            trim(v)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle" transform="rotate(-90 {} {})">{y_label}</text>"#,
        left - 60.0,
        top + PANEL_H / 2.0,
        left - 60.0,
        top + PANEL_H / 2.0
    );
    let mut line = String::new();
    for (x, y) in points {
        let _ = write!(
            line,
            "{:.1},{:.1} ",
            left + scale(*x, x_max, PANEL_W),
            bottom - scale(y.min(y_max), y_max, PANEL_H)
        );
    }
    let _ = write!(
        out,
        r##"<polyline points="{}" fill="none" stroke="#c33" stroke-width="2"/>"##,
        line.trim_end()
    );
}

/// A number for an axis label, without needless decimals.
fn trim(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// The picture of a run: latency percentiles from `latency_us` and `per_second` answers.
pub fn svg(title: &str, latency_us: &Histogram<u64>, per_second: &[u64]) -> String {
    let mut out = String::new();
    let width = 2.0 * (PANEL_W + MARGIN * 1.5);
    let height = PANEL_H + 100.0;
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"#
    );
    // Latency: x is log10(1 / (1 - p)), so 90% sits at 1, 99% at 2, 99.9% at 3.
    let nines = 5.0;
    let mut points = Vec::new();
    if !latency_us.is_empty() {
        for i in 0..=200 {
            let x = nines * i as f64 / 200.0;
            let q = 1.0 - 10f64.powf(-x);
            points.push((x, latency_us.value_at_quantile(q) as f64 / 1000.0));
        }
        points.push((nines, latency_us.max() as f64 / 1000.0));
    }
    let y_max = nice_max(points.iter().map(|p| p.1).fold(0.0, f64::max));
    let ticks: Vec<(f64, String)> = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
        .map(|(i, l)| (i as f64, l.to_string()))
        .collect();
    panel(
        &mut out,
        &Panel {
            left: MARGIN,
            title: &format!("{title}: latency by percentile"),
            x_ticks: &ticks,
            x_max: nines,
            y_label: "latency (ms)",
            y_max,
        },
        &points,
    );
    // Answers per second.
    let points: Vec<(f64, f64)> = per_second
        .iter()
        .enumerate()
        .map(|(i, n)| ((i + 1) as f64, *n as f64))
        .collect();
    let x_max = per_second.len().max(1) as f64;
    let step = (x_max / 10.0).ceil().max(1.0);
    let ticks: Vec<(f64, String)> = (0..=(x_max / step) as usize)
        .map(|i| (i as f64 * step, format!("{}s", i as f64 * step)))
        .collect();
    let y_max = nice_max(per_second.iter().copied().max().unwrap_or(0) as f64);
    panel(
        &mut out,
        &Panel {
            left: MARGIN * 2.5 + PANEL_W,
            title: "answers per second",
            x_ticks: &ticks,
            x_max,
            y_label: "queries/s",
            y_max,
        },
        &points,
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_has_both_panels_and_scales_to_the_data() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for us in 1..=1000 {
            h.record(us).unwrap();
        }
        let svg = svg("test", &h, &[1000, 2000, 1500]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("latency by percentile"));
        assert!(svg.contains(">99.9%<"));
        // 1 ms maximum latency, 2000 queries/s at most: the axes end there.
        assert!(svg.contains(">1</text>"), "latency axis tops at 1 ms");
        assert!(svg.contains(">2000</text>"), "rate axis tops at 2000");
        assert_eq!(nice_max(0.7), 1.0);
        assert_eq!(nice_max(1800.0), 2000.0);
        assert_eq!(nice_max(3100.0), 5000.0);
    }
}
