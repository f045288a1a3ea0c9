// The server side of a service contract: one `POST /internal/<service>/<operation>` route per
// operation, which decodes the arguments, calls the implementation and answers its result
// encoded. An ApiError the implementation throws is answered in the one error shape with its
// status, by the server's error handler, as on every other route; anything else is a logged 500.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { assert } from '../assert';
import { ApiError } from '../errors';
import { decodeRpcBody, encodeRpcBody, RpcCodecError } from './codec';
import { contractOperationNames, operationPath, type ServiceContract } from './contract';

/**
 * The media type of encoded bodies (codec.ts), both ways. Its own type, so that the internal routes
 * parse with the codec's limits while every other route keeps the public parser and its limits.
 */
export const rpc_media_type = 'application/vnd.paygrid.rpc+json';
/** The most arguments an operation takes; today's take at most four. */
export const rpc_arguments_max = 16;
/**
 * The largest body of encoded arguments, as the server's default: the largest argument today is a
 * webhook event's data (at most 64 KiB as JSON) or a page request.
 */
export const rpc_body_limit_bytes = 1024 * 1024;

export interface RpcRoutesOptions {
  /**
   * Runs before every route of the contract, before its body is read: throws (or rejects with) the
   * ApiError to answer when the caller may not call the service, such as the operator-key check.
   */
  readonly authenticate: (request: FastifyRequest) => void | Promise<void>;
}

/** What the codec's parser leaves as the body: a class of its own, which no other parser makes. */
class DecodedArguments {
  constructor(readonly values: unknown[]) {}
}

function parseArguments(_request: FastifyRequest, body: string | Buffer, done: (error: Error | null, body?: unknown) => void): void {
  let decoded: unknown;
  try {
    decoded = decodeRpcBody(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (error) {
    if (!(error instanceof RpcCodecError)) {
      done(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    done(new ApiError('invalid_request_error', 'rpc_body_invalid', `The encoded arguments do not decode: ${error.message}`));
    return;
  }
  if (!Array.isArray(decoded) || decoded.length > rpc_arguments_max) {
    done(new ApiError('invalid_request_error', 'rpc_body_invalid', `The encoded arguments are not an array of at most ${rpc_arguments_max} values`));
    return;
  }
  done(null, new DecodedArguments(decoded));
}

/**
 * Serves `implementation` (the in-process service) under the contract's routes. The routes are
 * registered in a scope of their own, so that the codec's media type is taken there only.
 */
export function registerRpcRoutes<Client>(app: FastifyInstance, contract: ServiceContract<Client>, implementation: Client, options: RpcRoutesOptions): void {
  const { authenticate } = options;
  // Resolved before anything is registered, so that an implementation short of a method fails here.
  const operations = contractOperationNames(contract).map((operation) => {
    const method: unknown = implementation[operation];
    assert(typeof method === 'function', `${contract.service} has no method ${operation}, which its contract names`);
    return { path: operationPath(contract.service, operation), call: method as (...args: readonly unknown[]) => Promise<unknown> };
  });
  app.register((scope, _options, done) => {
    scope.addHook('onRequest', async (request) => {
      await authenticate(request);
    });
    scope.addContentTypeParser(rpc_media_type, { parseAs: 'string', bodyLimit: rpc_body_limit_bytes }, parseArguments);
    for (const { path, call } of operations) {
      scope.post(path, { bodyLimit: rpc_body_limit_bytes }, async (request, reply) => {
        // A JSON body reaches here parsed by the public parser: the codec's envelope is required.
        if (!(request.body instanceof DecodedArguments)) {
          throw new ApiError('unsupported_media_type_error', 'content_type_unsupported', `Internal calls are sent as ${rpc_media_type}`);
        }
        const result = await call.apply(implementation, request.body.values);
        return reply.type(rpc_media_type).send(encodeRpcBody(result));
      });
    }
    done();
  });
}
