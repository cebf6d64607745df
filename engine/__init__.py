"""The inference engine: continuous batching of every request of a model in an OS thread per model, and the
registry of the models a server can load. Pure Python over model/; no web framework and no gevent (a server
passes its Host, engine/host.py)."""
from .chat_format import ChatFormat, Message
from .engine import Engine
from .errors import EngineError, ModelBusy, ModelNotFound, ModelNotLoadable, Unavailable
from .host import THREADS, Host, Threads
from .registry import Registry, ServedModel
from .request import Failure, Output, Request

__all__ = ["ChatFormat", "Engine", "EngineError", "Failure", "Host", "Message", "ModelBusy", "ModelNotFound",
           "ModelNotLoadable", "Output", "Registry", "Request", "ServedModel", "THREADS", "Threads", "Unavailable"]
