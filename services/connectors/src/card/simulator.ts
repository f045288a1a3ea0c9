// A card acquirer that lives in memory: the outside party the card connector talks to, for
// development and tests. Like Stripe's test mode, the card number decides what happens, so a test
// (or a person trying the API) picks an outcome by picking a card. It keeps no card numbers, only
// their last four digits.
//
// It takes test-mode payments only. A live-mode authorization is declined
// (`payment_method_unavailable`) whatever the card, because approving any well-formed number would
// let a platform wired by mistake take real orders against money that never existed. Capture, void
// and refund then have nothing live to act on.
import { assert, isWellFormedCardNumber, randomId, systemClock, type Clock } from '@paygrid/kernel';
import type { CurrencyCode } from '@paygrid/money';
import type { DeclineCode, ProviderStatus } from '../connector';
import { failure } from '../internal/failures';
import type {
  AcquirerAuthorizeRequest,
  AcquirerAuthorizeResult,
  AcquirerCallOptions,
  AcquirerCaptureRequest,
  AcquirerOperationResult,
  AcquirerRefundRequest,
  AcquirerVoidRequest,
  CardAcquirer,
} from './acquirer';

/** Stripe's test card numbers, and one more for an acquirer that does not answer in time. */
export const test_card_numbers = {
  succeeds: '4242424242424242',
  card_declined: '4000000000000002',
  insufficient_funds: '4000000000009995',
  expired_card: '4000000000000069',
  incorrect_cvc: '4000000000000127',
  /** Authorize answers requires_action with a 3-D Secure challenge to approve or deny. */
  requires_authentication: '4000000000003220',
  processing_error: '4000000000000119',
  /**
   * The charge happens, but the answer to authorize never arrives within the caller's timeout:
   * the "outcome unknown" case, which the caller settles by asking `status`.
   */
  network_timeout: '4000000000000259',
  /**
   * Stripe's card whose charge succeeds and whose every refund fails: for a refund that the
   * acquirer refuses after the payments service has already moved money for it.
   */
  refund_fails: '4000000000005126',
} as const;

type TestCardBehaviour = keyof typeof test_card_numbers;

const behaviour_by_number: ReadonlyMap<string, TestCardBehaviour> = new Map(
  Object.entries(test_card_numbers).map(([behaviour, number]) => [number, behaviour as TestCardBehaviour]),
);

const decline_messages: Record<Exclude<DeclineCode, 'authentication_failed' | 'payment_method_unavailable'>, string> = {
  card_declined: 'Your card was declined.',
  insufficient_funds: 'Your card has insufficient funds.',
  expired_card: 'Your card has expired.',
  incorrect_cvc: "Your card's security code is incorrect.",
  processing_error: 'An error occurred while processing your card. Try again in a little bit.',
};

/** Authorizations and operations the simulator keeps at once; past this it refuses new ones. */
export const simulator_records_max = 100_000;
/**
 * How long the simulator withholds an answer from a caller that never gives up. Callers always
 * have a shorter deadline; this only bounds the timer so that nothing waits forever.
 */
export const withheld_answer_ms_max = 120_000;
/** The decline every live-mode authorization gets. */
export const simulator_livemode_message = 'The card acquirer simulator takes test-mode payments only; live payments need a real card acquirer.';
/** Where challenge URLs point until a server gives the simulator its address. */
export const challenge_base_url_default = 'http://card-acquirer.invalid';

export type AuthorizationState = 'requires_action' | 'authorized' | 'captured' | 'voided' | 'declined';

/** Every allowed move of an authorization; anything else is refused. */
export const authorization_transitions: Record<AuthorizationState, readonly AuthorizationState[]> = {
  requires_action: ['authorized', 'captured', 'declined'],
  authorized: ['captured', 'voided'],
  captured: [],
  voided: [],
  declined: [],
};

interface Authorization {
  readonly reference: string;
  readonly provider_reference: string | undefined;
  readonly amount: bigint;
  readonly currency: CurrencyCode;
  readonly capture_method: 'automatic' | 'manual';
  readonly card_last4: string;
  readonly return_url: string | undefined;
  readonly created_ms: number;
  readonly withholds_answers: boolean;
  /** The card's issuer refuses every refund (the `refund_fails` test card). */
  readonly refuses_refunds: boolean;
  state: AuthorizationState;
  decline_code: DeclineCode | undefined;
  amount_captured: bigint;
  amount_refunded: bigint;
  /** What the first authorize answered; a repeated authorize answers the same. */
  readonly first_answer: AcquirerAuthorizeResult;
}

/** A read-only view of one authorization, for tests and the challenge page. */
export interface AuthorizationView {
  readonly reference: string;
  readonly provider_reference: string | undefined;
  readonly state: AuthorizationState;
  readonly amount: bigint;
  readonly currency: CurrencyCode;
  readonly card_last4: string;
  readonly amount_captured: bigint;
  readonly amount_refunded: bigint;
  readonly decline_code: DeclineCode | undefined;
  readonly return_url: string | undefined;
  readonly created_ms: number;
}

export type ChallengeDecision = 'approve' | 'deny';

export type ChallengeResult =
  | { readonly ok: true; readonly state: AuthorizationState; readonly return_url: string | undefined }
  | { readonly ok: false; readonly reason: 'not_found' | 'not_awaiting_challenge' };

export interface CardAcquirerSimulatorOptions {
  /** How long each answer takes to come back, after the operation has happened. Default 0. */
  readonly latency_ms?: number;
  readonly clock?: Clock;
  /** The base of challenge URLs; startCardAcquirerServer replaces it with its own address. */
  readonly challenge_base_url?: string;
}

export class CardAcquirerSimulator implements CardAcquirer {
  readonly #latency_ms: number;
  readonly #clock: Clock;
  #challenge_base_url: string;
  readonly #authorizations_by_reference = new Map<string, Authorization>();
  readonly #authorizations_by_provider_reference = new Map<string, Authorization>();
  /** Answers to capture, void and refund by their idempotency reference. */
  readonly #operations = new Map<string, AcquirerOperationResult>();

  constructor(options: CardAcquirerSimulatorOptions = {}) {
    const latency_ms = options.latency_ms ?? 0;
    assert(Number.isSafeInteger(latency_ms) && latency_ms >= 0, 'CardAcquirerSimulator latency_ms must be a non-negative integer');
    this.#latency_ms = latency_ms;
    this.#clock = options.clock ?? systemClock;
    this.#challenge_base_url = trimTrailingSlash(options.challenge_base_url ?? challenge_base_url_default);
  }

  get challenge_base_url(): string {
    return this.#challenge_base_url;
  }

  /** Points challenge URLs at a server's address; used by startCardAcquirerServer. */
  useChallengeBaseUrl(url: string): void {
    this.#challenge_base_url = trimTrailingSlash(url);
  }

  async authorize(request: AcquirerAuthorizeRequest, options: AcquirerCallOptions = {}): Promise<AcquirerAuthorizeResult> {
    const authorization = this.#authorizations_by_reference.get(request.reference) ?? this.#createAuthorization(request);
    if (authorization.withholds_answers) await withhold(options.signal);
    await this.#answerAfterLatency(options.signal);
    return authorization.first_answer;
  }

  async capture(request: AcquirerCaptureRequest, options: AcquirerCallOptions = {}): Promise<AcquirerOperationResult> {
    const result = this.#once(`capture:${request.reference}`, () => this.#capture(request));
    await this.#answerAfterLatency(options.signal);
    return result;
  }

  async void(request: AcquirerVoidRequest, options: AcquirerCallOptions = {}): Promise<AcquirerOperationResult> {
    const result = this.#once(`void:${request.reference}`, () => this.#void(request));
    await this.#answerAfterLatency(options.signal);
    return result;
  }

  async refund(request: AcquirerRefundRequest, options: AcquirerCallOptions = {}): Promise<AcquirerOperationResult> {
    const result = this.#once(`refund:${request.reference}`, () => this.#refund(request));
    await this.#answerAfterLatency(options.signal);
    return result;
  }

  async status(reference: string, options: AcquirerCallOptions = {}): Promise<ProviderStatus> {
    const authorization = this.#authorizations_by_reference.get(reference);
    await this.#answerAfterLatency(options.signal);
    if (authorization === undefined) return { status: 'not_found' };
    const provider_reference = authorization.provider_reference ?? '';
    switch (authorization.state) {
      case 'requires_action':
        return { status: 'requires_action' };
      case 'authorized':
        return { status: 'authorized', provider_reference };
      case 'captured':
        return { status: 'captured', provider_reference, amount_captured: authorization.amount_captured };
      case 'voided':
        return { status: 'voided' };
      case 'declined':
        return { status: 'declined', code: authorization.decline_code ?? 'card_declined' };
    }
  }

  /** The customer's answer to a 3-D Secure challenge, from the challenge page or a test. */
  completeChallenge(provider_reference: string, decision: ChallengeDecision): ChallengeResult {
    const authorization = this.#authorizations_by_provider_reference.get(provider_reference);
    if (authorization === undefined) return { ok: false, reason: 'not_found' };
    if (authorization.state !== 'requires_action') return { ok: false, reason: 'not_awaiting_challenge' };
    if (decision === 'deny') {
      move(authorization, 'declined');
      authorization.decline_code = 'authentication_failed';
    } else if (authorization.capture_method === 'automatic') {
      move(authorization, 'captured');
      authorization.amount_captured = authorization.amount;
    } else {
      move(authorization, 'authorized');
    }
    return { ok: true, state: authorization.state, return_url: authorization.return_url };
  }

  /** Looks an authorization up by the acquirer's reference; undefined when there is none. */
  authorization(provider_reference: string): AuthorizationView | undefined {
    const authorization = this.#authorizations_by_provider_reference.get(provider_reference);
    return authorization === undefined ? undefined : viewOf(authorization);
  }

  /** The challenge page URL for an authorization that needs 3-D Secure. */
  challengeUrl(provider_reference: string, return_url: string | undefined): string {
    const base = `${this.#challenge_base_url}/3ds/${encodeURIComponent(provider_reference)}`;
    return return_url === undefined ? base : `${base}?return_url=${encodeURIComponent(return_url)}`;
  }

  #createAuthorization(request: AcquirerAuthorizeRequest): Authorization {
    assert(request.amount > 0n, 'CardAcquirerSimulator.authorize: amount must be positive');
    if (this.#authorizations_by_reference.size >= simulator_records_max) {
      throw new Error('the card acquirer simulator is keeping too many authorizations');
    }
    const behaviour = request.livemode ? undefined : behaviour_by_number.get(request.card.number);
    const decline_code = request.livemode ? 'payment_method_unavailable' : this.#declineCodeFor(request, behaviour);
    const card_last4 = request.card.number.slice(-4);
    const base = {
      reference: request.reference,
      amount: request.amount,
      currency: request.currency,
      capture_method: request.capture_method,
      card_last4,
      return_url: request.return_url,
      created_ms: this.#clock.now(),
      withholds_answers: behaviour === 'network_timeout',
      refuses_refunds: behaviour === 'refund_fails',
      amount_refunded: 0n,
    };
    let authorization: Authorization;
    if (decline_code !== undefined) {
      authorization = {
        ...base,
        provider_reference: undefined,
        state: 'declined',
        decline_code,
        amount_captured: 0n,
        first_answer: { status: 'declined', code: decline_code, message: decline_code === 'payment_method_unavailable' ? simulator_livemode_message : decline_messages[decline_code] },
      };
    } else {
      const provider_reference = randomId('auth');
      const requires_action = behaviour === 'requires_authentication';
      const captured = !requires_action && request.capture_method === 'automatic';
      const first_answer: AcquirerAuthorizeResult = requires_action
        ? {
            status: 'requires_action',
            provider_reference,
            next_action: { type: 'redirect_to_url', url: this.challengeUrl(provider_reference, request.return_url) },
          }
        : { status: 'authorized', provider_reference, captured };
      authorization = {
        ...base,
        provider_reference,
        state: requires_action ? 'requires_action' : captured ? 'captured' : 'authorized',
        decline_code: undefined,
        amount_captured: captured ? request.amount : 0n,
        first_answer,
      };
      this.#authorizations_by_provider_reference.set(provider_reference, authorization);
    }
    this.#authorizations_by_reference.set(request.reference, authorization);
    return authorization;
  }

  #declineCodeFor(
    request: AcquirerAuthorizeRequest,
    behaviour: TestCardBehaviour | undefined,
  ): keyof typeof decline_messages | undefined {
    switch (behaviour) {
      case 'card_declined':
      case 'insufficient_funds':
      case 'expired_card':
      case 'incorrect_cvc':
      case 'processing_error':
        return behaviour;
      default:
        break;
    }
    // Any other number must at least be a card number, and the card must not have run out.
    if (!isWellFormedCardNumber(request.card.number)) return 'card_declined';
    const now = new Date(this.#clock.now());
    const this_month = now.getUTCFullYear() * 12 + now.getUTCMonth();
    const expiry_month = request.card.exp_year * 12 + (request.card.exp_month - 1);
    if (expiry_month < this_month) return 'expired_card';
    return undefined;
  }

  #capture(request: AcquirerCaptureRequest): AcquirerOperationResult {
    const authorization = this.#authorizations_by_provider_reference.get(request.provider_reference);
    if (authorization === undefined) return missing(request.provider_reference);
    if (request.amount <= 0n) return failure('provider_refused', 'The amount to capture must be positive.');
    if (authorization.state !== 'authorized') {
      return failure('unexpected_state', `The authorization is ${authorization.state}, so it cannot be captured.`);
    }
    if (request.amount > authorization.amount) {
      return failure(
        'amount_too_large',
        `The amount to capture (${request.amount}) is more than the authorised amount (${authorization.amount}).`,
      );
    }
    // A partial capture releases the rest of the hold: there is one capture per authorization.
    move(authorization, 'captured');
    authorization.amount_captured = request.amount;
    return { status: 'succeeded' };
  }

  #void(request: AcquirerVoidRequest): AcquirerOperationResult {
    const authorization = this.#authorizations_by_provider_reference.get(request.provider_reference);
    if (authorization === undefined) return missing(request.provider_reference);
    if (!authorization_transitions[authorization.state].includes('voided')) {
      return failure('unexpected_state', `The authorization is ${authorization.state}, so it cannot be voided.`);
    }
    move(authorization, 'voided');
    return { status: 'succeeded' };
  }

  #refund(request: AcquirerRefundRequest): AcquirerOperationResult {
    const authorization = this.#authorizations_by_provider_reference.get(request.provider_reference);
    if (authorization === undefined) return missing(request.provider_reference);
    if (request.amount <= 0n) return failure('provider_refused', 'The amount to refund must be positive.');
    if (authorization.state !== 'captured') {
      return failure('unexpected_state', `The authorization is ${authorization.state}; only captured money can be refunded.`);
    }
    const refundable = authorization.amount_captured - authorization.amount_refunded;
    if (request.amount > refundable) {
      return failure('amount_too_large', `The amount to refund (${request.amount}) is more than is left to refund (${refundable}).`);
    }
    if (authorization.refuses_refunds) return failure('provider_refused', "The card's issuer refused the refund.");
    authorization.amount_refunded += request.amount;
    return { status: 'succeeded' };
  }

  #once(key: string, operate: () => AcquirerOperationResult): AcquirerOperationResult {
    const existing = this.#operations.get(key);
    if (existing !== undefined) return existing;
    if (this.#operations.size >= simulator_records_max) throw new Error('the card acquirer simulator is keeping too many operations');
    const result = operate();
    this.#operations.set(key, result);
    return result;
  }

  async #answerAfterLatency(signal: AbortSignal | undefined): Promise<void> {
    if (this.#latency_ms > 0) await sleep(this.#latency_ms, signal);
  }
}

function move(authorization: Authorization, target: AuthorizationState): void {
  // Every caller checks the state first, so a refused move here is a bug in the simulator.
  assert(
    authorization_transitions[authorization.state].includes(target),
    `CardAcquirerSimulator: ${authorization.state} -> ${target} is not allowed`,
  );
  authorization.state = target;
}

function missing(provider_reference: string): AcquirerOperationResult {
  return failure('resource_missing', `No such authorization: '${provider_reference}'.`);
}

function viewOf(authorization: Authorization): AuthorizationView {
  return {
    reference: authorization.reference,
    provider_reference: authorization.provider_reference,
    state: authorization.state,
    amount: authorization.amount,
    currency: authorization.currency,
    card_last4: authorization.card_last4,
    amount_captured: authorization.amount_captured,
    amount_refunded: authorization.amount_refunded,
    decline_code: authorization.decline_code,
    return_url: authorization.return_url,
    created_ms: authorization.created_ms,
  };
}

function trimTrailingSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/** Waits until the caller gives up (the signal fires), or withheld_answer_ms_max at most. */
async function withhold(signal: AbortSignal | undefined): Promise<void> {
  await sleep(withheld_answer_ms_max, signal);
}

async function sleep(duration_ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new DOMException('The caller stopped waiting', 'AbortError'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, duration_ms);
    // A withheld answer must not keep a finished test run or a closing process alive.
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
