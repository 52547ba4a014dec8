import { AppConfig } from './app-config';
import { editDistance, serverPrefixes, unknownVariableWarnings } from './unknown-variables';

describe(unknownVariableWarnings.name, () => {
  it('should suggest the known name a misspelled variable is within two edits of', () => {
    expect(unknownVariableWarnings({ MODEL_POLL_SECOND: '1' })).toEqual([
      'Unknown variable MODEL_POLL_SECOND; did you mean MODEL_POLL_SECONDS?',
    ]);
    expect(unknownVariableWarnings({ BACTH_MAX_SIZE: '8', JSON_MAX_DEPT: '4' })).toEqual([
      'Unknown variable BACTH_MAX_SIZE; did you mean BATCH_MAX_SIZE?',
      'Unknown variable JSON_MAX_DEPT; did you mean JSON_MAX_DEPTH?',
    ]);
  });

  it('should suggest the known name in capitals for a lower-case one, and the name with its unit', () => {
    expect(unknownVariableWarnings({ model_dir: 'm', SHUTDOWN_DELAY: '1000' })).toEqual([
      'Unknown variable SHUTDOWN_DELAY; did you mean SHUTDOWN_DELAY_MS?',
      'Unknown variable model_dir; did you mean MODEL_DIR?',
    ]);
  });

  it("should warn without a suggestion on a variable with the server's prefix and no close name", () => {
    expect(unknownVariableWarnings({ MODEL_REPOSITORY: '/m', IMAGE_FORMAT: 'png' })).toEqual([
      'Unknown variable IMAGE_FORMAT',
      'Unknown variable MODEL_REPOSITORY',
    ]);
  });

  it('should say nothing about known variables or the usual environment of a shell, container or pod', () => {
    const usual = [
      ...Object.keys(new AppConfig()),
      ...'HOME PATH PWD OLDPWD USER SHELL TERM LANG LC_ALL TZ HOSTNAME LOGNAME SHLVL MAIL TMPDIR'.split(
        ' ',
      ),
      ...'NODE_ENV NODE_OPTIONS NODE_PATH UV_THREADPOOL_SIZE CI DEBUG NO_COLOR FORCE_COLOR'.split(
        ' ',
      ),
      ...'HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy JEST_WORKER_ID npm_config_cache'.split(' '),
      ...'KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT KUBERNETES_PORT POD_NAME POD_IP'.split(
        ' ',
      ),
      ...'ORT_DISABLE_TELEMETRY TF_CPP_MIN_LOG_LEVEL CUDA_VISIBLE_DEVICES DOCKER_HOST'.split(' '),
    ];
    expect(unknownVariableWarnings(Object.fromEntries(usual.map((name) => [name, '1'])))).toEqual(
      [],
    );
  });

  it('should take only one edit for a short name: HOME is not a typo of HOST', () => {
    expect(unknownVariableWarnings({ HOME: '/root', HSOT: 'x' })).toEqual([
      'Unknown variable HSOT; did you mean HOST?',
    ]);
  });
});

describe(serverPrefixes.name, () => {
  it('should take the first words at least two known names share', () => {
    expect(
      serverPrefixes(['MODEL_DIR', 'MODEL_POLL_SECONDS', 'ORT_INTRA_OP_THREADS', 'PORT']),
    ).toEqual(['MODEL_']);
    expect(serverPrefixes(Object.keys(new AppConfig()))).toEqual(
      expect.arrayContaining(['MODEL_', 'JSON_', 'IMAGE_', 'BATCH_', 'MAX_', 'SHUTDOWN_']),
    );
  });
});

describe(editDistance.name, () => {
  it('should count an insertion, a deletion, a substitution and a transposition as one edit each', () => {
    expect(editDistance('PORT', 'PORT')).toBe(0);
    expect(editDistance('PORT', 'PORTS')).toBe(1);
    expect(editDistance('PORT', 'POT')).toBe(1);
    expect(editDistance('PORT', 'PART')).toBe(1);
    expect(editDistance('PORT', 'PROT')).toBe(1);
    expect(editDistance('HOME', 'HOST')).toBe(2);
  });
});
