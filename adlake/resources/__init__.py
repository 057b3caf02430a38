"""Resources that hide the profile: the rest of the code asks for a lake, secrets, a catalog."""

from adlake.resources.catalog import DuckDBCatalogResource
from adlake.resources.engine import DuckDBEngineResource
from adlake.resources.lake import LocalLakeResource
from adlake.resources.profile import build_resources
from adlake.resources.secrets import LocalSecretsResource, SecretNotFound

__all__ = [
    "DuckDBCatalogResource",
    "DuckDBEngineResource",
    "LocalLakeResource",
    "LocalSecretsResource",
    "SecretNotFound",
    "build_resources",
]
