import { NestExpressApplication } from '@nestjs/platform-express';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import request from 'supertest';
import { copyShipped, makeRepository, ModelWriter, removeRepository } from './utils/fixtures';
import { closeApp, createTestApp } from './utils/test-app';

const DIGITS = join(__dirname, 'fixtures', 'digits');
const digit = (name: string) => readFileSync(join(DIGITS, name));
const b64 = (bytes: Buffer) => bytes.toString('base64');

/** The shipped digits model with its image block changed (e.g. inverted for photos). */
const digitsWith =
  (image: Record<string, unknown>): ModelWriter =>
  (dir) => {
    copyShipped('digits/1')(dir);
    const file = join(dir, 'metadata.json');
    const metadata = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...metadata, image: { ...metadata.image, ...image } }));
  };

const argmax = (row: number[]) => row.indexOf(Math.max(...row));

describe('Images in, labels out (e2e, the shipped digits model)', () => {
  let app: NestExpressApplication;
  let repo: string;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    repo = await makeRepository({
      'digits/1': copyShipped('digits/1'),
      'digits-photo/1': digitsWith({ invert: true }),
      'iris/2': copyShipped('iris/2'),
    });
    app = await createTestApp({ MODEL_DIR: repo, MAX_BATCH: '16' });
  }, 30_000);
  afterAll(async () => {
    await closeApp(app);
    removeRepository(repo);
  });

  describe('POST /predict', () => {
    it('should label an uploaded digit PNG (multipart, as curl -F sends it)', async () => {
      const res = await http()
        .post('/predict')
        .field('model', 'digits')
        .attach('image', join(DIGITS, '7.png'))
        .expect(200);
      expect(res.body).toMatchObject({ model: 'digits', version: 1 });
      expect(res.body.predictions).toHaveLength(1);
      expect(res.body.predictions[0].label).toBe('7');
      expect(res.body.predictions[0].scores['7']).toBeGreaterThan(0.5);
    });

    it('should answer one prediction per uploaded file, in order', async () => {
      let upload = http().post('/predict').field('model', 'digits');
      for (const d of ['1', '4', '9']) upload = upload.attach('image', join(DIGITS, `${d}.png`));
      const res = await upload.expect(200);
      expect(res.body.predictions.map((p: { label: string }) => p.label)).toEqual(['1', '4', '9']);
    });

    it('should give the same scores for the PNG as b64, as a file, and as the numbers its metadata describes', async () => {
      const png = digit('3.png');
      const asFile = await http()
        .post('/predict')
        .field('model', 'digits')
        .attach('image', png, '3.png')
        .expect(200);
      const asB64 = await http()
        .post('/predict')
        .send({ model: 'digits', instances: [{ b64: b64(png) }] })
        .expect(200);
      // scale [0, 1] on the decoded bytes, by hand: the numbers path gives the same answer.
      const { data } = await sharp(png)
        .toColourspace('b-w')
        .raw()
        .toBuffer({ resolveWithObject: true });
      const rows = Array.from({ length: 28 }, (_, y) =>
        Array.from({ length: 28 }, (_, x) => [data[y * 28 + x] / 255]),
      );
      const asNumbers = await http()
        .post('/predict')
        .send({ model: 'digits', instances: [rows] })
        .expect(200);
      expect(asB64.body).toEqual(asFile.body);
      expect(asNumbers.body).toEqual(asFile.body);
      expect(asFile.body.predictions[0].label).toBe('3');
    });

    it('should label a dark-on-light photo (JPEG, larger, colour) when the image block says invert', async () => {
      const photo = join(DIGITS, 'photo-3.jpg');
      const inverted = await http()
        .post('/predict')
        .field('model', 'digits-photo')
        .attach('image', photo)
        .expect(200);
      expect(inverted.body.predictions[0].label).toBe('3');
      const plain = await http()
        .post('/predict')
        .field('model', 'digits')
        .attach('image', photo)
        .expect(200);
      expect(plain.body.predictions[0].scores['3']).toBeLessThan(
        inverted.body.predictions[0].scores['3'],
      );
    });

    it('should refuse a corrupt image, another format and a decompression bomb with 400s, and keep serving', async () => {
      const png = digit('7.png');
      const corrupt = Buffer.concat([png.subarray(0, 50), Buffer.alloc(30, 1)]);
      const res = await http()
        .post('/predict')
        .send({ model: 'digits', instances: [{ b64: b64(corrupt) }] })
        .expect(400);
      expect(res.body.message).toMatch(/instances\[0\]: the PNG image could not be decoded/);

      const text = await http()
        .post('/predict')
        .field('model', 'digits')
        .attach('image', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'x.svg')
        .expect(400);
      expect(text.body.message).toMatch(/unsupported image format .*send JPEG, PNG, WebP/);

      const bomb = Buffer.from(png);
      bomb.writeUInt32BE(30000, 16);
      bomb.writeUInt32BE(30000, 20);
      bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29);
      const big = await http()
        .post('/predict')
        .field('model', 'digits')
        .attach('image', bomb, 'b.png');
      expect(big.status).toBe(400);
      expect(big.body.message).toMatch(
        /30000x30000 = 900000000 pixels, over the limit of 25000000 \(IMAGE_MAX_PIXELS\)/,
      );

      await http()
        .post('/predict')
        .field('model', 'digits')
        .attach('image', png, '7.png')
        .expect(200);
    });

    it('should tell how to declare an image block when the model has none', async () => {
      const res = await http()
        .post('/predict')
        .field('model', 'iris')
        .attach('image', join(DIGITS, '7.png'))
        .expect(400);
      expect(res.body.message).toMatch(
        /model 'iris' takes no images: its metadata.json has no "image" block.*"image": \{ "size"/,
      );
    });

    it('should refuse more files than MAX_BATCH with a 413', async () => {
      let upload = http().post('/predict').field('model', 'digits');
      for (let i = 0; i < 17; i++) upload = upload.attach('image', digit('1.png'), `${i}.png`);
      const res = await upload.expect(413);
      expect(res.body.message).toMatch(/at most MAX_BATCH=16 images per request/);
    });
  });

  describe('TF Serving :predict', () => {
    it('should take {"b64": ...} instances and answer the probability rows', async () => {
      const res = await http()
        .post('/v1/models/digits:predict')
        .send({
          instances: [{ b64: b64(digit('7.png')) }, { image: { b64: b64(digit('2.png')) } }],
        })
        .expect(200);
      expect(res.body.predictions.map(argmax)).toEqual([7, 2]);
    });
  });

  describe('V2 infer with a BYTES input', () => {
    it('should take base64 image files as BYTES elements in JSON', async () => {
      const res = await http()
        .post('/v2/models/digits/infer')
        .send({
          inputs: [
            {
              name: 'image',
              shape: [2],
              datatype: 'BYTES',
              data: [b64(digit('5.png')), b64(digit('0.png'))],
            },
          ],
        })
        .expect(200);
      const [output] = res.body.outputs;
      expect(output.shape).toEqual([2, 10]);
      expect([argmax(output.data.slice(0, 10)), argmax(output.data.slice(10))]).toEqual([5, 0]);
    });

    it('should take raw image files as BYTES elements in the binary form (4-byte length prefix each)', async () => {
      const files = [digit('8.png'), digit('6.png')];
      const elements = Buffer.concat(
        files.flatMap((file) => {
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
              shape: [2],
              datatype: 'BYTES',
              parameters: { binary_data_size: elements.length },
            },
          ],
        }),
      );
      const res = await http()
        .post('/v2/models/digits/infer')
        .set('Content-Type', 'application/octet-stream')
        .set('Inference-Header-Content-Length', String(header.length))
        .send(Buffer.concat([header, elements]))
        .expect(200);
      const { data } = res.body.outputs[0];
      expect([argmax(data.slice(0, 10)), argmax(data.slice(10))]).toEqual([8, 6]);
    });

    it('should refuse a BYTES shape that is not one image per element, and BYTES for a model without an image block', async () => {
      const wrong = await http()
        .post('/v2/models/digits/infer')
        .send({ inputs: [{ name: 'image', shape: [1, 2], datatype: 'BYTES', data: ['AA', 'AA'] }] })
        .expect(400);
      expect(wrong.body.error).toMatch(/takes shape \[N\] or \[N,1\], one image file per element/);
      const iris = await http()
        .post('/v2/models/iris/infer')
        .send({
          inputs: [
            { name: 'features', shape: [1], datatype: 'BYTES', data: [b64(digit('1.png'))] },
          ],
        })
        .expect(400);
      expect(iris.body.error).toMatch(/datatype BYTES cannot feed input 'features', which is FP32/);
    });
  });
});

describe('Image uploads and BODY_LIMIT (e2e)', () => {
  it('should refuse an upload whose body is over BODY_LIMIT with a 413, before reading it', async () => {
    const repo = await makeRepository({ 'digits/1': copyShipped('digits/1') });
    const app = await createTestApp({ MODEL_DIR: repo, BODY_LIMIT: '1kb' });
    try {
      const res = await request(app.getHttpServer())
        .post('/predict')
        .attach('image', Buffer.concat([digit('8.png'), Buffer.alloc(2048)]), '8.png')
        .expect(413);
      expect(res.body.message).toMatch(/over the limit of 1024 bytes \(BODY_LIMIT\)/);
      await request(app.getHttpServer())
        .post('/predict')
        .attach('image', digit('8.png'), '8.png')
        .expect(200);
    } finally {
      await closeApp(app);
      removeRepository(repo);
    }
  }, 30_000);
});

describe('A bad image block in metadata.json', () => {
  it('should stop the model from loading, with what to fix', async () => {
    const repo = await makeRepository({ 'digits/1': digitsWith({ size: [32, 32] }) });
    try {
      await expect(createTestApp({ MODEL_DIR: repo })).rejects.toThrow(
        /metadata.json: "image": height 32 does not match input 'image' \[-1,28,28,1\]/,
      );
    } finally {
      removeRepository(repo);
    }
  }, 30_000);
});
