import { getSchemaPath, type SchemaObject } from '@nestjs/swagger';

const TENSOR_VALUE = { $ref: getSchemaPath('TensorValue') };

/**
 * OpenAPI schemas of the values requests carry. A tensor value nests to any depth, which only a
 * named schema that refers to itself can say; decorators cannot declare one, so configureApp adds
 * these to the document's components.
 */
export const TENSOR_SCHEMAS: Record<string, SchemaObject> = {
  TensorValue: {
    description:
      "One example's value for one input: a number (or a boolean for a bool input), or nested arrays of them shaped like the input without its batch dimension",
    oneOf: [{ type: 'number' }, { type: 'boolean' }, { type: 'array', items: TENSOR_VALUE }],
  },
};

/** One entry of `instances`, one example: what /predict and TF Serving's row format take. */
export const INSTANCE_SCHEMA: SchemaObject = {
  oneOf: [
    TENSOR_VALUE,
    {
      type: 'object',
      description: 'A model with several inputs: one value per input name',
      additionalProperties: TENSOR_VALUE,
    },
    {
      type: 'object',
      description: 'An image, for a model whose metadata.json declares an image block',
      properties: {
        b64: { type: 'string', format: 'byte', description: 'A JPEG, PNG or WebP file' },
      },
      required: ['b64'],
    },
  ],
};
