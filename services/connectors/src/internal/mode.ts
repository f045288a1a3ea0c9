// A payment's mode, stated to a provider in a field the provider hands back untouched (Alipay's
// `passback_params`, WeChat Pay's `attach`). The real providers know test from live by the account
// and endpoint, not by a field; the marker is for the sandboxes that stand in for them, which
// create nothing for a request that does not say test mode (decision 39). A platform wired by
// mistake to a sandbox for live money then gets a refusal, never an approval.

export function modeMarker(livemode: boolean): string {
  return `paygrid_livemode=${String(livemode)}`;
}

/** The only marker a sandbox accepts. */
export const test_mode_marker = modeMarker(false);
