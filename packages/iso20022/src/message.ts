// The two ends every message goes through: a writer's document is validated before it is handed
// out, and a reader's input is validated before a single value is taken from it.
import { refuse, type Iso20022Result } from './result';
import { validateXml, type MessageType } from './validate';
import { parseDocument, writeDocument, XmlReadError, type XmlElement } from './xml';

/**
 * Writes the document and validates it against its XSD. The writers check their input first, so a
 * failure here is a bug in a writer; it is still returned as a refusal, never as a file.
 */
export function finishDocument(message: MessageType, body: XmlElement): Iso20022Result<string> {
  const xml = writeDocument(message, body);
  const validation = validateXml(xml, message);
  if (!validation.ok) return refuse('xml_invalid', ...validation.errors);
  return { ok: true, value: xml };
}

/**
 * Validates `xml` against the XSD of `message`, then hands the parsed Document to `read`. Whatever
 * `read` finds missing or malformed comes back as a refusal naming the element; nothing is
 * returned from a file that fails either step.
 */
export function readDocument<Value>(xml: string, message: MessageType, read: (document: unknown) => Iso20022Result<Value>): Iso20022Result<Value> {
  const validation = validateXml(xml, message);
  if (!validation.ok) return refuse('xml_invalid', ...validation.errors);
  try {
    return read(parseDocument(xml));
  } catch (error) {
    if (error instanceof XmlReadError) return refuse(error.code, error.message);
    throw error;
  }
}
