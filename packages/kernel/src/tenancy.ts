/**
 * Who a request acts for: a merchant, in test or live mode. Every merchant-owned row carries
 * both, and every query filters on both, so that one merchant never sees another's objects and
 * test data never mixes with live data. An object outside the tenant reads as missing (404).
 */
export interface Tenant {
  readonly merchant_id: string;
  readonly livemode: boolean;
}
