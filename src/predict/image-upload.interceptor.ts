import {
  BadRequestException,
  CallHandler,
  ExecutionContext,
  HttpException,
  Injectable,
  NestInterceptor,
  PayloadTooLargeException,
  Type,
} from '@nestjs/common';
import { FileFieldsInterceptor } from '@nestjs/platform-express';
import bytes from 'bytes';
import type { Request } from 'express';
import { catchError, from, mergeAll, Observable, throwError } from 'rxjs';
import { AppConfig } from '../config/app-config';

/** The multipart field that carries image files, one instance per file. */
export const IMAGE_FIELD = 'image';

/** Nest's multer wrapper (memory storage): its cleanup and error handling, our limits. */
const MultipartImages: Type<NestInterceptor> = FileFieldsInterceptor([{ name: IMAGE_FIELD }]);

/**
 * `POST /predict` as multipart/form-data: text fields `model` and `version` as in JSON, and one
 * or more files in the field `image`. The files become the body's `instances` (one Buffer each),
 * so the same DTO validation and the same prediction path serve both forms. JSON bodies pass
 * through untouched.
 */
@Injectable()
export class ImageUploadInterceptor implements NestInterceptor {
  private readonly upload: NestInterceptor;
  private readonly bodyLimit: number;

  constructor(private readonly config: AppConfig) {
    this.bodyLimit = bytes.parse(config.BODY_LIMIT) ?? Infinity;
    this.upload = new MultipartImages({
      limits: {
        // BODY_LIMIT bounds each file here and the whole body by Content-Length below.
        fileSize: this.bodyLimit,
        files: config.MAX_BATCH,
        fields: 8,
        fieldSize: 1024,
      },
    });
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<Request>();
    if (!req.is('multipart/form-data')) return next.handle();
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > this.bodyLimit) {
      return throwError(
        () =>
          new PayloadTooLargeException(
            `Request body of ${length} bytes is over the limit of ${this.bodyLimit} bytes (BODY_LIMIT)`,
          ),
      );
    }
    const toInstances: CallHandler = {
      handle: () => {
        const { files = {} } = req as Request & { files?: Record<string, { buffer: Buffer }[]> };
        const images = files[IMAGE_FIELD] ?? [];
        if (images.length === 0) {
          throw new BadRequestException(
            `multipart/form-data: no file in field '${IMAGE_FIELD}'; send one or more images, e.g. curl -F model=digits -F ${IMAGE_FIELD}=@digit.png`,
          );
        }
        // An HTML form (Swagger UI's too) sends its empty text inputs as "": absent, as in JSON.
        const fields = Object.entries((req.body ?? {}) as Record<string, unknown>).filter(
          ([, value]) => value !== '',
        );
        req.body = {
          ...Object.fromEntries(fields),
          instances: images.map((file) => file.buffer),
        };
        return next.handle();
      },
    };
    return from(this.upload.intercept(context, toInstances)).pipe(
      mergeAll(),
      catchError((error: unknown) => throwError(() => this.explain(error))),
    );
  }

  /** multer's terse messages ("File too large") said with the setting behind them. */
  private explain(error: unknown): unknown {
    if (!(error instanceof HttpException)) return error;
    // Nest appends the field to multer's message ("Unexpected file field - photo").
    const [reason, field] = error.message.split(' - ');
    switch (reason) {
      case 'File too large':
        return new PayloadTooLargeException(
          `An uploaded file is over the limit of ${this.bodyLimit} bytes (BODY_LIMIT)`,
        );
      case 'Too many files':
        return new PayloadTooLargeException(
          `Too many files: at most MAX_BATCH=${this.config.MAX_BATCH} images per request`,
        );
      case 'Unexpected file field':
        return new BadRequestException(
          `multipart/form-data: unexpected file field '${field ?? '?'}'; files go in the field '${IMAGE_FIELD}' (one image per file), other fields are text: model, version`,
        );
      default:
        return error;
    }
  }
}
