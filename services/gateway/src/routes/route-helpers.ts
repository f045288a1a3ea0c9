import { Type, type TSchema } from '@sinclair/typebox';
import { ApiError, type Page, type PageRequest } from '@paygrid/kernel';
import type { Static } from '@sinclair/typebox';
import { ErrorResponse, type ListQuery } from '@paygrid/kernel/api-schemas';

interface SchemaParts {
  readonly body?: TSchema;
  readonly querystring?: TSchema;
  readonly params?: TSchema;
  readonly response: TSchema;
  /**
   * Error answers worth naming in the document, by status, each with what it means. Every error
   * is in the one shape and covered by `4XX` anyway; these say which codes a client should expect.
   */
  readonly errors?: Readonly<Record<number, string>>;
}

/** An error answer in the one shape, with what it means for the OpenAPI document. */
export function errorResponse(description: string): TSchema {
  return Type.Ref(ErrorResponse, { description });
}

/** A route's schema: what validates the request, serialises the answer, and documents both. */
export function routeSchema<const Parts extends SchemaParts>(tag: string, summary: string, parts: Parts) {
  const { response, errors, ...request } = parts;
  // Typed as a plain object so that the reply's type is still drawn from the 200 schema alone.
  const named: object = Object.fromEntries(Object.entries(errors ?? {}).map(([status, description]) => [status, errorResponse(description)]));
  return {
    tags: [tag],
    summary,
    ...(request),
    response: { 200: response, ...named, '4XX': Type.Ref(ErrorResponse), '5XX': Type.Ref(ErrorResponse) },
  };
}

/** Returns the object, or a 404 that reads the same for a missing id and another tenant's id. */
export function found<Value>(value: Value | undefined, kind: string, id: string, param = 'id'): Value {
  if (value === undefined) throw new ApiError('not_found_error', 'resource_missing', `No such ${kind}: '${id}'`, param);
  return value;
}

export function pageOf(query: Static<typeof ListQuery>): PageRequest {
  return {
    ...(query.limit === undefined ? {} : { limit: query.limit }),
    ...(query.starting_after === undefined ? {} : { starting_after: query.starting_after }),
    ...(query.ending_before === undefined ? {} : { ending_before: query.ending_before }),
  };
}

export function listOf<Item>(url: string, page: Page<Item>) {
  return { object: 'list' as const, data: page.data, has_more: page.has_more, url };
}
