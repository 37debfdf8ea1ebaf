// Validates Kubernetes objects (JSON files, or one JSON document on stdin with "-") against
// the Kubernetes OpenAPI schema that npm's kubernetes-models (pinned in package.json)
// compiles into validators, and fails on unknown fields too.
//
// The compiled validators read every property their schema knows (and every key of a
// map-typed member) and ignore the rest. So each object is wrapped in a Proxy that records
// the keys read; after validation, a key of an object that the validator never read is a
// field the schema does not know: "unknown field <path>". Exit status 0 when every object
// is valid, 1 otherwise, with one line per problem.
import { readFileSync } from "node:fs";
import * as core from "kubernetes-models/v1";
import * as networking from "kubernetes-models/networking.k8s.io/v1";

const kinds = {
  "v1/Pod": core.Pod,
  "v1/Service": core.Service,
  "v1/Namespace": core.Namespace,
  "v1/Secret": core.Secret,
  "v1/Node": core.Node,
  "networking.k8s.io/v1/NetworkPolicy": networking.NetworkPolicy,
};

// Wraps `value` (deeply) so that reads are recorded in `seen` (object -> Set of keys).
function track(value, seen) {
  if (value === null || typeof value !== "object") return value;
  const keys = new Set();
  seen.set(value, keys);
  const wrapped = Array.isArray(value) ? value.map((v) => track(v, seen)) : Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, track(v, seen)]));
  const origin = value;
  return new Proxy(wrapped, {
    get(target, key, receiver) {
      if (typeof key === "string") seen.get(origin).add(key);
      return Reflect.get(target, key, receiver);
    },
  });
}

function unknownFields(value, seen, path, out) {
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => unknownFields(v, seen, `${path}[${i}]`, out));
    return;
  }
  const read = seen.get(value);
  for (const [k, v] of Object.entries(value)) {
    const p = path ? `${path}.${k}` : k;
    if (!read.has(k)) out.push(p);
    else unknownFields(v, seen, p, out);
  }
}

export function validate(obj) {
  const problems = [];
  const key = `${obj.apiVersion}/${obj.kind}`;
  const Model = kinds[key];
  if (!Model) return [`no schema here for ${key}`];
  const seen = new Map();
  const tracked = track(obj, seen);
  try {
    // The model's validate() checks `this`, a copy of the data: validate the tracked
    // object through the model's own compiled function instead.
    Model.prototype.validate.call(tracked);
  } catch (e) {
    problems.push(e.message);
  }
  const unknown = [];
  // apiVersion and kind are the type meta the model reads before validating.
  unknownFields(obj, seen, "", unknown);
  for (const u of unknown) if (u !== "apiVersion" && u !== "kind") problems.push(`unknown field ${u}`);
  return problems;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.mjs FILE.json... | -");
  process.exit(2);
}
let failed = false;
for (const f of files) {
  const text = f === "-" ? readFileSync(0, "utf8") : readFileSync(f, "utf8");
  const problems = validate(JSON.parse(text));
  for (const p of problems) console.log(`${f}: ${p}`);
  if (problems.length) failed = true;
}
process.exit(failed ? 1 : 0);
