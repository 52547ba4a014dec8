import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppConfig, loadConfig } from '../../src/config/app-config';
import { ORT_QUIET_ENV } from '../../src/engines/onnx/ort-telemetry';
import { runUntilExit } from '../utils/server-process';
import { SHIPPED_MODELS } from '../utils/test-app';

jest.setTimeout(120_000);

const DEPLOY = join(__dirname, '..', '..', 'deploy');
const read = (file: string) => readFileSync(join(DEPLOY, file), 'utf8');
const unquote = (value: string) => value.trim().replace(/^'(.*)'$/, '$1');
const envOf = (yaml: string) =>
  Object.fromEntries(
    [...yaml.matchAll(/- name: ([A-Z_]+)\n\s+value: (.+)/g)].map(([, name, value]) => [
      name,
      unquote(value),
    ]),
  );
const imageOf = (yaml: string, container: string) =>
  new RegExp(`- name: ${container}\\n(?:\\s+#.*\\n)*\\s+image: (\\S+)`).exec(yaml)?.[1];

/** Which KServe model format each engine's model file is, as the runtime must declare it. */
const FORMAT_OF_FILE: Record<string, string> = {
  'model.json': 'tensorflowjs',
  'model.onnx': 'onnx',
};

/**
 * deploy/check-models-job.yaml runs the repository check on a downloaded storageUri with the
 * runtime's image and settings, so that what it passes a pod of deploy/serving-runtime.yaml
 * loads. The runtime declares the format of every engine the shipped models use.
 */
describe('deploy/ repository check Job and model formats (e2e)', () => {
  const runtime = read('serving-runtime.yaml');
  const job = read('check-models-job.yaml');
  const jobEnv = envOf(job);

  it('should declare a KServe model format for every engine of the shipped models', () => {
    const formats = [...runtime.matchAll(/^\s+- name: ([a-z]\S*)\n\s+version: /gm)].map(
      ([, name]) => name,
    );
    const used = new Set<string>();
    for (const model of readdirSync(SHIPPED_MODELS)) {
      for (const version of readdirSync(join(SHIPPED_MODELS, model))) {
        for (const [file, format] of Object.entries(FORMAT_OF_FILE))
          if (existsSync(join(SHIPPED_MODELS, model, version, file))) used.add(format);
      }
    }
    expect([...used].sort()).toEqual(['onnx', 'tensorflowjs']);
    expect(formats.sort()).toEqual([...used].sort());
  });

  it('should check with the image and the loading settings of the runtime', () => {
    expect(imageOf(job, 'check-models')).toBe(imageOf(runtime, 'kserve-container'));
    const known = [...Object.keys(new AppConfig()), ...Object.keys(ORT_QUIET_ENV)];
    expect(Object.keys(jobEnv).filter((name) => !known.includes(name))).toEqual([]);
    expect(() => loadConfig(jobEnv)).not.toThrow();
    const runtimeEnv = envOf(runtime);
    for (const name of ['MODEL_VERSION_POLICY', 'TFJS_BACKEND', 'ORT_DISABLE_TELEMETRY'])
      expect({ name, value: jobEnv[name] }).toEqual({ name, value: runtimeEnv[name] });
  });

  it('should check the folder the storage initializer fills, which is the runtime MODEL_DIR', () => {
    const command = /command: \[(.+)\]/
      .exec(job)?.[1]
      .split(',')
      .map((arg) => unquote(arg));
    expect(command).toEqual(['node', 'dist/main.js', '--check', '/mnt/models']);
    expect(envOf(runtime).MODEL_DIR).toBe('/mnt/models');
    // The download step writes there, and the check reads the same volume.
    expect(job).toMatch(/args:\n\s+- \S+\n\s+- \/mnt\/models\n/);
    expect([...job.matchAll(/mountPath: \/mnt\/models/g)]).toHaveLength(2);
  });

  it("should pass the shipped models when its command runs with the Job's environment", async () => {
    const result = await runUntilExit(jobEnv, 90_000, ['--check', SHIPPED_MODELS]);
    expect(result.output).toMatch(/^OK\s+iris-onnx\s+1\s+onnx\s/m);
    expect(result.output).toMatch(/^OK\s+iris\s+2\s+layers-model\s/m);
    expect(result.code).toBe(0);
  });
});
