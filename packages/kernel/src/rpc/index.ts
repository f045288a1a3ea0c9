// @paygrid/kernel/rpc: a service's client interface served over HTTP (server.ts) and called over
// an Upstream (client.ts), from one contract per service (contract.ts), with a codec that keeps
// bigints, undefined and -0 as the in-process call gives them (codec.ts).
export {
  contractOperationNames,
  defineServiceContract,
  isIdempotentCall,
  operationPath,
  type ContractOperations,
  type Idempotence,
  type OperationSpec,
  type ServiceContract,
} from './contract';
export {
  RpcCodecError,
  decodeRpcBody,
  decodeValue,
  encodeRpcBody,
  encodeValue,
  rpc_body_keys_max,
  rpc_json_limits,
  rpc_object_keys_max,
  rpc_value_depth_max,
  type EncodedValue,
  type JsonValue,
} from './codec';
export { registerRpcRoutes, rpc_arguments_max, rpc_body_limit_bytes, rpc_media_type, type RpcRoutesOptions } from './server';
export { createRpcClient, isOutcomeUnknownCode, outcomeUnknownCode, unavailableCode, type RpcClientOptions } from './client';
