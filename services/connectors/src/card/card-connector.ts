// The card connector: reads the card from the vault, asks the acquirer, and erases the CVC
// afterwards, whatever the outcome, because a CVC may be kept only until it has been used once.
// The card number passes through this file on its way to the acquirer and nowhere else: it is
// never logged, every message that leaves here is scrubbed of anything that looks like one, and
// outcomes are built field by field, never copied from what the acquirer sent.
import { assert } from '@paygrid/kernel';
import type {
  AuthorizeOutcome,
  AuthorizeRequest,
  CallOptions,
  Connector,
  NextAction,
  NotificationParse,
  ProviderStatus,
  SimpleOutcome,
} from '../connector';
import { callWithDeadline, type DeadlineResult } from '../internal/deadline';
import { providerUnavailable } from '../internal/failures';
import type { AcquirerCard, AcquirerOperationResult, CardAcquirer } from './acquirer';
import { createHttpCardAcquirer, type HttpCardAcquirerOptions } from './http-acquirer';
import { redactCardNumbers } from './redaction';

/** The part of the vault the card connector needs. */
export interface CardVault {
  detokenize(token_id: string): Promise<AcquirerCard>;
  /** Called after every authorization attempt: a CVC is used once and then forgotten. */
  eraseCvc(token_id: string): Promise<void>;
}

export interface CardConnectorOptions {
  readonly cards: CardVault;
  /**
   * The in-process simulator (or any CardAcquirer, such as one from createHttpCardAcquirer), or an
   * acquirer's HTTP API with its credentials. A platform that must close the connections at
   * shutdown creates the HTTP acquirer itself and passes it here.
   */
  readonly acquirer: CardAcquirer | HttpCardAcquirerOptions;
  /**
   * Told when the CVC could not be erased. The authorization outcome still stands (money may have
   * moved), so this is reported rather than thrown; the vault's own expiry of CVCs is the backstop.
   */
  readonly onCvcEraseFailure?: (token_id: string, message: string) => void;
}

const acquirer_name = 'The card acquirer';

export class CardConnector implements Connector {
  readonly method = 'card' as const;
  readonly #cards: CardVault;
  readonly #acquirer: CardAcquirer;
  readonly #onCvcEraseFailure: (token_id: string, message: string) => void;

  constructor(options: CardConnectorOptions) {
    this.#cards = options.cards;
    this.#acquirer = 'authorize' in options.acquirer ? options.acquirer : createHttpCardAcquirer(options.acquirer);
    this.#onCvcEraseFailure = options.onCvcEraseFailure ?? (() => undefined);
  }

  async authorize(request: AuthorizeRequest, options: CallOptions): Promise<AuthorizeOutcome> {
    const payment_method = request.payment_method;
    assert(payment_method.type === 'card', `CardConnector.authorize: payment method ${payment_method.type} is not a card`);
    assert(request.amount > 0n, 'CardConnector.authorize: amount must be positive');
    const token = payment_method.token;
    try {
      let card: AcquirerCard;
      try {
        card = await this.#cards.detokenize(token);
      } catch (error) {
        // Nothing was sent to the acquirer, so the outcome is known: no money moved.
        return { status: 'declined', code: 'processing_error', message: `The card could not be read from the vault: ${describe(error)}` };
      }
      const result = await callWithDeadline(options.timeout_ms, async (signal) => {
        const acquirer_request = {
          reference: options.idempotency_reference,
          // The acquirer learns the mode, so that a simulator standing in for one can refuse live money.
          livemode: request.livemode,
          amount: request.amount,
          currency: request.currency,
          card,
          capture_method: request.capture_method,
          ...(request.return_url === undefined ? {} : { return_url: request.return_url }),
        };
        return this.#acquirer.authorize(acquirer_request, { signal });
      });
      if (!result.ok) return { status: 'unknown', reason: unknownReason(result, options.timeout_ms) };
      const answer = result.value;
      switch (answer.status) {
        case 'authorized':
          return { status: 'authorized', provider_reference: answer.provider_reference, captured: answer.captured };
        case 'requires_action':
          return { status: 'requires_action', provider_reference: answer.provider_reference, next_action: copyNextAction(answer.next_action) };
        case 'declined':
          return { status: 'declined', code: answer.code, message: redactCardNumbers(answer.message) };
      }
    } finally {
      await this.#eraseCvc(token);
    }
  }

  async capture(provider_reference: string, amount: bigint, options: CallOptions): Promise<SimpleOutcome> {
    return simpleOutcome(
      await callWithDeadline(options.timeout_ms, async (signal) =>
        this.#acquirer.capture({ reference: options.idempotency_reference, provider_reference, amount }, { signal }),
      ),
      options.timeout_ms,
    );
  }

  async void(provider_reference: string, options: CallOptions): Promise<SimpleOutcome> {
    return simpleOutcome(
      await callWithDeadline(options.timeout_ms, async (signal) =>
        this.#acquirer.void({ reference: options.idempotency_reference, provider_reference }, { signal }),
      ),
      options.timeout_ms,
    );
  }

  async refund(provider_reference: string, amount: bigint, options: CallOptions): Promise<SimpleOutcome> {
    return simpleOutcome(
      await callWithDeadline(options.timeout_ms, async (signal) =>
        this.#acquirer.refund({ reference: options.idempotency_reference, provider_reference, amount }, { signal }),
      ),
      options.timeout_ms,
    );
  }

  async status(idempotency_reference: string, options: Omit<CallOptions, 'idempotency_reference'>): Promise<ProviderStatus> {
    const result = await callWithDeadline(options.timeout_ms, async (signal) => this.#acquirer.status(idempotency_reference, { signal }));
    if (!result.ok) throw providerUnavailable(acquirer_name, unknownReason(result, options.timeout_ms));
    return result.value;
  }

  /** Card acquirers answer synchronously; they send no notifications to parse. */
  // eslint-disable-next-line @typescript-eslint/require-await
  async parseNotification(): Promise<NotificationParse> {
    return { ok: false, reason: 'The card connector receives no notifications.' };
  }

  async #eraseCvc(token: string): Promise<void> {
    try {
      await this.#cards.eraseCvc(token);
    } catch (error) {
      this.#onCvcEraseFailure(token, describe(error));
    }
  }
}

function copyNextAction(next_action: NextAction): NextAction {
  switch (next_action.type) {
    case 'redirect_to_url':
      return { type: 'redirect_to_url', url: next_action.url };
    case 'display_qr_code':
      return { type: 'display_qr_code', data: next_action.data };
    case 'bank_transfer_instructions':
      return { type: 'bank_transfer_instructions', reference: next_action.reference };
  }
}

function simpleOutcome(result: DeadlineResult<AcquirerOperationResult>, timeout_ms: number): SimpleOutcome {
  if (!result.ok) return { status: 'unknown', reason: unknownReason(result, timeout_ms) };
  const answer = result.value;
  if (answer.status === 'succeeded') return { status: 'succeeded' };
  return { status: 'failed', code: answer.code, message: redactCardNumbers(answer.message) };
}

function unknownReason(result: Extract<DeadlineResult<unknown>, { ok: false }>, timeout_ms: number): string {
  if (result.kind === 'timeout') return `${acquirer_name} did not answer within ${timeout_ms} ms.`;
  return `${acquirer_name} could not be reached: ${redactCardNumbers(result.message)}.`;
}

function describe(error: unknown): string {
  return redactCardNumbers(error instanceof Error ? error.message : 'unknown error');
}
