"use strict";

// Stable pretty-printer for vectors.json and the --check diff summary.
//
// Objects are always written one member per line; arrays whose elements are all scalars are
// written on one line (so `fields` is one [name, value] pair per line). The output is plain
// JSON (JSON.parse reads it back).

function isScalar(v) {
  return v === null || typeof v !== "object";
}

function format(value, indent = "") {
  const next = indent + "  ";
  if (isScalar(value)) return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    if (value.every(isScalar)) return "[" + value.map((v) => JSON.stringify(v)).join(", ") + "]";
    return "[\n" + value.map((v) => next + format(v, next)).join(",\n") + "\n" + indent + "]";
  }
  const keys = Object.keys(value).filter((k) => value[k] !== undefined);
  if (keys.length === 0) return "{}";
  return (
    "{\n" +
    keys.map((k) => next + JSON.stringify(k) + ": " + format(value[k], next)).join(",\n") +
    "\n" +
    indent +
    "}"
  );
}

function diffSummary(oldText, newText) {
  const lines = [];
  let oldDoc;
  try {
    oldDoc = JSON.parse(oldText);
  } catch (e) {
    return [`committed file is not valid JSON: ${e.message}`];
  }
  const newDoc = JSON.parse(newText);
  for (const key of new Set([...Object.keys(oldDoc), ...Object.keys(newDoc)])) {
    if (key === "cases") continue;
    if (JSON.stringify(oldDoc[key]) !== JSON.stringify(newDoc[key])) {
      lines.push(`~ ${key}: ${JSON.stringify(oldDoc[key])} -> ${JSON.stringify(newDoc[key])}`);
    }
  }
  const oldCases = new Map((oldDoc.cases || []).map((c) => [c.name, c]));
  const newCases = new Map((newDoc.cases || []).map((c) => [c.name, c]));
  const added = [...newCases.keys()].filter((n) => !oldCases.has(n));
  const removed = [...oldCases.keys()].filter((n) => !newCases.has(n));
  const changed = [];
  for (const [name, c] of newCases) {
    const o = oldCases.get(name);
    if (!o) continue;
    const fields = [...new Set([...Object.keys(o), ...Object.keys(c)])].filter(
      (k) => JSON.stringify(o[k]) !== JSON.stringify(c[k])
    );
    if (fields.length) changed.push(`${name} (${fields.join(", ")})`);
  }
  const orderOld = (oldDoc.cases || []).map((c) => c.name).filter((n) => newCases.has(n));
  const orderNew = (newDoc.cases || []).map((c) => c.name).filter((n) => oldCases.has(n));
  if (JSON.stringify(orderOld) !== JSON.stringify(orderNew)) lines.push("~ case order changed");
  const list = (sign, title, items) => {
    if (!items.length) return;
    lines.push(`${title}: ${items.length}`);
    for (const item of items.slice(0, 25)) lines.push(`  ${sign} ${item}`);
    if (items.length > 25) lines.push(`  ... and ${items.length - 25} more`);
  };
  list("+", "cases added", added);
  list("-", "cases removed", removed);
  list("~", "cases changed", changed);
  if (!lines.length) lines.push("files differ only in formatting/whitespace");
  return lines;
}

module.exports = { format, diffSummary };
