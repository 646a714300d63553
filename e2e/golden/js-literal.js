"use strict";

// Renders argument values as JavaScript source, for the `note` of each vector
// ("the JS call that produced it"). Large fixtures get a short description instead.

const descriptions = new WeakMap();

/** Gives an object (Buffer, big array, ...) a short JS description for notes. */
function describe(value, text) {
  descriptions.set(value, text);
  return value;
}

function key(k) {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k);
}

function js(v) {
  if (v === undefined) return "undefined";
  if (v === null) return "null";
  if (typeof v === "object" && descriptions.has(v)) return descriptions.get(v);
  switch (typeof v) {
    case "number":
      if (Object.is(v, -0)) return "-0";
      return String(v);
    case "boolean":
      return String(v);
    case "string":
      if (v.length > 80 && v.length % 10 === 0 && v === v.slice(0, 10).repeat(v.length / 10)) {
        return `${JSON.stringify(v.slice(0, 10))}.repeat(${v.length / 10})`;
      }
      return JSON.stringify(v);
    case "function":
      return "cb";
    default:
      break;
  }
  if (Buffer.isBuffer(v)) return `Buffer.from([${[...v].join(", ")}])`;
  if (v instanceof Uint8Array) return `new Uint8Array([${[...v].join(", ")}])`;
  if (v instanceof Date) return `new Date(${JSON.stringify(v.toISOString())})`;
  if (Array.isArray(v)) return `[${v.map(js).join(", ")}]`;
  const entries = Object.keys(v).map((k) => `${key(k)}: ${js(v[k])}`);
  return entries.length ? `{ ${entries.join(", ")} }` : "{}";
}

/** `args` rendered as a call argument list. */
function jsArgs(args) {
  return args.map(js).join(", ");
}

module.exports = { js, jsArgs, describe };
