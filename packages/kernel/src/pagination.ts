// Lists paginate Stripe's way: newest first, `limit` (1 to 100, default 10), and a cursor that is
// an object id, `starting_after` (older than it) or `ending_before` (newer than it). Every table
// that is listed has an `id` TEXT column and a `sequence` integer that grows with each insert,
// so "newest first" is "highest sequence first", with no ties and no clock involved.
import { ApiError } from './errors';
import type { Database } from './db/database';

export const page_limit_default = 10;
export const page_limit_max = 100;

export interface PageRequest {
  readonly limit?: number;
  readonly starting_after?: string;
  readonly ending_before?: string;
}

export interface Page<Item> {
  readonly data: Item[];
  readonly has_more: boolean;
}

export interface SelectPageOptions {
  /** A trusted table name (never from a request). */
  readonly table: string;
  /** A trusted SQL condition with `?` placeholders that scopes the list, e.g. `merchant_id = ? AND livemode = ?`. */
  readonly where: string;
  readonly params: readonly unknown[];
  readonly page: PageRequest;
}

/**
 * Reads one page of rows, newest first. A cursor that is not in the scoped list (missing, or
 * another tenant's) is refused with the same error either way, so it cannot be used to probe ids.
 */
export async function selectPage<Row extends { readonly sequence: number | string }>(
  database: Database,
  options: SelectPageOptions,
): Promise<Page<Row>> {
  const { page } = options;
  const limit = page.limit ?? page_limit_default;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > page_limit_max) {
    throw new ApiError('invalid_request_error', 'parameter_invalid_integer', `limit must be an integer from 1 to ${page_limit_max}`, 'limit');
  }
  if (page.starting_after !== undefined && page.ending_before !== undefined) {
    throw new ApiError('invalid_request_error', 'parameters_exclusive', 'Give starting_after or ending_before, not both', 'ending_before');
  }
  const cursor_param = page.starting_after !== undefined ? 'starting_after' : page.ending_before !== undefined ? 'ending_before' : undefined;
  const cursor_id = page.starting_after ?? page.ending_before;
  let cursor_sequence: number | string | undefined;
  if (cursor_param !== undefined && cursor_id !== undefined) {
    const rows = await database.query<{ sequence: number | string }>(
      `SELECT sequence FROM ${options.table} WHERE (${options.where}) AND id = ?`,
      [...options.params, cursor_id],
    );
    cursor_sequence = rows[0]?.sequence;
    if (cursor_sequence === undefined) {
      throw new ApiError('invalid_request_error', 'resource_missing', `No such object: '${cursor_id}'`, cursor_param);
    }
  }
  // One extra row tells whether there are more beyond this page.
  if (cursor_param === 'ending_before') {
    const rows = await database.query<Row>(
      `SELECT * FROM ${options.table} WHERE (${options.where}) AND sequence > ? ORDER BY sequence ASC LIMIT ?`,
      [...options.params, cursor_sequence, limit + 1],
    );
    const has_more = rows.length > limit;
    return { data: rows.slice(0, limit).reverse(), has_more };
  }
  const after = cursor_param === 'starting_after' ? ' AND sequence < ?' : '';
  const rows = await database.query<Row>(
    `SELECT * FROM ${options.table} WHERE (${options.where})${after} ORDER BY sequence DESC LIMIT ?`,
    cursor_param === 'starting_after' ? [...options.params, cursor_sequence, limit + 1] : [...options.params, limit + 1],
  );
  return { data: rows.slice(0, limit), has_more: rows.length > limit };
}
