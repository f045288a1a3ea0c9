// The client side of a service contract: an object with the client interface's methods, each of
// which sends its call over an Upstream and gives back what the in-process service would have
// given: the same result, or the same ApiError (type, code, message and param).
import { ApiError, isErrorType } from '../errors';
import { UpstreamUnavailableError, type Upstream, type UpstreamResponse } from '../transport/upstream';
import { decodeRpcBody, encodeRpcBody, RpcCodecError } from './codec';
import { contractOperationNames, isIdempotentCall, operationPath, type ServiceContract } from './contract';
import { rpc_media_type } from './server';

/** The status of a result; every other status carries an error. */
const status_ok = 200;

export interface RpcClientOptions {
  /** Sent with every call, for example the operator key the callee's routes check. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The error code of a call the service did not answer, by whether it may have been carried out. */
export function unavailableCode(service: string): string {
  return `${service}_unavailable`;
}

const outcome_unknown_suffix = '_outcome_unknown';

export function outcomeUnknownCode(service: string): string {
  return `${service}${outcome_unknown_suffix}`;
}

/** Whether an error code says a call that is not idempotent may have been carried out. */
export function isOutcomeUnknownCode(code: string): boolean {
  return code.endsWith(outcome_unknown_suffix) && code.length > outcome_unknown_suffix.length;
}

/**
 * No instance answered. A call that was never sent, or that may be sent again (idempotent), is
 * `<service>_unavailable`: retrying it is safe. A call that is not idempotent and may have reached
 * the callee before the connection was lost is `<service>_outcome_unknown`: it may have been
 * carried out, so the caller must find out (look the object up, or retry with the same
 * idempotency key where the operation takes one) before it tries again. Both are 503s.
 */
function unavailableError(service: string, operation: string, idempotent: boolean, error: UpstreamUnavailableError): ApiError {
  if (!idempotent && error.may_have_reached) {
    return new ApiError(
      'service_unavailable_error',
      outcomeUnknownCode(service),
      `The ${service} service did not answer ${operation}, which may have been carried out: check before trying again`,
    );
  }
  return new ApiError('service_unavailable_error', unavailableCode(service), `The ${service} service is unavailable; try again later`);
}

/** An answer that is neither a result nor an error in the one shape: the two sides disagree. */
function brokenAnswer(service: string, operation: string, status: number, problem: string): ApiError {
  return new ApiError('api_error', `${service}_answer_invalid`, `The ${service} service answered ${operation} with HTTP ${status} and ${problem}`);
}

/** The ApiError in an error answer, exactly as the service threw it. */
function errorOfAnswer(service: string, operation: string, status: number, body: Buffer): ApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return brokenAnswer(service, operation, status, 'a body that is not JSON');
  }
  const error: unknown = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>).error : undefined;
  if (typeof error !== 'object' || error === null) return brokenAnswer(service, operation, status, 'no error object');
  const { type, code, message, param } = error as Record<string, unknown>;
  if (!isErrorType(type) || typeof code !== 'string' || typeof message !== 'string' || (param !== undefined && typeof param !== 'string')) {
    return brokenAnswer(service, operation, status, 'an error not in the one shape');
  }
  return new ApiError(type, code, message, param);
}

/**
 * A Client that calls the service over `upstream`. Arguments are encoded by the codec (which
 * asserts they are plain data), sent with the operation's idempotence, and the answer decoded.
 */
export function createRpcClient<Client>(contract: ServiceContract<Client>, upstream: Upstream, options: RpcClientOptions = {}): Client {
  const { service } = contract;
  const headers = { ...options.headers, 'content-type': rpc_media_type, accept: rpc_media_type };
  const methods: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const operation of contractOperationNames(contract)) {
    const path = operationPath(service, operation);
    methods[operation] = async (...args: unknown[]): Promise<unknown> => {
      const idempotent = isIdempotentCall(contract, operation, args);
      const body = encodeRpcBody(args);
      let response: UpstreamResponse;
      try {
        response = await upstream.request({ method: 'POST', path, headers, body, idempotent });
      } catch (error) {
        if (error instanceof UpstreamUnavailableError) throw unavailableError(service, operation, idempotent, error);
        throw error;
      }
      if (response.status !== status_ok) throw errorOfAnswer(service, operation, response.status, response.body);
      try {
        return decodeRpcBody(response.body.toString('utf8'));
      } catch (error) {
        if (error instanceof RpcCodecError) throw brokenAnswer(service, operation, response.status, `a result that does not decode: ${error.message}`);
        throw error;
      }
    };
  }
  // The methods are exactly the contract's operations, which are exactly Client's methods.
  return methods as Client;
}
