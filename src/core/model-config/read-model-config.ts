import { Logger } from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { normalizeConfigJson } from './config-json';
import type { ModelConfig } from './model-config';
import { modelConfigDescriptor } from './model-config-proto';
import { parseTextFormat } from './pbtxt';

/** A model's configuration as its folder gives it, and the file it came from (for messages). */
export interface ModelConfigFile {
  config: ModelConfig;
  /** Absolute path of the file read (or what stood in for one, e.g. a load request's override). */
  file: string;
}

/** Triton's configuration file (protobuf text format), beside the model's version folders. */
export const CONFIG_PBTXT = 'config.pbtxt';
/** The same configuration in Triton's JSON form, for those who prefer JSON. */
export const CONFIG_JSON = 'config.json';

const logger = new Logger('ModelConfig');
/** `file: field` pairs already warned about: hot reload reads the files again on every poll. */
const warned = new Set<string>();

/**
 * Says once per file and field that a field is not Triton's: a typo (`max_batch_sise`) would
 * otherwise be silently ignored, and failing the model for it would refuse configs written for
 * a newer Triton.
 */
function warnUnknown(file: string, fields: string[]): void {
  for (const field of fields) {
    const key = `${file}: ${field}`;
    if (warned.has(key)) continue;
    warned.add(key);
    logger.warn(
      `${file}: ignoring unknown field '${field}' (not a field of Triton's ModelConfig in model_config.proto)`,
    );
  }
}

async function readIfPresent(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${error.message}`);
  });
}

/**
 * Parses a configuration in Triton's JSON form (a config.json, a load request's override),
 * checked against model_config.proto. Throws naming `file` and the field; warns of unknown fields.
 */
export function parseConfigJson(json: unknown, file: string): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(
      `${file}: expected a JSON object (Triton's ModelConfig), got ${JSON.stringify(json)?.slice(0, 40)}`,
    );
  }
  try {
    const { message, unknown } = normalizeConfigJson(
      json as Record<string, unknown>,
      modelConfigDescriptor(),
    );
    warnUnknown(file, unknown);
    return message as ModelConfig;
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
}

/** Parses a config.pbtxt (protobuf text format of model_config.proto); errors give line and column. */
export function parseConfigText(text: string, file: string): ModelConfig {
  try {
    const { message, unknown } = parseTextFormat(text, modelConfigDescriptor());
    warnUnknown(file, unknown);
    return message as ModelConfig;
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
}

/**
 * Reads the configuration of a model folder (`<repository>/<name>/`): its config.pbtxt or its
 * config.json, undefined when it has neither. Throws, naming the file, when it cannot be read or
 * parsed, or when both are there: the model then fails to load, as with any other problem of
 * its folder.
 */
export async function readModelConfig(modelDir: string): Promise<ModelConfigFile | undefined> {
  const pbtxt = resolve(join(modelDir, CONFIG_PBTXT));
  const json = resolve(join(modelDir, CONFIG_JSON));
  const [text, jsonText] = await Promise.all([readIfPresent(pbtxt), readIfPresent(json)]);
  if (text !== undefined && jsonText !== undefined) {
    throw new Error(
      `${modelDir} holds both ${CONFIG_PBTXT} and ${CONFIG_JSON}; keep one (they would say the same thing twice, and might disagree)`,
    );
  }
  if (text !== undefined) return { config: parseConfigText(text, pbtxt), file: pbtxt };
  if (jsonText === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(jsonText);
  } catch (error) {
    throw new Error(`${json}: not valid JSON: ${(error as Error).message}`);
  }
  return { config: parseConfigJson(parsed, json), file: json };
}
