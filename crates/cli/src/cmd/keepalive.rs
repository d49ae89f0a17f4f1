//! `keepsight keepalive`: explain a kernel keep-alive configuration as a timeline.

use super::EXIT_PROBLEMS;
use anyhow::Context;
use keepsight_keepalive::{
    format_duration, Effective, KeepaliveSettings, SoKeepalive, SystemDefaults,
};
use keepsight_time::parse_duration;
use serde_json::json;
use std::process::ExitCode;
use std::time::Duration;

const LONG_ABOUT: &str = "\
Explain when kernel TCP keep-alive notices a dead peer, and whether a middlebox (NAT, firewall, \
load balancer) forgets an idle connection first.

Values not given come from this system's current settings (net.ipv4.tcp_keepalive_time, \
tcp_keepalive_intvl, tcp_keepalive_probes; Linux's own defaults are 7200 s, 75 s and 9, which \
take 7875 s to drop a dead peer). Keep-alive is off for a socket unless the program turns it on \
(SO_KEEPALIVE; nginx: `listen ... so_keepalive=...`).

Durations: 75s, 30m, 2h, 1h30m, 1.5s, 500ms (nginx's syntax, plus fractions); a bare number \
is seconds.

Exit status: 0, or 1 when --middlebox is given and the first keep-alive probe would come after \
the middlebox has already forgotten the connection.";

const AFTER_HELP: &str = "\
Examples:
  keepsight keepalive                                  # this system's defaults
  keepsight keepalive --idle 7200 --interval 75 --probes 9 --middlebox 350s
  keepsight keepalive --nginx 30m::10 --middlebox 1h   # nginx so_keepalive=30m::10
  keepsight keepalive --idle 60 --interval 10 --probes 3 --user-timeout 45s
  keepsight keepalive --nginx 5m:: --json";

#[derive(clap::Args)]
#[command(long_about = LONG_ABOUT, after_long_help = AFTER_HELP)]
pub struct Args {
    /// Idle time before the first probe (TCP_KEEPIDLE), e.g. 7200, 2h, 30m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "nginx")]
    idle: Option<Duration>,
    /// Time between unanswered probes (TCP_KEEPINTVL), e.g. 75, 75s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "nginx")]
    interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped (TCP_KEEPCNT, 1..=127).
    #[arg(long, value_name = "N", conflicts_with = "nginx")]
    probes: Option<u32>,
    /// nginx's so_keepalive value: on, off, or [idle]:[intvl]:[cnt] such as 30m::10
    /// (empty fields = system default).
    #[arg(long, value_name = "SPEC", value_parser = KeepaliveSettings::parse_nginx)]
    nginx: Option<SoKeepalive>,
    /// TCP_USER_TIMEOUT: with keep-alive on, Linux drops the connection once the peer has been
    /// silent this long (after at least one probe) and ignores the probe count.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    user_timeout: Option<Duration>,
    /// Idle timeout of a NAT, firewall or load balancer on the path, e.g. 350s (AWS NAT gateway).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    middlebox: Option<Duration>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy)]
enum Source {
    Flag,
    Nginx,
    System,
    Builtin,
}

impl Source {
    fn word(self) -> &'static str {
        match self {
            Source::Flag => "given",
            Source::Nginx => "from --nginx",
            Source::System => "system default",
            Source::Builtin => "Linux default (system value unreadable)",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Nginx => "nginx",
            Source::System => "system",
            Source::Builtin => "linux-builtin",
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
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

/// Prints the report; a closed pipe (`| head`) is not an error worth a panic.
fn write_out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (system, system_source, system_note) = match SystemDefaults::read() {
        Ok(s) => (s, Source::System, None),
        Err(e) => (SystemDefaults::LINUX, Source::Builtin, Some(e.to_string())),
    };
    let mut given = KeepaliveSettings {
        idle: args.idle,
        interval: args.interval,
        count: args.probes,
        user_timeout: args.user_timeout,
    };
    let mut from = Source::Flag;
    let mut disabled = false;
    if let Some(spec) = args.nginx {
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
    given
        .validate()
        .context("these values would be refused by the kernel")?;
    let eff: Effective = given.resolve(&system);
    let src = |set: bool| if set { from } else { system_source };
    let sources = [
        ("idle", src(given.idle.is_some())),
        ("interval", src(given.interval.is_some())),
        ("probes", src(given.count.is_some())),
    ];
    let (probes, give_up) = eff.probe_schedule();
    let verdict = args.middlebox.map(|m| eff.versus_middlebox(m));
    let loses_to_middlebox = disabled || verdict.is_some_and(|v| !v.keeps_entry_alive);
    let code = if args.middlebox.is_some() && loses_to_middlebox {
        ExitCode::from(EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    };

    if args.json {
        let out = json!({
            "keepalive": if disabled { "off" } else { "on" },
            "effective": {
                "idle_s": secs(eff.idle),
                "interval_s": secs(eff.interval),
                "probes": eff.count,
                "user_timeout_s": eff.user_timeout.map(secs),
            },
            "sources": {
                "idle": sources[0].1.key(),
                "interval": sources[1].1.key(),
                "probes": sources[2].1.key(),
            },
            "system": {
                "idle_s": secs(system.idle),
                "interval_s": secs(system.interval),
                "probes": system.count,
                "read_error": system_note,
            },
            "probe_count": eff.probe_count(),
            "probe_times_s": probes.iter().map(|d| secs(*d)).collect::<Vec<_>>(),
            "detection_s": if disabled { None } else { Some(secs(give_up)) },
            "middlebox": verdict.map(|v| json!({
                "idle_timeout_s": secs(v.idle_timeout),
                "first_probe_s": secs(v.first_probe),
                "keeps_entry_alive": !disabled && v.keeps_entry_alive,
                "margin_s": secs(v.margin),
            })),
        });
        write_out(&format!("{}\n", serde_json::to_string_pretty(&out)?));
        return Ok(code);
    }

    let mut o = String::new();
    if let Some(note) = &system_note {
        o += &format!(
            "note: could not read the system's values ({note}); using Linux's defaults\n\n"
        );
    }
    if disabled {
        o += "Keep-alive is OFF (so_keepalive=off): the kernel never probes an idle connection.\n\
              A peer that vanishes without a FIN or RST is never noticed while the connection is idle,\n\
              and nothing keeps a middlebox from forgetting it.\n";
        if let Some(m) = args.middlebox {
            o += &format!(
                "\nA middlebox with a {} idle timeout forgets the connection after {} of silence; \
                 the next packet after that is dropped or answered with a reset.\n",
                both(m),
                format_duration(m)
            );
        }
        write_out(&o);
        return Ok(code);
    }
    o += "Kernel TCP keep-alive, values in force:\n";
    o += &format!(
        "  idle      {:<22} {}\n",
        both(eff.idle),
        sources[0].1.word()
    );
    o += &format!(
        "  interval  {:<22} {}\n",
        both(eff.interval),
        sources[1].1.word()
    );
    o += &format!("  probes    {:<22} {}\n", eff.count, sources[2].1.word());
    if let Some(ut) = eff.user_timeout {
        o += &format!("  user timeout {:<19} given (TCP_USER_TIMEOUT)\n", both(ut));
    }
    o += "\nTimeline for a peer that vanished silently (powered off, cable pulled, NAT entry gone),\n\
          counted from the last segment received from it:\n";
    o += &format!(
        "  {:>12}  last segment from the peer; the connection is idle from here\n",
        "0s"
    );
    let shown = probes.len().min(12);
    for (i, t) in probes.iter().take(shown).enumerate() {
        let why = if i == 0 {
            "after the idle time".to_string()
        } else {
            format!("+{}", format_duration(eff.interval))
        };
        o += &format!(
            "  {:>12}  probe {} sent, unanswered ({why})\n",
            format_duration(*t),
            i + 1
        );
    }
    if eff.probe_count() > shown as u64 {
        o += &format!(
            "  {:>12}  ... {} more probes, one every {}\n",
            "",
            eff.probe_count() - shown as u64,
            format_duration(eff.interval)
        );
    }
    let why = match eff.user_timeout {
        Some(ut) => format!(
            "silence has reached the user timeout ({}) with a probe out",
            format_duration(ut)
        ),
        None => format!("{} probes unanswered", eff.count),
    };
    o += &format!(
        "  {:>12}  {why}: the kernel drops the connection; reads and writes fail with ETIMEDOUT\n",
        format_duration(give_up)
    );
    o += &format!(
        "\nA dead peer is noticed after at most {}.\n",
        both(give_up)
    );
    if eff.user_timeout.is_some() && given.count.is_some() {
        o += "Note: with TCP_USER_TIMEOUT set, Linux ignores the probe count.\n";
    }
    o += "Keep-alive only runs while nothing is waiting for an acknowledgement; with unacknowledged \
          data, retransmissions (net.ipv4.tcp_retries2) or TCP_USER_TIMEOUT decide instead.\n";
    if let Some(v) = verdict {
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
    write_out(&o);
    Ok(code)
}
