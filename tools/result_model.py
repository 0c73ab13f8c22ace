"""The base of every model a tool answers with.

pydantic builds a model's validator and serializer on its first use instead of when its module is imported, so
a start does not build some fifty result models: tools/list reads only their fields (tools/compact_schema.py).
"""

from pydantic import BaseModel, ConfigDict


class ResultModel(BaseModel):
    model_config = ConfigDict(defer_build=True)
