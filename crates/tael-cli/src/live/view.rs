//! Drawing `tael live`: a tab line, the screen's body and a key line, at
//! any terminal size (80×24 and up; smaller terminals get what fits).
//! The waterfall marks critical-path spans with `*` and errors with `!`.

use super::app::{App, OpenTrace, Screen, Typing};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use tael_core::model::Span;

fn ms(ns: i64) -> String {
    let ms = ns as f64 / 1e6;
    if ms >= 1000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else {
        format!("{ms:.1}ms")
    }
}

/// `s` cut to `n` characters (an ellipsis marks the cut).
fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        format!("{s:<n$}")
    } else if n == 0 {
        String::new()
    } else {
        let mut out: String = s.chars().take(n - 1).collect();
        out.push('…');
        out
    }
}

fn selected_style(on: bool) -> Style {
    if on {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
    }
}

fn status_style(s: &Span) -> Style {
    if s.status == "error" {
        Style::default().fg(Color::Red)
    } else {
        Style::default()
    }
}

/// The rows of a list that fit `height`, keeping `selected` in view.
fn window(len: usize, selected: usize, height: usize) -> std::ops::Range<usize> {
    if height == 0 {
        return 0..0;
    }
    let start = selected
        .saturating_sub(height - 1)
        .min(len.saturating_sub(height));
    start..(start + height).min(len)
}

pub fn draw(f: &mut Frame, app: &App) {
    let [tabs, body, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let tab = |n: &str, name: &str, on: bool| {
        TextSpan::styled(format!(" {n}:{name} "), selected_style(on))
    };
    let on_trace = matches!(app.screen, Screen::Trace | Screen::Span);
    let header = Line::from(vec![
        tab("1", "Traces", app.screen == Screen::Feed),
        tab("2", "Services", app.screen == Screen::Services),
        TextSpan::styled(if on_trace { " Trace " } else { "" }, selected_style(true)),
        TextSpan::raw(format!(
            "  {}{}",
            if app.paused { "[paused] " } else { "" },
            app.status
        )),
    ]);
    f.render_widget(Paragraph::new(header), tabs);
    match app.screen {
        Screen::Feed => feed(f, body, app),
        Screen::Services => services(f, body, app),
        Screen::Trace => match &app.trace {
            Some(t) => waterfall(f, body, t),
            None => f.render_widget(Paragraph::new("no trace open"), body),
        },
        Screen::Span => match &app.trace {
            Some(t) => span_details(f, body, app, t),
            None => f.render_widget(Paragraph::new("no trace open"), body),
        },
    }
    let help = match (&app.typing, app.screen) {
        (Some((Typing::Filter, text)), _) => format!("filter: {text}▏  Enter apply  Esc cancel"),
        (Some((Typing::Comment, text)), _) => format!("comment: {text}▏  Enter send  Esc cancel"),
        (None, Screen::Feed) => {
            "j/k move  Enter trace  / filter  Space pause  2 services  q quit".into()
        }
        (None, Screen::Services) => {
            "j/k move  Enter filter traces  1 traces  Esc back  q quit".into()
        }
        (None, Screen::Trace) => "j/k span  Enter details  c comment  Esc back  q quit".into(),
        (None, Screen::Span) => "j/k span  v payload  c comment  Esc back  q quit".into(),
    };
    f.render_widget(
        Paragraph::new(help).style(Style::default().add_modifier(Modifier::BOLD)),
        keys,
    );
}

fn feed(f: &mut Frame, area: Rect, app: &App) {
    let rows = app.visible_feed();
    let title = match app.filter.as_str() {
        "" => format!("traces ({} spans)", rows.len()),
        flt => format!("traces matching {flt:?} ({} spans)", rows.len()),
    };
    let block = Block::default().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let svc = (w / 5).clamp(6, 18);
    let dur = 9;
    let id = if w >= 100 { 32 } else { 8 };
    let op = w.saturating_sub(svc + dur + id + 8 + 4);
    let mut lines = Vec::new();
    for i in window(rows.len(), app.feed_selected, inner.height as usize) {
        let s = rows[i];
        let time = tael_core::time::format_rfc3339(s.start_ns);
        let clock = time.get(11..19).unwrap_or("");
        let text = format!(
            "{clock} {} {} {:>dur$} {}{}",
            fit(&s.service, svc),
            fit(&s.operation, op),
            ms(s.end_ns - s.start_ns),
            if s.status == "error" { "!" } else { " " },
            fit(&s.trace_id, id),
        );
        lines.push(Line::styled(
            text,
            status_style(s).patch(selected_style(i == app.feed_selected)),
        ));
    }
    if rows.is_empty() {
        lines.push(Line::raw("waiting for spans…"));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn services(f: &mut Frame, area: Rect, app: &App) {
    let block = Block::default()
        .borders(Borders::TOP)
        .title(format!("services ({})", app.services.len()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let name = (inner.width as usize).saturating_sub(44).clamp(8, 40);
    let mut lines = vec![Line::styled(
        format!(
            "{} {:>9} {:>8} {:>10} {:>10}",
            fit("service", name),
            "spans",
            "traces",
            "avg",
            "Error Rate"
        ),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    let height = (inner.height as usize).saturating_sub(1);
    for i in window(app.services.len(), app.services_selected, height) {
        let s = &app.services[i];
        lines.push(Line::styled(
            format!(
                "{} {:>9} {:>8} {:>10} {:>9.1}%",
                fit(&s.name, name),
                s.span_count,
                s.trace_count,
                format!("{:.1}ms", s.avg_duration_ms),
                s.error_rate * 100.0
            ),
            selected_style(i == app.services_selected),
        ));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn waterfall(f: &mut Frame, area: Rect, t: &OpenTrace) {
    let w = &t.waterfall;
    let title = format!(
        "trace {}  {} spans {}  * critical path  ! error",
        t.trace_id,
        t.spans.len(),
        ms(w.end_ns - w.start_ns)
    );
    let comments = (t.comments.len() as u16).min(4);
    let [top, bottom] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(if comments > 0 { comments + 1 } else { 0 }),
    ])
    .areas(area);
    let block = Block::default().borders(Borders::TOP).title(title);
    let inner = block.inner(top);
    f.render_widget(block, top);
    let width = inner.width as usize;
    let label = (width * 2 / 5).clamp(12, 50);
    let dur = 9;
    let bar_width = width.saturating_sub(label + dur + 4) as u16;
    let mut lines = Vec::new();
    for i in window(w.rows.len(), t.selected, inner.height as usize) {
        let row = &w.rows[i];
        let s = &t.spans[row.span];
        let (from, to) = w.bar(s, bar_width);
        let name = format!(
            "{}{} {}",
            "  ".repeat(row.depth.min(12)),
            s.service,
            s.operation
        );
        let mark = format!(
            "{}{}",
            if row.critical { '*' } else { ' ' },
            if s.status == "error" { '!' } else { ' ' }
        );
        let bar_style = match (row.critical, s.status == "error") {
            (_, true) => Style::default().fg(Color::Red),
            (true, false) => Style::default().fg(Color::Yellow),
            _ => Style::default().fg(Color::Cyan),
        };
        let sel = selected_style(i == t.selected);
        lines.push(Line::from(vec![
            TextSpan::styled(format!("{mark} {} ", fit(&name, label)), sel),
            TextSpan::raw(" ".repeat(from as usize)),
            TextSpan::styled("█".repeat((to - from) as usize), bar_style),
            TextSpan::raw(" ".repeat((bar_width - to) as usize)),
            TextSpan::styled(format!(" {:>dur$}", ms(s.end_ns - s.start_ns)), sel),
        ]));
    }
    f.render_widget(Paragraph::new(lines), inner);
    if comments > 0 {
        let mut lines = vec![Line::styled(
            format!("comments ({})", t.comments.len()),
            Style::default().add_modifier(Modifier::BOLD),
        )];
        for c in t.comments.iter().rev().take(comments as usize) {
            lines.push(Line::raw(format!("{}: {}", c.author, c.body)));
        }
        f.render_widget(Paragraph::new(lines), bottom);
    }
}

fn span_details(f: &mut Frame, area: Rect, app: &App, t: &OpenTrace) {
    let Some(s) = t.selected_span() else {
        return;
    };
    if let Some((title, text)) = &t.payload {
        let block = Block::default()
            .borders(Borders::TOP)
            .title(format!("payload {title} (Esc closes)"));
        f.render_widget(
            Paragraph::new(text.as_str())
                .wrap(Wrap { trim: false })
                .block(block),
            area,
        );
        return;
    }
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::styled(format!("{}  {}", s.service, s.operation), bold),
        Line::raw(format!(
            "span {}  parent {}  kind {}",
            s.span_id,
            s.parent_span_id.as_deref().unwrap_or("-"),
            s.kind
        )),
        Line::styled(
            format!(
                "status {}{}  duration {}  start {}",
                s.status,
                if s.status_message.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", s.status_message)
                },
                ms(s.end_ns - s.start_ns),
                tael_core::time::format_rfc3339(s.start_ns)
            ),
            status_style(s),
        ),
    ];
    if let Some(l) = &s.llm {
        lines.push(Line::styled("llm", bold));
        lines.push(Line::raw(format!(
            "  {} {}  tokens in {} out {}  cost ${:.6}",
            l.provider,
            l.model,
            l.input_tokens.unwrap_or(0),
            l.output_tokens.unwrap_or(0),
            l.cost_usd.unwrap_or(0.0)
        )));
        let payloads = app.payloads();
        for (i, p) in payloads.iter().enumerate() {
            lines.push(Line::raw(format!(
                "  payload {}: {} {} ({} bytes)",
                i + 1,
                p.kind,
                p.key,
                p.bytes
            )));
        }
    }
    lines.push(Line::styled(
        format!("attributes ({})", s.attributes.len()),
        bold,
    ));
    for (k, v) in &s.attributes {
        lines.push(Line::raw(format!(
            "  {k} = {}",
            tael_core::attr::json_to_flat(v)
        )));
    }
    if !s.events.is_empty() {
        lines.push(Line::styled(format!("events ({})", s.events.len()), bold));
        for e in &s.events {
            let attrs: Vec<String> = e
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={}", tael_core::attr::json_to_flat(v)))
                .collect();
            lines.push(Line::raw(format!(
                "  +{} {} {}",
                ms(e.time_ns - s.start_ns),
                e.name,
                attrs.join(" ")
            )));
        }
    }
    let mine: Vec<_> = t
        .comments
        .iter()
        .filter(|c| c.span_id.is_none() || c.span_id.as_deref() == Some(s.span_id.as_str()))
        .collect();
    if !mine.is_empty() {
        lines.push(Line::styled(format!("comments ({})", mine.len()), bold));
        for c in mine {
            lines.push(Line::raw(format!("  {}: {}", c.author, c.body)));
        }
    }
    let block = Block::default().borders(Borders::TOP).title("span");
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::super::app::{Input, Key};
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn span(id: &str, parent: Option<&str>, start: i64, end: i64, status: &str) -> Span {
        Span {
            trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
            span_id: id.into(),
            parent_span_id: parent.map(str::to_string),
            service: "api".into(),
            operation: format!("op-{id}"),
            start_ns: start,
            end_ns: end,
            status: status.into(),
            kind: "server".into(),
            ..Default::default()
        }
    }

    fn screen(app: &App, w: u16, h: u16) -> Vec<String> {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| draw(f, app)).unwrap();
        let buf = term.backend().buffer().clone();
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
            .collect()
    }

    fn trace_app() -> App {
        let mut app = App::default();
        app.update(Input::Trace {
            trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
            spans: vec![
                span("c", Some("a"), 50_000_000, 100_000_000, "error"),
                span("a", None, 0, 100_000_000, "ok"),
                span("b", Some("a"), 0, 50_000_000, "ok"),
            ],
            comments: vec![],
        });
        app
    }

    #[test]
    fn the_waterfall_draws_bars_to_scale_under_their_parents() {
        let lines = screen(&trace_app(), 80, 24);
        let text = lines.join("\n");
        assert!(
            text.contains("1:Traces") && text.contains("2:Services"),
            "{text}"
        );
        let row = |op: &str| lines.iter().position(|l| l.contains(op)).unwrap();
        let (a, b, c) = (row("op-a"), row("op-b"), row("op-c"));
        assert!(a < b && b < c, "depth first, by start:\n{text}");
        let bar = |l: &str| {
            let chars: Vec<char> = l.chars().collect();
            let first = chars.iter().position(|c| *c == '█').unwrap();
            let last = chars.iter().rposition(|c| *c == '█').unwrap();
            (first, last + 1 - first)
        };
        let (a0, aw) = bar(&lines[a]);
        let (b0, bw) = bar(&lines[b]);
        let (c0, cw) = bar(&lines[c]);
        assert_eq!(b0, a0, "b starts with the root");
        assert!(bw.abs_diff(aw / 2) <= 1 && cw.abs_diff(aw / 2) <= 1);
        assert!(c0.abs_diff(a0 + aw / 2) <= 1, "c starts halfway");
        assert!(lines[c].starts_with("*!"), "on the path, and an error");
        assert!(
            lines[a].starts_with("* "),
            "the root is on the critical path"
        );
        assert!(lines[b].starts_with("* "), "b fills the time before c");
        assert!(text.contains("Esc back"), "keys are on screen");
    }

    #[test]
    fn every_screen_draws_at_80x24_and_when_tiny() {
        let mut app = trace_app();
        for (w, h) in [(80, 24), (120, 40), (20, 5), (1, 1)] {
            screen(&app, w, h);
            app.update(Input::Key(Key::Enter));
            screen(&app, w, h);
            app.update(Input::Key(Key::Esc));
            app.update(Input::Key(Key::Esc));
            screen(&app, w, h);
            app.update(Input::Key(Key::Char('2')));
            screen(&app, w, h);
            app.update(Input::Key(Key::Char('1')));
            app.update(Input::Key(Key::Char('/')));
            screen(&app, w, h);
            app.update(Input::Key(Key::Esc));
            app.update(Input::Key(Key::Char('q')));
        }
    }

    #[test]
    fn the_feed_shows_the_newest_first_and_the_filter() {
        let mut app = App::default();
        let mut old = span("a", None, 0, 5_000_000, "ok");
        old.operation = "GET /old".into();
        let mut new = span("b", None, 1, 2_000_000, "error");
        new.operation = "GET /new".into();
        app.update(Input::Spans(vec![old, new]));
        let lines = screen(&app, 80, 24);
        let row = |op: &str| lines.iter().position(|l| l.contains(op)).unwrap();
        assert!(row("GET /new") < row("GET /old"));
        assert!(lines[row("GET /new")].contains("2.0ms"));
        app.update(Input::Key(Key::Char('/')));
        app.update(Input::Key(Key::Char('o')));
        let text = screen(&app, 80, 24).join("\n");
        assert!(text.contains("filter: o"), "{text}");
    }
}
