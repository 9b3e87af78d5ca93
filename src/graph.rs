//! A pod as a picture: its nodes, the lab-wide shared nodes and networks,
//! and on each edge the interface names and addresses, drawn from the plan
//! (what `noglab plan` prints) so that the picture shows what `up` creates.
//!
//! Pure: from a [`Plan`] to text in Graphviz's dot, Mermaid or SVG. The SVG
//! here is laid out by a small layered layout of its own, so that no
//! Graphviz is needed; `commands::graph` prefers `dot -Tsvg` when present.
//! Management and access networks are plumbing and are left out.

use std::fmt::Write as _;

use crate::plan::{self, labels, Attachment, ContainerSpec, NetworkSpec, Plan, ACCESS_NODE};

/// What a vertex stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VertexKind {
    /// A node of the pod.
    Node,
    /// A lab-wide node.
    SharedNode,
    /// A LAN (a link of more than two endpoints) or a shared network.
    Network,
}

#[derive(Debug, Clone)]
pub struct Vertex {
    /// Unique, made of `[a-z0-9_]` so every format takes it as it is.
    pub id: String,
    pub name: String,
    /// The node's kind, or the network's subnets.
    pub detail: Vec<String>,
    pub kind: VertexKind,
}

/// An edge between two vertices, with what stands at each end: the
/// interface and its addresses.
#[derive(Debug, Clone)]
pub struct Edge {
    pub a: usize,
    pub b: usize,
    pub a_end: Vec<String>,
    pub b_end: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Graph {
    pub lab: String,
    pub pod: u32,
    pub vertices: Vec<Vertex>,
    pub edges: Vec<Edge>,
}

impl Graph {
    pub fn title(&self) -> String {
        format!("{}, pod {}", self.lab, self.pod)
    }

    /// An edge's label, one line per end that has something: whose end it
    /// is, the interface and its addresses.
    fn edge_label(&self, e: &Edge) -> Vec<String> {
        [(e.a, &e.a_end), (e.b, &e.b_end)]
            .into_iter()
            .filter(|(_, lines)| !lines.is_empty())
            .map(|(v, lines)| format!("{} {}", self.vertices[v].name, lines.join(" ")))
            .collect()
    }
}

/// The interface and its addresses, one per line.
fn end(a: &Attachment) -> Vec<String> {
    let mut out = vec![a.interface.clone()];
    out.extend(a.ipv4.map(|n| n.to_string()));
    out.extend(a.ipv6.map(|n| n.to_string()));
    out
}

fn subnets(members: &[(usize, &Attachment)]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(n) = members.iter().find_map(|(_, a)| a.ipv4) {
        out.push(n.trunc().to_string());
    }
    if let Some(n) = members.iter().find_map(|(_, a)| a.ipv6) {
        out.push(n.trunc().to_string());
    }
    out
}

fn ident(prefix: &str, name: &str) -> String {
    format!("{prefix}_{}", name.replace('-', "_"))
}

/// Pod `pod` of `plan` with the shared nodes and networks.
pub fn build(plan: &Plan, pod: u32) -> Result<Graph, String> {
    let pod_plan = plan.pod_plans.get(&pod).ok_or_else(|| {
        format!(
            "lab {} has no pod {pod}; it has {}",
            plan.lab,
            plan::describe_pods(&plan.pod_plans.keys().copied().collect::<Vec<_>>())
        )
    })?;
    let mut vertices = Vec::new();
    let mut containers: Vec<(usize, &ContainerSpec)> = Vec::new();
    let shared_containers = plan.shared.iter().flat_map(|s| s.containers.iter());
    for (c, kind) in pod_plan
        .containers
        .iter()
        .filter(|c| c.node != ACCESS_NODE)
        .map(|c| (c, VertexKind::Node))
        .chain(shared_containers.map(|c| (c, VertexKind::SharedNode)))
    {
        containers.push((vertices.len(), c));
        vertices.push(Vertex {
            id: ident("n", &c.node),
            name: c.node.clone(),
            detail: vec![c.kind.clone()],
            kind,
        });
    }
    let role = |n: &NetworkSpec| n.labels.get(labels::NETWORK).cloned().unwrap_or_default();
    let networks = pod_plan
        .networks
        .iter()
        .map(|n| (n, false))
        .chain(
            plan.shared
                .iter()
                .flat_map(|s| s.networks.iter().map(|n| (n, true))),
        )
        .filter(|(n, _)| !matches!(role(n).as_str(), "mgmt" | "access"));
    let mut edges = Vec::new();
    for (net, shared) in networks {
        let mut members: Vec<(usize, &Attachment)> = containers
            .iter()
            .flat_map(|(v, c)| {
                c.links
                    .iter()
                    .filter(|a| a.network == net.name)
                    .map(move |a| (*v, a))
            })
            .collect();
        // Docker addresses follow the order of the link's endpoints.
        members.sort_by_key(|(_, a)| a.docker_ip);
        match members.as_slice() {
            [] => {}
            [(a, x), (b, y)] if !shared => edges.push(Edge {
                a: *a,
                b: *b,
                a_end: end(x),
                b_end: end(y),
            }),
            _ => {
                let role = role(net);
                let name = match role.strip_prefix('l').and_then(|n| n.parse::<u32>().ok()) {
                    Some(n) if !shared => format!("link {n}"),
                    _ => role.clone(),
                };
                let v = vertices.len();
                vertices.push(Vertex {
                    id: ident(if shared { "s" } else { "l" }, &role),
                    name,
                    detail: subnets(&members),
                    kind: VertexKind::Network,
                });
                for (m, a) in &members {
                    edges.push(Edge {
                        a: *m,
                        b: v,
                        a_end: end(a),
                        b_end: Vec::new(),
                    });
                }
            }
        }
    }
    Ok(Graph {
        lab: plan.lab.clone(),
        pod,
        vertices,
        edges,
    })
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot_lines(lines: &[String]) -> String {
    dot_escape(&lines.join("\n")).replace('\n', "\\n")
}

/// Graphviz's dot: `dot -Tsvg` or `-Tpng` draws it.
pub fn dot(g: &Graph) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "graph \"{}\" {{", dot_escape(&g.lab));
    let _ = writeln!(
        s,
        "  graph [rankdir=LR, label=\"{}\", labelloc=t, fontname=\"Helvetica\", nodesep=0.6, ranksep=1.2];",
        dot_escape(&g.title())
    );
    s.push_str("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef4fb\", fontname=\"Helvetica\"];\n");
    s.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
    let vertex = |v: &Vertex| {
        let mut label = vec![v.name.clone()];
        label.extend(v.detail.iter().cloned());
        let style = match v.kind {
            VertexKind::Node => String::new(),
            VertexKind::SharedNode => ", fillcolor=\"#fdf0d5\"".into(),
            VertexKind::Network => {
                ", shape=box, style=\"rounded,dashed\", fillcolor=white, fontsize=10".into()
            }
        };
        format!("\"{}\" [label=\"{}\"{style}];", v.id, dot_lines(&label))
    };
    let _ = writeln!(s, "  subgraph \"cluster_pod\" {{");
    let _ = writeln!(s, "    label=\"pod {}\"; style=dashed; color=gray;", g.pod);
    for v in g.vertices.iter().filter(|v| v.kind == VertexKind::Node) {
        let _ = writeln!(s, "    {}", vertex(v));
    }
    s.push_str("  }\n");
    let shared: Vec<&Vertex> = g
        .vertices
        .iter()
        .filter(|v| v.kind == VertexKind::SharedNode)
        .collect();
    if !shared.is_empty() {
        s.push_str(
            "  subgraph \"cluster_shared\" {\n    label=\"shared\"; style=dashed; color=gray;\n",
        );
        for v in shared {
            let _ = writeln!(s, "    {}", vertex(v));
        }
        s.push_str("  }\n");
    }
    for v in g.vertices.iter().filter(|v| v.kind == VertexKind::Network) {
        let _ = writeln!(s, "  {}", vertex(v));
    }
    // One label in the middle of each edge: Graphviz makes room for it,
    // where head and tail labels overlap each other and the lines.
    for e in &g.edges {
        let _ = writeln!(
            s,
            "  \"{}\" -- \"{}\" [label=\"{}\"];",
            g.vertices[e.a].id,
            g.vertices[e.b].id,
            dot_lines(&g.edge_label(e))
        );
    }
    s.push_str("}\n");
    s
}

fn mermaid_text(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| l.replace('"', "#quot;"))
        .collect::<Vec<_>>()
        .join("<br/>")
}

/// Mermaid's flowchart, which GitHub and GitLab draw inside a Markdown
/// ```` ```mermaid ```` block.
pub fn mermaid(g: &Graph) -> String {
    let mut s = format!("---\ntitle: {}\n---\nflowchart LR\n", g.title());
    let vertex = |v: &Vertex| {
        let mut label = vec![v.name.clone()];
        label.extend(v.detail.iter().cloned());
        let text = mermaid_text(&label);
        match v.kind {
            VertexKind::Network => format!("{}([\"{text}\"])", v.id),
            _ => format!("{}[\"{text}\"]", v.id),
        }
    };
    let _ = writeln!(s, "  subgraph pod[\"pod {}\"]", g.pod);
    for v in g.vertices.iter().filter(|v| v.kind == VertexKind::Node) {
        let _ = writeln!(s, "    {}", vertex(v));
    }
    s.push_str("  end\n");
    let shared: Vec<&Vertex> = g
        .vertices
        .iter()
        .filter(|v| v.kind == VertexKind::SharedNode)
        .collect();
    if !shared.is_empty() {
        s.push_str("  subgraph shared[\"shared\"]\n");
        for v in shared {
            let _ = writeln!(s, "    {}", vertex(v));
        }
        s.push_str("  end\n");
    }
    for v in g.vertices.iter().filter(|v| v.kind == VertexKind::Network) {
        let _ = writeln!(s, "  {}", vertex(v));
    }
    for e in &g.edges {
        let _ = writeln!(
            s,
            "  {} ---|\"{}\"| {}",
            g.vertices[e.a].id,
            mermaid_text(&g.edge_label(e)),
            g.vertices[e.b].id
        );
    }
    s
}

// The built-in SVG layout: vertices in columns by their distance from the
// first node (breadth first, so an edge joins neighbouring columns or one
// column), ordered in each column by the mean position of their neighbours,
// a few sweeps each way.

const FONT: f64 = 12.0;
const SMALL: f64 = 10.0;
const BOX_H: f64 = 20.0;
const ROW: f64 = 160.0;
const COL_GAP: f64 = 260.0;
const MARGIN: f64 = 40.0;
const TITLE: f64 = 36.0;
/// Room beside the outer columns for their labels.
const SIDE: f64 = 150.0;

fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.6
}

fn size(v: &Vertex) -> (f64, f64) {
    let lines = 1 + v.detail.len();
    let widest = std::iter::once(text_width(&v.name, FONT))
        .chain(v.detail.iter().map(|d| text_width(d, SMALL)))
        .fold(0.0, f64::max);
    (widest + 24.0, BOX_H + lines as f64 * 14.0)
}

/// Column and row of every vertex.
fn layout(g: &Graph) -> Vec<(usize, usize)> {
    let n = g.vertices.len();
    let mut adj = vec![Vec::new(); n];
    for e in &g.edges {
        adj[e.a].push(e.b);
        adj[e.b].push(e.a);
    }
    let mut layer = vec![usize::MAX; n];
    for start in 0..n {
        if layer[start] != usize::MAX {
            continue;
        }
        layer[start] = 0;
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(u) = queue.pop_front() {
            for &w in &adj[u] {
                if layer[w] == usize::MAX {
                    layer[w] = layer[u] + 1;
                    queue.push_back(w);
                }
            }
        }
    }
    let layers = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut columns: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (v, &l) in layer.iter().enumerate() {
        columns[l].push(v);
    }
    let mut row = vec![0.0f64; n];
    let set_rows = |columns: &Vec<Vec<usize>>, row: &mut Vec<f64>| {
        for col in columns {
            for (i, &v) in col.iter().enumerate() {
                row[v] = i as f64;
            }
        }
    };
    set_rows(&columns, &mut row);
    for sweep in 0..4 {
        let order: Vec<usize> = if sweep % 2 == 0 {
            (1..layers).collect()
        } else {
            (0..layers.saturating_sub(1)).rev().collect()
        };
        for l in order {
            let reference = if sweep % 2 == 0 { l - 1 } else { l + 1 };
            let mut keyed: Vec<(f64, usize)> = columns[l]
                .iter()
                .map(|&v| {
                    let near: Vec<f64> = adj[v]
                        .iter()
                        .filter(|&&w| layer[w] == reference)
                        .map(|&w| row[w])
                        .collect();
                    let key = if near.is_empty() {
                        row[v]
                    } else {
                        near.iter().sum::<f64>() / near.len() as f64
                    };
                    (key, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            columns[l] = keyed.into_iter().map(|(_, v)| v).collect();
            set_rows(&columns, &mut row);
        }
    }
    let mut out = vec![(0, 0); n];
    for (l, col) in columns.iter().enumerate() {
        for (i, &v) in col.iter().enumerate() {
            out[v] = (l, i);
        }
    }
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A point on the quadratic curve from `p` through control `c` to `q`.
fn bezier(p: (f64, f64), c: (f64, f64), q: (f64, f64), t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    (
        u * u * p.0 + 2.0 * u * t * c.0 + t * t * q.0,
        u * u * p.1 + 2.0 * u * t * c.1 + t * t * q.1,
    )
}

/// A quadratic curve: start, control, end.
type Curve = ((f64, f64), (f64, f64), (f64, f64));

/// Points sampled on each edge, for keeping labels off it.
const CURVE_SAMPLES: usize = 120;
/// Between the lines of an interface label.
const LINE: f64 = 12.0;
/// Kept clear around a label.
const GAP: f64 = 3.0;

/// A box on the picture, `x0 <= x1`, `y0 <= y1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    fn around(centre: (f64, f64), w: f64, h: f64) -> Rect {
        Rect {
            x0: centre.0 - w / 2.0,
            y0: centre.1 - h / 2.0,
            x1: centre.0 + w / 2.0,
            y1: centre.1 + h / 2.0,
        }
    }
    fn grown(&self, by: f64) -> Rect {
        Rect {
            x0: self.x0 - by,
            y0: self.y0 - by,
            x1: self.x1 + by,
            y1: self.y1 + by,
        }
    }
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
    pub fn contains(&self, p: (f64, f64)) -> bool {
        (self.x0..=self.x1).contains(&p.0) && (self.y0..=self.y1).contains(&p.1)
    }
}

/// The box `lines` of interface text take with their top left at `at`:
/// the measure the layout and its tests share.
pub fn label_box(lines: &[String], at: (f64, f64)) -> Rect {
    let w = lines
        .iter()
        .map(|l| text_width(l, SMALL))
        .fold(0.0, f64::max);
    Rect {
        x0: at.0,
        y0: at.1,
        x1: at.0 + w,
        y1: at.1 + SMALL + (lines.len().saturating_sub(1)) as f64 * LINE + GAP,
    }
}

/// What interface labels must keep clear of: the canvas edge, the
/// vertices' boxes, the edges, and the labels placed before.
struct Room {
    canvas: (f64, f64),
    boxes: Vec<Rect>,
    points: Vec<(f64, f64)>,
    placed: Vec<Rect>,
}

impl Room {
    fn free(&self, r: &Rect) -> bool {
        let g = r.grown(GAP);
        r.x0 >= 0.0
            && r.y0 >= TITLE
            && r.x1 <= self.canvas.0
            && r.y1 <= self.canvas.1
            && !self.boxes.iter().any(|b| b.overlaps(&g))
            && !self.placed.iter().any(|b| b.overlaps(&g))
            && !self.points.iter().any(|&p| g.contains(p))
    }

    /// The nearest free place for a label by its end of an edge (`along`
    /// walks the edge from that end): beside the edge, just outside the
    /// vertex, moving out along the edge, then further from it, until
    /// one is free. Takes the place, and returns the label's box.
    fn place(&mut self, lines: &[String], along: impl Fn(f64) -> (f64, f64)) -> Rect {
        let size = label_box(lines, (0.0, 0.0));
        let (w, h) = (size.x1, size.y1);
        // Where the edge leaves its vertex's box.
        let start = (0..50)
            .map(|i| i as f64 / 100.0)
            .find(|&t| !self.boxes.iter().any(|b| b.grown(GAP).contains(along(t))))
            .unwrap_or(0.0);
        // Near its vertex first (a label far along an edge reads as the
        // other end's), then further from the edge before further along.
        let mut chosen = None;
        'search: for step in 0..24 {
            let t = start + step as f64 * 0.02;
            if t > 0.5 {
                break;
            }
            for away in [6.0, 14.0, 26.0, 42.0] {
                let (x, y) = along(t);
                // Right, left, below, above the point on the edge.
                for corner in [
                    (x + away, y - h / 2.0),
                    (x - away - w, y - h / 2.0),
                    (x - w / 2.0, y + away),
                    (x - w / 2.0, y - away - h),
                    (x + away, y + away),
                    (x + away, y - away - h),
                    (x - away - w, y + away),
                    (x - away - w, y - away - h),
                ] {
                    let r = label_box(lines, corner);
                    if self.free(&r) {
                        chosen = Some(r);
                        break 'search;
                    }
                }
            }
        }
        // Nowhere free (a crowded picture): beside the vertex, as before.
        let r = chosen.unwrap_or_else(|| {
            let (x, y) = along(start);
            label_box(lines, (x + 6.0, y - h / 2.0))
        });
        self.placed.push(r);
        r
    }
}

/// SVG without Graphviz.
pub fn svg(g: &Graph) -> String {
    let places = layout(g);
    let sizes: Vec<(f64, f64)> = g.vertices.iter().map(size).collect();
    let columns = places.iter().map(|p| p.0 + 1).max().unwrap_or(1);
    let rows = places.iter().map(|p| p.1 + 1).max().unwrap_or(1);
    let mut col_width = vec![0.0f64; columns];
    for (v, &(c, _)) in places.iter().enumerate() {
        col_width[c] = col_width[c].max(sizes[v].0);
    }
    let mut col_x = Vec::new();
    let mut x = MARGIN + SIDE;
    for w in &col_width {
        col_x.push(x + w / 2.0);
        x += w + COL_GAP;
    }
    let width = x - COL_GAP + MARGIN + SIDE;
    let height = TITLE + MARGIN * 2.0 + rows as f64 * ROW;
    let mut per_column = vec![0usize; columns];
    for &(c, _) in &places {
        per_column[c] += 1;
    }
    let centre: Vec<(f64, f64)> = places
        .iter()
        .map(|&(c, r)| {
            // Shorter columns are centred against the tallest.
            let offset = (rows - per_column[c]) as f64 * ROW / 2.0;
            (
                col_x[c],
                TITLE + MARGIN + ROW / 2.0 + offset + r as f64 * ROW,
            )
        })
        .collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\">"
    );
    let _ = writeln!(s, "<title>{}</title>", xml(&g.title()));
    let _ = writeln!(
        s,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{MARGIN}\" y=\"{}\" font-size=\"16\" font-weight=\"bold\">{}</text>",
        MARGIN,
        xml(&g.title())
    );
    // Every edge's curve first: labels keep clear of all of them.
    let curves: Vec<Curve> = g
        .edges
        .iter()
        .map(|e| {
            let (p, q) = (centre[e.a], centre[e.b]);
            let c = if places[e.a].0 == places[e.b].0 {
                // Same column: bow out to the right, clear of the boxes between.
                let bow = sizes[e.a].0.max(sizes[e.b].0) / 2.0 + 50.0;
                ((p.0 + q.0) / 2.0 + bow, (p.1 + q.1) / 2.0)
            } else {
                ((p.0 + q.0) / 2.0, (p.1 + q.1) / 2.0)
            };
            (p, c, q)
        })
        .collect();
    for &(p, c, q) in &curves {
        let _ = writeln!(
            s,
            "<path d=\"M {:.1} {:.1} Q {:.1} {:.1} {:.1} {:.1}\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.5\"/>",
            p.0, p.1, c.0, c.1, q.0, q.1
        );
    }
    let mut room = Room {
        canvas: (width, height),
        boxes: centre
            .iter()
            .zip(&sizes)
            .map(|(&(x, y), &(w, h))| Rect::around((x, y), w, h))
            .collect(),
        points: curves
            .iter()
            .flat_map(|&(p, c, q)| {
                (0..=CURVE_SAMPLES).map(move |i| bezier(p, c, q, i as f64 / CURVE_SAMPLES as f64))
            })
            .collect(),
        placed: Vec::new(),
    };
    let mut labels = String::new();
    for (e, &(p, c, q)) in g.edges.iter().zip(&curves) {
        for (lines, from_start) in [(&e.a_end, true), (&e.b_end, false)] {
            if lines.is_empty() {
                continue;
            }
            let along = |t: f64| bezier(p, c, q, if from_start { t } else { 1.0 - t });
            let label = room.place(lines, along);
            let _ = write!(
                labels,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{SMALL}\" text-anchor=\"start\" fill=\"#222\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">",
                label.x0,
                label.y0 + SMALL
            );
            for (i, l) in lines.iter().enumerate() {
                let _ = write!(
                    labels,
                    "<tspan x=\"{:.1}\" dy=\"{}\">{}</tspan>",
                    label.x0,
                    if i == 0 { 0.0 } else { LINE },
                    xml(l)
                );
            }
            labels.push_str("</text>\n");
        }
    }
    for (v, vertex) in g.vertices.iter().enumerate() {
        let (cx, cy) = centre[v];
        let (w, h) = sizes[v];
        let (fill, stroke, dash, radius) = match vertex.kind {
            VertexKind::Node => ("#eef4fb", "#3b6ea5", "", 6.0),
            VertexKind::SharedNode => ("#fdf0d5", "#b07d18", "", 6.0),
            VertexKind::Network => ("#ffffff", "#777", " stroke-dasharray=\"4 3\"", h / 2.0),
        };
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"{radius:.1}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"{dash}/>",
            cx - w / 2.0,
            cy - h / 2.0
        );
        let top = cy - h / 2.0 + BOX_H / 2.0 + FONT;
        let _ = writeln!(
            s,
            "<text x=\"{cx:.1}\" y=\"{top:.1}\" font-size=\"{FONT}\" font-weight=\"bold\" text-anchor=\"middle\">{}</text>",
            xml(&vertex.name)
        );
        for (i, d) in vertex.detail.iter().enumerate() {
            let _ = writeln!(
                s,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"{SMALL}\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
                top + 14.0 * (i + 1) as f64,
                xml(d)
            );
        }
    }
    s.push_str(&labels);
    s.push_str("</svg>\n");
    s
}
