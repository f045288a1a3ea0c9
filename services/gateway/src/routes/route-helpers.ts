import { Type, type TSchema } from '@sinclair/typebox';
import { ApiError, type Page, type PageRequest } from '@paygrid/kernel';
import { ErrorResponse, type ListQuery } from '../schemas';

interface SchemaParts {
  readonly body?: TSchema;
  readonly querystring?: TSchema;
  readonly params?: TSchema;
  readonly response: TSchema;
}

/** A route's schema: what validates the request, serialises the answer, and documents both. */
export function routeSchema<const Parts extends SchemaParts>(tag: string, summary: string, parts: Parts) {
  const { response, ...request } = parts;
  return {
    tags: [tag],
    summary,
    ...(request),
    response: { 200: response, '4XX': Type.Ref(ErrorResponse), '5XX': Type.Ref(ErrorResponse) },
  };
}

/** Returns the object, or a 404 that reads the same for a missing id and another tenant's id. */
export function found<Value>(value: Value | undefined, kind: string, id: string, param = 'id'): Value {
  if (value === undefined) throw new ApiError('not_found_error', 'resource_missing', `No such ${kind}: '${id}'`, param);
  return value;
}

export function pageOf(query: ListQuery): PageRequest {
  return {
    ...(query.limit === undefined ? {} : { limit: query.limit }),
    ...(query.starting_after === undefined ? {} : { starting_after: query.starting_after }),
    ...(query.ending_before === undefined ? {} : { ending_before: query.ending_before }),
  };
}

export function listOf<Item>(url: string, page: Page<Item>) {
  return { object: 'list' as const, data: page.data, has_more: page.has_more, url };
}
