// A service contract: the one list, per service, of the operations its client interface has, and
// whether each may be sent twice. The server registers one route per operation from it and the
// client builds one method per operation from it, so the two cannot drift apart, and the type
// makes the list name every method of the interface and nothing else.
import { assert } from '../assert';

/** A method of a client interface: every operation is asynchronous. */
type AsyncMethod = (...args: never[]) => Promise<unknown>;

/**
 * Whether sending the call twice has the effect of sending it once: a read, or a write the callee
 * de-duplicates (by an idempotency key, an event id, or because a repeat finds the state already
 * reached and answers as the first did). Only such calls are retried after a failure that may have
 * reached the callee. A function decides per call, for operations whose idempotency key is
 * optional: with it, the call is idempotent; without it, each call makes something new.
 */
export type Idempotence<Method> = Method extends (...args: infer Args) => Promise<unknown> ? boolean | ((...args: Args) => boolean) : never;

export interface OperationSpec<Method> {
  readonly idempotent: Idempotence<Method>;
}

/**
 * One entry for every member of Client. A member that is not an asynchronous method maps to
 * `never`, so an interface with one cannot have a contract: it could not be called across
 * processes.
 */
export type ContractOperations<Client> = {
  readonly [Operation in keyof Client]-?: Client[Operation] extends AsyncMethod ? OperationSpec<Client[Operation]> : never;
};

export interface ServiceContract<Client> {
  /** The service's name: the path segment of its routes and the name in its errors. */
  readonly service: string;
  readonly operations: ContractOperations<Client>;
}

/** Lower-case words joined by underscores, safe in a path and an error code. */
const service_name_pattern = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
/** A method name, safe in a path. */
const operation_name_pattern = /^[A-Za-z][A-Za-z0-9]*$/;

/**
 * Declares the contract of a client interface. Curried so that Client is given and the definition
 * checked against it: `defineServiceContract<WalletClient>()({ service: 'wallet', operations: {...} })`.
 * A method of Client left out of `operations` fails to compile, and so does an operation Client
 * does not have (the object literal's excess property check).
 */
export function defineServiceContract<Client>(): (definition: ServiceContract<Client>) => ServiceContract<Client> {
  return (definition) => {
    assert(service_name_pattern.test(definition.service), `a service name is lower-case words joined by underscores (got "${definition.service}")`);
    for (const operation of contractOperationNames(definition)) {
      assert(operation_name_pattern.test(operation), `an operation name is letters and digits (got "${operation}")`);
    }
    return definition;
  };
}

/** The operation names of a contract, in the order the definition lists them. */
export function contractOperationNames<Client>(contract: ServiceContract<Client>): (keyof Client & string)[] {
  return Object.keys(contract.operations) as (keyof Client & string)[];
}

/** The path an operation is served at. */
export function operationPath(service: string, operation: string): string {
  return `/internal/${service}/${operation}`;
}

/** Whether this call of the operation may be sent twice (see Idempotence). */
export function isIdempotentCall<Client>(contract: ServiceContract<Client>, operation: keyof Client, args: readonly unknown[]): boolean {
  const idempotent: unknown = contract.operations[operation].idempotent;
  if (typeof idempotent === 'boolean') return idempotent;
  assert(typeof idempotent === 'function', 'an operation says whether it is idempotent with a boolean or a function');
  const decide = idempotent as (...args: readonly unknown[]) => unknown;
  const decided = decide(...args);
  assert(typeof decided === 'boolean', 'an idempotence function answers a boolean');
  return decided;
}
