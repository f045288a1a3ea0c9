// The HTTP transport to a card acquirer: the same CardAcquirer interface as the in-process
// simulator, over the simulator server's JSON API. Anything but a well-formed answer throws, and
// the card connector turns a throw into "outcome unknown" (never into a decline: the acquirer may
// have acted before the answer was lost).
import { exchange, type HttpAnswer } from '../internal/http';
import { parseJsonRecord, type JsonRecord } from '../internal/json';
import type { ProviderStatus } from '../connector';
import type {
  AcquirerAuthorizeRequest,
  AcquirerAuthorizeResult,
  AcquirerCallOptions,
  AcquirerCaptureRequest,
  AcquirerOperationResult,
  AcquirerRefundRequest,
  AcquirerVoidRequest,
  CardAcquirer,
} from './acquirer';
import {
  acquirer_paths,
  readAuthorizeResult,
  readOperationResult,
  readProviderStatus,
  writeAmountOperation,
  writeAuthorizeRequest,
  type WireRead,
} from './wire';

export function createHttpCardAcquirer(url: string): CardAcquirer {
  const base = url.endsWith('/') ? url.slice(0, -1) : url;

  async function post<Value>(path: string, body: JsonRecord, read: (body: unknown) => WireRead<Value>, options: AcquirerCallOptions): Promise<Value> {
    const answer = await exchange(
      { method: 'POST', url: `${base}${path}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
      options.signal ?? new AbortController().signal,
    );
    return readAnswer(answer, read);
  }

  return {
    authorize: async (request: AcquirerAuthorizeRequest, options: AcquirerCallOptions = {}): Promise<AcquirerAuthorizeResult> =>
      post(acquirer_paths.authorize, writeAuthorizeRequest(request), readAuthorizeResult, options),
    capture: async (request: AcquirerCaptureRequest, options: AcquirerCallOptions = {}): Promise<AcquirerOperationResult> =>
      post(acquirer_paths.capture, writeAmountOperation(request), readOperationResult, options),
    void: async (request: AcquirerVoidRequest, options: AcquirerCallOptions = {}): Promise<AcquirerOperationResult> =>
      post(acquirer_paths.void, { reference: request.reference, provider_reference: request.provider_reference }, readOperationResult, options),
    refund: async (request: AcquirerRefundRequest, options: AcquirerCallOptions = {}): Promise<AcquirerOperationResult> =>
      post(acquirer_paths.refund, writeAmountOperation(request), readOperationResult, options),
    status: async (reference: string, options: AcquirerCallOptions = {}): Promise<ProviderStatus> => {
      const answer = await exchange(
        { method: 'GET', url: `${base}${acquirer_paths.status}${encodeURIComponent(reference)}`, headers: { accept: 'application/json' } },
        options.signal ?? new AbortController().signal,
      );
      return readAnswer(answer, readProviderStatus);
    },
  };
}

function readAnswer<Value>(answer: HttpAnswer, read: (body: unknown) => WireRead<Value>): Value {
  // The body of a refusal is not quoted: it could echo what was sent, and that holds a card number.
  if (answer.status !== 200) throw new Error(`the card acquirer answered HTTP ${answer.status}`);
  const parsed = read(parseJsonRecord(answer.body));
  if (!parsed.ok) throw new Error(`the card acquirer's answer is malformed: ${parsed.message}`);
  return parsed.value;
}
