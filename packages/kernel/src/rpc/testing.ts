// For the tests of each service's contract: the service served on 127.0.0.1 behind its RPC routes,
// and a client of it, so that a test can make every call both ways and compare the answers.
import type { FastifyRequest } from 'fastify';
import { expect } from 'vitest';
import { ApiError } from '../errors';
import { createHttpServer, type HttpServer } from '../http/server';
import { createLogger } from '../logger';
import { singleOriginUpstream } from '../transport/single-origin';
import { createRpcClient } from './client';
import type { ServiceContract } from './contract';
import { registerRpcRoutes } from './server';

/** The key the served routes take, as the platform's routes take the operator key. */
export const rpc_test_operator_key = 'opk_rpc_test_operator_key';

export interface ServedOverRpc<Client> {
  /** The client that calls the served implementation over HTTP. */
  readonly remote: Client;
  readonly origin: string;
  readonly server: HttpServer;
  /** Closes the client's pool and the server; the implementation is the caller's to close. */
  close(): Promise<void>;
}

function authenticateOperator(request: FastifyRequest): void {
  if (request.headers.authorization !== `Bearer ${rpc_test_operator_key}`) throw new ApiError('authentication_error', 'api_key_invalid', 'Invalid API key provided');
}

export async function serveOverRpc<Client>(contract: ServiceContract<Client>, implementation: Client): Promise<ServedOverRpc<Client>> {
  const server = createHttpServer({ logger: createLogger({ level: 'silent', name: `${contract.service}-rpc-test` }) });
  registerRpcRoutes(server.app, contract, implementation, { authenticate: authenticateOperator });
  const origin = await server.app.listen({ host: '127.0.0.1', port: 0 });
  const upstream = singleOriginUpstream({ service: contract.service, origin });
  const remote = createRpcClient(contract, upstream, { headers: { authorization: `Bearer ${rpc_test_operator_key}` } });
  return {
    remote,
    origin,
    server,
    close: async () => {
      await upstream.close();
      await server.app.close();
    },
  };
}

/** What a call rejected with; fails the test when it did not reject. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to be refused, and it was not');
}

/**
 * Makes the same refused call in process and over RPC: both must throw an ApiError, and equal ones
 * (type, code, message, param). Returns it, for the test to check which refusal it was.
 */
export async function expectSameRefusal(direct: Promise<unknown>, through: Promise<unknown>): Promise<ApiError> {
  const [direct_error, remote_error] = [await rejectionOf(direct), await rejectionOf(through)];
  expect(direct_error).toBeInstanceOf(ApiError);
  expect(remote_error).toBeInstanceOf(ApiError);
  expect(remote_error).toEqual(direct_error);
  return remote_error as ApiError;
}
