// The platform as an operator runs it: `paygrid start` in a child process of its own, which a test
// can kill with SIGKILL, stop with SIGTERM or start again on the same data, and the HTTP calls the
// crash and backup suites make against it.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';

export const cli_path = join(resolve(import.meta.dirname, '..', '..'), 'apps/cli/bin/paygrid.js');

/** Starts `paygrid <args>` and resolves once it says it is running; rejects with its output if it exits or takes longer. */
export async function startChildPlatform(args: readonly string[], env: NodeJS.ProcessEnv, start_timeout_ms: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cli_path, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`platform did not start: ${output}`)), start_timeout_ms);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Paygrid is running at')) {
        clearTimeout(timer);
        resolveStart();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`platform exited with ${code}: ${output}`));
    });
  });
  child.removeAllListeners('exit');
  return child;
}

/** Sends the signal and resolves with the exit code once the process is gone. */
export function signalChild(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  return new Promise((done) => {
    child.once('exit', (code) => done(code));
    child.kill(signal);
  });
}

export interface ApiAnswer {
  readonly status: number;
  readonly json: Record<string, unknown>;
}

/** One call of the public API on 127.0.0.1 with a bearer key, a JSON body and an idempotency key when given. */
export async function callApi(port: number, key: string, method: string, path: string, body?: unknown, idempotency_key?: string): Promise<ApiAnswer> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(idempotency_key === undefined ? {} : { 'idempotency-key': idempotency_key }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

export interface WalletHistoryLine {
  readonly id: string;
  readonly type: string;
  readonly amount: number;
  readonly status: string;
}

/** Every line of a wallet's history, page by page. */
export async function walletHistory(port: number, key: string, wallet: string): Promise<WalletHistoryLine[]> {
  const lines: WalletHistoryLine[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await callApi(port, key, 'GET', `/v1/wallets/${wallet}/transactions?limit=100${after === undefined ? '' : `&starting_after=${after}`}`);
    expect(page.status).toBe(200);
    const data = page.json.data as WalletHistoryLine[];
    lines.push(...data);
    const last = data.at(-1);
    if (page.json.has_more !== true || last === undefined) return lines;
    after = last.id;
  }
}
