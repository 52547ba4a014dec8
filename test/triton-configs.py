"""Reads Triton configurations with protobuf's own text_format parser against the vendored
model_config.proto, and prints each as protobuf's JSON mapping (proto field names): the reference
test/triton-configs.e2e-spec.ts compares this server's parser to."""
import json
import sys
import tempfile

from google.protobuf import text_format
from google.protobuf.json_format import MessageToDict
from grpc_tools import protoc

protos, files = sys.argv[1], sys.argv[2:]
out = tempfile.mkdtemp()
if protoc.main(["protoc", f"-I{protos}", f"--python_out={out}", "model_config.proto"]) != 0:
    sys.exit("protoc failed")
sys.path.insert(0, out)
import model_config_pb2  # noqa: E402

messages = {}
for path in files:
    with open(path, encoding="utf-8") as text:
        config = text_format.Parse(text.read(), model_config_pb2.ModelConfig())
    messages[path] = MessageToDict(config, preserving_proto_field_name=True)
print(json.dumps(messages))
