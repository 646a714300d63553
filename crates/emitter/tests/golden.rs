//! Every golden vector recorded from `@socket.io/redis-emitter` 5.1.0
//! (`crates/wire/tests/golden/vectors.json`, source `@socket.io/redis-emitter@5.1.0`) is
//! made again by the Rust emitter's message builder ([`Selection`]) from the same call,
//! written with serde values where Node used JavaScript values, and must give the same
//! channel and the same bytes.
//!
//! One vector cannot be byte-identical, on purpose: see [`WRAPPED_DOUBLE`].

use bytes::Bytes;
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value as Json;
use sio_redis_emitter::{Args, Message, NoArgs, Selection, Value};

const VECTORS: &str = include_str!("../../wire/tests/golden/vectors.json");
const SOURCE: &str = "@socket.io/redis-emitter@5.1.0";

/// `emitter/emit/ints-floats` sends `-1.5e+300`; notepack.io 3 writes that integral
/// double as int64 with a wrapped hi/lo split, `d3 00…00` (Node receivers read 0). The
/// Rust emitter writes the number itself, float64 `cb c3e1…`. Everything else in that
/// vector must be identical.
const WRAPPED_DOUBLE: (&str, f64) = ("emitter/emit/ints-floats", -1.5e300);

const GRUSS: &str = "Grüße aus Zürich — 你好世界 — 👋🌍 — ok";

/// A JavaScript `Date`: the msgpack timestamp extension (type −1) notepack.io writes,
/// through rmp-serde's extension convention.
struct JsDate(i64);

impl Serialize for JsDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Value::Ext(kind, payload) = Value::timestamp_from_millis(self.0) else {
            unreachable!("a timestamp is an extension")
        };
        s.serialize_newtype_struct(
            rmp_serde_ext_name(),
            &(kind, serde_bytes::Bytes::new(&payload)),
        )
    }
}

fn rmp_serde_ext_name() -> &'static str {
    "_ExtStruct"
}

/// A map with members in this order (a JavaScript object literal).
struct Obj(Vec<(&'static str, Json)>);

impl Serialize for Obj {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// `{ a: 1, b: undefined, c: "x", d: [1, undefined, 3] }`
#[derive(Serialize)]
struct Meta {
    a: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    b: Option<i32>,
    c: &'static str,
    d: [Option<i32>; 3],
}

const META: Meta = Meta {
    a: 1,
    b: None,
    c: "x",
    d: [Some(1), None, Some(3)],
};

#[derive(Serialize)]
struct Empty {}

fn args<T: Serialize + ?Sized>(v: &T) -> Args {
    Args::from_serialize(v).expect("serializable")
}

fn main_nsp() -> Selection {
    Selection::new("socket.io", "/")
}

/// The Rust call that reproduces each vector.
fn build(name: &str) -> Option<Message> {
    let s = main_nsp();
    let emit = |sel: Selection, ev: &str, a: Args| sel.emit_message(ev, &a).expect("emits");
    Some(match name {
        // emitter.emit("greet", "hello", 1, 2.5, true, null)
        "emitter/emit/all-basic" => emit(s, "greet", args(&("hello", 1, 2.5, true, ()))),
        // emitter.to("room1").volatile.emit("greet", "from-emitter")
        "emitter/emit/one-room-volatile" => {
            emit(s.to("room1").volatile(), "greet", args(&"from-emitter"))
        }
        // emitter.to(["room1", "room2"]).except("room3").emit("news", "日本語のテキスト")
        "emitter/emit/rooms-except" => emit(
            s.to(["room1", "room2"]).except("room3"),
            "news",
            args(&"日本語のテキスト"),
        ),
        // emitter.compress(false).emit("bulk", [0, 1, 4, …, 361])
        "emitter/emit/compress" => emit(
            s.compress(false),
            "bulk",
            args(&(0..20u32).map(|i| i * i).collect::<Vec<_>>()),
        ),
        // emitter.except("room2").volatile.compress(true).emit("tick", -1.5)
        "emitter/emit/volatile-compress-except" => emit(
            s.except("room2").volatile().compress(true),
            "tick",
            args(&-1.5),
        ),
        // emitter.of("/chat").emit("x")
        "emitter/emit/of-chat" => emit(s.of("/chat"), "x", args(&NoArgs)),
        // emitter.of("chat").to("lobby").emit("msg", { from: "emitter", text: GRUSS })
        "emitter/emit/of-chat-without-slash" => {
            #[derive(Serialize)]
            struct Msg {
                from: &'static str,
                text: &'static str,
            }
            emit(
                s.of("chat").to("lobby"),
                "msg",
                args(&Msg {
                    from: "emitter",
                    text: GRUSS,
                }),
            )
        }
        // emitter.emit("mix", { file: Buffer.from([1, 2, 3]), at: new Date(…678Z),
        //   meta: {…}, n: -1099511627776 }, [GRUSS, 1e-7, -129, 4294967297])
        "emitter/emit/binary-mix" => {
            #[derive(Serialize)]
            struct Mix {
                file: Bytes,
                at: JsDate,
                meta: Meta,
                n: i64,
            }
            let mix = Mix {
                file: Bytes::from_static(&[1, 2, 3]),
                at: JsDate(1_705_321_845_678),
                meta: META,
                n: -1_099_511_627_776,
            };
            emit(
                s,
                "mix",
                args(&(mix, (GRUSS, 1e-7, -129, 4_294_967_297u64))),
            )
        }
        // emitter.emit("dates", five Dates)
        "emitter/emit/dates" => emit(
            s,
            "dates",
            args(&(
                JsDate(1_705_321_845_000),
                JsDate(1_705_321_845_678),
                JsDate(-14_182_940_000),
                JsDate(-1),
                JsDate(19_880_899_200_000),
            )),
        ),
        // emitter.emit("numbers", 0, 1, 127, …, -1.5e+300, 5e-324): 28 arguments, more
        // than a serde tuple holds, so one by one.
        "emitter/emit/ints-floats" => {
            let mut a = Args::new();
            a.push_serialize(&0u8).unwrap();
            for n in [1u64, 127, 128, 255, 256, 65_535, 65_536, 4_294_967_295] {
                a.push_serialize(&n).unwrap();
            }
            a.push_serialize(&4_294_967_297u64).unwrap();
            a.push_serialize(&9_007_199_254_740_991u64).unwrap();
            for n in [
                -1i64,
                -32,
                -33,
                -128,
                -129,
                -32_768,
                -32_769,
                -2_147_483_648,
                -2_147_483_649,
                -1_099_511_627_776,
            ] {
                a.push_serialize(&n).unwrap();
            }
            a.push_serialize(&0).unwrap(); // -0: notepack writes 0
            for f in [2.5f64, -0.1, 1e-7, 123_456.789, WRAPPED_DOUBLE.1, 5e-324] {
                a.push_serialize(&f).unwrap();
            }
            emit(s, "numbers", a)
        }
        "emitter/emit/structures" => {
            #[derive(Serialize)]
            struct Profile {
                age: u8,
                verified: bool,
                score: f64,
                address: Option<String>,
            }
            #[derive(Serialize)]
            struct User {
                id: u32,
                name: &'static str,
                roles: [&'static str; 2],
                profile: Profile,
            }
            #[derive(Serialize)]
            struct Deepest {
                deepest: &'static str,
            }
            #[derive(Serialize)]
            struct Deeper {
                deeper: Deepest,
            }
            #[derive(Serialize)]
            struct Deep {
                deep: Deeper,
            }
            #[derive(Serialize)]
            struct First {
                user: User,
                list: ((u8, (u8, [u8; 1])), Deep),
            }
            #[derive(Serialize)]
            struct A {
                a: Empty,
            }
            #[derive(Serialize)]
            struct Second {
                arr: Vec<u8>,
                obj: Empty,
                #[serde(rename = "nestedEmpty")]
                nested_empty: (Vec<u8>, Empty, [Vec<u8>; 1], A),
            }
            let first = First {
                user: User {
                    id: 42,
                    name: "bob",
                    roles: ["admin", "dev"],
                    profile: Profile {
                        age: 30,
                        verified: true,
                        score: 9.5,
                        address: None,
                    },
                },
                list: (
                    (1, (2, [3])),
                    Deep {
                        deep: Deeper {
                            deeper: Deepest { deepest: "yes" },
                        },
                    },
                ),
            };
            let second = Second {
                arr: vec![],
                obj: Empty {},
                nested_empty: (vec![], Empty {}, [vec![]], A { a: Empty {} }),
            };
            let keys = [
                "k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07", "k08", "k09", "k10", "k11",
                "k12", "k13", "k14", "k15", "k16",
            ];
            let many = Obj(keys
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let v = if i % 2 == 0 {
                        Json::from(i)
                    } else {
                        Json::from(format!("v{i}"))
                    };
                    (*k, v)
                })
                .collect());
            emit(
                s,
                "structures",
                args(&(first, second, META, true, false, (), many)),
            )
        }
        // emitter.in("room1").socketsJoin(["room2", "room3"])
        "emitter/sockets-join/from-room" => s.in_("room1").sockets_join_message(["room2", "room3"]),
        // emitter.socketsJoin("room9")
        "emitter/sockets-join/all" => s.sockets_join_message("room9"),
        // emitter.in("room2").socketsLeave("room3")
        "emitter/sockets-leave" => s.in_("room2").sockets_leave_message("room3"),
        // emitter.in("room1").except("room2").disconnectSockets(true)
        "emitter/disconnect-sockets/close-true" => s
            .in_("room1")
            .except("room2")
            .disconnect_sockets_message(true),
        // emitter.disconnectSockets()
        "emitter/disconnect-sockets/default" => s.disconnect_sockets_message(false),
        // emitter.serverSideEmit("ping-servers", 7)
        "emitter/server-side-emit" => s
            .server_side_emit_message("ping-servers", &args(&7))
            .expect("emits"),
        // emitter.of("/chat").serverSideEmit("sync", { at: new Date(…678Z), list: [] })
        "emitter/server-side-emit/of-chat" => {
            #[derive(Serialize)]
            struct Sync {
                at: JsDate,
                list: Vec<u8>,
            }
            s.of("/chat")
                .server_side_emit_message(
                    "sync",
                    &args(&Sync {
                        at: JsDate(1_705_321_845_678),
                        list: vec![],
                    }),
                )
                .expect("emits")
        }
        _ => return None,
    })
}

const NAMES: [&str; 18] = [
    "emitter/emit/all-basic",
    "emitter/emit/one-room-volatile",
    "emitter/emit/rooms-except",
    "emitter/emit/compress",
    "emitter/emit/volatile-compress-except",
    "emitter/emit/of-chat",
    "emitter/emit/of-chat-without-slash",
    "emitter/emit/binary-mix",
    "emitter/emit/dates",
    "emitter/emit/ints-floats",
    "emitter/emit/structures",
    "emitter/sockets-join/from-room",
    "emitter/sockets-join/all",
    "emitter/sockets-leave",
    "emitter/disconnect-sockets/close-true",
    "emitter/disconnect-sockets/default",
    "emitter/server-side-emit",
    "emitter/server-side-emit/of-chat",
];

use sio_redis_testkit::hex::{decode as unhex, encode as hex};

/// The emitter vectors: (name, channel, payload).
fn emitter_vectors() -> Vec<(String, String, Vec<u8>)> {
    let file: Json = serde_json::from_str(VECTORS).expect("vectors.json is JSON");
    file["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["source"] == SOURCE)
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_owned(),
                c["target"].as_str().expect("target").to_owned(),
                unhex(c["hex"].as_str().expect("hex")),
            )
        })
        .collect()
}

#[test]
fn every_emitter_vector_is_reproduced_byte_for_byte() {
    let vectors = emitter_vectors();
    assert_eq!(
        vectors.len(),
        NAMES.len(),
        "vectors from {SOURCE}: {:?}",
        vectors.iter().map(|v| &v.0).collect::<Vec<_>>()
    );
    let mut failures = Vec::new();
    for (name, channel, node) in &vectors {
        assert!(NAMES.contains(&name.as_str()), "no Rust call for {name}");
        let msg = build(name).unwrap_or_else(|| panic!("no Rust call for {name}"));
        let expected = if name == WRAPPED_DOUBLE.0 {
            let wrapped = unhex("d30000000000000000");
            let mut ours = vec![0xcb];
            ours.extend_from_slice(&WRAPPED_DOUBLE.1.to_be_bytes());
            let at = node
                .windows(wrapped.len())
                .position(|w| w == wrapped)
                .expect("the wrapped double is in the Node bytes");
            let mut e = node.clone();
            e.splice(at..at + wrapped.len(), ours);
            e
        } else {
            node.clone()
        };
        if msg.channel != *channel {
            failures.push(format!(
                "{name}: channel {:?}, Node {:?}",
                msg.channel, channel
            ));
        }
        if msg.payload != expected {
            failures.push(format!(
                "{name}:\n  rust {}\n  node {}",
                hex(&msg.payload),
                hex(&expected)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_table_entry_has_a_vector() {
    let vectors = emitter_vectors();
    for name in NAMES {
        assert!(
            vectors.iter().any(|v| v.0 == name),
            "{name} is not a vector"
        );
        assert!(build(name).is_some(), "{name} has no Rust call");
    }
}
