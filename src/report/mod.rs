//! Everything a user sees: terminal output and (later) report files, built from results
//! after the fact. [`Output`] is the one redaction point for the terminal: no other module
//! prints.

pub mod diag;
pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod tap;

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};

use crate::secret::Redactor;

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Decided once: `--color`, then `NO_COLOR`, then whether stdout is a terminal.
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
                !no_color && std::io::stdout().is_terminal()
            }
        }
    }
}

/// A line-oriented writer that redacts every line it is given.
pub struct Output {
    writer: Box<dyn Write + Send>,
    color: bool,
    redactor: Redactor,
}

impl Output {
    pub fn new(writer: Box<dyn Write + Send>, color: bool, redactor: Redactor) -> Output {
        Output {
            writer,
            color,
            redactor,
        }
    }

    pub fn stdout(color: bool, redactor: Redactor) -> Output {
        Output::new(Box::new(std::io::stdout()), color, redactor)
    }

    pub fn stderr(color: bool, redactor: Redactor) -> Output {
        Output::new(Box::new(std::io::stderr()), color, redactor)
    }

    /// Masks `secret` in everything this output writes from now on.
    pub fn learn_secret(&self, secret: &str) {
        self.redactor.add(secret);
    }

    pub fn color(&self) -> bool {
        self.color
    }

    /// Writes `text` and a newline, secrets masked. Output errors (a closed pipe) are
    /// ignored: the exit code still tells the outcome.
    pub fn line(&mut self, text: &str) {
        let text = self.redactor.redact(text);
        let _ = writeln!(self.writer, "{text}");
    }

    /// Like [`Output::line`], but cuts a long line after masking it, so that a cut never
    /// leaves part of a secret behind.
    pub fn line_cut(&mut self, text: &str, limit: usize) {
        let masked = self.redactor.redact(text);
        let total = masked.chars().count();
        if total <= limit {
            let _ = writeln!(self.writer, "{masked}");
            return;
        }
        let shown: String = masked.chars().take(limit).collect();
        // The cut may fall inside a styled span; end it before the note.
        let reset = if self.color {
            anstyle::Reset.render().to_string()
        } else {
            String::new()
        };
        let _ = writeln!(self.writer, "{shown}{reset}… ({total} characters in all)");
    }

    pub fn flush(&mut self) {
        let _ = self.writer.flush();
    }

    pub fn paint(&self, tone: Tone, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let style = tone.style();
        format!("{}{text}{}", style.render(), style.render_reset())
    }

    pub fn warn(&mut self, text: &str) {
        let label = self.paint(Tone::Warn, "warning:");
        self.line(&format!("{label} {text}"));
    }

    pub fn error(&mut self, text: &str) {
        let label = self.paint(Tone::Fail, "error:");
        self.line(&format!("{label} {text}"));
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Tone {
    Pass,
    Fail,
    Warn,
    Dim,
    Bold,
}

impl Tone {
    fn style(self) -> Style {
        match self {
            Tone::Pass => AnsiColor::Green.on_default(),
            Tone::Fail => AnsiColor::Red.on_default().bold(),
            Tone::Warn => AnsiColor::Yellow.on_default(),
            Tone::Dim => Style::new().dimmed(),
            Tone::Bold => Style::new().bold(),
        }
    }
}
