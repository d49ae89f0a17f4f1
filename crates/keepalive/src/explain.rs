//! The explanation of a kernel keep-alive configuration (`keepsight keepalive`): the values in
//! force and where each comes from, the probe timeline for a peer that vanished silently, and
//! whether a middlebox forgets an idle connection before the first probe. Text and JSON.

use crate::{format_duration, Effective, KeepaliveError, KeepaliveSettings, MiddleboxVerdict};
use crate::{SoKeepalive, SystemDefaults};
use serde::Serialize;
use std::time::Duration;

/// Where a value in force comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A flag (`--idle`...).
    Flag,
    /// nginx's `so_keepalive=` value.
    Nginx,
    /// The system's current setting.
    System,
    /// Linux's built-in default (the system's value could not be read).
    LinuxBuiltin,
}

impl Source {
    fn word(self) -> &'static str {
        match self {
            Source::Flag => "given",
            Source::Nginx => "from --nginx",
            Source::System => "system default",
            Source::LinuxBuiltin => "Linux default (system value unreadable)",
        }
    }
}

/// A configuration, resolved against the system's defaults.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// `so_keepalive=off`: no probes at all.
    pub disabled: bool,
    /// The values asked for (flags or nginx's), before the system's fill the gaps.
    pub given: KeepaliveSettings,
    /// The values in force: the given ones, the system's for the rest.
    pub effective: Effective,
    /// Sources of idle, interval and probes.
    pub sources: [Source; 3],
    /// The system's defaults (Linux's when they could not be read).
    pub system: SystemDefaults,
    /// Why the system's values could not be read (Linux's are used then).
    pub system_note: Option<String>,
    /// When each probe leaves, counted from the last segment of the peer.
    pub probes: Vec<Duration>,
    /// When the kernel drops the connection.
    pub give_up: Duration,
    /// The middlebox idle timeout compared against, and the verdict.
    pub middlebox: Option<Duration>,
    /// Whether keep-alive refreshes the middlebox's entry in time.
    pub verdict: Option<MiddleboxVerdict>,
}

impl Explanation {
    /// Resolves `flags` (or, when given, nginx's `so_keepalive` value, which replaces idle,
    /// interval and count) against `system` (or the reason it could not be read). Values the
    /// kernel would refuse are an error.
    pub fn new(
        flags: KeepaliveSettings,
        nginx: Option<SoKeepalive>,
        middlebox: Option<Duration>,
        system: Result<SystemDefaults, String>,
    ) -> Result<Explanation, KeepaliveError> {
        let (system, system_source, system_note) = match system {
            Ok(s) => (s, Source::System, None),
            Err(e) => (SystemDefaults::LINUX, Source::LinuxBuiltin, Some(e)),
        };
        let mut given = flags;
        let mut from = Source::Flag;
        let mut disabled = false;
        if let Some(spec) = nginx {
            from = Source::Nginx;
            match spec {
                SoKeepalive::Off => disabled = true,
                SoKeepalive::On(s) => {
                    given.idle = s.idle;
                    given.interval = s.interval;
                    given.count = s.count;
                }
            }
        }
        given.validate()?;
        let effective = given.resolve(&system);
        let src = |set: bool| if set { from } else { system_source };
        let (probes, give_up) = effective.probe_schedule();
        Ok(Explanation {
            disabled,
            given,
            effective,
            sources: [
                src(given.idle.is_some()),
                src(given.interval.is_some()),
                src(given.count.is_some()),
            ],
            system,
            system_note,
            probes,
            give_up,
            middlebox,
            verdict: middlebox.map(|m| effective.versus_middlebox(m)),
        })
    }

    /// True when a middlebox was given and forgets an idle connection before keep-alive
    /// refreshes it (or keep-alive is off): the check failed.
    pub fn loses_to_middlebox(&self) -> bool {
        self.middlebox.is_some()
            && (self.disabled || self.verdict.is_some_and(|v| !v.keeps_entry_alive))
    }

    /// The JSON form (`keepsight keepalive --json`).
    pub fn to_json(&self) -> ExplanationJson {
        let secs = |d: Duration| d.as_secs_f64();
        let eff = &self.effective;
        ExplanationJson {
            detection_s: (!self.disabled).then(|| secs(self.give_up)),
            effective: EffectiveJson {
                idle_s: secs(eff.idle),
                interval_s: secs(eff.interval),
                probes: eff.count,
                user_timeout_s: eff.user_timeout.map(secs),
            },
            keepalive: if self.disabled { "off" } else { "on" },
            middlebox: self.verdict.map(|v| MiddleboxJson {
                first_probe_s: secs(v.first_probe),
                idle_timeout_s: secs(v.idle_timeout),
                keeps_entry_alive: !self.disabled && v.keeps_entry_alive,
                margin_s: secs(v.margin),
            }),
            probe_count: eff.probe_count(),
            probe_times_s: self.probes.iter().map(|d| secs(*d)).collect(),
            sources: SourcesJson {
                idle: self.sources[0],
                interval: self.sources[1],
                probes: self.sources[2],
            },
            system: SystemJson {
                idle_s: secs(self.system.idle),
                interval_s: secs(self.system.interval),
                probes: self.system.count,
                read_error: self.system_note.clone(),
            },
        }
    }

    /// The text form: values and sources, the timeline, the middlebox verdict with a fix.
    pub fn render_text(&self) -> String {
        let mut o = String::new();
        if let Some(note) = &self.system_note {
            o += &format!(
                "note: could not read the system's values ({note}); using Linux's defaults\n\n"
            );
        }
        if self.disabled {
            o += "Keep-alive is OFF (so_keepalive=off): the kernel never probes an idle connection.\n\
                  A peer that vanishes without a FIN or RST is never noticed while the connection is idle,\n\
                  and nothing keeps a middlebox from forgetting it.\n";
            if let Some(m) = self.middlebox {
                o += &format!(
                    "\nA middlebox with a {} idle timeout forgets the connection after {} of silence; \
                     the next packet after that is dropped or answered with a reset.\n",
                    both(m),
                    format_duration(m)
                );
            }
            return o;
        }
        o += "Kernel TCP keep-alive, values in force:\n";
        o += &format!(
            "  idle      {:<22} {}\n",
            both(self.effective.idle),
            self.sources[0].word()
        );
        o += &format!(
            "  interval  {:<22} {}\n",
            both(self.effective.interval),
            self.sources[1].word()
        );
        o += &format!(
            "  probes    {:<22} {}\n",
            self.effective.count,
            self.sources[2].word()
        );
        if let Some(ut) = self.effective.user_timeout {
            o += &format!("  user timeout {:<19} given (TCP_USER_TIMEOUT)\n", both(ut));
        }
        o += "\nTimeline for a peer that vanished silently (powered off, cable pulled, NAT entry gone),\n\
              counted from the last segment received from it:\n";
        o += &format!(
            "  {:>12}  last segment from the peer; the connection is idle from here\n",
            "0s"
        );
        let shown = self.probes.len().min(12);
        for (i, t) in self.probes.iter().take(shown).enumerate() {
            let why = if i == 0 {
                "after the idle time".to_string()
            } else {
                format!("+{}", format_duration(self.effective.interval))
            };
            o += &format!(
                "  {:>12}  probe {} sent, unanswered ({why})\n",
                format_duration(*t),
                i + 1
            );
        }
        if self.effective.probe_count() > shown as u64 {
            o += &format!(
                "  {:>12}  ... {} more probes, one every {}\n",
                "",
                self.effective.probe_count() - shown as u64,
                format_duration(self.effective.interval)
            );
        }
        let why = match self.effective.user_timeout {
            Some(ut) => format!(
                "silence has reached the user timeout ({}) with a probe out",
                format_duration(ut)
            ),
            None => format!("{} probes unanswered", self.effective.count),
        };
        o += &format!(
            "  {:>12}  {why}: the kernel drops the connection; reads and writes fail with ETIMEDOUT\n",
            format_duration(self.give_up)
        );
        o += &format!(
            "\nA dead peer is noticed after at most {}.\n",
            both(self.give_up)
        );
        if self.effective.user_timeout.is_some() && self.given.count.is_some() {
            o += "Note: with TCP_USER_TIMEOUT set, Linux ignores the probe count.\n";
        }
        o += "Keep-alive only runs while nothing is waiting for an acknowledgement; with unacknowledged \
              data, retransmissions (net.ipv4.tcp_retries2) or TCP_USER_TIMEOUT decide instead.\n";
        if let Some(v) = self.verdict {
            o += &format!("\nMiddlebox idle timeout {}:\n", both(v.idle_timeout));
            if v.keeps_entry_alive {
                o += &format!(
                    "  OK: the first probe leaves at {}, {} before the middlebox would forget the connection;\n  \
                     each answered probe restarts its idle clock, so an idle connection survives.\n",
                    format_duration(v.first_probe),
                    format_duration(v.margin)
                );
            } else {
                let suggest = v
                    .idle_timeout
                    .as_secs()
                    .saturating_sub((v.idle_timeout.as_secs() / 10).max(1))
                    .max(1);
                o += &format!(
                    "  PROBLEM: the middlebox forgets an idle connection after {}, {} before the first probe at {}.\n  \
                     The probe then goes nowhere (or draws a reset), and an idle connection dies silently.\n  \
                     Fix: an idle time below the middlebox timeout, e.g. --idle {suggest}s (nginx: so_keepalive={}::).\n",
                    format_duration(v.idle_timeout),
                    format_duration(v.margin),
                    format_duration(v.first_probe),
                    format_duration(Duration::from_secs(suggest)),
                );
            }
        }
        o
    }
}

/// `2h (7200 s)`: both forms, because sysctls are in seconds and people think in hours.
fn both(d: Duration) -> String {
    let s = format_duration(d);
    if d.subsec_millis() == 0 && d.as_secs() >= 60 {
        format!("{s} ({} s)", d.as_secs())
    } else {
        s
    }
}

/// `keepsight keepalive --json`; fields in alphabetical order, as the schema has always listed
/// them. Durations are float seconds (`_s`).
#[derive(Clone, Debug, Serialize)]
pub struct ExplanationJson {
    /// When a dead peer is noticed; `null` with keep-alive off.
    pub detection_s: Option<f64>,
    /// The values in force.
    pub effective: EffectiveJson,
    /// `on` or `off`.
    pub keepalive: &'static str,
    /// The middlebox verdict, with `--middlebox`.
    pub middlebox: Option<MiddleboxJson>,
    /// Probes sent before the kernel gives up.
    pub probe_count: u64,
    /// When each probe leaves, from the peer's last segment.
    pub probe_times_s: Vec<f64>,
    /// Where each value in force comes from.
    pub sources: SourcesJson,
    /// The system's defaults.
    pub system: SystemJson,
}

/// The values in force.
#[derive(Clone, Debug, Serialize)]
pub struct EffectiveJson {
    /// `TCP_KEEPIDLE`.
    pub idle_s: f64,
    /// `TCP_KEEPINTVL`.
    pub interval_s: f64,
    /// `TCP_KEEPCNT`.
    pub probes: u32,
    /// `TCP_USER_TIMEOUT`, if set.
    pub user_timeout_s: Option<f64>,
}

/// The middlebox verdict.
#[derive(Clone, Debug, Serialize)]
pub struct MiddleboxJson {
    /// When the first probe leaves.
    pub first_probe_s: f64,
    /// The middlebox's idle timeout.
    pub idle_timeout_s: f64,
    /// True when the first probe comes before the middlebox forgets the connection.
    pub keeps_entry_alive: bool,
    /// How far apart the two are.
    pub margin_s: f64,
}

/// Where idle, interval and probes come from.
#[derive(Clone, Debug, Serialize)]
pub struct SourcesJson {
    /// Source of the idle time.
    pub idle: Source,
    /// Source of the interval.
    pub interval: Source,
    /// Source of the probe count.
    pub probes: Source,
}

/// The system's defaults.
#[derive(Clone, Debug, Serialize)]
pub struct SystemJson {
    /// `net.ipv4.tcp_keepalive_time`.
    pub idle_s: f64,
    /// `net.ipv4.tcp_keepalive_intvl`.
    pub interval_s: f64,
    /// `net.ipv4.tcp_keepalive_probes`.
    pub probes: u32,
    /// Why they could not be read, if so.
    pub read_error: Option<String>,
}
