/** A buffer's bytes as an ArrayBuffer of their own, to move to a worker without a copy. */
export function ownArrayBuffer(bytes: Buffer): ArrayBuffer {
  const { buffer } = bytes;
  if (buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength) return buffer;
  return Uint8Array.prototype.slice.call(bytes).buffer;
}
