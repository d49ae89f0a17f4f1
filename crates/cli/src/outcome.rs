//! How a command ended, and the one place where that becomes the process's exit status.
//!
//! Scripts tell outcomes apart by status: 0 success; 1 the command ran and found a problem
//! (damaged capture, failed check, findings at the asked severity); 2 usage error (bad option,
//! filter, field or duration); 3 the command could not run (unreadable file, cannot bind).

use std::process::ExitCode;

/// How a command ended once everything it had to say is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It ran and found nothing wrong.
    Success,
    /// It ran and found a problem.
    ProblemFound,
    /// The command line was wrong.
    Usage,
    /// It could not do its job (the reason was already printed).
    CannotRun,
}

impl Status {
    /// The exit status: the only place these numbers are written.
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Status::Success => 0,
            Status::ProblemFound => 1,
            Status::Usage => 2,
            Status::CannotRun => 3,
        })
    }

    /// `ProblemFound` when `found`, else `Success`.
    pub fn problem_if(found: bool) -> Status {
        if found {
            Status::ProblemFound
        } else {
            Status::Success
        }
    }
}

/// A command that stopped with an error not yet reported: its status and its message.
#[derive(Debug)]
pub struct Failure {
    pub status: Status,
    /// Who speaks: `keepsight`, or `keepsight probe` for a command with its own voice.
    pub speaker: &'static str,
    pub error: anyhow::Error,
}

impl Failure {
    fn new(status: Status, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            status,
            speaker: "keepsight",
            error: error.into(),
        }
    }

    /// A usage error: exit 2.
    pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(Status::Usage, error)
    }

    /// A problem found in the input (a damaged capture): exit 1.
    pub fn problem(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(Status::ProblemFound, error)
    }

    /// The command could not run: exit 3.
    pub fn cannot_run(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(Status::CannotRun, error)
    }

    /// The same failure, said by `speaker` (e.g. `keepsight probe`).
    pub fn said_by(mut self, speaker: &'static str) -> Failure {
        self.speaker = speaker;
        self
    }
}

/// Anything not classified is a failure to run (I/O, JSON output, an unreadable log...).
impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::cannot_run(error)
    }
}

/// What every command's `run` returns.
pub type Outcome = Result<Status, Failure>;

/// Prints a failure and gives the exit status: the end of every run.
pub fn finish(outcome: Outcome) -> ExitCode {
    let status = match outcome {
        Ok(status) => status,
        Err(f) => {
            eprintln!("{}: {:#}", f.speaker, f.error);
            f.status
        }
    };
    status.exit_code()
}
