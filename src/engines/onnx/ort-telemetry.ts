/**
 * What ONNX Runtime must find in the process environment so it phones nobody and leaves nothing
 * behind. Since 1.29 its Linux and macOS builds upload usage events (1DS) unless this is set: on
 * the first session of a process it writes `mat-debug-<pid>.log` into TMPDIR (or /tmp), keeps a
 * 3 MB offline cache and a device id under `$XDG_CACHE_HOME` or `$HOME/.cache/Microsoft`, reads
 * /etc/machine-id and resolves an upload host. ONNX Runtime reads it with getenv() when it
 * creates its environment, once per process, and latches the answer; CI variables (CI,
 * GITHUB_ACTIONS, ...) suppress it too, which is why a CI run does not show the leak.
 */
export const ORT_QUIET_ENV = { ORT_DISABLE_TELEMETRY: '1' } as const;

/**
 * Sets ORT_QUIET_ENV in `env` where it is unset or empty. A value the operator chose is kept:
 * `ORT_DISABLE_TELEMETRY=0` is how they opt back in. On the main thread, writing process.env
 * calls setenv(), so the native library, whichever thread it runs in, sees it.
 */
export function keepOnnxRuntimeQuiet(env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, value] of Object.entries(ORT_QUIET_ENV)) {
    if ((env[name] ?? '').trim() === '') env[name] = value;
  }
}
