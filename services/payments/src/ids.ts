// Ids of this service's objects: a prefix and 24 base62 characters, like the kernel's randomId, of
// which the first 8 are the creation time. Every table here keeps its rows' ids in a B-tree (the
// UNIQUE ids, the saga run named by its attempt, the status history and the events by object), and
// a wholly random id lands each insert on a random leaf page, which the commit must then write out
// whole. Ids that grow with time land on the last few pages instead, so a commit that carries many
// requests writes those pages once. The 16 random characters (about 95 bits) keep ids unique and
// unguessable within one millisecond; the time they reveal is the object's `created` anyway.
import { randomId } from '@paygrid/kernel';

const base62_alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 62^8 milliseconds is about 6,900 years: time never outgrows its 8 characters. */
const time_characters = 8;

/** Base62 of `now_ms`, fixed width, so that ids of later times sort after earlier ones. */
function timePart(now_ms: number): string {
  let rest = Math.max(0, Math.floor(now_ms));
  let text = '';
  for (let index = 0; index < time_characters; index += 1) {
    text = base62_alphabet.charAt(rest % 62) + text;
    rest = Math.floor(rest / 62);
  }
  return text;
}

/** `prefix_` + the time in 8 base62 characters + 16 random base62 characters. */
export function orderedId(prefix: string, now_ms: number): string {
  const random = randomId(prefix);
  const start = prefix.length + 1;
  return `${random.slice(0, start)}${timePart(now_ms)}${random.slice(start + time_characters)}`;
}
