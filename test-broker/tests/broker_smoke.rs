//! Smoke tests of the selected test broker (see `test-broker`): keyed
//! produce and consume through a consumer group that resumes from its commits,
//! transactions seen through `read_committed`, async clients inside a tokio
//! runtime, and the broker going away on drop.
//!
//! Run against noida-db as a child process:
//! `KAFKA_TESTS_REQUIRED=1 cargo test -p test-broker --test broker_smoke`
//! (after `ci/kafka/install-brokers.sh`); against the local image:
//! `KAFKA_BROKER=container KAFKA_BROKER_IMAGE=noida-local:0.2.3 ...`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};
use test_broker::{broker_or_skip, poll_on_after, transactional_broker_or_skip, unique_name};

/// How long any single wait in these tests may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// A consumed record: partition, offset, key, payload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Record {
    partition: i32,
    offset: i64,
    key: String,
    value: String,
}

impl Record {
    fn of(message: &BorrowedMessage<'_>) -> Record {
        let text = |bytes: Option<&[u8]>| String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned();
        Record {
            partition: message.partition(),
            offset: message.offset(),
            key: text(message.key()),
            value: text(message.payload()),
        }
    }
}

/// Polls until `count` records arrived, failing after `DEADLINE`.
fn consume(consumer: &BaseConsumer, count: usize) -> anyhow::Result<Vec<Record>> {
    let deadline = Instant::now() + DEADLINE;
    let mut records = Vec::new();
    let mut last_error = None;
    while records.len() < count {
        ensure!(
            Instant::now() < deadline,
            "only {} of {count} records after {DEADLINE:?} (last consumer error: {last_error:?}): {records:?}",
            records.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => records.push(Record::of(&message)),
            Some(Err(e)) if poll_on_after(&e) => last_error = Some(e.to_string()),
            Some(Err(e)) => bail!("consumer error: {e}"),
            None => {}
        }
    }
    Ok(records)
}

/// Polls for `quiet` and fails if anything arrives.
fn assert_nothing_more(consumer: &BaseConsumer, quiet: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + quiet;
    while Instant::now() < until {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => bail!("unexpected extra record {:?}", Record::of(&message)),
            Some(Err(e)) if !poll_on_after(&e) => bail!("consumer error: {e}"),
            _ => {}
        }
    }
    Ok(())
}

fn produce_keyed(producer: &BaseProducer, topic: &str, values: impl IntoIterator<Item = (String, String)>) {
    for (key, value) in values {
        producer
            .send(BaseRecord::to(topic).key(&key).payload(&value))
            .map_err(|(e, _)| e)
            .expect("enqueue a record");
    }
}

#[test]
fn keyed_records_round_trip_and_a_restarted_group_resumes_from_its_commits() -> anyhow::Result<()> {
    let Some(broker) = broker_or_skip("keyed_records_round_trip_and_a_restarted_group_resumes_from_its_commits") else {
        return Ok(());
    };
    eprintln!("broker: {broker}");
    let topic = unique_name("smoke-keyed");
    let group = unique_name("smoke-group");
    broker.create_topic(&topic, 3)?;

    const TOTAL: usize = 60;
    const FIRST: usize = 25;
    let producer: BaseProducer = broker.producer_config().create()?;
    produce_keyed(
        &producer,
        &topic,
        (0..TOTAL).map(|i| (format!("user-{}", i % 7), format!("visit-{i}"))),
    );
    producer.flush(Timeout::After(DEADLINE))?;

    // First member: reads part of the topic and commits exactly what it read.
    let first: BaseConsumer = broker.consumer_config(&group).create()?;
    first.subscribe(&[&topic])?;
    let before = consume(&first, FIRST)?;
    first.commit_consumer_state(CommitMode::Sync)?;
    // Copied out of the list: a TopicPartitionList from `committed` holds
    // references into the consumer, and dropping the consumer while one is
    // alive hangs in rd_kafka_destroy.
    let committed: BTreeMap<i32, i64> = first
        .committed(Timeout::After(DEADLINE))?
        .elements_for_topic(&topic)
        .iter()
        .map(|p| (p.partition(), p.offset().to_raw().unwrap_or(0)))
        .collect();
    drop(first);

    // Second member of the same group: starts at the commits, so together the
    // two see every record exactly once.
    let second: BaseConsumer = broker.consumer_config(&group).create()?;
    second.subscribe(&[&topic])?;
    let after = consume(&second, TOTAL - FIRST)?;
    assert_nothing_more(&second, Duration::from_secs(1))?;

    for record in &after {
        let resumed_at = committed.get(&record.partition).copied().unwrap_or(0);
        ensure!(
            record.offset >= resumed_at,
            "{record:?} is before the committed offset {resumed_at}"
        );
    }
    let all: Vec<&Record> = before.iter().chain(&after).collect();
    let values: BTreeSet<&str> = all.iter().map(|r| r.value.as_str()).collect();
    let expected: BTreeSet<String> = (0..TOTAL).map(|i| format!("visit-{i}")).collect();
    ensure!(all.len() == TOTAL, "{} records for {TOTAL} produced", all.len());
    ensure!(
        values == expected.iter().map(String::as_str).collect(),
        "records lost or duplicated"
    );

    // The key decides the partition, and a partition keeps production order.
    let mut partition_of_key = BTreeMap::new();
    for record in &all {
        let partition = *partition_of_key.entry(record.key.clone()).or_insert(record.partition);
        ensure!(partition == record.partition, "key {} in two partitions", record.key);
    }
    let mut by_partition: BTreeMap<i32, Vec<&Record>> = BTreeMap::new();
    for record in &all {
        by_partition.entry(record.partition).or_default().push(record);
    }
    for records in by_partition.values_mut() {
        records.sort_by_key(|r| r.offset);
        let sequence: Vec<usize> = records
            .iter()
            .map(|r| r.value.trim_start_matches("visit-").parse().expect("a visit number"))
            .collect();
        ensure!(sequence.windows(2).all(|w| w[0] < w[1]), "out of order: {sequence:?}");
    }
    Ok(())
}

/// `n` keyed records whose values are `name-0`, `name-1`, ...
fn batch(name: &'static str, n: usize) -> impl Iterator<Item = (String, String)> {
    (0..n).map(move |i| (format!("k{i}"), format!("{name}-{i}")))
}

#[test]
fn read_committed_consumer_sees_committed_transactions_only() -> anyhow::Result<()> {
    let Some(broker) = transactional_broker_or_skip("read_committed_consumer_sees_committed_transactions_only") else {
        return Ok(());
    };
    eprintln!("broker: {broker}");
    let topic = unique_name("smoke-txn");
    broker.create_topic(&topic, 1)?;

    let producer: BaseProducer = broker
        .transactional_producer_config(&unique_name("smoke-txn-id"))
        .create()?;
    producer.init_transactions(Timeout::After(DEADLINE))?;

    producer.begin_transaction()?;
    produce_keyed(&producer, &topic, batch("committed", 5));
    producer.commit_transaction(Timeout::After(DEADLINE))?;

    producer.begin_transaction()?;
    produce_keyed(&producer, &topic, batch("aborted", 4));
    producer.flush(Timeout::After(DEADLINE))?;
    producer.abort_transaction(Timeout::After(DEADLINE))?;

    producer.begin_transaction()?;
    produce_keyed(&producer, &topic, batch("later", 3));
    producer.commit_transaction(Timeout::After(DEADLINE))?;

    let from_start = |isolation: &str| -> anyhow::Result<BaseConsumer> {
        let consumer: BaseConsumer = broker
            .consumer_config(&unique_name("smoke-txn-reader"))
            .set("isolation.level", isolation)
            .create()?;
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(&topic, 0, Offset::Beginning)?;
        consumer.assign(&assignment)?;
        Ok(consumer)
    };
    let values = |records: Vec<Record>| records.into_iter().map(|r| r.value).collect::<Vec<_>>();
    let expected: Vec<String> = batch("committed", 5).chain(batch("later", 3)).map(|(_, v)| v).collect();

    // The "later" records sit after the aborted ones, so seeing them all means
    // the aborted ones were passed over.
    let committed = from_start("read_committed")?;
    let seen = values(consume(&committed, 8)?);
    ensure!(seen == expected, "read_committed saw {seen:?}, expected {expected:?}");
    assert_nothing_more(&committed, Duration::from_millis(500))?;

    // Aborted records are in the log, so the test above discriminates.
    let uncommitted = from_start("read_uncommitted")?;
    let everything = values(consume(&uncommitted, 12)?);
    ensure!(
        everything.iter().filter(|v| v.starts_with("aborted-")).count() == 4,
        "read_uncommitted should see the aborted records too: {everything:?}"
    );
    Ok(())
}

#[tokio::test]
async fn async_clients_round_trip_inside_a_tokio_runtime() -> anyhow::Result<()> {
    let Some(broker) = broker_or_skip("async_clients_round_trip_inside_a_tokio_runtime") else {
        return Ok(());
    };
    let topic = unique_name("smoke-async");
    broker.create_topic(&topic, 2)?;

    let producer: FutureProducer = broker.producer_config().create()?;
    for i in 0..10 {
        let key = format!("k{i}");
        let value = format!("v{i}");
        producer
            .send(FutureRecord::to(&topic).key(&key).payload(&value), DEADLINE)
            .await
            .map_err(|(e, _)| e)?;
    }

    let consumer: StreamConsumer = broker.consumer_config(&unique_name("smoke-async-group")).create()?;
    consumer.subscribe(&[&topic])?;
    let mut seen = BTreeSet::new();
    tokio::time::timeout(DEADLINE, async {
        while seen.len() < 10 {
            let message = match consumer.recv().await {
                Ok(message) => message,
                Err(e) if poll_on_after(&e) => continue,
                Err(e) => return Err(e.into()),
            };
            seen.insert(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
        }
        anyhow::Ok(())
    })
    .await
    .context("timed out consuming")??;
    ensure!(seen == (0..10).map(|i| format!("v{i}")).collect(), "got {seen:?}");
    Ok(())
}

#[test]
fn dropping_the_broker_stops_it() -> anyhow::Result<()> {
    let Some(broker) = broker_or_skip("dropping_the_broker_stops_it") else {
        return Ok(());
    };
    if broker.flavor().is_none() {
        // An external cluster is not ours to stop.
        return Ok(());
    }
    let address = broker
        .bootstrap_servers()
        .split(',')
        .next()
        .unwrap_or_default()
        .to_owned();
    TcpStream::connect(&address).with_context(|| format!("connecting to {address} while running"))?;
    drop(broker);
    ensure!(
        TcpStream::connect(&address).is_err(),
        "{address} still accepts connections after drop"
    );
    Ok(())
}
