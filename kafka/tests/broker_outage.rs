//! A broker outage is not idleness: the broker process is stopped (SIGSTOP) mid-stream for much longer
//! than `--idle-timeout`, then continued. No partition may count as idle while the broker cannot say
//! that it is caught up, so the watermark holds where the records left it, nothing goes to the late
//! topic and the output equals the reference. (A runner that treats silence as idleness moves the
//! watermark to the wall clock during the outage and sends the rest of the recording to the late topic.)
//!
//! Needs a broker that is a child process of the test (`KAFKA_BROKER=process`, the default when
//! `ci/kafka/install-brokers.sh` has run): an external cluster or a container cannot be paused here.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use test_broker::{broker_or_skip, skip_notice};

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid} failed");
}

/// Continues the broker when dropped, so that a failing test never leaves it stopped.
struct Stopped(u32);

impl Stopped {
    fn stop(pid: u32) -> Stopped {
        signal(pid, "-STOP");
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

#[test]
fn a_broker_stopped_longer_than_the_idle_timeout_makes_nothing_late() {
    const TEST: &str = "a_broker_stopped_longer_than_the_idle_timeout_makes_nothing_late";
    let Some(broker) = broker_or_skip(TEST) else {
        return;
    };
    let Some(pid) = broker.pid() else {
        skip_notice(TEST, &format!("{} cannot be paused by the test", broker.description()));
        return;
    };
    let job = Job::create(&broker, 3);
    let idle_timeout = Duration::from_secs(3);
    let idle = format!("{}ms", idle_timeout.as_millis());
    let dir = tempfile::tempdir().unwrap();
    let mut agg = AggProcess::start(
        &broker,
        &job.args(&[
            // The recording is at most 33 s out of order: nothing in it is late by itself.
            "--max-out-of-orderness",
            "60s",
            "--idle-timeout",
            &idle,
            // Commits are rare, so the runner is never blocked in a commit waiting for the stopped
            // broker: it keeps evaluating idleness through the whole outage, which is what a runner
            // that takes silence for idleness gets wrong. (The final commit happens at shutdown.)
            "--commit-interval",
            "1h",
            // Longer than the outage, so that it does not also cost the instance its membership.
            "--session-timeout",
            "60s",
        ]),
        dir.path().join("traffic-agg.log"),
    );
    wait_for("the first assignment", Duration::from_secs(60), || {
        agg.assert_running();
        agg.log_text().contains("partitions assigned")
    });

    // The recording streams in at a steady rate, so no partition is ever caught up and silent for
    // the idle timeout, except while the broker is stopped.
    let feeder = feed_file_slowly(&job.servers, &job.input, 500.0);
    wait_for("100 windows on the output topic", Duration::from_secs(120), || {
        agg.assert_running();
        topic_end_total(&job.servers, &job.output) >= 100
    });
    let stopped = Stopped::stop(pid);
    let outage = 3 * idle_timeout;
    let until = Instant::now() + outage;
    wait_for(
        "the outage to last three idle timeouts",
        outage + Duration::from_secs(60),
        || {
            agg.assert_running();
            Instant::now() >= until
        },
    );
    drop(stopped);

    assert_eq!(feeder.join().unwrap(), 5000);
    // Once the input is exhausted the partitions are caught up and silent: idle, so the last windows
    // close. A record sent to the late topic fails the test at once.
    let expected = reference_windows(&visits_file());
    wait_for("every window on the output topic", Duration::from_secs(120), || {
        agg.assert_running();
        let late = topic_end_total(&job.servers, &job.late);
        assert_eq!(
            late,
            0,
            "{late} records went to the late topic; log:\n{}",
            agg.log_text()
        );
        dedupe(&read_topic(&job.servers, &job.output, false)).len() >= expected.len()
    });
    agg.terminate();

    assert_eq!(topic_end_total(&job.servers, &job.late), 0);
    let actual = dedupe(&read_topic(&job.servers, &job.output, false));
    assert_eq!(actual, expected, "{}", describe_difference(&expected, &actual));
}
