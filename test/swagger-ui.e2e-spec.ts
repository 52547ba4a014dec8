import { NestExpressApplication } from '@nestjs/platform-express';
import { existsSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Browser, chromium } from 'playwright-core';
import { closeApp, createTestApp } from './utils/test-app';

/**
 * A person trying a model from the browser: Swagger UI in a real headless Chromium (Debian's
 * `chromium`, driven by playwright-core; Playwright's own browser download cannot work here)
 * against the real server on loopback, uploading a digit through the /predict form.
 */
const CHROMIUM = '/usr/bin/chromium';
const DIGIT = join(__dirname, 'fixtures', 'digits', '7.png');

// Skipped only on a machine without Chromium and outside CI; under CI=true a missing browser fails.
const available = existsSync(CHROMIUM) || Boolean(process.env.CI);
if (!available) {
  console.warn(
    `Skipping the Swagger UI browser test: ${CHROMIUM} is missing (apt-get install -y chromium). CI never skips it.`,
  );
}
const describeWithBrowser = available ? describe : describe.skip;

describeWithBrowser('Swagger UI in a real browser (e2e)', () => {
  let app: NestExpressApplication;
  let browser: Browser;
  let url: string;

  beforeAll(async () => {
    app = await createTestApp();
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await closeApp(app);
  });

  it('should label a digit PNG uploaded through the /predict form', async () => {
    const page = await browser.newPage();
    await page.goto(`${url}/docs`);
    const operation = page.locator('#operations-predict-PredictController_predict');
    await operation.locator('.opblock-summary').click();
    await operation.getByRole('button', { name: 'Try it out' }).click();
    await operation
      .locator('.opblock-section-request-body select')
      .selectOption('multipart/form-data');
    await operation.locator('tr[data-property-name="model"] input[type=text]').fill('digits');
    await operation.locator('tr[data-property-name="image"] input[type=file]').setInputFiles(DIGIT);
    await operation.getByRole('button', { name: 'Execute' }).click();

    const body = operation.locator('.live-responses-table .response-col_description pre').first();
    await body.waitFor({ timeout: 20_000 });
    const status = operation
      .locator('.live-responses-table tr.response .response-col_status')
      .first();
    const text = (await body.textContent()) ?? '';
    expect(`${(await status.textContent())?.trim()} ${text}`).toMatch(/^200 /);
    const answer = JSON.parse(text);
    expect(answer).toMatchObject({ model: 'digits', version: 1 });
    expect(answer.predictions[0].label).toBe('7');
    await page.close();
  }, 60_000);
});
