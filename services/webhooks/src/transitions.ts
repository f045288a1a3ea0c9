// The state machines, as tables. One function applies each and refuses anything else.
import type { DeliveryStatus, EndpointStatus } from './types';

/** A merchant may disable and enable an endpoint at will; the service disables one that keeps failing. */
export const endpoint_transitions: Record<EndpointStatus, readonly EndpointStatus[]> = {
  enabled: ['disabled'],
  disabled: ['enabled'],
};

/** A delivery is pending until it succeeds, runs out of attempts, or loses its endpoint; then it never changes. */
export const delivery_transitions: Record<DeliveryStatus, readonly DeliveryStatus[]> = {
  pending: ['succeeded', 'failed', 'canceled'],
  succeeded: [],
  failed: [],
  canceled: [],
};

export type TransitionResult = 'ok' | 'not_allowed';

export function transition<State extends string>(table: Record<State, readonly State[]>, from: State, to: State): TransitionResult {
  return table[from].includes(to) ? 'ok' : 'not_allowed';
}
