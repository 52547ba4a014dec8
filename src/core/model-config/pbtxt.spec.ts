import { Logger } from '@nestjs/common';
import { SIMPLE_CONFIG } from '../../../scripts/lib/triton-repository';
import { modelConfigDescriptor } from './model-config-proto';
import { parseTextFormat, TextFormatError } from './pbtxt';
import { parseConfigText } from './read-model-config';

const parse = (text: string) => parseTextFormat(text, modelConfigDescriptor());

/** The error a text gives, as line, column and reason. */
function errorOf(text: string): { line: number; column: number; reason: string } {
  try {
    parse(text);
  } catch (error) {
    const { line, column, reason } = error as TextFormatError;
    return { line, column, reason };
  }
  throw new Error('parsed without an error');
}

describe(parseTextFormat.name, () => {
  it("should read Triton's simple example: lists of messages, enums by name, dims lists", () => {
    expect(parse(SIMPLE_CONFIG)).toEqual({
      message: {
        name: 'simple',
        platform: 'onnxruntime_onnx',
        max_batch_size: 8,
        input: [
          { name: 'INPUT0', data_type: 'TYPE_INT32', dims: [16] },
          { name: 'INPUT1', data_type: 'TYPE_INT32', dims: [16] },
        ],
        output: [
          { name: 'OUTPUT0', data_type: 'TYPE_INT32', dims: [16] },
          { name: 'OUTPUT1', data_type: 'TYPE_INT32', dims: [16] },
        ],
      },
      unknown: [],
    });
  });

  it('should read a densenet_onnx-style config: a space before the colon, reshape, format, label_filename', () => {
    const text = `name: "densenet_onnx"
platform: "onnxruntime_onnx"
max_batch_size : 1
input [
  {
    name: "data_0"
    data_type: TYPE_FP32
    format: FORMAT_NCHW
    dims: [ 3, 224, 224 ]
  }
]
output [
  {
    name: "fc6_1"
    data_type: TYPE_FP32
    dims: [ 1000 ]
    reshape { shape: [ 1000, 1, 1 ] }
    label_filename: "densenet_labels.txt"
  }
]`;
    expect(parse(text).message).toEqual({
      name: 'densenet_onnx',
      platform: 'onnxruntime_onnx',
      max_batch_size: 1,
      input: [
        { name: 'data_0', data_type: 'TYPE_FP32', format: 'FORMAT_NCHW', dims: [3, 224, 224] },
      ],
      output: [
        {
          name: 'fc6_1',
          data_type: 'TYPE_FP32',
          dims: [1000],
          reshape: { shape: [1000, 1, 1] },
          label_filename: 'densenet_labels.txt',
        },
      ],
    });
  });

  it('should read a simple_sequence-style config: nested lists of messages and a licence header of comments', () => {
    const text = `# Copyright (c) the authors.
#
# A header of comments, as Triton's examples carry.

name: "simple_sequence"
platform: "onnxruntime_onnx"
max_batch_size: 8
sequence_batching {
  control_input [
    {
      name: "START"
      control [
        {
          kind: CONTROL_SEQUENCE_START
          int32_false_true: [ 0, 1 ]
        }
      ]
    },
    {
      name: "READY"
      control [ { kind: CONTROL_SEQUENCE_READY int32_false_true: [ 0, 1 ] } ]
    }
  ]
}
instance_group [
  {
    kind: KIND_CPU
  }
]
`;
    expect(parse(text).message).toEqual({
      name: 'simple_sequence',
      platform: 'onnxruntime_onnx',
      max_batch_size: 8,
      sequence_batching: {
        control_input: [
          {
            name: 'START',
            control: [{ kind: 'CONTROL_SEQUENCE_START', int32_false_true: [0, 1] }],
          },
          {
            name: 'READY',
            control: [{ kind: 'CONTROL_SEQUENCE_READY', int32_false_true: [0, 1] }],
          },
        ],
      },
      instance_group: [{ kind: 'KIND_CPU' }],
    });
  });

  it('should take every spelling the text format allows', () => {
    const text = `name: 'it\\'s "quoted"\\n\\x41\\101 caf\\303\\251 \\u00e9t\\xc3\\xa9 é'; backend: "onnx" "runtime",
      input { name: "a" data_type: 8 dims: 2 dims: -1 }
      input: < name: "b", data_type: TYPE_FP32; dims: [] >
      version_policy: { latest { num_versions: 2 } }
      dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 0x64 }
      parameters { key: "x" value: { string_value: "y" } }
      parameters: [ { key: "z", value { string_value: "w" } } ]
      instance_group [ { count: 2, kind: KIND_CPU }, { count: 1 } ]
      response_cache { enable: true }`;
    expect(parse(text).message).toEqual({
      name: 'it\'s "quoted"\nAA café été é',
      backend: 'onnxruntime',
      input: [
        { name: 'a', data_type: 'TYPE_INT32', dims: [2, -1] },
        { name: 'b', data_type: 'TYPE_FP32', dims: [] },
      ],
      version_policy: { latest: { num_versions: 2 } },
      dynamic_batching: { preferred_batch_size: [4, 8], max_queue_delay_microseconds: 100 },
      parameters: { x: { string_value: 'y' }, z: { string_value: 'w' } },
      instance_group: [{ count: 2, kind: 'KIND_CPU' }, { count: 1 }],
      response_cache: { enable: true },
    });
  });

  it('should skip fields the proto does not know, whatever their value, and name them', () => {
    const { message, unknown } = parse(`name: "m"
      max_batch_sise: 4
      input { name: "a" colour: "red" data_type: TYPE_FP32 dims: [1] }
      future_feature { nested { deeper: [1, 2] } list: ["a"] }
      max_batch_size: 2`);
    expect(message).toEqual({
      name: 'm',
      input: [{ name: 'a', data_type: 'TYPE_FP32', dims: [1] }],
      max_batch_size: 2,
    });
    expect(unknown).toEqual(['max_batch_sise', 'input[0].colour', 'future_feature']);
  });

  it.each([
    ['name: "unterminated', 1, 7, 'unterminated string'],
    ['name: "m"\nmax_batch_size: "8"', 2, 17, 'expected an integer (int32), got the string "8"'],
    ['name: "m"\nmax_batch_size: 1.5', 2, 17, "expected an integer (int32), got '1.5'"],
    ['max_batch_size: 3000000000', 1, 17, '3000000000 is out of range for int32'],
    ['name "m"', 1, 6, 'expected \':\' after the field name, got the string "m"'],
    ['name: "a"\nname: "b"', 2, 1, "'name' is given twice; it takes one value"],
    ['name: ["a"]', 1, 1, "'name' takes one value, not a list"],
    [
      'input [\n  { name: "a"\n    data_type: TYPE_FLOAT32 }\n]',
      3,
      16,
      "'TYPE_FLOAT32' is not a DataType; expected one of TYPE_INVALID, TYPE_BOOL, TYPE_UINT8, TYPE_UINT16, TYPE_UINT32, TYPE_UINT64, TYPE_INT8, TYPE_INT16, TYPE_INT32, TYPE_INT64, TYPE_FP16, TYPE_FP32, ...",
    ],
    ['input [ { name: "a" }', 1, 22, "expected ']' to close the list, got the end of the file"],
    ['input { name: "a"', 1, 18, "expected '}' to close the message, got the end of the file"],
    [
      'version_policy { all {} latest {} }',
      1,
      25,
      "'latest' and 'all' are both given; 'policy_choice' takes one of them",
    ],
    ['name: "m" }', 1, 11, "expected a field name, got '}'"],
    ['name: "m" @', 1, 11, "unexpected character '@'"],
    ['name: "a\\qb"', 1, 9, 'unknown escape \\q'],
    ['dynamic_batching: 4', 1, 19, "expected '{' to open a ModelDynamicBatching message, got '4'"],
  ])('should refuse %j at line %i, column %i', (text, line, column, reason) => {
    expect(errorOf(text)).toEqual({ line, column, reason });
  });
});

describe(parseConfigText.name, () => {
  it('should name the file, line and column of a syntax error', () => {
    expect(() => parseConfigText('name: "m"\nmax_batch_size 4', '/models/m/config.pbtxt')).toThrow(
      "/models/m/config.pbtxt: line 2, column 16: expected ':' after the field name, got '4'",
    );
  });

  it('should keep 64-bit integers exact: a number while a double holds it, its decimal string beyond', () => {
    const { message } = parse(
      'dynamic_batching { priority_levels: 18446744073709551615 default_priority_level: 9007199254740991 }',
    );
    expect(message.dynamic_batching).toEqual({
      priority_levels: '18446744073709551615',
      default_priority_level: 9007199254740991,
    });
    expect(errorOf('dynamic_batching { priority_levels: 18446744073709551616 }').reason).toBe(
      '18446744073709551616 is out of range for uint64',
    );
  });

  it('should read a map entry without a key as the key type default, as protobuf does', () => {
    expect(parse('parameters { value: { string_value: "v" } }').message.parameters).toEqual({
      '': { string_value: 'v' },
    });
  });

  it('should warn once per file and unknown field, across reads', () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const text = 'name: "m"\nmax_batch_sise: 4\ninput { name: "a" colour: 1 }';
      parseConfigText(text, '/models/warned/config.pbtxt');
      parseConfigText(text, '/models/warned/config.pbtxt'); // hot reload reads it again
      expect(warn.mock.calls.map((call) => String(call[0]))).toEqual([
        "/models/warned/config.pbtxt: ignoring unknown field 'max_batch_sise' (not a field of Triton's ModelConfig in model_config.proto)",
        "/models/warned/config.pbtxt: ignoring unknown field 'input[0].colour' (not a field of Triton's ModelConfig in model_config.proto)",
      ]);
    } finally {
      warn.mockRestore();
    }
  });
});
