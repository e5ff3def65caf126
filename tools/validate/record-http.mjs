// node tools/validate/record-http.mjs METHOD PATH STATUS HEADERS BODY
// Prints one HTTP exchange as a line for `validate.mjs http`: HEADERS is a
// file of the answer's header lines (curl -D), BODY a file of its body.
import { readFileSync } from 'node:fs';

const [method, path, status, headerFile, bodyFile] = process.argv.slice(2);
const headers = {};
for (const line of readFileSync(headerFile, 'latin1').split(/\r?\n/)) {
  const at = line.indexOf(':');
  if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
}
const body = readFileSync(bodyFile, 'utf8');
process.stdout.write(JSON.stringify({ method, path, status: Number(status), headers, body }) + '\n');
