/** How much of a client-given string an error message echoes. */
export const ECHO_MAX_CHARS = 200;

/**
 * A client-given string (model name, key, datatype, version...) as an error message may echo
 * it: cut to ECHO_MAX_CHARS with a note of what was left out. Echoing it whole lets a 5 MB name
 * come back as a 5 MB error body; the start is enough to recognise it.
 */
export function clip(value: unknown): string {
  const text = String(value);
  if (text.length <= ECHO_MAX_CHARS) return text;
  return `${text.slice(0, ECHO_MAX_CHARS)}… (${text.length} characters)`;
}

/** Most characters of an error message sent to a client: a backstop behind clip(). */
export const ERROR_MAX_CHARS = 4000;

/** Cuts a whole error message when the parts that echo client strings did not keep it short. */
export function clipMessage(message: string): string {
  if (message.length <= ERROR_MAX_CHARS) return message;
  return `${message.slice(0, ERROR_MAX_CHARS)}… (message cut at ${ERROR_MAX_CHARS} of ${message.length} characters)`;
}
