#!/usr/bin/env node
// Checks the wire contract's documents, and captured traffic against them.
//
//   node tools/validate/validate.mjs docs
//   node tools/validate/validate.mjs messages FILE...
//   node tools/validate/validate.mjs http FILE...
//
// Run from anywhere: docs/ is found two levels above this script (the
// repository root). Exit 0 when everything passes, 1 on any problem (each
// printed on a line of its own), 2 on bad usage. Install the dependencies
// first with `npm ci --prefix tools/validate`.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import SwaggerParser from '@apidevtools/swagger-parser';
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOCS = path.join(ROOT, 'docs');
const SCHEMAS = path.join(DOCS, 'schemas');
const OPENAPI = path.join(DOCS, 'openapi.yaml');
const ASYNCAPI = path.join(DOCS, 'asyncapi.yaml');

const COMMAND_SCHEMAS = { CreatePost: 'create-post.json', UpdatePost: 'update-post.json', DeletePost: 'delete-post.json' };
const EVENT_SCHEMAS = { PostCreated: 'post-created.json', PostUpdated: 'post-updated.json', PostDeleted: 'post-deleted.json' };
const DEAD_LETTER_SCHEMA = 'dead-letter.json';
const EVENT_CONTENT_TYPE = 'application/cloudevents+json';

const USAGE = `usage: node tools/validate/validate.mjs docs
       node tools/validate/validate.mjs messages FILE...
       node tools/validate/validate.mjs http FILE...

  docs      parse and validate docs/openapi.yaml (OpenAPI 3.1) and
            docs/asyncapi.yaml (AsyncAPI 3), compile every docs/schemas/*.json
            (JSON Schema 2020-12) and check the examples in all of them
  messages  each FILE: one Kafka message a line, {"topic", "partition",
            "offset", "timestamp", "key", "headers", "value"}; checks each
            against the schema its topic and type call for. A line that is
            a bare CloudEvent (postctl tail events) is checked by its type.
  http      each FILE: one HTTP exchange a line, {"method", "path", "status",
            "headers", "body"}; checks each against docs/openapi.yaml`;

let problems = 0;
function problem(line) {
  problems++;
  console.log(`FAIL ${line}`);
}

function rel(p) {
  return path.relative(process.cwd(), p) || p;
}

function ajvErrors(errors) {
  return (errors || [])
    .map((e) => {
      const where = e.instancePath || '(root)';
      const extra = e.params && e.params.additionalProperty ? ` '${e.params.additionalProperty}'`
        : e.params && e.params.unevaluatedProperty ? ` '${e.params.unevaluatedProperty}'`
        : e.params && e.params.allowedValues ? ` ${JSON.stringify(e.params.allowedValues)}`
        : e.params && e.params.allowedValue !== undefined ? ` ${JSON.stringify(e.params.allowedValue)}`
        : '';
      return `${where} ${e.message}${extra}`;
    })
    .join('; ');
}

function newAjv(strict) {
  const ajv = new Ajv2020({
    allErrors: true,
    allowUnionTypes: true,
    strict,
    strictTypes: false, // "properties" in an if/then without "type" is fine here
    strictRequired: false,
    logger: strict ? undefined : false,
  });
  addFormats(ajv);
  return ajv;
}

// Every docs/schemas/*.json added to one Ajv under its file name, which is
// also its $id, so that "post.json" and "post.json#/properties/post_id"
// resolve between them. Returns { ajv, names, load problems }.
function loadSchemas({ strict = true, report = problem } = {}) {
  const ajv = newAjv(strict);
  const names = readdirSync(SCHEMAS).filter((f) => f.endsWith('.json')).sort();
  const schemas = {};
  for (const name of names) {
    const file = path.join(SCHEMAS, name);
    let schema;
    try {
      schema = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      report(`${rel(file)}: not JSON: ${e.message}`);
      continue;
    }
    if (schema.$schema !== 'https://json-schema.org/draft/2020-12/schema')
      report(`${rel(file)}: $schema must be https://json-schema.org/draft/2020-12/schema`);
    if (schema.$id !== name)
      report(`${rel(file)}: $id must be its file name, "${name}", so that the others can refer to it`);
    try {
      ajv.addSchema(schema, schema.$id === name ? undefined : name);
      schemas[name] = schema;
    } catch (e) {
      report(`${rel(file)}: ${e.message}`);
    }
  }
  return { ajv, names: Object.keys(schemas), schemas, files: names };
}

function validatorFor(ajv, name) {
  const v = ajv.getSchema(name);
  if (!v) throw new Error(`schema ${name} is missing from docs/schemas`);
  return v;
}

// ---------------------------------------------------------------- docs

async function checkOpenApi() {
  const before = problems;
  let api;
  try {
    // validate() parses, resolves every $ref (docs/schemas included) and
    // checks the document against the OpenAPI 3.1 schema, which does not
    // look inside Schema Objects: they are compiled below.
    api = await SwaggerParser.validate(OPENAPI);
  } catch (e) {
    problem(`${rel(OPENAPI)}: ${e.message.split('\n').join(' | ')}`);
    return;
  }
  if (!String(api.openapi).startsWith('3.1.')) problem(`${rel(OPENAPI)}: openapi is ${api.openapi}, not 3.1.x`);
  // Every Schema Object, strictly (an unknown keyword or a bad type is an
  // error; OpenAPI's own keywords are allowed), and every example against
  // its schema.
  const ajv = newAjv(true);
  ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
  const deref = stripIds(await SwaggerParser.dereference(OPENAPI));
  let schemas = 0;
  let examples = 0;
  const check = (where, schema, exampleList = []) => {
    if (!schema) return;
    let v;
    try {
      v = ajv.compile(schema);
      schemas++;
    } catch (e) {
      problem(`${rel(OPENAPI)}: ${where}: ${e.message}`);
      return;
    }
    for (const [k, value] of exampleList) {
      examples++;
      if (!v(value)) problem(`${rel(OPENAPI)}: ${where} ${k}: ${ajvErrors(v.errors)}`);
    }
  };
  const examplesOf = (o) => [
    ...('example' in o ? [['example', o.example]] : []),
    ...Object.entries(o.examples || {}).map(([k, ex]) => [`examples.${k}`, ex.value]),
  ];
  const checkParams = (where, params) => {
    for (const prm of params || []) check(`${where} parameter ${prm.name}`, prm.schema, examplesOf(prm));
  };
  for (const [name, schema] of Object.entries((deref.components || {}).schemas || {}))
    check(`components.schemas.${name}`, schema);
  for (const [p, item] of Object.entries(deref.paths || {})) {
    checkParams(p, item.parameters);
    for (const [method, op] of Object.entries(item)) {
      if (!op || typeof op !== 'object' || !op.responses) continue;
      const at = `${method.toUpperCase()} ${p}`;
      checkParams(at, op.parameters);
      for (const [status, resp] of Object.entries(op.responses)) {
        for (const [name, h] of Object.entries(resp.headers || {})) check(`${at} ${status} header ${name}`, h.schema);
        for (const [type, media] of Object.entries(resp.content || {}))
          check(`${at} ${status} ${type}`, media.schema, examplesOf(media));
      }
    }
  }
  if (problems === before)
    console.log(`ok   ${rel(OPENAPI)}: OpenAPI ${api.openapi}, ${Object.keys(api.paths).length} paths, ${schemas} schemas, ${examples} examples`);
}

async function checkAsyncApi() {
  const parser = new Parser();
  let result;
  try {
    // fromFile gives the parser the file's location, so that the relative
    // $refs to ./schemas/*.json resolve.
    result = await fromFile(parser, ASYNCAPI).parse();
  } catch (e) {
    problem(`${rel(ASYNCAPI)}: ${e.message}`);
    return;
  }
  const { document, diagnostics } = result;
  let errors = 0;
  for (const d of diagnostics) {
    const file = d.source && d.source !== ASYNCAPI ? d.source : ASYNCAPI;
    const where = `${rel(file)}:${d.range ? d.range.start.line + 1 : '?'}`;
    const line = `${where}: ${d.code}: ${d.message}${d.path && d.path.length ? ` (at ${d.path.join('.')})` : ''}`;
    if (d.severity === DiagnosticSeverity.Error) {
      errors++;
      problem(line);
    } else {
      console.log(`note ${line}`);
    }
  }
  if (!document) {
    if (!errors) problem(`${rel(ASYNCAPI)}: the parser gave no document`);
    return;
  }
  const version = document.version();
  if (!String(version).startsWith('3.')) problem(`${rel(ASYNCAPI)}: asyncapi is ${version}, not 3.x`);
  if (!errors)
    console.log(`ok   ${rel(ASYNCAPI)}: AsyncAPI ${version}, ${document.channels().length} channels, ${document.messages().length} messages`);
}

// The docs/schemas files a schema refers to.
function refsOf(node, out = new Set()) {
  if (Array.isArray(node)) node.forEach((v) => refsOf(v, out));
  else if (node && typeof node === 'object')
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && !v.startsWith('#')) out.add(v.split('#')[0]);
      else refsOf(v, out);
    }
  return out;
}

function checkSchemas() {
  const before = problems;
  const { ajv, names, schemas, files } = loadSchemas();
  // Compiled leaves first, so that a broken schema is reported once, not
  // again by every schema that refers to it.
  const order = [];
  const visit = (name, stack = []) => {
    if (order.includes(name) || stack.includes(name) || !schemas[name]) return;
    for (const dep of refsOf(schemas[name])) visit(dep, [...stack, name]);
    order.push(name);
  };
  names.forEach((n) => visit(n));
  const broken = new Set();
  let examples = 0;
  for (const name of order) {
    const file = rel(path.join(SCHEMAS, name));
    const deps = [...refsOf(schemas[name])];
    const missing = deps.filter((d) => d !== name && !schemas[d]);
    if (missing.length) problem(`${file}: refers to ${missing.join(', ')}, not in ${rel(SCHEMAS)}`);
    if (missing.length || deps.some((d) => broken.has(d))) {
      broken.add(name);
      continue;
    }
    let v;
    try {
      v = validatorFor(ajv, name);
    } catch (e) {
      broken.add(name);
      problem(`${file}: ${e.message}`);
      continue;
    }
    for (const [i, ex] of (schemas[name].examples || []).entries()) {
      examples++;
      if (!v(ex)) problem(`${file}: examples[${i}]: ${ajvErrors(v.errors)}`);
    }
  }
  for (const name of [...Object.values(COMMAND_SCHEMAS), ...Object.values(EVENT_SCHEMAS), DEAD_LETTER_SCHEMA])
    if (!files.includes(name)) problem(`${rel(SCHEMAS)}: ${name} is missing`);
  if (problems === before) console.log(`ok   ${rel(SCHEMAS)}: ${names.length} schemas compiled, ${examples} examples`);
}

async function cmdDocs() {
  await checkOpenApi();
  await checkAsyncApi();
  checkSchemas();
}

// ---------------------------------------------------------------- input files

// Yields [lineNumber, object] for every non-empty line of file; a line that
// is not a JSON object is a problem.
function* jsonLines(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    problem(`${file}: ${e.message}`);
    return;
  }
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    let obj;
    try {
      obj = JSON.parse(lines[i]);
    } catch (e) {
      problem(`${file}:${i + 1}: not a JSON line: ${e.message}`);
      continue;
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
      problem(`${file}:${i + 1}: not a JSON object`);
      continue;
    }
    yield [i + 1, obj];
  }
}

function tryJson(text) {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const ENVELOPE_SCHEMA = {
  type: 'object',
  required: ['topic', 'partition', 'offset', 'headers', 'key', 'value'],
  properties: {
    topic: { type: 'string', minLength: 1 },
    partition: { type: 'integer', minimum: 0 },
    offset: { type: 'integer', minimum: 0 },
    timestamp: { type: 'string' },
    key: { type: ['string', 'null'] },
    headers: { type: 'object', additionalProperties: { type: ['string', 'null'] } },
    value: { type: ['string', 'null'] },
  },
};

function printCounts(title, counts) {
  const names = Object.keys(counts).sort();
  for (const n of names) {
    const c = counts[n];
    console.log(`${title} ${n}: ${c.ok} ok, ${c.failed} failed`);
  }
}

// ---------------------------------------------------------------- messages

async function cmdMessages(files) {
  const { ajv } = loadSchemas({ strict: false });
  if (problems) return;
  const envelopeOk = newAjv(false).compile(ENVELOPE_SCHEMA);
  const counts = {};
  const count = (schema, ok) => {
    counts[schema] ||= { ok: 0, failed: 0 };
    counts[schema][ok ? 'ok' : 'failed']++;
  };
  const skipped = {};
  const skip = (why) => (skipped[why] = (skipped[why] || 0) + 1);
  // Commands that break their schema wait until every file is read: one the
  // worker itself dead-lettered as malformed or validation_failed (its dead
  // letter among the files) was meant to be bad, and is only counted.
  const badCommands = [];
  const deadLettered = new Map(); // "topic/partition/offset" -> "kind/code"

  for (const file of files) {
    let n = 0;
    for (const [lineNo, m] of jsonLines(file)) {
      n++;
      const at = `${file}:${lineNo}`;
      if (!('topic' in m) && 'specversion' in m) {
        // A bare CloudEvent, as `postctl tail events|commands` prints a
        // value: checked by its type, without the key and header checks.
        const schema = EVENT_SCHEMAS[m.type] || COMMAND_SCHEMAS[m.type];
        if (!schema) {
          count('event', false);
          problem(`${at}: a bare CloudEvent of unknown type ${JSON.stringify(m.type)}`);
          continue;
        }
        const v = validatorFor(ajv, schema);
        if (v(m)) count(schema, true);
        else {
          count(schema, false);
          problem(`${at}: ${schema}: ${ajvErrors(v.errors)}`);
        }
        continue;
      }
      if (!envelopeOk(m)) {
        problem(`${at}: not a message envelope: ${ajvErrors(envelopeOk.errors)}`);
        continue;
      }
      const where = `${at}: ${m.topic} ${m.partition}/${m.offset}`;
      const fail = (schema, why) => {
        count(schema, false);
        problem(`${where}: ${schema}: ${why}`);
      };
      if (m.topic.endsWith('.dlq')) {
        const v = validatorFor(ajv, DEAD_LETTER_SCHEMA);
        const h = m.headers;
        const whys = [];
        if (!v(h)) whys.push(`headers: ${ajvErrors(v.errors)}`);
        if ('dlq.value.dropped' in h && m.value !== null) whys.push('dlq.value.dropped is set but the message has a value');
        if ('dlq.key.dropped' in h && m.key !== null) whys.push('dlq.key.dropped is set but the message has a key');
        if (whys.length) fail(DEAD_LETTER_SCHEMA, whys.join('; '));
        else count(DEAD_LETTER_SCHEMA, true);
        if (typeof h['dlq.original.topic'] === 'string')
          deadLettered.set(
            `${h['dlq.original.topic']}/${h['dlq.original.partition']}/${h['dlq.original.offset']}`,
            `${h['dlq.error.kind']}/${h['dlq.error.code']}`,
          );
      } else if (m.topic.includes('events')) {
        const ev = tryJson(m.value);
        if (!isObject(ev)) {
          fail('event', m.value === null ? 'the message has no value' : 'the value is not a JSON object');
          continue;
        }
        const schema = EVENT_SCHEMAS[ev.type];
        if (!schema) {
          fail('event', `unknown event type ${JSON.stringify(ev.type)}`);
          continue;
        }
        const v = validatorFor(ajv, schema);
        const whys = [];
        if (!v(ev)) whys.push(ajvErrors(v.errors));
        const headers = lowerKeys(m.headers);
        if (headers['content-type'] !== EVENT_CONTENT_TYPE)
          whys.push(`header content-type is ${JSON.stringify(headers['content-type'])}, not ${EVENT_CONTENT_TYPE}`);
        const postId = isObject(ev.data) ? ev.data.post_id : undefined;
        if (m.key !== postId) whys.push(`key ${JSON.stringify(m.key)} is not data.post_id ${JSON.stringify(postId)}`);
        if (ev.subject !== postId) whys.push(`subject ${JSON.stringify(ev.subject)} is not data.post_id ${JSON.stringify(postId)}`);
        for (const t of ['traceparent', 'tracestate'])
          if ((ev[t] ?? null) !== (headers[t] ?? null))
            whys.push(`header ${t} ${JSON.stringify(headers[t] ?? null)} is not the attribute's ${JSON.stringify(ev[t] ?? null)}`);
        if (whys.length) fail(schema, whys.join('; '));
        else count(schema, true);
      } else if (m.topic.includes('commands')) {
        const cmd = commandOf(m);
        if (typeof cmd === 'string') {
          skip(cmd);
          continue;
        }
        const schema = COMMAND_SCHEMAS[cmd.type];
        const v = validatorFor(ajv, schema);
        if (v(cmd)) count(schema, true);
        else badCommands.push({ where, schema, key: `${m.topic}/${m.partition}/${m.offset}`, why: ajvErrors(v.errors) });
      } else {
        problem(`${where}: cannot tell the schema from the topic (neither .dlq, events nor commands)`);
      }
    }
    if (n === 0) problem(`${file}: holds no message`);
  }
  for (const b of badCommands) {
    const dl = deadLettered.get(b.key);
    if (dl && (dl.startsWith('malformed/') || dl === 'rejected/validation_failed')) {
      skip(`dead-lettered as ${dl}`);
      continue;
    }
    count(b.schema, false);
    problem(`${b.where}: ${b.schema}: ${b.why}${dl ? ` (dead-lettered as ${dl})` : ''}`);
  }
  printCounts('schema', counts);
  for (const [why, n] of Object.entries(skipped).sort()) console.log(`skipped ${n} command(s): ${why}`);
}

function lowerKeys(obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj || {})) out[k.toLowerCase()] = v;
  return out;
}

// The command in a commands-topic message as a structured-mode CloudEvent,
// or a string saying why it is not checked: only a message whose envelope
// is JSON (or ce_ headers) with specversion "1.0" and a command type is; the
// rest are malformed or unsupported on purpose or by accident, and the
// worker dead-letters them.
function commandOf(m) {
  const h = m.headers;
  if ('ce_specversion' in h) {
    if (h.ce_specversion !== '1.0') return 'binary mode, ce_specversion is not "1.0"';
    if (!(h.ce_type in COMMAND_SCHEMAS)) return 'binary mode, ce_type is not a command type';
    const data = tryJson(m.value);
    if (!isObject(data)) return 'binary mode, the value is not a JSON object';
    const cmd = {};
    for (const [k, v] of Object.entries(h)) if (k.startsWith('ce_') && v !== null) cmd[k.slice(3)] = v;
    cmd.data = data;
    return cmd;
  }
  const cmd = tryJson(m.value);
  if (!isObject(cmd)) return 'the value is not a JSON object';
  if (cmd.specversion !== '1.0') return 'specversion is not "1.0"';
  if (!(cmd.type in COMMAND_SCHEMAS)) return 'type is not a command type';
  return cmd;
}

// ---------------------------------------------------------------- http

// Removes $schema and $id from the subschemas a dereferenced document has
// inlined from docs/schemas: Ajv takes them for roots of their own.
function stripIds(node, seen = new Set()) {
  if (!node || typeof node !== 'object' || seen.has(node)) return node;
  seen.add(node);
  if (!Array.isArray(node)) {
    delete node.$schema;
    delete node.$id;
  }
  for (const v of Object.values(node)) stripIds(v, seen);
  return node;
}

function routesOf(api) {
  return Object.keys(api.paths)
    .map((template) => {
      const names = [];
      const re = template
        .split(/(\{[^}]+\})/)
        .map((part) => {
          const m = /^\{([^}]+)\}$/.exec(part);
          if (m) {
            names.push(m[1]);
            return '([^/]+)';
          }
          return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        })
        .join('');
      return { template, names, re: new RegExp(`^${re}$`), literal: names.length === 0 };
    })
    .sort((a, b) => Number(b.literal) - Number(a.literal)); // /posts/x before /posts/{post_id}
}

function essence(contentType) {
  return String(contentType || '').split(';')[0].trim().toLowerCase();
}

async function cmdHttp(files) {
  let api;
  try {
    api = stripIds(await SwaggerParser.dereference(OPENAPI));
  } catch (e) {
    problem(`${rel(OPENAPI)}: ${e.message}`);
    return;
  }
  const routes = routesOf(api);
  const ajv = newAjv(false);
  const compiled = new Map();
  const compile = (schema) => {
    if (!compiled.has(schema)) compiled.set(schema, ajv.compile(schema));
    return compiled.get(schema);
  };
  const counts = {};
  const count = (key, ok) => {
    counts[key] ||= { ok: 0, failed: 0 };
    counts[key][ok ? 'ok' : 'failed']++;
  };
  const exchangeOk = newAjv(false).compile({
    type: 'object',
    required: ['method', 'path', 'status'],
    properties: {
      method: { type: 'string' },
      path: { type: 'string', pattern: '^/' },
      status: { type: 'integer', minimum: 100, maximum: 599 },
      headers: { type: 'object' },
      body: { type: ['string', 'null'] },
    },
  });

  for (const file of files) {
    let n = 0;
    for (const [lineNo, x] of jsonLines(file)) {
      n++;
      const at = `${file}:${lineNo}`;
      if (!exchangeOk(x)) {
        problem(`${at}: not an HTTP exchange: ${ajvErrors(exchangeOk.errors)}`);
        continue;
      }
      const method = x.method.toLowerCase();
      const pathOnly = x.path.split('?')[0].split('#')[0];
      const where = `${at}: ${x.method} ${x.path} ${x.status}`;
      const route = routes.find((r) => r.re.test(pathOnly));
      if (!route) {
        count('(unknown path)', false);
        problem(`${where}: no path of the OpenAPI document matches ${pathOnly}`);
        continue;
      }
      const item = api.paths[route.template];
      const key = `${x.method.toUpperCase()} ${route.template} ${x.status}`;
      const fail = (why) => {
        count(key, false);
        problem(`${where}: ${why}`);
      };
      // HEAD answers as GET does; any other method is a 405, documented on the GET.
      let op = item[method] || (method === 'head' ? item.get : undefined);
      if (!op && x.status === 405) op = item.get;
      if (!op) {
        fail(`${x.method} is not documented on ${route.template}`);
        continue;
      }
      const status = String(x.status);
      const resp = op.responses[status] || op.responses[`${status[0]}XX`] || op.responses.default;
      if (!resp) {
        fail(`status ${status} is not documented for ${method.toUpperCase()} ${route.template}`);
        continue;
      }
      const headers = lowerKeys(x.headers);
      const whys = [];
      // Documented response headers: required ones present, each fitting its schema.
      for (const [name, h] of Object.entries(resp.headers || {})) {
        const value = headers[name.toLowerCase()];
        if (value === undefined || value === null) {
          if (h.required) whys.push(`header ${name} is missing`);
          continue;
        }
        if (h.schema) {
          const v = compile(h.schema);
          if (!v(value)) whys.push(`header ${name} ${JSON.stringify(value)}: ${ajvErrors(v.errors)}`);
        }
      }
      const body = x.body ?? '';
      const content = resp.content || {};
      const noBody = method === 'head' || x.status === 304;
      if (noBody || Object.keys(content).length === 0) {
        if (body !== '' && (method === 'head' || x.status === 304 || x.status === 204))
          whys.push(`a ${method === 'head' ? 'HEAD answer' : x.status} must have no body`);
      } else {
        const got = essence(headers['content-type']);
        const documented = Object.keys(content);
        const mediaKey = documented.find((k) => essence(k) === got);
        if (!mediaKey) {
          whys.push(`content-type ${JSON.stringify(headers['content-type'] ?? null)} is not one documented (${documented.join(', ')})`);
        } else if (essence(mediaKey) === 'application/json' || essence(mediaKey).endsWith('+json')) {
          let doc;
          try {
            doc = JSON.parse(body);
          } catch (e) {
            whys.push(`body is not JSON: ${e.message}`);
          }
          const schema = content[mediaKey].schema;
          if (doc !== undefined && schema) {
            const v = compile(schema);
            if (!v(doc)) whys.push(`body: ${ajvErrors(v.errors)}`);
            // The ETag of a post is its version, quoted.
            if (route.template === '/posts/{post_id}' && isObject(doc) && headers.etag !== undefined &&
                headers.etag !== `"${doc.version}"`)
              whys.push(`ETag ${headers.etag} is not the version in double quotes ("${doc.version}")`);
          }
        } // text/plain and the like: the media type is checked, not the body
      }
      if (whys.length) fail(whys.join('; '));
      else count(key, true);
    }
    if (n === 0) problem(`${file}: holds no exchange`);
  }
  printCounts('response', counts);
}

// ---------------------------------------------------------------- main

async function main(argv) {
  const [sub, ...files] = argv;
  const started = Date.now();
  if (sub === 'docs' && files.length === 0) await cmdDocs();
  else if (sub === 'messages' && files.length) await cmdMessages(files);
  else if (sub === 'http' && files.length) await cmdHttp(files);
  else if (sub === '--help' || sub === '-h') {
    console.log(USAGE);
    return 0;
  } else {
    console.error(USAGE);
    return 2;
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(problems ? `${sub}: ${problems} problem(s) (${secs} s)` : `${sub}: all good (${secs} s)`);
  return problems ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`validate: ${e.stack || e}`);
    process.exit(1);
  },
);
