//! MQTT without I/O: the broker URL, topic names, and the payloads (events, occupancy, Home
//! Assistant discovery).

use entity::{camera, event, zone};
use serde_json::{Value, json};

use crate::error::AppError;

/// Where the broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// Host name or address.
    pub host: String,
    /// Port (1883 by default).
    pub port: u16,
    /// User name and password, when the URL carries them.
    pub login: Option<(String, String)>,
    /// Over TLS (`mqtts://`), the broker's certificate checked against the host name.
    pub tls: bool,
}

/// Parses `mqtt://[user:password@]host[:port]` (port 1883) or `mqtts://…` (TLS, port 8883).
pub fn parse_broker(raw: &str) -> Result<Broker, AppError> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| AppError::bad_input("HELDAR_MQTT_URL", format!("is not a URL: {e}")))?;
    let tls = match url.scheme() {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" => true,
        _ => {
            return Err(AppError::bad_input(
                "HELDAR_MQTT_URL",
                "must be mqtt://host[:port] or mqtts://host[:port] (TLS)",
            ));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| AppError::bad_input("HELDAR_MQTT_URL", "must name a host"))?;
    // The URL keeps them percent-encoded (a password with `@`, `:` or `/` must be written so).
    let decoded = |field: &'static str, raw: &str| {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| {
                AppError::bad_input(
                    "HELDAR_MQTT_URL",
                    format!("its {field} is not UTF-8 once percent-decoded"),
                )
            })
    };
    let login = if url.username().is_empty() {
        None
    } else {
        Some((
            decoded("user name", url.username())?,
            decoded("password", url.password().unwrap_or_default())?,
        ))
    };
    Ok(Broker {
        host: host.trim_matches(['[', ']']).to_owned(),
        port: url.port().unwrap_or(if tls { 8883 } else { 1883 }),
        login,
        tls,
    })
}

/// A topic level made safe: no `/`, `+`, `#` or control characters.
pub fn level(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if matches!(c, '/' | '+' | '#') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The server's availability (its last will says `offline`).
pub const AVAILABILITY: &str = "heldar/availability";

/// `heldar/<camera>/events`, or `heldar/events` for events of no camera.
pub fn events_topic(camera: Option<&str>) -> String {
    match camera {
        Some(c) => format!("heldar/{}/events", level(c)),
        None => "heldar/events".to_owned(),
    }
}

/// `heldar/<camera>/<zone>/occupancy` (retained).
pub fn occupancy_topic(camera: &str, zone: &str) -> String {
    format!("heldar/{}/{}/occupancy", level(camera), level(zone))
}

/// `heldar/<camera>/availability` (retained `online` / `offline`).
pub fn camera_availability_topic(camera: &str) -> String {
    format!("heldar/{}/availability", level(camera))
}

/// An event as published: the GraphQL shape of `PerceptionEvent`.
pub fn event_payload(e: &event::Model) -> Vec<u8> {
    crate::events::model::wire_json(e).to_string().into_bytes()
}

/// A zone's occupancy as published.
pub fn occupancy_payload(count: i32) -> Vec<u8> {
    json!({"count": count, "occupied": count > 0})
        .to_string()
        .into_bytes()
}

fn device(c: &camera::Model) -> Value {
    json!({
        "identifiers": [format!("heldar_{}", level(&c.id))],
        "name": c.name,
        "manufacturer": "Heldar",
        "model": "camera",
    })
}

fn availability(camera: &str) -> Value {
    json!([
        {"topic": AVAILABILITY},
        {"topic": camera_availability_topic(camera)},
    ])
}

/// Home Assistant discovery: each zone an occupancy binary sensor, each camera a device with a
/// "last event" sensor. `(topic, retained payload)`.
pub fn discovery(prefix: &str, c: &camera::Model, zones: &[zone::Model]) -> Vec<(String, Vec<u8>)> {
    let cam = level(&c.id);
    let mut out = vec![(
        format!("{prefix}/sensor/heldar_{cam}_last_event/config"),
        json!({
            "name": "Last event",
            "unique_id": format!("heldar_{cam}_last_event"),
            "state_topic": events_topic(Some(&c.id)),
            "value_template": "{{ value_json.kind }}",
            "json_attributes_topic": events_topic(Some(&c.id)),
            "availability": availability(&c.id),
            "availability_mode": "all",
            "device": device(c),
        })
        .to_string()
        .into_bytes(),
    )];
    for z in zones {
        let zid = level(&z.id);
        out.push((
            format!("{prefix}/binary_sensor/heldar_{zid}/config"),
            json!({
                "name": format!("{} occupancy", z.name),
                "unique_id": format!("heldar_{zid}_occupancy"),
                "device_class": "occupancy",
                "state_topic": occupancy_topic(&c.id, &z.id),
                "value_template": "{{ 'ON' if value_json.count > 0 else 'OFF' }}",
                "json_attributes_topic": occupancy_topic(&c.id, &z.id),
                "availability": availability(&c.id),
                "availability_mode": "all",
                "device": device(c),
            })
            .to_string()
            .into_bytes(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse_and_topics_are_safe() {
        assert_eq!(
            parse_broker("mqtt://u:p@broker.lan:1884").unwrap(),
            Broker {
                host: "broker.lan".into(),
                port: 1884,
                login: Some(("u".into(), "p".into())),
                tls: false,
            }
        );
        assert_eq!(parse_broker("mqtt://127.0.0.1").unwrap().port, 1883);
        assert_eq!(
            parse_broker("mqtt://ha%20user:p%40ss%3Aw%2Frd@broker.lan")
                .unwrap()
                .login,
            Some(("ha user".into(), "p@ss:w/rd".into())),
            "credentials are percent-decoded"
        );
        let tls = parse_broker("mqtts://broker.lan").unwrap();
        assert_eq!((tls.port, tls.tls), (8883, true));
        let refused = parse_broker("http://broker.lan").unwrap_err().to_string();
        assert!(refused.contains("mqtts://"), "{refused}");
        assert_eq!(events_topic(Some("gate/1#")), "heldar/gate_1_/events");
    }
}
