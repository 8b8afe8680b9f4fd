//! Fault injection with the librdkafka mock cluster (`test_broker::MockKafka`):
//! needs no broker, so these always run.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};
use test_broker::{poll_on_after, unique_name, MockKafka};

const DEADLINE: Duration = Duration::from_secs(30);

fn read_values(mock: &MockKafka, topic: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let consumer: BaseConsumer = mock.consumer_config(&unique_name("mock-reader")).create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + DEADLINE;
    let mut values = Vec::new();
    while values.len() < count && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                values.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned())
            }
            Some(Err(e)) if !poll_on_after(&e) => return Err(e.into()),
            _ => {}
        }
    }
    Ok(values)
}

#[test]
fn idempotent_producer_delivers_once_through_retriable_produce_errors() -> anyhow::Result<()> {
    let mock = MockKafka::start(3)?;
    let topic = unique_name("mock-retries");
    mock.create_topic(&topic, 1)?;

    // The next three Produce requests fail with retriable errors.
    mock.cluster().request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        ],
    );
    let producer: BaseProducer = mock
        .producer_config()
        .set("enable.idempotence", "true")
        .set("retry.backoff.ms", "10")
        .create()?;
    for i in 0..10 {
        let value = format!("v{i}");
        producer
            .send(BaseRecord::to(&topic).key("k").payload(&value))
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Timeout::After(DEADLINE))?;

    let values = read_values(&mock, &topic, 10)?;
    let expected: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    ensure!(values == expected, "got {values:?}");
    Ok(())
}

#[tokio::test]
async fn records_time_out_while_the_leader_is_down_and_flow_again_when_it_is_back() -> anyhow::Result<()> {
    let mock = MockKafka::start(1)?;
    let topic = unique_name("mock-down");
    mock.create_topic(&topic, 1)?;
    let producer: FutureProducer = mock.producer_config().set("message.timeout.ms", "1500").create()?;

    mock.cluster().broker_down(1)?;
    let lost = producer
        .send(FutureRecord::to(&topic).key("k").payload("lost"), DEADLINE)
        .await;
    match lost {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut), _)) => {}
        other => bail!("expected a message timeout while the broker is down, got {other:?}"),
    }

    mock.cluster().broker_up(1)?;
    producer
        .send(FutureRecord::to(&topic).key("k").payload("delivered"), DEADLINE)
        .await
        .map_err(|(e, _)| e)?;
    let values = read_values(&mock, &topic, 1)?;
    ensure!(values == ["delivered"], "got {values:?}");
    Ok(())
}
