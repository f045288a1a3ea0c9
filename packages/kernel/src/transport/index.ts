// @paygrid/kernel/transport: how one service calls another (upstream.ts is the port).
export { UpstreamUnavailableError, type Upstream, type UpstreamMethod, type UpstreamRequest, type UpstreamResponse } from './upstream';
export { singleOriginUpstream, type SingleOriginUpstreamOptions } from './single-origin';
