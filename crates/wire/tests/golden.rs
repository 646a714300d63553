//! Golden vectors recorded from the real Node packages (`e2e/golden/generate.js`):
//! every vector decodes, and re-encodes to the identical bytes.

use serde_json::Value as Json;
use sio_redis_wire::channels::ClassicChannels;
use sio_redis_wire::classic::{
    ClassicBroadcast, ClassicBroadcastRef, ClassicRequest, ClassicResponse,
};
use sio_redis_wire::{
    ClusterBody, ClusterBroadcastRef, ClusterMessage, Encoding, Limits, SessionRecord, json,
    msgpack,
};

const VECTORS: &str = include_str!("golden/vectors.json");

/// Vectors whose bytes cannot be reproduced, each with the reason. For these the test
/// checks that the message decodes, and that our re-encoding decodes to the same message
/// (what a Node receiver would see is unchanged).
const LOSSY: &[(&str, &str)] = &[
    (
        "classic/broadcast/numeric-room",
        "io.to(42): JavaScript allows a numeric room, sent as a msgpack integer; rooms are \
         strings here (as in socketioxide), so 42 is read as \"42\" and written back as a string",
    ),
    (
        "classic/broadcast/floats",
        "notepack.io 3 writes the integral double -1.5e300 as int64 0 (d3 00…00, its hi/lo \
         split wraps); Node decodes 0, so do we, and we write 0 in its smallest form",
    ),
    (
        "sharded/broadcast/binary-numbers",
        "the same notepack.io wrap of -1.5e300 to int64 0",
    ),
    (
        "emitter/emit/ints-floats",
        "the same notepack.io wrap of -1.5e300 to int64 0",
    ),
];

use sio_redis_testkit::hex::{decode as unhex, encode as hex};

fn cases() -> Vec<Json> {
    let file: Json = serde_json::from_str(VECTORS).expect("vectors.json is JSON");
    file["cases"].as_array().expect("cases").clone()
}

/// The borrowing decoder reads what the tree decoder reads, and its JSON text of the
/// data is what `JSON.stringify` gives (the data has no binary) or `None` (it has).
fn broadcast_ref_agrees(m: &ClassicBroadcast, payload: &[u8]) -> Result<(), String> {
    let limits = Limits::default();
    let r = ClassicBroadcastRef::decode(payload, &limits).map_err(|e| format!("ref: {e}"))?;
    let data = r
        .data_value(&limits)
        .map_err(|e| format!("ref data: {e}"))?;
    // Compared as Debug text: NaN is not equal to itself.
    if format!("{:?}", (r.uid, r.kind, r.nsp, &r.opts, &data))
        != format!(
            "{:?}",
            (
                &m.uid,
                m.packet.kind,
                &m.packet.nsp,
                &m.opts,
                &m.packet.data
            )
        )
    {
        return Err(format!("ClassicBroadcastRef disagrees: {r:?}"));
    }
    let text = r
        .data_json(&limits)
        .map_err(|e| format!("data_json: {e}"))?;
    let binary = format!("{data:?}").contains("Bin(") || format!("{data:?}").contains("Ext(");
    match text {
        None if binary => Ok(()),
        Some(t) if !binary && t.as_bytes() == json::encode(&data) => Ok(()),
        other => Err(format!("to_json gave {other:?} for {data:?}")),
    }
}

/// The borrowing sharded-broadcast decoder reads Node's JSON broadcasts without
/// acknowledgements (and nothing else) as the tree decoder does, and the envelope
/// written around the data's text is Node's bytes.
fn cluster_ref_agrees(m: &ClusterMessage, payload: &[u8], lossy: bool) -> Result<(), String> {
    let limits = Limits::default();
    let r = ClusterBroadcastRef::decode(payload, &limits);
    let plain = Encoding::sniff(payload) == Encoding::Json;
    match (&m.body, r) {
        (
            ClusterBody::Broadcast {
                packet,
                request_id: None,
                opts,
            },
            Some(r),
        ) if plain => {
            let data = json::decode(r.data.as_bytes(), &limits).map_err(|e| format!("{e}"))?;
            if format!("{:?}", (&r.uid, &r.nsp, &r.opts, &data))
                != format!("{:?}", (&m.uid, &m.nsp, opts, &packet.data))
            {
                return Err(format!("ClusterBroadcastRef disagrees: {r:?}"));
            }
            let text = String::from_utf8(json::encode(&packet.data)).expect("UTF-8");
            let again = ClusterMessage::encode_sharded_broadcast_json(&m.uid, &m.nsp, &text, opts);
            if !lossy && again != payload {
                return Err(format!("encode_sharded_broadcast_json: {}", hex(&again)));
            }
            Ok(())
        }
        (
            ClusterBody::Broadcast {
                request_id: None, ..
            },
            None,
        ) if plain => Err("ClusterBroadcastRef refused a JSON broadcast".into()),
        (_, None) => Ok(()),
        (_, Some(r)) => Err(format!("ClusterBroadcastRef read {r:?} from {m:?}")),
    }
}

/// Checks one vector; returns a description of the mismatch, if any.
fn check(case: &Json) -> Result<(), String> {
    let limits = Limits::default();
    let kind = case["kind"].as_str().unwrap_or_default();
    let target = case["target"].as_str().unwrap_or_default();
    let payload = case["hex"].as_str().map(unhex).unwrap_or_default();
    let name = case["name"].as_str().unwrap_or_default();
    let lossy = LOSSY.iter().any(|(n, _)| *n == name);
    // `decode` reads bytes back as the message (its Debug form), for lossy vectors.
    let same = |what: &str, got: Vec<u8>, decode: &dyn Fn(&[u8]) -> Option<String>| {
        if lossy {
            // Semantic round trip: our bytes decode to the message Node's bytes decode to.
            let (ours, node) = (decode(&got), decode(&payload));
            return if ours.is_some() && ours == node {
                Ok(())
            } else {
                Err(format!("{what}: lossy re-encoding changed the message"))
            };
        }
        if got == payload {
            Ok(())
        } else {
            Err(format!(
                "{what}: re-encoded\n  got  {}\n  want {}",
                hex(&got),
                hex(&payload)
            ))
        }
    };
    let err = |e: sio_redis_wire::DecodeError| format!("decode: {e}");
    // The payload alone round-trips through the generic value codecs.
    if kind != "stream-entry" && kind != "session" {
        let v = sio_redis_wire::decode_any(&payload, &limits).map_err(err)?;
        let again = match Encoding::sniff(&payload) {
            Encoding::Json => json::encode(&v),
            _ => msgpack::encode(&v, msgpack::Flavor::Notepack),
        };
        if !lossy {
            same("generic value", again, &|_| None)?;
        }
    }
    let cluster = |b: &[u8]| {
        ClusterMessage::decode(b, &limits)
            .ok()
            .map(|m| format!("{m:?}"))
    };
    match kind {
        "classic-broadcast" => {
            let m = ClassicBroadcast::decode(&payload, &limits).map_err(err)?;
            broadcast_ref_agrees(&m, &payload)?;
            same("classic broadcast", m.encode(), &|b| {
                ClassicBroadcast::decode(b, &limits)
                    .ok()
                    .map(|m| format!("{m:?}"))
            })?;
            if let (Some(nsp), false) = (&m.packet.nsp, lossy) {
                let key = target.split('#').next().unwrap_or_default();
                let channel = m.channel(&ClassicChannels::new(key, nsp));
                if channel != target {
                    return Err(format!("channel {channel} != {target}"));
                }
            }
            Ok(())
        }
        "classic-request" => same(
            "classic request",
            ClassicRequest::decode(&payload, &limits)
                .map_err(err)?
                .encode(),
            &|b| {
                ClassicRequest::decode(b, &limits)
                    .ok()
                    .map(|m| format!("{m:?}"))
            },
        ),
        "classic-response" => same(
            "classic response",
            ClassicResponse::decode(&payload, &limits)
                .map_err(err)?
                .encode(),
            &|b| {
                ClassicResponse::decode(b, &limits)
                    .ok()
                    .map(|m| format!("{m:?}"))
            },
        ),
        "cluster-message" => {
            let m = ClusterMessage::decode(&payload, &limits).map_err(err)?;
            cluster_ref_agrees(&m, &payload, lossy)?;
            same("sharded message", m.encode_sharded(), &cluster)
        }
        "streams-pubsub" => {
            let m = ClusterMessage::decode(&payload, &limits).map_err(err)?;
            cluster_ref_agrees(&m, &payload, lossy)?;
            same(
                "streams pub/sub message",
                m.encode_streams_pubsub(),
                &cluster,
            )
        }
        "stream-entry" => {
            let fields: Vec<(String, String)> = case["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .map(|p| {
                    (
                        p[0].as_str().unwrap_or_default().into(),
                        p[1].as_str().unwrap_or_default().into(),
                    )
                })
                .collect();
            let m = ClusterMessage::from_stream_fields(fields.iter().map(|(k, v)| (k, v)), &limits)
                .map_err(err)?;
            let got: Vec<(String, String)> = m
                .to_stream_fields(false)
                .fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            if got != fields {
                return Err(format!(
                    "stream entry: re-encoded\n  got  {got:?}\n  want {fields:?}"
                ));
            }
            Ok(())
        }
        "session" => {
            let m = SessionRecord::decode(&payload, &limits).map_err(err)?;
            same("session", m.encode().into_bytes(), &|b| {
                SessionRecord::decode(b, &limits)
                    .ok()
                    .map(|m| format!("{m:?}"))
            })
        }
        other => Err(format!("unknown kind {other}")),
    }
}

#[test]
fn every_golden_vector_round_trips_byte_for_byte() {
    let cases = cases();
    assert!(cases.len() >= 80, "only {} golden vectors", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check(c)
                .err()
                .map(|e| format!("{}: {e}", c["name"].as_str().unwrap_or("?")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn lossy_vectors_exist_and_are_few() {
    let cases = cases();
    for (name, _) in LOSSY {
        assert!(
            cases.iter().any(|c| c["name"] == *name),
            "LOSSY names a missing vector {name}"
        );
    }
    assert!(LOSSY.len() * 20 < cases.len());
}

#[test]
fn every_kind_is_covered() {
    let cases = cases();
    for kind in [
        "classic-broadcast",
        "classic-request",
        "classic-response",
        "cluster-message",
        "streams-pubsub",
        "stream-entry",
        "session",
    ] {
        assert!(
            cases.iter().any(|c| c["kind"] == kind),
            "no vector of kind {kind}"
        );
    }
}
