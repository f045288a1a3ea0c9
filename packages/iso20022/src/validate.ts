// Every file Paygrid writes, and every file it reads, is checked against its XSD first, with
// libxml2's xmllint (Debian libxml2-utils): a complete schema validator, where the npm XML parsers
// check only that the text is well formed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The messages this package writes or reads, each with its XSD in ../schemas. */
export const message_types = [
  'pain.001.001.09',
  'pain.002.001.10',
  'pacs.008.001.08',
  'pacs.002.001.10',
  'camt.053.001.08',
  'camt.054.001.08',
] as const;
export type MessageType = (typeof message_types)[number];

/** Where Debian installs xmllint; the tests require it under CI=true. */
export const xmllint_path = '/usr/bin/xmllint';

/** A bank file larger than this is refused unread: the largest batch we send is far smaller. */
export const xml_bytes_max = 32 * 1024 * 1024;
/** xmllint validates 32 MiB in a few seconds; beyond this it is stuck, and the file is refused. */
export const xmllint_timeout_ms = 30_000;
/** xmllint writes one line per error; more than this much of them is cut off. */
export const xmllint_output_bytes_max = 1024 * 1024;
/** The number of error lines returned; the first ones say enough to fix a file. */
export const validation_errors_max = 20;

export type ValidationResult = { readonly ok: true } | { readonly ok: false; readonly errors: readonly string[] };

/**
 * The path of a message's XSD. Paths come only from this fixed table, never from input, so a file
 * cannot make xmllint read a schema of its choosing.
 */
export function schemaPath(message: MessageType): string {
  return fileURLToPath(new URL(`../schemas/${message}.xsd`, import.meta.url));
}

/** A DOCTYPE can declare entities; no ISO 20022 message has one, so none is let through. */
const doctype_pattern = /<!DOCTYPE/i;

/**
 * Validates a document against the XSD of `message`. The document goes to xmllint on stdin (no
 * shell, no temporary file), with --nonet so that nothing in it makes xmllint fetch from the
 * network. Each error names the element xmllint complained about, with its line.
 *
 * It runs xmllint synchronously: callers validate whole files, at most a few a second, and the
 * readers and writers built on it stay plain functions.
 */
export function validateXml(xml: string, message: MessageType): ValidationResult {
  if (Buffer.byteLength(xml, 'utf8') > xml_bytes_max) {
    return { ok: false, errors: [`the document is larger than ${xml_bytes_max} bytes, the limit for one ISO 20022 file.`] };
  }
  if (doctype_pattern.test(xml)) {
    return { ok: false, errors: ['the document has a DOCTYPE, which ISO 20022 messages never have; it is refused unread.'] };
  }
  if (!existsSync(xmllint_path)) {
    return { ok: false, errors: [`${xmllint_path} is missing: install Debian's libxml2-utils to validate ISO 20022 files.`] };
  }
  const run = spawnSync(xmllint_path, ['--noout', '--nonet', '--schema', schemaPath(message), '-'], {
    input: validateXmlInput(xml),
    encoding: 'utf8',
    timeout: xmllint_timeout_ms,
    maxBuffer: xmllint_output_bytes_max,
    env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
  });
  if (run.error !== undefined) {
    return { ok: false, errors: [`xmllint could not validate the document: ${run.error.message}`] };
  }
  if (run.status === 0) return { ok: true };
  const errors = validateXmlErrors(run.stderr);
  return { ok: false, errors: errors.length > 0 ? errors : [`xmllint refused the document (exit ${String(run.status)}) without saying why.`] };
}

/**
 * The document is already text, and Node writes it to xmllint as UTF-8, so an XML declaration
 * naming another encoding (ISO-8859-1, say) would make xmllint decode it wrongly and count the
 * characters of a Max35Text wrongly. The declaration is replaced by one that says UTF-8.
 */
function validateXmlInput(xml: string): string {
  const body = xml.replace(/^\uFEFF/, '');
  const declaration = /^<\?xml[^?]*\?>/.exec(body);
  return declaration === null ? body : `<?xml version="1.0" encoding="UTF-8"?>${body.slice(declaration[0].length)}`;
}

/**
 * Turns xmllint's stderr into one sentence per error: "-:38: element InstdAmt: Schemas validity
 * error : Element '{urn:…}InstdAmt': …" becomes "line 38: Element 'InstdAmt': …". The namespace is
 * dropped because every element of a message shares it; the element name is what a person needs.
 */
function validateXmlErrors(stderr: string): string[] {
  const errors: string[] = [];
  for (const line of stderr.split('\n')) {
    if (errors.length >= validation_errors_max) break;
    const match = /^-:(\d+): (?:element [^:]*: )?(?:Schemas validity error|parser error|namespace error|validity error) : (.*)$/.exec(line);
    if (match === null) continue;
    errors.push(`line ${match[1] ?? '?'}: ${(match[2] ?? '').replace(/\{[^}]*\}/g, '')}`);
  }
  return errors;
}
