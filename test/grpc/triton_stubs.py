"""Triton's gRPC stubs compiled from the vendored protos, shared by the Python cross-checks."""
import sys
import tempfile

from grpc_tools import protoc

import grpc


def compile_triton_protos(protos):
    """Compiles grpc_service.proto and model_config.proto into a temporary folder and puts it
    on sys.path: their *_pb2 modules import from then on."""
    out = tempfile.mkdtemp()
    if protoc.main(["protoc", f"-I{protos}", f"--python_out={out}", f"--grpc_python_out={out}",
                    "grpc_service.proto", "model_config.proto"]) != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, out)


def triton_stub(address, protos):
    """Returns the messages module and a GRPCInferenceService stub connected to address."""
    compile_triton_protos(protos)
    import grpc_service_pb2 as pb
    import grpc_service_pb2_grpc as rpc
    return pb, rpc.GRPCInferenceServiceStub(grpc.insecure_channel(address))
