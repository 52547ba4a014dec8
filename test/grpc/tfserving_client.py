"""A TF Serving gRPC client in Python, as `tensorflow-serving-api` users write one.

Its messages are compiled here by Debian's protoc (Google's own protobuf compiler and runtime,
not the server's protobufjs) from the vendored protos, and it calls the methods by their full
names, as generated stubs do; tensors are sent as tensor_content, the little-endian bytes
tf.make_tensor_proto packs a numpy array into (built with struct here). Needs only Debian's
python3-grpcio and protobuf-compiler. Prints one JSON object of what the server answered, for
test/grpc/tfserving-python.e2e-spec.ts to compare with REST.

Usage: /usr/bin/python3 tfserving_client.py PORT PROTOS_DIR
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

PORT, PROTOS = sys.argv[1], sys.argv[2]


def compile_messages():
    out = tempfile.mkdtemp(prefix="tfs-messages-")
    # Every vendored file: protoc writes code only for the files it is given, not their imports.
    # google/protobuf/*.proto come with protoc (/usr/include).
    files = [
        os.path.relpath(os.path.join(folder, name), PROTOS)
        for folder, _, names in os.walk(PROTOS)
        for name in names
        if name.endswith(".proto")
    ]
    subprocess.run(
        ["protoc", f"-I{PROTOS}", "-I/usr/include", f"--python_out={out}", *files], check=True
    )
    sys.path.insert(0, out)


compile_messages()

import grpc  # noqa: E402
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    get_model_metadata_pb2,
    get_model_status_pb2,
    predict_pb2,
)


def method(channel, service, name, request_type, response_type):
    """What a generated stub holds for one unary method."""
    return channel.unary_unary(
        f"/tensorflow.serving.{service}/{name}",
        request_serializer=request_type.SerializeToString,
        response_deserializer=response_type.FromString,
    )


def tensor_content(rows):
    """What tf.make_tensor_proto builds for a float32 matrix: little-endian float32 bytes."""
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in (len(rows), len(rows[0]))]
    )
    values = [value for row in rows for value in row]
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=shape,
        tensor_content=struct.pack(f"<{len(values)}f", *values),
    )


def tensor_info(info):
    return {
        "dtype": types_pb2.DataType.Name(info.dtype),
        "shape": [dim.size for dim in info.tensor_shape.dim],
        "name": info.name,
    }


channel = grpc.insecure_channel(f"127.0.0.1:{PORT}")
predict = method(
    channel, "PredictionService", "Predict", predict_pb2.PredictRequest, predict_pb2.PredictResponse
)
get_model_metadata = method(
    channel,
    "PredictionService",
    "GetModelMetadata",
    get_model_metadata_pb2.GetModelMetadataRequest,
    get_model_metadata_pb2.GetModelMetadataResponse,
)
get_model_status = method(
    channel,
    "ModelService",
    "GetModelStatus",
    get_model_status_pb2.GetModelStatusRequest,
    get_model_status_pb2.GetModelStatusResponse,
)
answer = {}

request = predict_pb2.PredictRequest()
request.model_spec.name = "iris"
request.model_spec.version.value = 1
request.inputs["features"].CopyFrom(tensor_content([[5.1, 3.5, 1.4, 0.2], [6.7, 3.1, 5.6, 2.4]]))
response = predict(request, timeout=60)
answer["predict"] = {
    "version": response.model_spec.version.value,
    "outputs": {
        name: {
            "dtype": types_pb2.DataType.Name(out.dtype),
            "shape": [dim.size for dim in out.tensor_shape.dim],
            "values": list(out.float_val),
        }
        for name, out in response.outputs.items()
    },
}

request = get_model_metadata_pb2.GetModelMetadataRequest()
request.model_spec.name = "iris"
request.metadata_field.append("signature_def")
response = get_model_metadata(request, timeout=60)
signatures = get_model_metadata_pb2.SignatureDefMap()
if not response.metadata["signature_def"].Unpack(signatures):
    raise SystemExit("metadata['signature_def'] is not a SignatureDefMap")
answer["metadata"] = {
    key: {
        "inputs": {name: tensor_info(info) for name, info in sig.inputs.items()},
        "outputs": {name: tensor_info(info) for name, info in sig.outputs.items()},
        "method_name": sig.method_name,
    }
    for key, sig in signatures.signature_def.items()
}

request = get_model_status_pb2.GetModelStatusRequest()
request.model_spec.name = "iris"
response = get_model_status(request, timeout=60)
answer["status"] = [
    {
        "version": status.version,
        "state": get_model_status_pb2.ModelVersionStatus.State.Name(status.state),
        "error_code": status.status.error_code,
    }
    for status in response.model_version_status
]

request = predict_pb2.PredictRequest()
request.model_spec.name = "irsi"
try:
    predict(request, timeout=60)
    answer["error"] = None
except grpc.RpcError as error:
    answer["error"] = {"code": error.code().name, "details": error.details()}

print(json.dumps(answer))
