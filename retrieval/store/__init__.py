from retrieval.store.base import BaseStore, SearchSpec, StorePoint
from retrieval.store.factory import open_store

__all__ = ["BaseStore", "SearchSpec", "StorePoint", "open_store"]
