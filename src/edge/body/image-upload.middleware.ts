import {
  BadRequestException,
  HttpException,
  Injectable,
  NestMiddleware,
  PayloadTooLargeException,
} from '@nestjs/common';
import bytes from 'bytes';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import multer, { MulterError } from 'multer';
import { AppConfig } from '../../config/app-config';
import { clip } from '../../errors/client-text';

/** The multipart field that carries image files, one instance per file. */
export const IMAGE_FIELD = 'image';

type WithFiles = Request & { files?: Record<string, Express.Multer.File[]> };

/**
 * `POST /predict` as multipart/form-data: text fields `model` and `version` as in JSON, and one
 * or more files in the field `image`. The files become the body's `instances` (one Buffer each),
 * so the same DTO validation and the same prediction path serve both forms. JSON bodies pass
 * through untouched.
 *
 * A middleware, not an interceptor: any interceptor on a route makes Nest run every request of
 * that route through rxjs and an async-context binding, which cost JSON requests on /predict a
 * quarter of their throughput (see docs/performance.md).
 */
@Injectable()
export class ImageUploadMiddleware implements NestMiddleware {
  private readonly upload: RequestHandler;
  private readonly bodyLimit: number;

  constructor(private readonly config: AppConfig) {
    this.bodyLimit = bytes.parse(config.BODY_LIMIT) ?? Infinity;
    this.upload = multer({
      storage: multer.memoryStorage(),
      limits: {
        // BODY_LIMIT bounds each file here and the whole body by Content-Length below.
        fileSize: this.bodyLimit,
        files: config.MAX_BATCH,
        fields: 8,
        fieldSize: 1024,
      },
    }).fields([{ name: IMAGE_FIELD }]);
  }

  use(req: Request, res: Response, next: NextFunction): void {
    if (!req.is('multipart/form-data')) return next();
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > this.bodyLimit) {
      return next(
        new PayloadTooLargeException(
          `Request body of ${length} bytes is over the limit of ${this.bodyLimit} bytes (BODY_LIMIT)`,
        ),
      );
    }
    this.upload(req, res, (error?: unknown) => {
      if (error) return next(this.explain(error));
      try {
        req.body = toInstances(req as WithFiles);
        next();
      } catch (failure) {
        next(failure);
      }
    });
  }

  /** multer's terse errors ("File too large") said with the setting behind them. */
  private explain(error: unknown): HttpException {
    if (error instanceof HttpException) return error;
    if (!(error instanceof MulterError)) {
      // busboy's: no boundary, a malformed part header, the body ending mid-part.
      return new BadRequestException(
        `Malformed multipart/form-data body: ${(error as Error).message}`,
      );
    }
    switch (error.code) {
      case 'LIMIT_FILE_SIZE':
        return new PayloadTooLargeException(
          `An uploaded file is over the limit of ${this.bodyLimit} bytes (BODY_LIMIT)`,
        );
      case 'LIMIT_FILE_COUNT':
        return new PayloadTooLargeException(
          `Too many files: at most MAX_BATCH=${this.config.MAX_BATCH} images per request`,
        );
      case 'LIMIT_UNEXPECTED_FILE':
        return new BadRequestException(
          `multipart/form-data: unexpected file field '${clip(error.field ?? '?')}'; files go in the field '${IMAGE_FIELD}' (one image per file), other fields are text: model, version`,
        );
      default:
        return new BadRequestException(`multipart/form-data: ${error.message}`);
    }
  }
}

/** The parsed form as the JSON body it stands for: text fields, and the files as instances. */
function toInstances(req: WithFiles): Record<string, unknown> {
  const images = req.files?.[IMAGE_FIELD] ?? [];
  if (images.length === 0) {
    throw new BadRequestException(
      `multipart/form-data: no file in field '${IMAGE_FIELD}'; send one or more images, e.g. curl -F model=digits -F ${IMAGE_FIELD}=@digit.png`,
    );
  }
  // An HTML form (Swagger UI's too) sends its empty text inputs as "": absent, as in JSON.
  const fields = Object.entries((req.body ?? {}) as Record<string, unknown>).filter(
    ([, value]) => value !== '',
  );
  return { ...Object.fromEntries(fields), instances: images.map((file) => file.buffer) };
}
