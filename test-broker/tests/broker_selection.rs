//! How the environment selects a test broker (`BrokerChoice::from_lookup`),
//! checked without touching the process environment.

use std::collections::HashMap;
use std::path::PathBuf;

use test_broker::{default_broker_bin, BrokerChoice, BrokerError, Capabilities, Flavor, DEFAULT_IMAGE};

fn choose(vars: &[(&str, &str)]) -> Result<Option<BrokerChoice>, BrokerError> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    BrokerChoice::from_lookup(|name| vars.get(name).cloned())
}

const NO_READ_COMMITTED: Capabilities = Capabilities {
    transactions: true,
    read_committed: false,
};

#[test]
fn bootstrap_servers_alone_select_the_external_cluster_with_kafka_capabilities() {
    let choice = choose(&[("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")]).unwrap();
    assert_eq!(
        choice,
        Some(BrokerChoice::External {
            bootstrap_servers: "127.0.0.1:9092".into(),
            capabilities: Capabilities::ALL,
        })
    );
}

#[test]
fn a_broker_binary_is_started_as_the_flavor_its_name_says() {
    let choice = choose(&[("KAFKA_BROKER_BIN", "/opt/tansu")]).unwrap();
    assert_eq!(
        choice,
        Some(BrokerChoice::Process {
            binary: PathBuf::from("/opt/tansu"),
            flavor: Flavor::Tansu,
            capabilities: NO_READ_COMMITTED,
        })
    );
}

#[test]
fn a_binary_of_unknown_flavor_needs_the_flavor_variable() {
    assert!(matches!(
        choose(&[("KAFKA_BROKER_BIN", "/opt/broker")]),
        Err(BrokerError::UnknownFlavor { .. })
    ));
    let choice = choose(&[("KAFKA_BROKER_BIN", "/opt/broker"), ("KAFKA_BROKER_FLAVOR", "noida")]).unwrap();
    assert!(matches!(
        choice,
        Some(BrokerChoice::Process {
            flavor: Flavor::Noida,
            ..
        })
    ));
}

#[test]
fn process_without_a_binary_uses_the_installed_noida_db() {
    let choice = choose(&[("KAFKA_BROKER", "process")]).unwrap();
    assert_eq!(
        choice,
        Some(BrokerChoice::Process {
            binary: default_broker_bin(),
            flavor: Flavor::Noida,
            capabilities: Capabilities::ALL,
        })
    );
}

#[test]
fn container_defaults_to_the_official_image_as_apache_kafka() {
    let choice = choose(&[("KAFKA_BROKER", "container")]).unwrap();
    assert_eq!(
        choice,
        Some(BrokerChoice::Container {
            image: DEFAULT_IMAGE.into(),
            flavor: Flavor::ApacheKafka,
            capabilities: Capabilities::ALL,
        })
    );
}

#[test]
fn local_images_are_recognised_by_name() {
    let tansu = choose(&[
        ("KAFKA_BROKER", "container"),
        ("KAFKA_BROKER_IMAGE", "tansu-local:0.6.0"),
    ])
    .unwrap();
    assert!(matches!(
        tansu,
        Some(BrokerChoice::Container {
            flavor: Flavor::Tansu,
            ..
        })
    ));
    let noida = choose(&[("KAFKA_BROKER_IMAGE", "registry.local:5000/noida-local:0.2.3")]).unwrap();
    assert!(matches!(
        noida,
        Some(BrokerChoice::Container {
            flavor: Flavor::Noida,
            ..
        })
    ));
}

#[test]
fn capabilities_can_be_overridden() {
    let choice = choose(&[
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        ("KAFKA_BROKER_CAPABILITIES", "none"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(choice.capabilities(), Capabilities::default());
}

#[test]
fn none_and_mock_need_nothing_else() {
    assert_eq!(choose(&[("KAFKA_BROKER", "none")]).unwrap(), None);
    assert_eq!(choose(&[("KAFKA_BROKER", "mock")]).unwrap(), Some(BrokerChoice::Mock));
}

#[test]
fn misspelled_values_are_errors_not_skips() {
    assert!(matches!(
        choose(&[("KAFKA_BROKER", "kafka")]),
        Err(BrokerError::BadEnv {
            var: "KAFKA_BROKER",
            ..
        })
    ));
    assert!(matches!(
        choose(&[("KAFKA_BROKER", "external")]),
        Err(BrokerError::BadEnv {
            var: "KAFKA_BOOTSTRAP_SERVERS",
            ..
        })
    ));
    assert!(matches!(
        choose(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "x:1"),
            ("KAFKA_BROKER_CAPABILITIES", "exactly_once")
        ]),
        Err(BrokerError::BadEnv { .. })
    ));
}

#[test]
fn capabilities_cover_what_they_include() {
    assert!(Capabilities::ALL.covers(NO_READ_COMMITTED));
    assert!(!NO_READ_COMMITTED.covers(Capabilities::ALL));
    assert!(Capabilities::default().covers(Capabilities::default()));
}
