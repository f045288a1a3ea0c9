// What this platform can do with real money, decided once at start from its configuration.
//
// Test mode always runs against the simulators and sandboxes. Live mode may use only an adapter
// that talks to a real outside party (a card acquirer, Alipay, WeChat Pay, a bank), or none at all
// where the money never leaves the ledger (wallet payments and transfers). A live-mode request
// that needs an adapter the platform lacks is refused with `livemode_not_configured` before
// anything is written (decision 39): a simulator behind a live key would approve money that never
// existed, and a merchant would ship goods against it.
import { ApiError } from '../errors';
import type { PlatformConfig } from './platform-config';

/** Named after Stripe's account capabilities (`card_payments`, `alipay_payments`, …). */
export const live_capability_names = [
  'card_payments',
  'alipay_payments',
  'wechat_pay_payments',
  'wallet_payments',
  'bank_transfer_payments',
  'withdrawals',
] as const;
export type LiveCapabilityName = (typeof live_capability_names)[number];

export type LiveCapability =
  /** `adapter` says what does the work, for the start-up banner and log: never a key, a path or an id. */
  | { readonly status: 'active'; readonly adapter: string }
  /** `missing` says what the platform lacks, in words an operator can act on; merchants see it too. */
  | { readonly status: 'inactive'; readonly missing: string };

export type LiveCapabilities = { readonly [Name in LiveCapabilityName]: LiveCapability };

/**
 * What a bank adapter can do with real money. A real bank adapter (a bank file exchange, a bank's
 * API) switches the bank capabilities on by saying so here; the simulated bank does neither.
 */
export interface BankLiveSupport {
  /** For the banner and messages, such as "the simulated bank". */
  readonly name: string;
  /** Pays live withdrawals out to real bank accounts. */
  readonly payouts: boolean;
  /** Reports real incoming transfers, so that live bank-transfer payments can complete. */
  readonly incoming_transfers: boolean;
}

/** Which capability a payment method needs in live mode. */
export const payment_method_live_capability = {
  card: 'card_payments',
  alipay: 'alipay_payments',
  wechat_pay: 'wechat_pay_payments',
  wallet: 'wallet_payments',
  bank_transfer: 'bank_transfer_payments',
} as const satisfies Record<string, LiveCapabilityName>;

/** How a capability reads in a sentence: "Live-mode card payments are not configured …". */
export const live_capability_labels: Readonly<Record<LiveCapabilityName, string>> = {
  card_payments: 'card payments',
  alipay_payments: 'Alipay payments',
  wechat_pay_payments: 'WeChat Pay payments',
  wallet_payments: 'wallet payments',
  bank_transfer_payments: 'bank transfer payments',
  withdrawals: 'withdrawals to bank accounts',
};

function active(adapter: string): LiveCapability {
  return { status: 'active', adapter };
}

function inactive(missing: string): LiveCapability {
  return { status: 'inactive', missing };
}

/** Only the host is named: which endpoint is in use, without a path that could hold an id. */
function hostOf(url: string): string {
  return new URL(url).host;
}

/** Why a bank capability is off: the bank in use does not do it, or there is no bank at all. */
function bankLacks(bank: BankLiveSupport | undefined, what: string): string {
  return `a bank adapter that ${what}; ${bank === undefined ? 'this platform runs none' : `${bank.name} does not`}`;
}

/**
 * Decides the live capabilities from the configuration and the bank adapter in use (undefined when
 * the process runs no wallet, hence no bank). Pure: the same configuration always gives the same
 * answer, so every instance of a distributed platform agrees.
 */
export function decideLiveCapabilities(config: Pick<PlatformConfig, 'CARD_ACQUIRER' | 'ALIPAY' | 'WECHAT_PAY'>, bank: BankLiveSupport | undefined): LiveCapabilities {
  const capabilities: LiveCapabilities = {
    card_payments:
      config.CARD_ACQUIRER === undefined
        ? inactive('a card acquirer (set CARD_ACQUIRER_URL with CARD_ACQUIRER_TOKEN_FILE or a client certificate); the card simulator takes test mode only')
        : active(`the card acquirer at ${hostOf(config.CARD_ACQUIRER.url)}`),
    alipay_payments:
      config.ALIPAY === undefined
        ? inactive("Alipay's real endpoint (set the ALIPAY_* variables and PUBLIC_BASE_URL); the Alipay sandbox takes test mode only")
        : active(`Alipay at ${hostOf(config.ALIPAY.gateway_url)}`),
    wechat_pay_payments:
      config.WECHAT_PAY === undefined
        ? inactive("WeChat Pay's real endpoint (set the WECHAT_PAY_* variables and PUBLIC_BASE_URL); the WeChat Pay sandbox takes test mode only")
        : active(`WeChat Pay at ${hostOf(config.WECHAT_PAY.base_url)}`),
    // A wallet payment moves money between two ledger accounts of this platform: no outside party.
    wallet_payments: active('the ledger'),
    bank_transfer_payments: bank?.incoming_transfers === true ? active(bank.name) : inactive(bankLacks(bank, 'reports incoming transfers')),
    withdrawals: bank?.payouts === true ? active(bank.name) : inactive(bankLacks(bank, 'pays out to bank accounts')),
  };
  return Object.freeze(capabilities);
}

/** Nothing live but what needs no outside party: the safe default for a service not told otherwise. */
export const live_capabilities_none: LiveCapabilities = decideLiveCapabilities({ CARD_ACQUIRER: undefined, ALIPAY: undefined, WECHAT_PAY: undefined }, undefined);

/** The refusal of a live-mode request that needs what the platform lacks; nothing has been done. */
export function liveModeNotConfigured(name: LiveCapabilityName, missing: string, param?: string): ApiError {
  return new ApiError(
    'invalid_request_error',
    'livemode_not_configured',
    `Live-mode ${live_capability_labels[name]} are not configured on this platform: it needs ${missing}. Nothing was done; test-mode keys work against the simulators.`,
    param,
  );
}

/** Throws `livemode_not_configured` when a live-mode request needs a capability that is inactive. */
export function requireLiveCapability(capabilities: LiveCapabilities, name: LiveCapabilityName, livemode: boolean, param?: string): void {
  if (!livemode) return;
  const capability = capabilities[name];
  if (capability.status === 'inactive') throw liveModeNotConfigured(name, capability.missing, param);
}
