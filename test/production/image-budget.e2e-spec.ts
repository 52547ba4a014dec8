import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { multipartImages } from '../../scripts/lib/hostile';
import { metricValue, waitFor } from './utils/http';
import { RunningServer, runServer } from './utils/server';

/**
 * The per-request image budget (IMAGE_MAX_TOTAL_PIXELS), read from the headers before any
 * decode, and decoding that stops when its client leaves; against the built server and the
 * shipped digits model. "Nothing was decoded" is read from image_decodes_total, not from a clock.
 */

const digit = (name: string) => readFileSync(join(__dirname, '..', 'fixtures', 'digits', name));
const b64 = (bytes: Buffer) => bytes.toString('base64');
const argmax = (row: number[]) => row.indexOf(Math.max(...row));

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** A multipart/form-data upload of `files` to the digits model (the soak's own builder). */
const multipart = (files: Buffer[]) => multipartImages('digits', files);

async function post(
  url: string,
  path: string,
  body: Buffer | string,
  headers: Record<string, string>,
): Promise<Reply> {
  const res = await fetch(`${url}${path}`, { method: 'POST', body, headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The three carriers of images, each answering with the digits it read (or the refusal). */
const CARRIERS: Record<string, (url: string, images: Buffer[]) => Promise<Reply>> = {
  'multipart on /predict': (url, images) => {
    const { body, type } = multipart(images);
    return post(url, '/predict', body, { 'content-type': type });
  },
  'b64 JSON on /predict': (url, images) =>
    post(
      url,
      '/predict',
      JSON.stringify({ model: 'digits', instances: images.map((i) => ({ b64: b64(i) })) }),
      { 'content-type': 'application/json' },
    ),
  'V2 BYTES in the binary form': (url, images) => {
    const elements = Buffer.concat(
      images.flatMap((file) => {
        const length = Buffer.alloc(4);
        length.writeUInt32LE(file.length);
        return [length, file];
      }),
    );
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          {
            name: 'image',
            shape: [images.length],
            datatype: 'BYTES',
            parameters: { binary_data_size: elements.length },
          },
        ],
      }),
    );
    return post(url, '/v2/models/digits/infer', Buffer.concat([header, elements]), {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    });
  },
  'V2 BYTES as base64 in JSON': (url, images) =>
    post(
      url,
      '/v2/models/digits/infer',
      JSON.stringify({
        inputs: [
          { name: 'image', shape: [images.length], datatype: 'BYTES', data: images.map(b64) },
        ],
      }),
      { 'content-type': 'application/json' },
    ),
};

/** The labels an answer gives, whatever the protocol. */
function labels(reply: Reply): string[] {
  if (Array.isArray(reply.body.predictions)) {
    return (reply.body.predictions as { label: string }[]).map((p) => p.label);
  }
  const [output] = reply.body.outputs as { shape: number[]; data: number[] }[];
  return Array.from({ length: output.shape[0] }, (_, i) =>
    String(argmax(output.data.slice(i * 10, i * 10 + 10))),
  );
}

/** The error text, whatever the protocol ({message} natively, {error} on V2). */
const errorOf = (reply: Reply) => String(reply.body.message ?? reply.body.error);

/** image_decodes_total by outcome. */
async function decodes(url: string): Promise<{ ok: number; failed: number; skipped: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const count = (outcome: string) => metricValue(text, 'image_decodes_total', { outcome }) ?? 0;
  return { ok: count('ok'), failed: count('failed'), skipped: count('skipped') };
}
const total = (d: { ok: number; failed: number; skipped: number }) => d.ok + d.failed + d.skipped;

/** A 7 from the fixtures resized to width x height: a digit the model still reads as 7. */
const seven = (width: number, height: number, interlaced = false) =>
  sharp(digit('7.png'))
    .resize(width, height, { fit: 'fill' })
    .png({ progressive: interlaced })
    .toBuffer();

describe('Image decode budget per request (e2e, built server, digits model)', () => {
  describe('with the defaults (IMAGE_MAX_TOTAL_PIXELS = 4 x IMAGE_MAX_PIXELS = 100000000)', () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await runServer();
    }, 30_000);
    afterAll(() => server?.stop());

    it('should refuse 32 interlaced 5000x5000 PNGs from their headers, decoding none, while a concurrent one-image request is answered', async () => {
      // Black and interlaced: 73 kB each, 25 megapixels each once decoded (whole, not in strips).
      const bomb = await sharp({
        create: { width: 5000, height: 5000, channels: 3, background: '#000' },
      })
        .png({ progressive: true })
        .toBuffer();
      const upload = multipart(Array.from({ length: 32 }, () => bomb));
      const single = multipart([digit('7.png')]);
      const before = await decodes(server.url);

      const [refused, normal] = await Promise.all([
        post(server.url, '/predict', upload.body, { 'content-type': upload.type }),
        post(server.url, '/predict', single.body, { 'content-type': single.type }),
      ]);

      expect(refused.status).toBe(413);
      expect(errorOf(refused)).toBe(
        'the images in this request hold 3200000000 pixels (32 interlaced or progressive, counted 4x: they are decoded whole); at most 100000000 per request (IMAGE_MAX_TOTAL_PIXELS): send fewer or smaller images per request',
      );
      expect(normal.status).toBe(200);
      expect(labels(normal)).toEqual(['7']);
      // The one-image request's decode, and not one of the 32.
      const after = await decodes(server.url);
      expect(after).toEqual({ ...before, ok: before.ok + 1 });
    }, 60_000);
  });

  describe('with IMAGE_MAX_TOTAL_PIXELS=40000', () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await runServer({ IMAGE_MAX_TOTAL_PIXELS: '40000' });
    }, 30_000);
    afterAll(() => server?.stop());

    describe.each(Object.keys(CARRIERS))('%s', (carrier) => {
      const send = (images: Buffer[]) => CARRIERS[carrier](server.url, images);

      it('should decode 4 images of 100x100 (40000 pixels, the budget exactly)', async () => {
        const image = await seven(100, 100);
        const reply = await send([image, image, image, image]);
        expect(reply.status).toBe(200);
        expect(labels(reply)).toEqual(['7', '7', '7', '7']);
      });

      it('should refuse 3 of 100x100 and one of 100x101 (40100 pixels) before decoding any', async () => {
        const image = await seven(100, 100);
        const before = await decodes(server.url);
        const reply = await send([image, image, image, await seven(100, 101)]);
        expect(reply.status).toBe(413);
        expect(errorOf(reply)).toBe(
          'the images in this request hold 40100 pixels; at most 40000 per request (IMAGE_MAX_TOTAL_PIXELS): send fewer or smaller images per request',
        );
        expect(await decodes(server.url)).toEqual(before);
      });
    });

    it('should count an interlaced PNG 4x: one of 100x100 fits, one of 100x100 with a 1x1 beside it does not', async () => {
      const { body, type } = multipart([await seven(100, 100, true)]);
      const alone = await post(server.url, '/predict', body, { 'content-type': type });
      expect(alone.status).toBe(200);
      expect(labels(alone)).toEqual(['7']);

      const dot = await sharp({
        create: { width: 1, height: 1, channels: 3, background: '#000' },
      })
        .png()
        .toBuffer();
      const pair = multipart([await seven(100, 100, true), dot]);
      const refused = await post(server.url, '/predict', pair.body, { 'content-type': pair.type });
      expect(refused.status).toBe(413);
      expect(errorOf(refused)).toMatch(
        /^the images in this request hold 40001 pixels \(1 interlaced or progressive, counted 4x: they are decoded whole\); at most 40000 per request/,
      );

      // The same two images, not interlaced: 10001 pixels.
      const plain = multipart([await seven(100, 100), dot]);
      const fits = await post(server.url, '/predict', plain.body, { 'content-type': plain.type });
      expect(fits.status).toBe(200);
      expect(labels(fits)[0]).toBe('7');
    });
  });

  describe('a client that leaves mid-decode', () => {
    let server: RunningServer;
    beforeAll(async () => {
      // A budget that admits the whole upload: here the decodes must start, then stop.
      server = await runServer({ IMAGE_MAX_TOTAL_PIXELS: '2000000000' });
    }, 30_000);
    afterAll(() => server?.stop());

    it('should stop decoding its remaining images (counted as skipped)', async () => {
      const COUNT = 100;
      // Interlaced 2000x2000: tens of milliseconds of CPU each, a few seconds for all of them.
      const image = await sharp({
        create: { width: 2000, height: 2000, channels: 3, background: '#000' },
      })
        .png({ progressive: true })
        .toBuffer();
      const { body, type } = multipart(Array.from({ length: COUNT }, () => image));
      const before = await decodes(server.url);

      const url = new URL('/predict', server.url);
      const req = httpRequest({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: false,
        headers: { 'content-type': type, 'content-length': body.length },
      });
      req.on('error', () => undefined); // the test cuts it
      req.end(body);
      // Leave once the server has decoded its first image: the rest are running or queued.
      await waitFor(async () => (await decodes(server.url)).ok > before.ok, 20_000);
      req.destroy();

      // Every image is accounted for: decoded before the client left (or while it was leaving),
      // or skipped.
      await waitFor(async () => total(await decodes(server.url)) === total(before) + COUNT, 20_000);
      const after = await decodes(server.url);
      expect(after.failed).toBe(before.failed);
      expect(after.skipped - before.skipped).toBeGreaterThan(0);
      expect(after.ok - before.ok).toBeLessThan(COUNT);
    }, 60_000);
  });
});
