"""Reads Triton configurations with protobuf's own text_format parser against the vendored
model_config.proto, and prints each as protobuf's JSON mapping (proto field names): the reference
test/triton-configs.e2e-spec.ts compares this server's parser to."""
import json
import sys

from google.protobuf import text_format
from google.protobuf.json_format import MessageToDict

from triton_stubs import compile_triton_protos

protos, files = sys.argv[1], sys.argv[2:]
compile_triton_protos(protos)
import model_config_pb2  # noqa: E402

messages = {}
for path in files:
    with open(path, encoding="utf-8") as text:
        config = text_format.Parse(text.read(), model_config_pb2.ModelConfig())
    messages[path] = MessageToDict(config, preserving_proto_field_name=True)
print(json.dumps(messages))
