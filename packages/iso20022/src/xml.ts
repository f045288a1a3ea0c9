// A small XML writer (every text escaped, every length checked against its schema type) and the
// helpers the readers use to walk what fast-xml-parser returns, which is untyped.
import { XMLParser } from 'fast-xml-parser';
import type { Iso20022ErrorCode } from './result';

/** One element to write: text content or child elements, and attributes. */
export interface XmlElement {
  readonly name: string;
  readonly attributes?: Readonly<Record<string, string>>;
  readonly text?: string;
  readonly children?: readonly (XmlElement | undefined)[];
}

/** Builds an element; undefined children (optional elements left out) are skipped when written. */
export function element(name: string, content: string | readonly (XmlElement | undefined)[], attributes?: Record<string, string>): XmlElement {
  return typeof content === 'string' ? { name, text: content, attributes } : { name, children: content, attributes };
}

/** The whole document: the declaration, then `Document` in the message's namespace. */
export function writeDocument(message: string, body: XmlElement): string {
  const root = element('Document', [body], { xmlns: `urn:iso:std:iso:20022:tech:xsd:${message}` });
  const lines: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  writeElement(root, 0, lines);
  return `${lines.join('\n')}\n`;
}

function writeElement(node: XmlElement, depth: number, lines: string[]): void {
  const indent = '  '.repeat(depth);
  const attributes = Object.entries(node.attributes ?? {})
    .map(([name, value]) => ` ${name}="${escapeXml(value)}"`)
    .join('');
  if (node.text !== undefined) {
    lines.push(`${indent}<${node.name}${attributes}>${escapeXml(node.text)}</${node.name}>`);
    return;
  }
  lines.push(`${indent}<${node.name}${attributes}>`);
  for (const child of node.children ?? []) if (child !== undefined) writeElement(child, depth + 1, lines);
  lines.push(`${indent}</${node.name}>`);
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * Whether every character can be carried through XML unchanged. XML 1.0 cannot carry most C0
 * controls, U+FFFE, U+FFFF or a lone surrogate even escaped, and every XML parser turns a carriage
 * return into a line feed, so a name or reference with any control character (tab and line breaks
 * included) is refused rather than silently changed.
 */
function isXmlText(text: string): boolean {
  for (const character of text) {
    const code = character.codePointAt(0) ?? 0;
    if (code < 0x20) return false;
    if (code >= 0xd800 && code <= 0xdfff) return false;
    if (code === 0xfffe || code === 0xffff) return false;
  }
  return true;
}

/**
 * Checks one text against a MaxNText type of the schemas (1 to N characters, counted as the schema
 * counts them, in code points) and returns a sentence naming the field when it breaks it.
 */
export function checkText(field: string, text: string, length_max: number): string | undefined {
  const length = [...text].length;
  if (length === 0) return `${field} is empty; the schema needs 1 to ${length_max} characters.`;
  if (length > length_max) return `${field} has ${length} characters; the schema allows at most ${length_max}.`;
  if (!isXmlText(text)) return `${field} has a control character (line breaks and tabs included), which XML cannot carry unchanged.`;
  if (text.trim() !== text) return `${field} starts or ends with white space, which readers would trim away.`;
  return undefined;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  // Every value stays text: an amount read as a JavaScript number would already be a float.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  htmlEntities: true,
});

/** Parses a document that validateXml has already accepted; returns the Document element's content. */
export function parseDocument(xml: string): unknown {
  const parsed: unknown = parser.parse(xml);
  return child(parsed, 'Document');
}

/**
 * Thrown while walking a parsed document that lacks what the reader needs or holds a value it
 * cannot take; readDocument turns it into a refusal with its code.
 */
export class XmlReadError extends Error {
  constructor(
    message: string,
    readonly code: Iso20022ErrorCode = 'xml_invalid',
  ) {
    super(message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The one child element of that name, or undefined. A repeated element where one was expected is an error. */
export function child(node: unknown, name: string): unknown {
  if (!isRecord(node)) return undefined;
  const value = node[name];
  if (Array.isArray(value)) throw new XmlReadError(`Element '${name}' appears more than once where one was expected.`);
  return value;
}

/** Every child element of that name, in document order. */
export function children(node: unknown, name: string): unknown[] {
  if (!isRecord(node)) return [];
  const value = node[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as unknown[]) : [value];
}

/** The text of the element at the end of `path`, or undefined when it is absent. */
export function optionalText(node: unknown, ...path: string[]): string | undefined {
  let current = node;
  for (const name of path) current = child(current, name);
  if (typeof current === 'string') return current;
  if (isRecord(current) && typeof current['#text'] === 'string') return current['#text'];
  if (isRecord(current) && Object.keys(current).every((key) => key.startsWith('@_'))) return '';
  return undefined;
}

/** The text of the element at the end of `path`; its absence is an error naming the element. */
export function requiredText(node: unknown, ...path: string[]): string {
  const text = optionalText(node, ...path);
  if (text === undefined) throw new XmlReadError(`Element '${path.join('/')}' is missing.`);
  return text;
}

/** An attribute of the element at the end of `path`. */
export function attribute(node: unknown, name: string, ...path: string[]): string | undefined {
  let current = node;
  for (const step of path) current = child(current, step);
  if (!isRecord(current)) return undefined;
  const value = current[`@_${name}`];
  return typeof value === 'string' ? value : undefined;
}
