//! Channels and the interval from `OBS_*` environment variables.

use std::time::Duration;

use super::{AlertError, AlertManagerBuilder, Alertmanager, Slack, Webhook};
use crate::env::{
    OBS_ALERT_ACK_TOKEN, OBS_ALERT_ACK_TOKEN_FILE, OBS_ALERT_EVAL_INTERVAL, OBS_ALERTMANAGER_URL,
    OBS_SLACK_WEBHOOK_URL, OBS_SMTP_FROM, OBS_SMTP_TO, OBS_SMTP_URL, OBS_WEBHOOK_URL,
};

/// Reads the variables through `var` (an [`Environment`](crate::Environment), or a map in tests).
pub(crate) fn apply(mut builder: AlertManagerBuilder, var: impl Fn(&str) -> Option<String>) -> AlertManagerBuilder {
    let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
    if let Some(url) = set(OBS_SLACK_WEBHOOK_URL) {
        builder = add(builder, Slack::new(&url), OBS_SLACK_WEBHOOK_URL);
    }
    if let Some(url) = set(OBS_WEBHOOK_URL) {
        builder = add(builder, Webhook::new(&url), OBS_WEBHOOK_URL);
    }
    if let Some(url) = set(OBS_ALERTMANAGER_URL) {
        builder = add(builder, Alertmanager::new(&url), OBS_ALERTMANAGER_URL);
    }
    if let Some(url) = set(OBS_SMTP_URL) {
        builder = smtp(builder, &url, set(OBS_SMTP_FROM), set(OBS_SMTP_TO));
    }
    if builder.ack_token_unset() {
        match (set(OBS_ALERT_ACK_TOKEN), set(OBS_ALERT_ACK_TOKEN_FILE)) {
            (Some(_), Some(_)) => builder.push_error(AlertError::Setting {
                field: OBS_ALERT_ACK_TOKEN,
                reason: "and OBS_ALERT_ACK_TOKEN_FILE are both set: give one".into(),
            }),
            (Some(token), None) => builder = builder.ack_token(token.trim()),
            // Read now, once: a token rotated in the file needs a restart.
            (None, Some(path)) => match read_token(path.trim()) {
                Ok(token) => builder = builder.ack_token(token.trim()),
                Err(reason) => builder.push_error(AlertError::Setting { field: OBS_ALERT_ACK_TOKEN_FILE, reason }),
            },
            (None, None) => {}
        }
    }
    if let Some(interval) = set(OBS_ALERT_EVAL_INTERVAL)
        && builder.interval_unset()
    {
        match crate::parse_duration(&interval) {
            Some(interval) => builder = builder.interval(interval),
            None => builder.push_error(AlertError::Setting {
                field: OBS_ALERT_EVAL_INTERVAL,
                reason: "not a duration: a number and a unit, ms, s, m or h (e.g. 1s, 500ms)".into(),
            }),
        }
    }
    builder
}

/// The token in the file at `path`: a regular file (not a pipe that would block the start) of at
/// most 4 KiB.
fn read_token(path: &str) -> Result<String, String> {
    use std::io::Read as _;
    let unreadable = |error: std::io::Error| format!("cannot read the file it names: {}", error.kind());
    // Asked before opening: opening a pipe waits for a writer.
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    if !metadata.is_file() {
        return Err("the path it names is not a regular file".into());
    }
    let file = std::fs::File::open(path).map_err(unreadable)?;
    if metadata.len() > 4096 {
        return Err("the file it names is larger than 4 KiB: not a token".into());
    }
    let mut token = String::new();
    file.take(4096).read_to_string(&mut token).map_err(unreadable)?;
    Ok(token)
}

/// Adds the channel, or keeps its error for `build`, as the error of the variable that set it.
fn add(
    mut builder: AlertManagerBuilder,
    channel: Result<impl super::Channel, AlertError>,
    field: &'static str,
) -> AlertManagerBuilder {
    match channel {
        Ok(channel) => builder.channel(channel),
        Err(error) => {
            builder.push_error(match error {
                AlertError::Channel { reason, .. } => AlertError::Setting { field, reason },
                other => other,
            });
            builder
        }
    }
}

#[cfg(feature = "alerts-smtp")]
fn smtp(mut builder: AlertManagerBuilder, url: &str, from: Option<String>, to: Option<String>) -> AlertManagerBuilder {
    let Some(from) = from else {
        builder.push_error(AlertError::Setting {
            field: OBS_SMTP_FROM,
            reason: "OBS_SMTP_URL is set, so the sender is needed".into(),
        });
        return builder;
    };
    let Some(to) = to else {
        builder.push_error(AlertError::Setting {
            field: OBS_SMTP_TO,
            reason: "OBS_SMTP_URL is set, so the recipients are needed".into(),
        });
        return builder;
    };
    let recipients: Vec<&str> = to.split(',').map(str::trim).filter(|to| !to.is_empty()).collect();
    add(builder, super::Smtp::new(url, &from, &recipients), "OBS_SMTP_URL, OBS_SMTP_FROM or OBS_SMTP_TO")
}

#[cfg(not(feature = "alerts-smtp"))]
fn smtp(mut builder: AlertManagerBuilder, _: &str, _: Option<String>, _: Option<String>) -> AlertManagerBuilder {
    builder.push_error(AlertError::Setting {
        field: OBS_SMTP_URL,
        reason: "e-mail needs the `alerts-smtp` feature".into(),
    });
    builder
}

/// Reads a duration by obs's one grammar: [`crate::parse_duration`], which needs no feature.
#[deprecated(
    since = "0.2.0",
    note = "use `obs_runtime::parse_duration`, the same grammar without the `alerts` feature"
)]
pub fn parse_duration(text: &str) -> Option<Duration> {
    crate::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertManager;

    /// Through the public path: the variables as an `Environment`, nothing of the process's.
    fn build(vars: &[(&str, &str)]) -> Result<AlertManager, AlertError> {
        AlertManager::builder().from_environment(&crate::Environment::from_pairs(vars.iter().copied())).build()
    }

    #[test]
    fn channels_and_interval_come_from_the_environment() {
        let manager = build(&[
            ("OBS_SLACK_WEBHOOK_URL", "http://127.0.0.1:1/services/T/B/X"),
            ("OBS_WEBHOOK_URL", "http://127.0.0.1:1/hook"),
            ("OBS_ALERTMANAGER_URL", "http://127.0.0.1:9093"),
            ("OBS_ALERT_EVAL_INTERVAL", "1s"),
        ])
        .expect("valid variables");
        assert_eq!(manager.interval(), Duration::from_secs(1));
        assert_eq!(manager.shared.dispatcher.names(), ["slack", "webhook", "alertmanager"]);
    }

    #[test]
    fn a_bad_variable_is_named_and_its_value_never_shown() {
        let error = build(&[("OBS_SLACK_WEBHOOK_URL", "ftp://hooks.slack.com/services/T/B/SECRET")])
            .expect_err("this input is wrong");
        let text = error.to_string();
        assert!(text.contains("OBS_SLACK_WEBHOOK_URL") && !text.contains("SECRET"), "{text}");
        let error = build(&[("OBS_ALERT_EVAL_INTERVAL", "soon")]).expect_err("this input is wrong").to_string();
        assert!(error.contains("OBS_ALERT_EVAL_INTERVAL"), "{error}");
        let error = build(&[("OBS_SMTP_URL", "smtp://127.0.0.1:25")]).expect_err("this input is wrong").to_string();
        assert!(error.contains("OBS_SMTP"), "{error}");
    }

    #[test]
    fn the_ack_token_comes_from_a_variable_or_a_file_and_is_never_shown() {
        let token = |manager: &AlertManager| manager.shared.ack_token.as_ref().map(|token| token.0.clone());
        let manager = build(&[("OBS_ALERT_ACK_TOKEN", " sixteen-or-more-chars \n")]).expect("a valid token");
        assert_eq!(token(&manager).as_deref(), Some("sixteen-or-more-chars"));
        let file = std::env::temp_dir().join(format!("obs-ack-token-{}", std::process::id()));
        std::fs::write(&file, "from-a-file-0123456789\n").expect("write the token file");
        let path = file.to_string_lossy().into_owned();
        let manager = build(&[("OBS_ALERT_ACK_TOKEN_FILE", &path)]).expect("a readable file");
        assert_eq!(token(&manager).as_deref(), Some("from-a-file-0123456789"));
        let _ = std::fs::remove_file(&file);
        assert_eq!(build(&[]).map(|manager| token(&manager)).expect("no token"), None);
        // A pipe nobody writes to: opening it would wait forever.
        let fifo = std::env::temp_dir().join(format!("obs-ack-fifo-SECRET-{}", std::process::id()));
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
        assert!(made.success());
        let fifo = fifo.to_string_lossy().into_owned();
        let cases = [
            (vec![("OBS_ALERT_ACK_TOKEN", "short-SECRET")], "ack_token"),
            (vec![("OBS_ALERT_ACK_TOKEN", "has a space SECRET")], "ack_token"),
            (vec![("OBS_ALERT_ACK_TOKEN", "SECRET-0123456789"), ("OBS_ALERT_ACK_TOKEN_FILE", "/x")], "both set"),
            (vec![("OBS_ALERT_ACK_TOKEN_FILE", "/nonexistent/SECRET")], "OBS_ALERT_ACK_TOKEN_FILE"),
            (vec![("OBS_ALERT_ACK_TOKEN_FILE", "/dev/zero")], "not a regular file"),
            (vec![("OBS_ALERT_ACK_TOKEN_FILE", fifo.as_str())], "not a regular file"),
        ];
        for (vars, expected) in cases {
            let error = build(&vars).expect_err(expected).to_string();
            assert!(error.contains(expected) && !error.contains("SECRET"), "{error}");
        }
        let _ = std::fs::remove_file(&fifo);
    }
}
