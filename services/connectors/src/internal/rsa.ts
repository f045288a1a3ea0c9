// SHA256withRSA, the signature both Alipay (RSA2) and WeChat Pay API v3 use: PKCS #1 v1.5
// padding over SHA-256, written as base64.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { assert } from '@paygrid/kernel';

/**
 * Reads a private key from PEM (PKCS #8 or PKCS #1), or from bare base64 PKCS #8 as Alipay's key
 * tool writes it. A key that cannot be read is a configuration mistake and throws at once. A key
 * object (as the platform config loads keys from files) is taken as it is.
 */
export function readPrivateKey(text: string | KeyObject): KeyObject {
  if (typeof text !== 'string') {
    assert(text.type === 'private', 'a private key object is required');
    return text;
  }
  if (text.includes('-----BEGIN')) return createPrivateKey(text);
  return createPrivateKey({ key: Buffer.from(text.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'pkcs8' });
}

/** Reads a public key from PEM (SPKI, PKCS #1 or a certificate), or from bare base64 SPKI. */
export function readPublicKey(text: string | KeyObject): KeyObject {
  if (typeof text !== 'string') {
    assert(text.type === 'public', 'a public key object is required');
    return text;
  }
  if (text.includes('-----BEGIN')) return createPublicKey(text);
  return createPublicKey({ key: Buffer.from(text.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'spki' });
}

export function signSha256WithRsa(private_key: KeyObject, content: string): string {
  return sign('sha256', Buffer.from(content, 'utf8'), private_key).toString('base64');
}

/** False for a wrong signature and for one that is not even base64 of the right length. */
export function verifySha256WithRsa(public_key: KeyObject, content: string, signature_base64: string): boolean {
  if (signature_base64 === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature_base64)) return false;
  try {
    return verify('sha256', Buffer.from(content, 'utf8'), public_key, Buffer.from(signature_base64, 'base64'));
  } catch {
    return false;
  }
}
