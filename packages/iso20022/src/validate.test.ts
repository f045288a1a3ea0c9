import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { schemaPath, validateXml, xml_bytes_max } from './validate';
import { xmllint_skipped } from './testing';

const sample = readFileSync(new URL('../schemas/pain.001.001.09.xml', import.meta.url), 'utf8');

describe('the schemas in the repository', () => {
  it('are here, inside the package, for every message', () => {
    expect(schemaPath('camt.053.001.08')).toMatch(/packages\/iso20022\/schemas\/camt\.053\.001\.08\.xsd$/);
  });
});

describe.skipIf(xmllint_skipped)('validateXml', () => {
  it('accepts the foreign sample pain.001', () => {
    expect(validateXml(sample, 'pain.001.001.09')).toEqual({ ok: true });
  });

  it('refuses an amount with a letter, naming the element', () => {
    const result = validateXml(sample.replace('150.00', '15O.00'), 'pain.001.001.09');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]).toMatch(/^line \d+: Element 'InstdAmt': '15O\.00' is not a valid value/);
  });

  it('refuses a missing required element, naming where it was expected', () => {
    const result = validateXml(sample.replace('<MsgId>1</MsgId>', ''), 'pain.001.001.09');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.join('\n')).toContain('Expected is ( MsgId )');
  });

  it('refuses a document of another message type, malformed XML, a DOCTYPE and an oversized file', () => {
    expect(validateXml(sample, 'camt.053.001.08').ok).toBe(false);
    expect(validateXml('<Document><a></Document>', 'pain.001.001.09').ok).toBe(false);
    const doctype = validateXml(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]>${sample.slice(sample.indexOf('<Document'))}`, 'pain.001.001.09');
    expect(doctype).toMatchObject({ ok: false, errors: [expect.stringContaining('DOCTYPE')] });
    expect(validateXml(' '.repeat(xml_bytes_max + 1), 'pain.001.001.09')).toMatchObject({ ok: false, errors: [expect.stringContaining('larger than')] });
  });
});

describe.skipIf(xmllint_skipped)('validateXml with a declared encoding', () => {
  it('validates the text it is given, whatever encoding the declaration names', () => {
    // 35 characters, but 36 bytes in UTF-8: read as ISO-8859-1 it would be 36 characters, too long for MsgId.
    const message_id = `é${'x'.repeat(34)}`;
    const latin = sample.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="ISO-8859-1"?>').replace('<MsgId>1</MsgId>', `<MsgId>${message_id}</MsgId>`);
    expect(validateXml(latin, 'pain.001.001.09')).toEqual({ ok: true });
  });
});
