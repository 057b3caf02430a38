"""Resources that hide the profile: the rest of the code asks for a lake, secrets, a catalog."""

from adlake.resources.catalog import CatalogResource, DuckDBCatalogResource
from adlake.resources.engine import DuckDBEngineResource
from adlake.resources.lake import LakeResource, LocalLakeResource
from adlake.resources.profile import build_resources
from adlake.resources.secrets import LocalSecretsResource, SecretNotFound, SecretsResource

__all__ = [
    "CatalogResource",
    "LakeResource",
    "SecretsResource",
    "DuckDBCatalogResource",
    "DuckDBEngineResource",
    "LocalLakeResource",
    "LocalSecretsResource",
    "SecretNotFound",
    "build_resources",
]
