import { AppConfig, ConfigError, loadConfig } from './app-config';

/** Every problem ends with the value it got, so counting those counts the messages. */
const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message.match(/[A-Z_]+ [^;]*? \(got [^)]*\)/g) ?? [];
  }
  return [];
};

const VARIABLES = Object.keys(new AppConfig());
const NUMERIC = VARIABLES.filter(
  (name) => typeof (new AppConfig() as unknown as Record<string, unknown>)[name] === 'number',
);

describe('one message per bad variable', () => {
  it('should say once what a variable expects, bounds included, when it is not a number', () => {
    expect(problems({ PORT: '30OO' })).toEqual([
      'PORT must be an integer number from 0 to 65535 (got "30OO")',
    ]);
    expect(problems({ MAX_BATCH: 'many' })).toEqual([
      'MAX_BATCH must be an integer number >= 1 (got "many")',
    ]);
  });

  it('should keep the failed bound alone when the type is right', () => {
    expect(problems({ PORT: '70000' })).toEqual([
      'PORT must not be greater than 65535 (got 70000)',
    ]);
  });

  it("should keep a variable's own wording, once", () => {
    expect(problems({ MODEL_POLL_SECONDS: 'often' })).toEqual([
      'MODEL_POLL_SECONDS must be a number of seconds >= 0 (0 = off) (got "often")',
    ]);
    expect(problems({ ADMIN_PORT: 'admin' })).toEqual([
      'ADMIN_PORT must be an integer (0 = off) (got "admin")',
    ]);
  });

  it.each(NUMERIC)('should refuse %s=30OO with one message naming it and the value', (name) => {
    const found = problems({ [name]: '30OO' });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(new RegExp(`^${name} must .*\\(got "30OO"\\)$`));
  });

  it.each(VARIABLES)('should give %s at most one message for any bad value', (name) => {
    for (const value of ['30OO', '-1', '1.5', '99999999999', '', 'gpu']) {
      expect(problems({ [name]: value }).length).toBeLessThanOrEqual(1);
    }
  });

  it('should give one message per bad variable when several are bad', () => {
    const found = problems({ PORT: '30OO', WORKERS: 'x', TFJS_BACKEND: 'gpu', MAX_BATCH: '0' });
    expect(found.map((problem) => problem.split(' ')[0]).sort()).toEqual([
      'MAX_BATCH',
      'PORT',
      'TFJS_BACKEND',
      'WORKERS',
    ]);
  });
});
