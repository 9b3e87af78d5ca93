//! Where a run's time goes: every engine step of `execute` (a network
//! made, a container created and attached, its files delivered, its
//! start, the wait for a booting place, its boot until seen ready), as
//! spans from the run's origin, summed up per step for `up --timings`.
//! Recording is a timestamp pair in a list; nothing is recorded unless a
//! timeline was asked for.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The steps a node or network goes through, in the order a run meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    RemoveContainer,
    RemoveNetwork,
    CreateNetwork,
    /// A container created and attached to its links.
    Create,
    /// Its files (configs, secrets) copied in.
    Files,
    /// Waiting for a place among the nodes booting at once.
    WaitBooting,
    Start,
    /// From its start (or from when noglab began waiting for a node left
    /// booting) until noglab saw it ready.
    Boot,
}

impl Step {
    const ALL: [Step; 8] = [
        Step::RemoveContainer,
        Step::RemoveNetwork,
        Step::CreateNetwork,
        Step::Create,
        Step::Files,
        Step::WaitBooting,
        Step::Start,
        Step::Boot,
    ];

    fn label(self) -> &'static str {
        match self {
            Step::RemoveContainer => "containers removed",
            Step::RemoveNetwork => "networks removed",
            Step::CreateNetwork => "networks created",
            Step::Create => "containers created + attached",
            Step::Files => "files delivered",
            Step::WaitBooting => "waited for a booting place",
            Step::Start => "containers started",
            Step::Boot => "nodes booting (start to seen ready)",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Span {
    step: Step,
    from: Duration,
    to: Duration,
}

/// The spans of one run, from `origin`.
pub struct Timeline {
    origin: Instant,
    spans: Mutex<Vec<Span>>,
}

impl Timeline {
    /// A timeline whose times count from `origin` (the command's start).
    pub fn from(origin: Instant) -> Timeline {
        Timeline {
            origin,
            spans: Mutex::new(Vec::new()),
        }
    }

    /// One step that began at `from` and ends now.
    pub fn record(&self, step: Step, from: Instant) {
        let span = Span {
            step,
            from: from.saturating_duration_since(self.origin),
            to: self.origin.elapsed(),
        };
        self.spans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(span);
    }

    /// The table `up --timings` prints: per step, how many, when the first
    /// began and the last ended, and the median and longest of one; then
    /// the first and last node seen ready. Seconds from the origin.
    pub fn report(&self, engine_work_from: Duration, total: Duration) -> Vec<String> {
        let spans = self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut lines = vec![
            format!(
                "timings (seconds from the start of `up`; {:.1} s of planning, images and locks before the engine work):",
                engine_work_from.as_secs_f64()
            ),
            format!(
                "  {:<38} {:>5} {:>8} {:>8} {:>8} {:>8}",
                "step", "count", "first", "last", "median", "max"
            ),
        ];
        for step in Step::ALL {
            let mut of: Vec<Span> = spans.iter().filter(|s| s.step == step).copied().collect();
            if of.is_empty() {
                continue;
            }
            let first = of.iter().map(|s| s.from).min().unwrap_or_default();
            let last = of.iter().map(|s| s.to).max().unwrap_or_default();
            of.sort_by_key(|s| s.to.saturating_sub(s.from));
            let length = |s: &Span| s.to.saturating_sub(s.from).as_secs_f64();
            let median = length(&of[of.len() / 2]);
            let max = of.last().map(length).unwrap_or_default();
            lines.push(format!(
                "  {:<38} {:>5} {:>8.1} {:>8.1} {:>8.2} {:>8.2}",
                step.label(),
                of.len(),
                first.as_secs_f64(),
                last.as_secs_f64(),
                median,
                max
            ));
        }
        let ready: Vec<Duration> = spans
            .iter()
            .filter(|s| s.step == Step::Boot)
            .map(|s| s.to)
            .collect();
        if let (Some(first), Some(last)) = (ready.iter().min(), ready.iter().max()) {
            lines.push(format!(
                "  first node seen ready at {:.1} s, last at {:.1} s; `up` done at {:.1} s",
                first.as_secs_f64(),
                last.as_secs_f64(),
                total.as_secs_f64()
            ));
        } else {
            lines.push(format!(
                "  no node waited for; `up` done at {:.1} s",
                total.as_secs_f64()
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_sums_each_step_and_names_first_and_last_ready() {
        let origin = Instant::now() - Duration::from_secs(10);
        let t = Timeline::from(origin);
        let at = |s: u64| origin + Duration::from_secs(s);
        // Recorded by hand: spans from `at(n)` to now (10 s after origin).
        t.record(Step::Create, at(2));
        t.record(Step::Create, at(6));
        t.record(Step::Create, at(9));
        t.record(Step::Boot, at(4));
        let lines = t.report(Duration::from_millis(1500), Duration::from_secs(10));
        assert!(lines[0].contains("1.5 s of planning"), "{}", lines[0]);
        let create = lines
            .iter()
            .find(|l| l.contains("containers created"))
            .expect("a create line");
        let cols: Vec<&str> = create.split_whitespace().rev().take(5).collect();
        // max, median, last, first, count (read from the right).
        assert_eq!(cols[4], "3", "{create}");
        assert_eq!(cols[3], "2.0", "{create}");
        assert!(cols[2].starts_with("10."), "{create}");
        assert!(cols[1].starts_with("4."), "{create}");
        assert!(cols[0].starts_with("8."), "{create}");
        assert!(!lines.iter().any(|l| l.contains("networks created")));
        let last = lines.last().expect("a last line");
        assert!(last.contains("first node seen ready at 10."), "{last}");
        assert!(last.ends_with("`up` done at 10.0 s"), "{last}");
    }
}
