//! Spec problems rendered as the compiler does: file:line:column, the source line, and a
//! caret under the problem.

use std::path::Path;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

use crate::spec::SpecError;
use crate::spec::load::Problem;

/// The text for an invalid spec, every problem in it.
pub fn render_spec_error(err: &SpecError, color: bool) -> String {
    match err {
        SpecError::Read { .. } => format!("error: {err}"),
        SpecError::Invalid {
            path,
            source_text,
            problems,
        } => problems
            .iter()
            .map(|problem| match &problem.file {
                Some(file) => render_problem(&file.path, &file.text, problem, color),
                None => render_problem(path, source_text, problem, color),
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn render_problem(path: &Path, source: &str, problem: &Problem, color: bool) -> String {
    let path_text = path.display().to_string();
    let start = problem.pos.offset.min(source.len());
    let end = underline_end(source, start);
    let report = &[Level::ERROR
        .primary_title(problem.message.as_str())
        .element(
            Snippet::source(source)
                .path(path_text.as_str())
                .annotation(AnnotationKind::Primary.span(start..end)),
        )];
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    renderer.render(report)
}

/// Underlines the token at `start`: up to the next space, colon or end of line.
fn underline_end(source: &str, start: usize) -> usize {
    let rest = &source[start..];
    let len = rest
        .find(['\n', '\r'])
        .map_or(rest.len(), |eol| eol)
        .min(rest.find(": ").unwrap_or(usize::MAX))
        .min(rest.find(":\t").unwrap_or(usize::MAX));
    start + len.max(usize::from(!rest.is_empty()).min(rest.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Pos;

    #[test]
    fn shows_file_line_and_caret() {
        let source = "steps:\n  - name: a\n    request:\n      ulr: x\n";
        let pos = Pos::from_line_col(source, 4, 7);
        let problem = Problem::new(pos, "unknown field `ulr`");
        let text = render_problem(Path::new("specs/a.yaml"), source, &problem, false);
        assert!(text.contains("specs/a.yaml:4:7"), "{text}");
        assert!(text.contains("ulr: x"), "{text}");
        assert!(text.contains("^^^"), "{text}");
    }
}
