//! The input relation: the columns of a visit record as SQL sees them.
//!
//! Beam SQL derives the schema of `PCOLLECTION` from the seed's `EventLog` named tuple: `str` becomes
//! `VARCHAR`, `int` `BIGINT`, `float` `DOUBLE` and `bool` `BOOLEAN`. This module owns that mapping
//! and reads one column out of a [`VisitEvent`]. Every column is `NOT NULL`: the record parser has
//! already replaced missing coordinates with `-1`.

use pipeline::event::VisitEvent;

use crate::value::{SqlType, SqlValue};

/// One column of the visit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    Ip,
    Id,
    Lat,
    Lng,
    UserAgent,
    AgeBracket,
    OptedIntoMarketing,
    HttpRequest,
    HttpResponse,
    FileSizeBytes,
    EventDatetime,
    EventTs,
}

impl Field {
    /// Every column, in the order of the seed's `EventLog`.
    pub(crate) const ALL: [Field; 12] = [
        Field::Ip,
        Field::Id,
        Field::Lat,
        Field::Lng,
        Field::UserAgent,
        Field::AgeBracket,
        Field::OptedIntoMarketing,
        Field::HttpRequest,
        Field::HttpResponse,
        Field::FileSizeBytes,
        Field::EventDatetime,
        Field::EventTs,
    ];

    /// The column name, as in the seed's `EventLog`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::Ip => "ip",
            Field::Id => "id",
            Field::Lat => "lat",
            Field::Lng => "lng",
            Field::UserAgent => "user_agent",
            Field::AgeBracket => "age_bracket",
            Field::OptedIntoMarketing => "opted_into_marketing",
            Field::HttpRequest => "http_request",
            Field::HttpResponse => "http_response",
            Field::FileSizeBytes => "file_size_bytes",
            Field::EventDatetime => "event_datetime",
            Field::EventTs => "event_ts",
        }
    }

    /// The column's SQL type.
    pub(crate) fn sql_type(self) -> SqlType {
        match self {
            Field::Ip
            | Field::Id
            | Field::UserAgent
            | Field::AgeBracket
            | Field::HttpRequest
            | Field::EventDatetime => SqlType::Varchar,
            Field::Lat | Field::Lng => SqlType::Double,
            Field::OptedIntoMarketing => SqlType::Boolean,
            Field::HttpResponse | Field::FileSizeBytes | Field::EventTs => SqlType::Bigint,
        }
    }

    /// The column's value in `visit`.
    pub(crate) fn read(self, visit: &VisitEvent) -> SqlValue {
        match self {
            Field::Ip => SqlValue::Varchar(visit.ip.clone()),
            Field::Id => SqlValue::Varchar(visit.id.clone()),
            Field::Lat => SqlValue::Double(visit.lat),
            Field::Lng => SqlValue::Double(visit.lng),
            Field::UserAgent => SqlValue::Varchar(visit.user_agent.clone()),
            Field::AgeBracket => SqlValue::Varchar(visit.age_bracket.clone()),
            Field::OptedIntoMarketing => SqlValue::Boolean(visit.opted_into_marketing),
            Field::HttpRequest => SqlValue::Varchar(visit.http_request.clone()),
            Field::HttpResponse => SqlValue::Bigint(visit.http_response),
            Field::FileSizeBytes => SqlValue::Bigint(visit.file_size_bytes),
            Field::EventDatetime => SqlValue::Varchar(visit.event_datetime.clone()),
            Field::EventTs => SqlValue::Bigint(visit.event_ts),
        }
    }

    /// The text of a `VARCHAR` column without copying it.
    pub(crate) fn read_str(self, visit: &VisitEvent) -> Option<&str> {
        match self {
            Field::Ip => Some(&visit.ip),
            Field::Id => Some(&visit.id),
            Field::UserAgent => Some(&visit.user_agent),
            Field::AgeBracket => Some(&visit.age_bracket),
            Field::HttpRequest => Some(&visit.http_request),
            Field::EventDatetime => Some(&visit.event_datetime),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_reads_a_value_of_its_type() {
        let line = br#"{"ip":"1.2.3.4","id":"7","lat":1.5,"lng":2.5,"user_agent":"ua","age_bracket":"26-40","opted_into_marketing":true,"http_request":"GET a.html HTTP/1.0","http_response":200,"file_size_bytes":1,"event_datetime":"2024-04-28T23:12:41.000","event_ts":5}"#;
        let visit = VisitEvent::from_json(line).unwrap();
        for field in Field::ALL {
            assert_eq!(field.read(&visit).sql_type(), field.sql_type(), "{}", field.name());
            assert_eq!(
                field.read_str(&visit).is_some(),
                field.sql_type() == SqlType::Varchar,
                "{}",
                field.name()
            );
        }
    }
}
