import { ServingError } from '../errors/serving-error';
import { packedOf } from '../tensor/packed-array';

/**
 * Finding images among a request's values. Three carriers reach here: TF Serving's convention
 * for binary values in JSON (`{"b64": "<base64>"}`), V2 BYTES elements (base64 strings in JSON,
 * raw bytes in the binary form) and multipart uploads (raw bytes). They all end as Buffers.
 */

/** TF Serving's binary value: an object whose only key is `b64`. */
export const isB64 = (value: unknown): value is { b64: unknown } =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.keys(value).length === 1 &&
  Object.hasOwn(value, 'b64');

// Standard or URL-safe alphabet, optional padding; whitespace (line breaks from `base64`) is allowed.
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
// A browser's canvas.toDataURL() gives "data:image/png;base64,..." : accepted as it is.
const DATA_URL = /^data:[\w/+.-]*;base64,/;

/** Decodes base64 strictly: Buffer.from() silently skips bad characters and would hide a mangled upload. */
export function decodeBase64(text: unknown, where: string): Buffer {
  if (typeof text !== 'string') {
    throw ServingError.invalid(`${where}: expected a base64 string, got ${typeof text}`);
  }
  const body = text.replace(DATA_URL, '').replace(/\s+/g, '');
  if (body.length === 0 || !BASE64.test(body)) {
    throw ServingError.invalid(
      `${where}: not valid base64 (expected the image file's bytes in base64, e.g. from \`base64 -w0 digit.png\`)`,
    );
  }
  return Buffer.from(body, body.includes('-') || body.includes('_') ? 'base64url' : 'base64');
}

/**
 * The images in a row-format request: each instance `{"b64": ...}` (or a Buffer from a multipart
 * upload), or `{"<input>": {"b64": ...}}` naming the image input. Undefined when the request
 * holds no image (the numeric path then handles it); a mix of images and numbers is a 400.
 */
export function imageInstances(instances: unknown[], input?: string): Buffer[] | undefined {
  // Packed instances are numbers only (see packedArray); searching them would unpack them.
  if (packedOf(instances)) return undefined;
  const unwrap = (value: unknown): unknown => {
    if (input === undefined || typeof value !== 'object' || value === null) return value;
    const keys = Object.keys(value);
    return keys.length === 1 && keys[0] === input && !isB64(value)
      ? (value as Record<string, unknown>)[input]
      : value;
  };
  const isImage = (value: unknown) => Buffer.isBuffer(value) || isB64(unwrap(value));
  const first = instances.findIndex(isImage);
  if (first === -1) return undefined;
  const other = instances.findIndex((value) => !isImage(value));
  if (other !== -1) {
    throw ServingError.invalid(
      `instances[${other}] is not an image but instances[${first}] is; send every instance as {"b64": "<base64 image>"}, or none`,
    );
  }
  return instances.map((value, i) => {
    if (Buffer.isBuffer(value)) return value;
    return decodeBase64((unwrap(value) as { b64: unknown }).b64, `instances[${i}].b64`);
  });
}
