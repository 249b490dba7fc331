//! The exit-code table, the one place that maps outcomes to process exit codes.
//!
//! | code | meaning                                                        |
//! |------|----------------------------------------------------------------|
//! | 0    | every check passed                                             |
//! | 1    | a check failed (including a refused token request)             |
//! | 2    | the invocation or a spec is invalid; nothing was sent          |
//! | 3    | a request could not complete (connection, TLS, timeout)        |
//! | 130  | interrupted                                                    |

/// Outcomes ordered by seriousness: a run exits with the most serious one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    Passed,
    CheckFailed,
    Invalid,
    Transport,
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Passed => 0,
            Exit::CheckFailed => 1,
            Exit::Invalid => 2,
            Exit::Transport => 3,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}
